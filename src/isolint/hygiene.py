"""Suppression hygiene: ISO001 (a suppression that hides nothing) and ISO002
(a suppression naming no rule), with the fix that removes unused ones.

The engine's suppression pass calls this with every directive of a parsed
file and what each one hid; nothing here needs LibCST.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .config import Settings, matches_any, suggest
from .findings import SAFE, Finding, Fix, Location
from .fixes import diff_edits
from .rules import ALL_RULES, BY_CODE, Rule, lookup
from .suppressions import HYGIENE_CODES, UNKNOWN_SUPPRESSION_CODE, UNUSED_SUPPRESSION, Audit, Directive

_PREFIX = re.compile(r"ISO\d{0,2}", re.IGNORECASE)
_NEVER_JUDGED = frozenset(("ISO000", *HYGIENE_CODES))  # ISO000 cannot be suppressed; hygiene would judge itself


def suppression_audit(rules: Sequence[type[Rule]], settings: Settings) -> Audit | None:
    """The audit for a file these rules are checking; None when no hygiene rule is among them."""
    reports = frozenset(rule.code for rule in rules if rule.code in HYGIENE_CODES)
    if not reports:
        return None
    return Audit(reports, frozenset(rule.code for rule in settings.enabled_rules()))


def named_rules(selector: str) -> frozenset[str]:
    """The codes a suppression's selector names; empty for an unknown one."""
    if selector != "ALL" and lookup(selector) is None and not _PREFIX.fullmatch(selector):
        return frozenset()
    return frozenset(rule.code for rule in ALL_RULES if matches_any([selector], rule.code))


def hygiene_findings(text: str, path: str, directives: Sequence[Directive], audit: Audit) -> list[Finding]:
    lines = text.split("\n")  # rows as the tokenizer counts them (StringIO splits on "\n" only)
    findings: list[Finding] = []
    for directive in directives:
        if UNKNOWN_SUPPRESSION_CODE in audit.reports:
            findings.extend(
                _unknown(path, lines, directive, selector)
                for selector in directive.selectors
                if not named_rules(selector)
            )
        if UNUSED_SUPPRESSION in audit.reports:
            unused = [s for s in dict.fromkeys(directive.selectors) if _judged(s, audit) and s not in directive.used]
            if unused:
                findings.append(_unused(text, path, lines, directive, unused))
    return findings


def _judged(selector: str, audit: Audit) -> bool:
    """Whether "unused" can be said of the selector: every rule it names ran."""
    named = named_rules(selector) - _NEVER_JUDGED
    return bool(named) and named <= audit.enabled


def _finding(
    code: str,
    message: str,
    path: str,
    lines: Sequence[str],
    directive: Directive,
    fix: Fix | None = None,
    manual: str | None = None,
) -> Finding:
    rule = BY_CODE[code]
    start, end = directive.span
    return Finding(
        code=code,
        name=rule.name,
        family=rule.family,
        message=message,
        path=path,
        location=Location(directive.row, start + 1),
        end_location=Location(directive.row, end + 1),
        fix=fix,
        manual=manual,
        snippet=lines[directive.row - 1][start:end],
    )


def _unknown(path: str, lines: Sequence[str], directive: Directive, selector: str) -> Finding:
    candidates = [*(rule.code for rule in ALL_RULES), *(rule.name for rule in ALL_RULES)]
    if re.fullmatch(r"ISO\d{1,2}", selector.upper()):
        # A prefix: a code that merely looks alike (ISO9 -> ISO407) would be no help.
        hint = f"; no rule code starts with `{selector.upper()}` (see `isolint rule --all`)"
    else:
        close = suggest(selector.upper() if selector.upper().startswith("ISO") else selector.lower(), candidates)
        hint = f"; did you mean `{close}`?" if close else " (see `isolint rule --all`)"
    message = f"`{selector}` in a suppression names no isolint rule, so it hides nothing{hint}"
    manual = (
        "Name the rule the suppression is meant for (a code, a prefix such as ISO2, or a name), or delete the code."
    )
    return _finding(UNKNOWN_SUPPRESSION_CODE, message, path, lines, directive, manual=manual)


def _scope_words(directive: Directive) -> str:
    if directive.kind == "file-ignore":
        return "in this file"
    return "on the next line" if directive.own_line else "on this line"


def _unused(text: str, path: str, lines: Sequence[str], directive: Directive, unused: Sequence[str]) -> Finding:
    where = _scope_words(directive)
    if unused == ["ALL"]:
        message = f"unused suppression: no finding is reported {where}"
    else:
        message = f"unused suppression of {', '.join(unused)}: no such finding is reported {where}"
    kept = [code for code in directive.codes if code not in unused]
    fix_message = f"Remove {', '.join(unused)} from the suppression" if kept else "Remove the unused suppression"
    new_text = _rewritten(text, lines, directive, kept)
    fix = Fix(SAFE, fix_message, diff_edits(text, new_text)) if new_text != text else None
    return _finding(UNUSED_SUPPRESSION, message + ".", path, lines, directive, fix)


def _rewritten(text: str, lines: Sequence[str], directive: Directive, kept: Sequence[str]) -> str:
    """The text without the unused selectors, or without the directive when none is kept."""
    line_start = sum(len(line) + 1 for line in lines[: directive.row - 1])
    line = lines[directive.row - 1]
    if kept and directive.codes_span is not None:
        start, end = directive.codes_span
        return _replace(text, line_start + start, line_start + end, ", ".join(kept))
    comment_end = len(line.rstrip("\r"))
    start, end = directive.span
    before, after = line[directive.comment_start : start], line[end:comment_end]
    if after.strip():  # words follow the directive: keep them as a comment
        return _replace(text, line_start + start, line_start + end, "" if after.lstrip().startswith("#") else "#")
    if before.strip():  # another comment precedes it on the line: keep that one
        return _replace(text, line_start + directive.comment_start + len(before.rstrip()), line_start + comment_end, "")
    if directive.own_line:  # the line is the directive: drop the line
        return _replace(text, line_start, min(line_start + len(line) + 1, len(text)), "")
    code_end = len(line[: directive.comment_start].rstrip())
    return _replace(text, line_start + code_end, line_start + comment_end, "")


def _replace(text: str, start: int, end: int, content: str) -> str:
    return text[:start] + content + text[end:]
