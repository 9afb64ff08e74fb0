"""`report --format html`: one self-contained page, inline CSS and SVG, no scripts or CDN.

The report's JSON is embedded too (`<script type="application/json">`, inert),
so the page can be re-read by tools.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from . import charts
from .text import percent

FIX_COLORS = {"safe": "#2a9d8f", "unsafe": "#e0a83a", "manual": "#c8553d"}
FIX_LABELS = {"safe": "safe fix", "unsafe": "unsafe fix", "manual": "manual"}
FAMILY_COLORS = {
    "singletons": "#3b6ea5",
    "sessions": "#a05d8c",
    "websockets": "#4f9a5b",
    "legacy-state": "#c47f2c",
    "core": "#8a8a8a",
}
TOTAL_COLOR = "#44403c"

STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f5f3; color: #292524;
  font: 15px/1.5 "Inter", "Segoe UI", "Liberation Sans", "DejaVu Sans", system-ui, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 36px 28px 56px; }
header h1 { margin: 0; font-size: 26px; font-weight: 700; letter-spacing: -0.01em; }
header p { margin: 4px 0 0; color: #78716c; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 24px 0 8px; }
.card { background: #fff; border: 1px solid #e7e5e4; border-radius: 10px; padding: 14px 16px; }
.card .number { font-size: 28px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2; }
.card .label { color: #78716c; font-size: 13px; }
.card .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: 0; }
section { background: #fff; border: 1px solid #e7e5e4; border-radius: 10px; padding: 20px 24px; margin-top: 18px; }
section h2 { margin: 0 0 4px; font-size: 17px; font-weight: 650; }
section p.note { margin: 0 0 12px; color: #78716c; font-size: 13px; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; font-size: 12.5px; color: #57534e; margin: 4px 0 8px; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; background: var(--c); vertical-align: -1px; }
.legend span.dashed::before { height: 0; border-top: 2px dashed var(--c); border-radius: 0; vertical-align: 3px; width: 14px; background: none; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th { text-align: left; font-weight: 600; color: #57534e; font-size: 12.5px; text-transform: uppercase; letter-spacing: 0.03em;
  border-bottom: 1px solid #e7e5e4; padding: 6px 8px; }
td { border-bottom: 1px solid #f1efed; padding: 7px 8px; vertical-align: middle; }
td:first-child { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12.5px/1.4 "DejaVu Sans Mono", ui-monospace, monospace; background: #f4f2f0; padding: 1px 5px; border-radius: 4px; }
.muted { color: #78716c; }
svg.chart { display: block; max-width: 100%; }
a { color: inherit; text-decoration-color: #a8a29e; }
.fix-safe { color: #2a9d8f; } .fix-unsafe { color: #b7791f; } .fix-manual { color: #c8553d; }
footer { margin-top: 20px; color: #a8a29e; font-size: 12px; text-align: center; }
"""


def _inline(text: str) -> str:
    """Escape, and show `quoted` parts as code, as the Markdown report does."""
    parts = escape(text).split("`")
    return "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))


def _legend(items: Sequence[tuple[str, str]], dashed: Sequence[str] = ()) -> str:
    spans = "".join(
        f'<span style="--c:{color}"{" class=dashed" if label in dashed else ""}>{escape(label)}</span>'
        for label, color in items
    )
    return f'<div class="legend">{spans}</div>'


def _segments(row: Mapping[str, Any]) -> tuple[charts.Segment, ...]:
    return tuple(charts.Segment(name, row[name], FIX_COLORS[name]) for name in FIX_COLORS)


