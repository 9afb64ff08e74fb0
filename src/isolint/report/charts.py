"""Inline SVG charts for the HTML report: no scripts, no external assets.

Every mark carries its number twice: as visible text and as a `data-value`
attribute, so the DOM can be checked against the JSON report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family:inherit"
AXIS = "#a8a29e"
GRID = "#ece9e6"
INK = "#292524"
MUTED = "#78716c"


@dataclass(frozen=True)
class Segment:
    name: str  # e.g. "safe"
    value: int
    color: str


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[Segment, ...]
    key: str  # data-key: the family or directory the bar stands for

    @property
    def total(self) -> int:
        return sum(s.value for s in self.segments)


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: tuple[int, ...]
    dashed: bool = False


def nice_ticks(maximum: int, count: int = 5) -> list[int]:
    """0 and round steps (1, 2, 5 x 10^k) up to at least `maximum`."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1, int(step))
    top = step * math.ceil(maximum / step)
    return list(range(0, top + 1, step))


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: int = 12,
    color: str = INK,
    weight: int = 400,
    cls: str = "",
    extra: str = "",
) -> str:
    class_attr = f' class="{cls}"' if cls else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{color}" '
        f'font-weight="{weight}" style="{FONT}"{class_attr}{extra}>{escape(content)}</text>'
    )


def _svg_open(chart_id: str, title: str, width: int, height: int) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    )


def stacked_bars(
    chart_id: str, title: str, bars: Sequence[Bar], *, axis_label: str, label_width: int = 170, width: int = 720
) -> str:
    """Horizontal bars, one per row, split into coloured segments, total at the end."""
    row, top, bottom = 30, 12, 46
    plot_left, plot_right = label_width, width - 56
    height = top + row * max(len(bars), 1) + bottom
    ticks = nice_ticks(max((b.total for b in bars), default=0))
    scale = (plot_right - plot_left) / ticks[-1]
    parts = [_svg_open(chart_id, title, width, height), f"<title>{escape(title)}</title>"]
    axis_y = top + row * max(len(bars), 1)
    for tick in ticks:
        x = plot_left + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="{GRID}" stroke-width="1"/>')
        parts.append(_text(x, axis_y + 16, f"{tick:,}", anchor="middle", size=11, color=MUTED, cls="tick"))
    parts.append(
        f'<line x1="{plot_left}" y1="{axis_y}" x2="{plot_right}" y2="{axis_y}" stroke="{AXIS}" stroke-width="1"/>'
    )
    parts.append(
        _text(
            (plot_left + plot_right) / 2,
            axis_y + 36,
            axis_label,
            anchor="middle",
            size=11,
            color=MUTED,
            cls="axis-label",
        )
    )
    for index, bar in enumerate(bars):
        y = top + index * row
        parts.append(f'<g class="bar" data-key="{escape(bar.key)}" data-value="{bar.total}">')
        parts.append(_text(plot_left - 10, y + row / 2 + 4, bar.label, anchor="end", size=12, cls="bar-label"))
        x = float(plot_left)
        for segment in bar.segments:
            if segment.value:
                w = segment.value * scale
                parts.append(
                    f'<rect class="segment" data-segment="{segment.name}" data-value="{segment.value}" x="{x:.1f}" y="{y + 6}" '
                    f'width="{w:.1f}" height="{row - 12}" rx="2" fill="{segment.color}"><title>{escape(bar.label)}: '
                    f"{segment.value:,} {segment.name}</title></rect>"
                )
                x += w
        parts.append(_text(x + 8, y + row / 2 + 4, f"{bar.total:,}", size=12, weight=600, cls="value"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    chart_id: str,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 300,
) -> str:
    """Lines over commits (oldest left), y from zero, the last value labelled."""
    left, right, top, bottom = 56, 120, 16, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max((v for s in series for v in s.values), default=0))
    y_scale = plot_h / ticks[-1]
    count = len(x_labels)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y_at(v: int) -> float:
        return top + plot_h - v * y_scale

    parts = [_svg_open(chart_id, title, width, height), f"<title>{escape(title)}</title>"]
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_text(left - 8, y + 4, f"{tick:,}", anchor="end", size=11, color=MUTED, cls="tick"))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS}" stroke-width="1"/>'
    )
    step = max(1, math.ceil(count / 8))  # at most ~8 commit labels
    for i, label in enumerate(x_labels):
        if i % step == 0 or i == count - 1:
            parts.append(_text(x_at(i), top + plot_h + 16, label, anchor="middle", size=10, color=MUTED, cls="tick"))
    parts.append(
        _text(left + plot_w / 2, height - 14, x_label, anchor="middle", size=11, color=MUTED, cls="axis-label")
    )
    parts.append(
        _text(
            14,
            top + plot_h / 2,
            y_label,
            anchor="middle",
            size=11,
            color=MUTED,
            cls="axis-label",
            extra=f' transform="rotate(-90 14 {top + plot_h / 2:.1f})"',
        )
    )
    end_labels: list[tuple[float, float, Series]] = []
    for line in series:
        points = [(x_at(i), y_at(v)) for i, v in enumerate(line.values)]
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        parts.append(
            f'<g class="series" data-key="{escape(line.name)}" data-last="{line.values[-1] if line.values else 0}">'
        )
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        parts.append(
            f'<path d="{path}" fill="none" stroke="{line.color}" stroke-width="2.2" stroke-linejoin="round"{dash}/>'
        )
        for (x, y), value, label in zip(points, line.values, x_labels, strict=True):
            parts.append(
                f'<circle class="point" data-value="{value}" data-commit="{escape(label)}" cx="{x:.1f}" cy="{y:.1f}" r="3" '
                f'fill="#fff" stroke="{line.color}" stroke-width="1.8"><title>{escape(line.name)} at {escape(label)}: {value:,}</title></circle>'
            )
        if points:
            end_labels.append((points[-1][0], points[-1][1], line))
        parts.append("</g>")
    for x, y, line in _spread(end_labels, top, top + plot_h):
        parts.append(
            _text(x + 10, y + 4, f"{line.name} {line.values[-1]:,}", size=11, color=line.color, weight=600, cls="value")
        )
    parts.append("</svg>")
    return "".join(parts)


def _spread(
    labels: list[tuple[float, float, Series]], low: float, high: float, gap: float = 14
) -> list[tuple[float, float, Series]]:
    """End labels moved apart vertically so none overlap, kept within the plot."""
    placed: list[tuple[float, float, Series]] = []
    for x, y, line in sorted(labels, key=lambda item: item[1]):
        if placed and y - placed[-1][1] < gap:
            y = placed[-1][1] + gap
        placed.append((x, y, line))
    overflow = placed[-1][1] - high if placed else 0
    if overflow > 0:  # shift the stack up, never above the plot's top
        placed = [(x, max(low, y - overflow), line) for x, y, line in placed]
    return placed


def meter(chart_id: str, done: int, left: int, color: str, *, width: int = 220) -> str:
    """A small two-part bar: target-form sites against legacy ones."""
    total = done + left
    filled = width * done / total if total else 0
    return (
        f'<svg id="{chart_id}" class="meter" viewBox="0 0 {width} 12" width="{width}" height="12" role="img" '
        f'aria-label="{done} of {total} migrated" xmlns="http://www.w3.org/2000/svg" data-target="{done}" data-legacy="{left}">'
        f'<rect x="0" y="0" width="{width}" height="12" rx="6" fill="{GRID}"/>'
        f'<rect x="0" y="0" width="{filled:.1f}" height="12" rx="6" fill="{color}"/></svg>'
    )
