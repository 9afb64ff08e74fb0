"""Human output: `full` (with a source excerpt, like ruff's) and `concise`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import click

from ..findings import SAFE, UNSAFE, Finding
from ..source import SourceError, decode, read_bytes, split_lines
from .escape import printable

if TYPE_CHECKING:
    from ..runner import Stats

CONTEXT_LINES = 2


def _style_around(fg: str | None = None) -> tuple[str, str]:
    """The escape codes `click.style` puts before and after a bold text,
    computed once: `full` styles three strings per finding, tens of
    thousands of times."""
    before, _, after = click.style("\0", fg=fg, bold=True).partition("\0")
    return before, after


class _Styles(NamedTuple):
    bold: tuple[str, str]
    red_bold: tuple[str, str]


STYLED = _Styles(_style_around(), _style_around("red"))
# Where the output is not a terminal: click would strip the codes again, by
# a pattern over the whole output (0.05 s for 30,000 findings in `full`).
PLAIN = _Styles(("", ""), ("", ""))


def _marker(finding: Finding) -> str:
    return "[*] " if finding.fix is not None and finding.fix.applicability == SAFE else ""


def _header(finding: Finding, styles: _Styles) -> str:
    bold_before, bold_after = styles.bold
    red_before, red_after = styles.red_bold
    where = f"{bold_before}{printable(finding.path)}:{finding.location.row}:{finding.location.column}:{bold_after}"
    return f"{where} {red_before}{finding.code}{red_after} {_marker(finding)}{printable(finding.message)}"


def concise(findings: Sequence[Finding], *, styled: bool = True) -> str:
    styles = STYLED if styled else PLAIN
    return "".join(_header(f, styles) + "\n" for f in findings)


@lru_cache(maxsize=64)
def _lines(path: str) -> tuple[str, ...]:
    from pathlib import Path

    try:
        return tuple(split_lines(decode(read_bytes(Path(path))).text))
    except (SourceError, OSError):
        return ()


def _excerpt(finding: Finding, styles: _Styles) -> list[str]:
    lines = _lines(finding.path)
    row = finding.location.row
    if not lines or row > len(lines):
        return []
    first = max(1, row - CONTEXT_LINES)
    last = min(len(lines), row + CONTEXT_LINES)
    width = len(str(last))
    gutter = " " * width + " |"
    out = [gutter]
    for number in range(first, last + 1):
        out.append(f"{number:>{width}} | {printable(lines[number - 1])}".rstrip())
        if number == row:
            start = finding.location.column - 1
            line_length = len(lines[number - 1])
            end = finding.end_location.column - 1 if finding.end_location.row == row else line_length
            carets = "^" * max(1, min(end, line_length) - start)
            red_before, red_after = styles.red_bold
            out.append(f"{gutter} {' ' * start}{red_before}{carets} {finding.code}{red_after}")
    out.append(gutter)
    return out


def full(findings: Sequence[Finding], *, styled: bool = True) -> str:
    _lines.cache_clear()  # a file read by an earlier render (the language server's, a test's) may have changed
    styles = STYLED if styled else PLAIN
    chunks = []
    for finding in findings:
        block = [_header(finding, styles), *_excerpt(finding, styles)]
        pad = " " * (len(str(finding.location.row + CONTEXT_LINES)) + 1)
        if finding.fix is not None:
            kind = "" if finding.fix.applicability == SAFE else " (unsafe)"
            block.append(f"{pad}= help{kind}: {printable(finding.fix.message)}")
        if finding.manual:
            block.append(f"{pad}= manual: {printable(finding.manual)}")
        chunks.append("\n".join(block) + "\n")
    return "\n".join(chunks)


def summary(findings: Sequence[Finding], *, refused: int | None = None, verified: frozenset[str] = frozenset()) -> str:
    """ruff-style closing lines: how many findings, how many fixable. A
    fixable count is what the rules offer: `isolint fix` verifies the fixes
    against the whole program first and refuses those that would break it.
    `refused`: how many of the counted fixes of the applicabilities in
    `verified` that verification refused, when it ran (`check --show-fixes`);
    where it did not, the lines say so."""
    if not findings:
        return "All checks passed!\n"
    total = len(findings)
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability == SAFE)
    unsafe = sum(1 for f in findings if f.fix is not None and f.fix.applicability != SAFE)
    skipped = sum(1 for f in findings if f.code == "ISO000")
    manual = total - safe - unsafe - skipped
    noun = "finding" if total == 1 else "findings"
    out = [f"Found {total} {noun}."]
    if safe:
        out.append(f"[*] {safe} fixable with `isolint fix`.")
    if unsafe:
        out.append(f"{unsafe} more fixable with `isolint fix --unsafe-fixes`.")
    if refused:
        out.append(f"{refused} of those fixes would be refused: they would break the program (see above).")
    if (safe and SAFE not in verified) or (unsafe and UNSAFE not in verified):
        show = "isolint check --show-fixes" + (" --unsafe-fixes" if unsafe else "")
        out.append(
            "`isolint fix` first checks them against the whole program and refuses any that would break it; "
            f"`{show}` lists which."
        )
    if manual:
        out.append(f"{manual} need manual migration (see each finding's `manual` hint).")
    if skipped:
        out.append(f"{skipped} could not be checked (ISO000).")
    return "\n".join(out) + "\n"


def statistics(findings: Sequence[Finding]) -> list[dict[str, object]]:
    counts: dict[str, dict[str, object]] = {}
    for finding in findings:
        entry = counts.setdefault(
            finding.code, {"code": finding.code, "name": finding.name, "count": 0, "fixable": False}
        )
        entry["count"] = int(entry["count"]) + 1  # type: ignore[call-overload]
        # [*] means "fixed by plain `isolint fix`", as in the finding lines.
        entry["fixable"] = bool(entry["fixable"]) or (finding.fix is not None and finding.fix.applicability == SAFE)
    return sorted(counts.values(), key=lambda e: (-int(e["count"]), str(e["code"])))  # type: ignore[call-overload]


def statistics_text(findings: Sequence[Finding]) -> str:
    rows = statistics(findings)
    width = max((len(str(r["count"])) for r in rows), default=1)
    return "".join(
        f"{r['count']:>{width}}\t{r['code']}\t{'[*] ' if r['fixable'] else '    '}{r['name']}\n" for r in rows
    )


# Driver phases, in pipeline order: (key in Stats.timings, label).
DRIVER_PHASES = (
    ("discover", "discover"),
    ("index", "index"),
    ("cache", "cache lookup"),
    ("check", "check"),
    ("fix", "fix"),
    ("verify", "verify"),
    ("recheck", "recheck"),
    ("output", "output"),
)
ALWAYS_SHOWN = ("discover", "index", "cache", "check", "output")  # fix, verify and recheck: only when they ran


def timings_text(stats: Stats, *, total: float | None = None) -> str:
    """`--timings`: where the files went and where the time went, as an aligned table.

    Driver phases are wall seconds in the main process; worker phases are
    seconds summed over the worker processes (so they can exceed the wall
    time of `check`), from `isolint.timing`."""
    from ..timing import PHASES

    label_width, value_width = 22, 12
    lines: list[str] = [""]  # apart from the report, when both streams share a terminal

    def heading(text: str) -> None:
        lines.append(text)

    def row(label: str, value: str, note: str = "") -> None:
        lines.append(f"  {label:<{label_width}}{value:>{value_width}}" + (f"  {note}" if note else ""))

    def seconds(value: float) -> str:
        return f"{value:.3f}"

    heading("Files")
    row("seen", f"{stats.files:,}")
    row("cached", f"{stats.cached:,}", "unchanged since the last run")
    row("skipped by prefilter", f"{stats.prefiltered:,}", "read, never parsed")
    row("parsed", f"{stats.parsed:,}")
    if stats.unreadable:
        row("unreadable", f"{stats.unreadable:,}")
    row("indexed", f"{stats.indexed:,}", "parsed by the project-index pass")
    row("index cached", f"{stats.index_cached:,}")

    heading("Driver phases (wall s)")
    for key, label in DRIVER_PHASES:
        if key in stats.timings or key in ALWAYS_SHOWN:
            row(label, seconds(stats.timings.get(key, 0.0)))
    if total is not None:
        row("total", seconds(total), "this command, after interpreter start-up")

    processes = "1 process, inline" if stats.workers == 1 else f"{stats.workers} processes"
    heading(f"Worker phases (s, summed over {processes})")
    names = [*PHASES, *sorted(name for name in stats.worker if name not in PHASES)]
    for name in names:
        row(name, seconds(stats.worker.get(name, 0.0)))
    attributed = sum(stats.worker.get(name, 0.0) for name in names)
    row("other", seconds(max(0.0, stats.worker_total - attributed)), "not in a named phase")
    row("total", seconds(stats.worker_total))

    heading(
        f"Slowest files (s, top {len(stats.slowest)})" if stats.slowest else "Slowest files: none checked (all cached)"
    )
    for spent, path in stats.slowest:
        lines.append(f"  {spent:>{label_width + value_width}.3f}  {path}")
    return "\n".join(lines) + "\n"