def _cards(document: Mapping[str, Any]) -> str:
    summary = document["summary"]
    cards = [
        (
            f"{summary['findings']:,}",
            f"findings in {summary['files_with_findings']:,} of {summary['files']:,} files",
            None,
            "findings",
        ),
        (f"{summary['safe']:,}", "fixable with <code>isolint fix</code>", FIX_COLORS["safe"], "safe"),
        (f"{summary['unsafe']:,}", "more with <code>--unsafe-fixes</code>", FIX_COLORS["unsafe"], "unsafe"),
        (f"{summary['manual']:,}", "need manual migration", FIX_COLORS["manual"], "manual"),
    ]
    baseline = document["baseline"]
    if baseline:
        cards.append(
            (
                f"{baseline['fixed']:,}",
                f"fixed since the baseline ({percent(baseline['fixed_percent'])})",
                None,
                "baseline-fixed",
            )
        )
        cards.append((f"{baseline['new']:,}", "new since the baseline", None, "baseline-new"))
    out = ['<div class="cards">']
    for number, label, color, key in cards:
        swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
        out.append(
            f'<div class="card" data-key="{key}"><div class="number">{number}</div><div class="label">{swatch}{label}</div></div>'
        )
    out.append("</div>")
    return "".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int], table_id: str) -> str:
    head = "".join(f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _families(document: Mapping[str, Any]) -> str:
    bars = [charts.Bar(row["family"], _segments(row), row["family"]) for row in document["families"]]
    chart = charts.stacked_bars("chart-families", "Findings by family", bars, axis_label="findings")
    legend = _legend([(FIX_LABELS[k], c) for k, c in FIX_COLORS.items()])
    return f'<section id="families"><h2>Findings by family</h2><p class="note">Split by what fixes them.</p>{legend}{chart}</section>'


def _directories(document: Mapping[str, Any]) -> str:
    rows = document["directories"]
    if not rows:
        return ""
    bars = [charts.Bar(row["path"], _segments(row), row["path"]) for row in rows]
    width = min(360, max(170, 8 * max(len(row["path"]) for row in rows) + 20))
    chart = charts.stacked_bars(
        "chart-directories", "Top directories by remaining work", bars, axis_label="findings", label_width=width
    )
    legend = _legend([(FIX_LABELS[k], c) for k, c in FIX_COLORS.items()])
    note = "Where the remaining work is. Not recursive: a file counts for its own directory only, not for the directories above it."
    return f'<section id="directories"><h2>Top directories</h2><p class="note">{note}</p>{legend}{chart}</section>'


def _progress(document: Mapping[str, Any]) -> str:
    rows = []
    for row in document["progress"]:
        color = FAMILY_COLORS.get(row["family"], TOTAL_COLOR)
        meter = charts.meter(f"meter-{row['family']}", row["target"], row["legacy"], color)
        rows.append(
            [
                escape(row["family"]),
                f'<span class="legacy" data-value="{row["legacy"]}">{row["legacy"]:,}</span> <span class="muted">{_inline(row["legacy_label"])}</span>',
                f'<span class="target" data-value="{row["target"]}">{row["target"]:,}</span> <span class="muted">{_inline(row["target_label"])}</span>',
                meter,
                escape(percent(row["migrated_percent"])),
            ]
        )
    table = _table(("Family", "Legacy sites left", "In the target form", "", "Migrated"), rows, (4,), "table-progress")
    return f'<section id="progress"><h2>Migration progress</h2><p class="note">Legacy sites still to migrate against sites already in the target form.</p>{table}</section>'


def _linked(text: str, url: str | None) -> str:
    """`text` (already HTML) as a link to `url`, when there is one."""
    return f'<a href="{escape(url, quote=True)}">{text}</a>' if url else text


def _rules(document: Mapping[str, Any]) -> str:
    rows = [
        [
            _linked(f"<code>{escape(r['code'])}</code>", r.get("url")),
            escape(r["name"]),
            escape(r["family"]),
            f"{r['findings']:,}",
            f"{r['safe']:,}",
            f"{r['unsafe']:,}",
            f"{r['manual']:,}",
        ]
        for r in document["rules"]
        if r["findings"]
    ]
    if not rows:
        return ""
    table = _table(
        ("Rule", "Name", "Family", "Findings", "Safe fix", "Unsafe fix", "Manual"), rows, (3, 4, 5, 6), "table-rules"
    )
    return f'<section id="rules"><h2>Findings by rule</h2><p class="note">Each rule links to its documentation.</p>{table}</section>'


def _findings(document: Mapping[str, Any]) -> str:
    rows = document.get("findings") or []
    if not rows:
        return ""
    urls = {r["code"]: r.get("url") for r in document["rules"]}
    table_rows = [
        [
            _linked(f"<code>{escape(row['path'])}:{row['line']}</code>", row["link"]),
            _linked(f"<code>{escape(row['code'])}</code>", urls.get(row["code"])),
            f'<span class="fix-{row["fix"]}">{escape(FIX_LABELS[row["fix"]])}</span>',
            _inline(row["message"]),
        ]
        for row in rows
    ]
    table = _table(("Where", "Rule", "Fix", "Finding"), table_rows, (), "table-findings")
    note = "Every finding, by file and line: start from the top of a file, or with the manual ones."
    return f'<section id="findings"><h2>Findings</h2><p class="note">{note}</p>{table}</section>'


def _scanned(document: Mapping[str, Any]) -> str:
    scan = document.get("scan")
    if not scan:
        return ""
    paths = ", ".join(f"<code>{escape(p)}</code>" for p in scan["paths"])
    commit = f" at commit <code>{escape(scan['commit'][:12])}</code>" if scan["commit"] else ""
    return f'<p class="scan">Scanned {paths}{commit} · {escape(scan["generated_at"].replace("T", " ").replace("Z", " UTC"))}</p>'


def _blast_radius(document: Mapping[str, Any]) -> str:
    radius = document["blast_radius"]
    if not radius["rules"]:
        return ""
    rows = [
        [
            f"<code>{escape(r['name'])}</code>",
            f"<code>{escape(r['definition']['path'])}:{r['definition']['line']}</code>"
            if r["definition"]
            else '<span class="muted">unknown</span>',
            f"{r['call_sites']:,}",
            f"{r['files']:,}",
        ]
        for r in radius["singletons"]
    ]
    body = (
        _table(("Singleton", "Defined at", "Call sites", "Files"), rows, (2, 3), "table-blast-radius")
        if rows
        else '<p class="muted">No call sites of singletons.</p>'
    )
    return f'<section id="blast-radius"><h2>Blast radius</h2><p class="note">Call sites and files depending on each singleton, largest first.</p>{body}</section>'


def _burndown(document: Mapping[str, Any]) -> str:
    history = document["history"]
    if not history:
        return ""
    labels = [row["short"][:7] for row in history]
    series = [charts.Series("total", TOTAL_COLOR, tuple(row["findings"] for row in history), dashed=True)]
    for family in (row["family"] for row in document["families"]):
        series.append(
            charts.Series(
                family, FAMILY_COLORS.get(family, TOTAL_COLOR), tuple(row["families"].get(family, 0) for row in history)
            )
        )
    chart = charts.line_chart(
        "chart-burndown",
        "Findings per family over time",
        labels,
        series,
        x_label="commit (oldest → newest)",
        y_label="findings",
    )
    legend = _legend([(s.name, s.color) for s in series], dashed=("total",))
    first, last = history[0], history[-1]
    note = (
        f"{len(history)} commits from <code>{escape(first['short'][:7])}</code> ({escape(first['date'][:10])}) to "
        f"<code>{escape(last['short'][:7])}</code> ({escape(last['date'][:10])}): {first['findings']:,} → {last['findings']:,} findings."
    )
    return f'<section id="burndown"><h2>Burndown</h2><p class="note">{note}</p>{legend}{chart}</section>'


def render(document: Mapping[str, Any]) -> str:
    summary = document["summary"]
    data = json.dumps(document, ensure_ascii=False).replace("</", "<\\/")
    body = "".join(
        [
            "<header><h1>isolint report</h1>",
            f"<p>Migration work remaining: {summary['findings']:,} findings across {summary['files_with_findings']:,} files.</p>",
            _scanned(document),
            "</header>",
            _cards(document),
            _families(document),
            _progress(document),
            _burndown(document),
            _directories(document),
            _rules(document),
            _blast_radius(document),
            _findings(document),
            f"<footer>isolint {escape(document['tool']['version'])} · report schema v{document['schema_version']}</footer>",
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>isolint report</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main>"
        f'<script type="application/json" id="report-data">{data}</script></body></html>\n'
    )
