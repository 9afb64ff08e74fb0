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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .config import matches_any
from .findings import Finding
from .lexer import scan
from .source import LINE_BREAK

_ISOLINT = re.compile(r"#\s*isolint:\s*(?P<kind>ignore|file-ignore)\b(?:\[(?P<codes>[^\]]*)\])?")
_NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Za-z]+\d+(?:\s*,\s*[A-Za-z]+\d+)*)", re.IGNORECASE)
_EVERY_RULE = ("ALL",)
UNUSED_SUPPRESSION = "ISO001"
UNKNOWN_SUPPRESSION_CODE = "ISO002"
HYGIENE_CODES = (UNUSED_SUPPRESSION, UNKNOWN_SUPPRESSION_CODE)


@dataclass
class Directive:
    """One `# isolint: ignore[...]`, `# isolint: file-ignore[...]` or `# noqa: ...`
    as written: where it is, so that an unused one can be reported and removed."""

    row: int
    kind: str  # "ignore", "file-ignore" or "noqa"
    selectors: list[str]  # isolint's own: ALL for a bare ignore; for noqa, the ISO codes only
    codes: list[str]  # everything between the brackets (or after `noqa:`), as written
    span: tuple[int, int]  # the directive, columns (0-based, end exclusive) in its line
    codes_span: tuple[int, int] | None  # the codes, likewise; None for a bare ignore
    comment_start: int  # column of the comment holding it
    own_line: bool = False  # the line holds nothing but comments: it applies to the next line
    used: set[str] = field(default_factory=set)  # selectors that suppressed a finding


@dataclass
class Directives:
    by_row: dict[int, list[str]] = field(default_factory=dict)  # selectors per row; ALL for a bare ignore
    comment_only_rows: set[int] = field(default_factory=set)
    file_wide: list[str] = field(default_factory=list)
    written: list[Directive] = field(default_factory=list)

    def suppresses(self, finding: Finding) -> bool:
        if matches_any(self.file_wide, finding.code):
            return True
        row = finding.location.row
        if _matches(self.by_row.get(row, ()), finding):
            return True
        above = row - 1
        return above in self.comment_only_rows and _matches(self.by_row.get(above, ()), finding)

    def applying_to(self, finding: Finding) -> Iterable[Directive]:
        """The directives whose scope covers the finding: file-wide ones, its
        line's, and those alone on the line above."""
        row = finding.location.row
        for directive in self.written:
            if (
                directive.kind == "file-ignore"
                or directive.row == row
                or (directive.own_line and directive.row == row - 1)
            ):
                yield directive


def _matches(selectors: Sequence[str], finding: Finding) -> bool:
    return bool(selectors) and (selectors == _EVERY_RULE or matches_any(selectors, finding.code))


def _split(codes: str | None) -> list[str]:
    if codes is None:
        return list(_EVERY_RULE)
    return [c.strip() for c in codes.split(",") if c.strip()]


def may_hold_directives(text: str) -> bool:
    """False when no comment of `text` can hold a directive: no `isolint:`,
    and no line where an ISO code could follow `noqa` (a `# noqa: E501` is
    common, and not ours). Lexing the file for its comments costs far more."""
    if "isolint:" in text:
        return True
    lowered = text.lower()
    at = lowered.find("noqa")
    while at != -1:
        line_end = lowered.find("\n", at)
        # upper(): `_NOQA` matches case-insensitively, so a dotless i (U+0131) spells ISO too
        if "ISO" in lowered[at : line_end if line_end != -1 else len(lowered)].upper():
            return True
        at = lowered.find("noqa", at + 4)
    return False


def parse_directives(text: str) -> Directives:
    directives = Directives()
    for row, column, comment, alone in _comments(text):
        for match in _ISOLINT.finditer(comment):
            selectors = _split(match["codes"])
            if match["kind"] == "file-ignore":
                directives.file_wide.extend(selectors)
            else:
                directives.by_row.setdefault(row, []).extend(selectors)
            directives.written.append(_directive(row, column, match, match["kind"], selectors))
        for match in _NOQA.finditer(comment):
            ours = [c for c in _split(match["codes"]) if c.upper().startswith("ISO")]
            directives.by_row.setdefault(row, []).extend(ours)
            if ours:
                directives.written.append(_directive(row, column, match, "noqa", ours))
        if alone:
            directives.comment_only_rows.add(row)
    for row, selectors in directives.by_row.items():
        if "ALL" in selectors:
            directives.by_row[row] = list(_EVERY_RULE)
    for directive in directives.written:
        directive.own_line = directive.row in directives.comment_only_rows
    return directives


