"""Inline suppressions, and stamping them onto findings (`check --add-ignore`).

    x = Thing()  # isolint: ignore[ISO103]          this line, these rules
    # isolint: ignore[singleton-class]              the next line
    x = Thing()  # isolint: ignore                  this line, every rule
    # isolint: file-ignore[ISO2]                    the whole file, by prefix
    x = Thing()  # noqa: ISO103                     flake8/ruff style

A bare `# noqa` is deliberately *not* honoured: it is usually aimed at
another linter, and silently hiding an isolation bug is worse than a
duplicate comment.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .config import matches_any
from .findings import Finding

_ISOLINT = re.compile(r"#\s*isolint:\s*(?P<kind>ignore|file-ignore)\b(?:\[(?P<codes>[^\]]*)\])?")
_NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Za-z]+\d+(?:\s*,\s*[A-Za-z]+\d+)*)", re.IGNORECASE)
_EVERY_RULE = ("ALL",)


@dataclass
class Directives:
    by_row: dict[int, list[str]] = field(default_factory=dict)  # selectors per row; ALL for a bare ignore
    comment_only_rows: set[int] = field(default_factory=set)
    file_wide: list[str] = field(default_factory=list)

    def suppresses(self, finding: Finding) -> bool:
        if matches_any(self.file_wide, finding.code):
            return True
        row = finding.location.row
        if _matches(self.by_row.get(row, ()), finding):
            return True
        above = row - 1
        return above in self.comment_only_rows and _matches(self.by_row.get(above, ()), finding)


def _matches(selectors: Sequence[str], finding: Finding) -> bool:
    return bool(selectors) and (selectors == _EVERY_RULE or matches_any(selectors, finding.code))


def _split(codes: str | None) -> list[str]:
    if codes is None:
        return list(_EVERY_RULE)
    return [c.strip() for c in codes.split(",") if c.strip()]


def parse_directives(text: str) -> Directives:
    directives = Directives()
    code_rows: set[int] = set()
    for token in _tokens(text):
        if token.type == tokenize.COMMENT:
            row = token.start[0]
            for match in _ISOLINT.finditer(token.string):
                selectors = _split(match["codes"])
                if match["kind"] == "file-ignore":
                    directives.file_wide.extend(selectors)
                else:
                    directives.by_row.setdefault(row, []).extend(selectors)
            for match in _NOQA.finditer(token.string):
                directives.by_row.setdefault(row, []).extend(c for c in _split(match["codes"]) if c.upper().startswith("ISO"))
            directives.comment_only_rows.add(row)
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_rows.update(range(token.start[0], token.end[0] + 1))
    directives.comment_only_rows -= code_rows
    for row, selectors in directives.by_row.items():
        if "ALL" in selectors:
            directives.by_row[row] = list(_EVERY_RULE)
    return directives


def _tokens(text: str) -> Iterable[tokenize.TokenInfo]:
    try:
        yield from tokenize.generate_tokens(io.StringIO(text).readline)
    except (tokenize.TokenError, SyntaxError):
        return


def apply_suppressions(text: str, findings: list[Finding]) -> list[Finding]:
    if "isolint:" not in text and "noqa" not in text.lower():
        return findings
    directives = parse_directives(text)
    return [f for f in findings if f.code == "ISO000" or not directives.suppresses(f)]


# --- --add-ignore -----------------------------------------------------------

_EXISTING_IGNORE = re.compile(r"#\s*isolint:\s*ignore\[(?P<codes>[^\]]*)\]")
_LINE_END = re.compile(r"\r\n|\r|\n")


def add_ignores(text: str, findings: Iterable[Finding]) -> tuple[str, int, list[Finding]]:
    """Stamp `# isolint: ignore[CODE]` on each finding's line.

    Returns the new text, how many lines gained or extended a directive, and
    the findings that could not be stamped because their line ends inside a
    string or a backslash continuation.
    """
    codes_by_row: dict[int, list[str]] = {}
    for finding in findings:
        codes = codes_by_row.setdefault(finding.location.row, [])
        if finding.code not in codes:
            codes.append(finding.code)
    unsafe_rows = _rows_that_cannot_take_a_comment(text)
    lines = _LINE_END.split(text)
    breaks = _LINE_END.findall(text)
    skipped = [f for f in findings if f.location.row in unsafe_rows]
    stamped = 0
    for row, codes in codes_by_row.items():
        if row in unsafe_rows or row > len(lines):
            continue
        line = lines[row - 1]
        existing = _EXISTING_IGNORE.search(line)
        if existing:
            present = [c.strip() for c in existing["codes"].split(",") if c.strip()]
            merged = ", ".join([*present, *(c for c in codes if c not in present)])
            line = line[: existing.start("codes")] + merged + line[existing.end("codes") :]
        else:
            line = f"{line.rstrip()}  # isolint: ignore[{', '.join(codes)}]"
        if line != lines[row - 1]:
            lines[row - 1] = line
            stamped += 1
    out = "".join(line + brk for line, brk in zip(lines, [*breaks, ""]))
    return out, stamped, skipped


def _rows_that_cannot_take_a_comment(text: str) -> set[int]:
    """Rows whose end lies inside a multi-line string or ends in a backslash."""
    rows: set[int] = set()
    for token in _tokens(text):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            rows.update(range(token.start[0], token.end[0]))
    for number, line in enumerate(_LINE_END.split(text), start=1):
        if line.rstrip().endswith("\\"):
            rows.add(number)
    return rows
