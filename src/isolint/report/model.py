"""The report's data: one JSON-safe document every format renders.

Its shape is the versioned schema in `report.schema.json` (documented in
docs/report-schema.md); bump SCHEMA_VERSION on any incompatible change.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..findings import SAFE, Finding
from ..index import Fact, ProjectIndex
from ..output.links import relative, rule_url
from ..progress import family_progress
from ..rules.base import FAMILIES, Rule

SCHEMA_NAME = "isolint-report"
SCHEMA_VERSION = 1
FIX_CLASSES = ("safe", "unsafe", "manual")
UNPARSABLE_CODE = "ISO000"
# Rules whose findings are call sites of a singleton (ISO106) or of a class
# storing a session (ISO205): the blast radius groups them by what they reach.
BLAST_RADIUS_RULES = ("ISO106", "ISO205")
TOP_DIRECTORIES = 10


def fix_class(finding: Finding) -> str:
    """safe: `isolint fix`; unsafe: `isolint fix --unsafe-fixes`; manual: no fix."""
    if finding.fix is None:
        return "manual"
    return "safe" if finding.fix.applicability == SAFE else "unsafe"


def _split(findings: Iterable[Finding]) -> dict[str, int]:
    counts = Counter(fix_class(f) for f in findings)
    return {"findings": sum(counts.values()), **{name: counts[name] for name in FIX_CLASSES}}


def summary(findings: Sequence[Finding], files: int) -> dict[str, Any]:
    return {
        "files": files,
        "files_with_findings": len({f.path for f in findings}),
        **_split(findings),
        "unparsable": sum(1 for f in findings if f.code == UNPARSABLE_CODE),
    }


def by_family(findings: Sequence[Finding], enabled: Sequence[type[Rule]]) -> list[dict[str, Any]]:
    """Every family with an enabled rule (and `core` when a file could not be checked)."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[finding.family].append(finding)
    families = {rule.family for rule in enabled if rule.code != UNPARSABLE_CODE} | set(grouped)
    return [
        {"family": family, "title": FAMILIES.get(family, family), **_split(grouped[family])}
        for family in FAMILIES
        if family in families
    ]