def _comments(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """(row, column, text, alone on its line) of each comment that may hold a
    directive. The lexer finds them (tokenizing costs ten times as much);
    `tokenize` takes over where it gives up."""
    lexed = scan(text)
    if lexed is None:
        yield from _tokenized_comments(text)
        return
    for start, end in lexed.comments:
        comment = text[start:end]
        if "isolint" not in comment and "noqa" not in comment.lower():
            continue
        line_start = text.rfind("\n", 0, start) + 1  # rows and columns as `tokenize` counts them
        yield text.count("\n", 0, start) + 1, start - line_start, comment, not text[line_start:start].strip(" \t\f")


def _tokenized_comments(text: str) -> Iterator[tuple[int, int, str, bool]]:
    comments: list[tuple[int, int, str]] = []
    code_rows: set[int] = set()
    for token in _tokens(text):
        if token.type == tokenize.COMMENT:
            comments.append((*token.start, token.string))
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_rows.update(range(token.start[0], token.end[0] + 1))
    for row, column, comment in comments:
        yield row, column, comment, row not in code_rows


def _directive(row: int, column: int, match: re.Match[str], kind: str, selectors: list[str]) -> Directive:
    codes_span = (column + match.start("codes"), column + match.end("codes")) if match["codes"] is not None else None
    return Directive(
        row,
        kind,
        selectors,
        _split(match["codes"]) if match["codes"] is not None else [],
        (column + match.start(), column + match.end()),
        codes_span,
        column,
    )


def _tokens(text: str) -> Iterable[tokenize.TokenInfo]:
    try:
        yield from tokenize.generate_tokens(io.StringIO(text).readline)
    except (tokenize.TokenError, SyntaxError):
        return


def apply_suppressions(
    text: str, findings: list[Finding], *, audit: Audit | None = None, path: str = ""
) -> list[Finding]:
    """The findings no directive hides; with `audit` (ISO001/ISO002 enabled),
    plus a finding for each unused suppression and each unknown code in one."""
    if not may_hold_directives(text):
        return findings
    directives = parse_directives(text)
    kept = []
    for finding in findings:
        if finding.code == "ISO000" or not directives.suppresses(finding):
            kept.append(finding)
            continue
        for directive in directives.applying_to(finding):
            directive.used.update(s for s in directive.selectors if _matches([s], finding))
    if audit is None:
        return kept
    from .hygiene import hygiene_findings

    hygiene = hygiene_findings(text, path, directives.written, audit)
    return sorted([*kept, *(f for f in hygiene if not _hides_hygiene(directives, f))], key=lambda f: f.sort_key)


@dataclass(frozen=True)
class Audit:
    """What the suppression audit may judge: the hygiene rules enabled for
    this file, and every enabled rule (a suppression naming a disabled rule
    cannot be called unused: that rule never ran)."""

    reports: frozenset[str]  # the subset of HYGIENE_CODES to report
    enabled: frozenset[str]  # codes of the enabled rules


def _hides_hygiene(directives: Directives, finding: Finding) -> bool:
    """A hygiene finding is hidden only by a directive naming its rule
    specifically (a code, a name or `ISO0`), never by a blanket one, which
    would otherwise hide the report that it is itself unused."""
    specific = [
        selector
        for directive in directives.applying_to(finding)
        for selector in directive.selectors
        if selector != "ALL" and len(selector) >= 4
    ]
    return matches_any(specific, finding.code)


# --- --add-ignore -----------------------------------------------------------

_EXISTING_IGNORE = re.compile(r"#\s*isolint:\s*ignore\[(?P<codes>[^\]]*)\]")


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
    lines = LINE_BREAK.split(text)
    breaks = LINE_BREAK.findall(text)
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
    out = "".join(line + brk for line, brk in zip(lines, [*breaks, ""], strict=True))
    return out, stamped, skipped


def _rows_that_cannot_take_a_comment(text: str) -> set[int]:
    """Rows whose end lies inside a multi-line string or ends in a backslash."""
    rows: set[int] = set()
    for token in _tokens(text):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            rows.update(range(token.start[0], token.end[0]))
    for number, line in enumerate(LINE_BREAK.split(text), start=1):
        if line.rstrip().endswith("\\"):
            rows.add(number)
    return rows