def by_rule(findings: Sequence[Finding], enabled: Sequence[type[Rule]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[finding.code].append(finding)
    rows = []
    for rule in sorted(enabled, key=lambda r: r.code):
        if rule.code == UNPARSABLE_CODE and not grouped[rule.code]:
            continue
        rows.append(
            {
                "code": rule.code,
                "name": rule.name,
                "family": rule.family,
                "fix_safety": rule.fix_safety,
                "url": rule_url(rule.code),
                **_split(grouped[rule.code]),
            }
        )
    return rows


def finding_rows(findings: Sequence[Finding], link_template: str | None, commit: str | None) -> list[dict[str, Any]]:
    """Every finding, by file and line, with a link to where it is: the
    `--link-template` filled in (`{path}`, `{line}`, `{commit}`), or none."""
    rows = []
    for finding in sorted(findings, key=lambda f: f.sort_key):
        path = relative(finding.path)
        link = None
        if link_template:
            link = link_template.format(path=quote(path), line=finding.location.row, commit=commit or "HEAD")
        rows.append(
            {
                "path": path,
                "line": finding.location.row,
                "column": finding.location.column,
                "code": finding.code,
                "fix": fix_class(finding),
                "message": finding.message,
                "link": link,
            }
        )
    return rows


def top_directories(findings: Sequence[Finding], limit: int = TOP_DIRECTORIES) -> list[dict[str, Any]]:
    """The directories holding the most findings (each file counts for its own directory)."""
    grouped: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        grouped[PurePosixPath(finding.path.replace("\\", "/")).parent.as_posix()].append(finding)
    rows: list[dict[str, Any]] = [
        {"path": path, "files": len({f.path for f in items}), **_split(items)} for path, items in grouped.items()
    ]
    rows.sort(key=lambda row: (-row["findings"], row["path"]))
    return rows[:limit]


# --- blast radius ---------------------------------------------------------------

_LOCATION = re.compile(r"([\w./\\-]+\.pyi?):(\d+)")
_QUOTED_NAME = re.compile(r"`([A-Za-z_][\w.]*)`")  # `Name` or `Class.attr`, not a call like `f()`


def _target_of(finding: Finding, facts: Sequence[Fact]) -> tuple[str, dict[str, Any] | None]:
    """What a call-site finding reaches, from its message, which names the
    singleton in backquotes and where it is defined (`path:line`). Without a
    location, the project index supplies the definition of a name it knows."""
    names = _QUOTED_NAME.findall(finding.message)
    location = _LOCATION.search(finding.message)
    if location is not None:
        path, line = location.group(1), int(location.group(2))
        at = [fact.qualname for fact in facts if fact.path == path and fact.line == line]
        name = names[0] if names else (at[0] if at else f"{path}:{line}")
        return name, {"path": path, "line": line}
    for name in names:
        matches = {(fact.path, fact.line) for fact in facts if fact.name == name.rpartition(".")[2]}
        if len(matches) == 1:
            path, line = matches.pop()
            return name, {"path": path, "line": line}
    return (names[0] if names else finding.snippet.partition("(")[0] or finding.code), None


def blast_radius(findings: Sequence[Finding], project: ProjectIndex, enabled: Sequence[type[Rule]]) -> dict[str, Any]:
    """Per singleton (or session-storing class): its definition, and the call
    sites and files that depend on it, largest first."""
    rules = [rule.code for rule in enabled if rule.code in BLAST_RADIUS_RULES]
    # ProjectIndex lists facts by kind only; kinds are the indexing rules' own, so take them all.
    facts: Sequence[Fact] = project.facts
    groups: dict[str, dict[str, Any]] = {}
    for finding in findings:
        if finding.code not in rules:
            continue
        name, definition = _target_of(finding, facts)
        key = f"{definition['path']}:{definition['line']}" if definition else name
        group = groups.setdefault(
            key,
            {
                "name": name,
                "definition": definition,
                "call_sites": 0,
                "files": set(),
                "rules": Counter(),
            },
        )
        group["call_sites"] += 1
        group["files"].add(finding.path)
        group["rules"][finding.code] += 1
    rows = [
        {**group, "files": len(group["files"]), "rules": dict(sorted(group["rules"].items()))}
        for group in groups.values()
    ]
    rows.sort(key=lambda row: (-row["call_sites"], -row["files"], row["name"]))
    return {"rules": rules, "singletons": rows}


# --- the document -------------------------------------------------------------


def build(
    findings: Sequence[Finding],
    *,
    files: int,
    counts: Mapping[str, int],
    enabled: Sequence[type[Rule]],
    project: ProjectIndex,
    baseline: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    top: int = TOP_DIRECTORIES,
    scan: Mapping[str, Any] | None = None,
    link_template: str | None = None,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "isolint", "version": __version__},
        "summary": summary(findings, files),
        "families": by_family(findings, enabled),
        "rules": by_rule(findings, enabled),
        "directories": top_directories(findings, top),
        "progress": family_progress(findings, counts, enabled),
        "blast_radius": blast_radius(findings, project, enabled),
        "baseline": dict(baseline) if baseline is not None else None,
        "history": list(history) if history is not None else None,
        "scan": dict(scan) if scan is not None else None,
        "findings": finding_rows(findings, link_template, (scan or {}).get("commit")),
    }


def commit_row(
    commit: Mapping[str, Any],
    findings: Sequence[Finding],
    files: int,
    counts: Mapping[str, int],
    enabled: Sequence[type[Rule]],
) -> dict[str, Any]:
    """One commit's totals for `report --history`."""
    return {
        **commit,
        **summary(findings, files),
        "families": {row["family"]: row["findings"] for row in by_family(findings, enabled)},
        "progress": {
            row["family"]: {"legacy": row["legacy"], "target": row["target"]}
            for row in family_progress(findings, counts, enabled)
        },
    }
