"""The formats of other CI systems and review tools, as ruff writes them:
GitLab Code Quality, reviewdog's rdjson, pylint's text, Azure Pipelines
logging commands, and findings grouped by file."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import click

from ..findings import SAFE, Edit, Finding
from .escape import printable
from .links import fingerprints, relative, rule_url


def gitlab(findings: Sequence[Finding]) -> str:
    """GitLab Code Quality (a JSON array; `artifacts: reports: codequality:`)."""
    stable = fingerprints(findings)
    issues = [
        {
            "type": "issue",
            "check_name": f.code,
            "description": f"{f.code} {f.message}",
            "categories": ["Bug Risk"],
            "severity": "major",
            "fingerprint": stable[id(f)],
            "location": {"path": relative(f.path), "lines": {"begin": f.location.row, "end": f.end_location.row}},
        }
        for f in findings
    ]
    return json.dumps(issues, indent=2) + "\n"


def _range(start_row: int, start_column: int, end_row: int, end_column: int) -> dict[str, dict[str, int]]:
    return {"start": {"line": start_row, "column": start_column}, "end": {"line": end_row, "column": end_column}}


def _suggestion(edit: Edit) -> dict[str, Any]:
    return {
        "range": _range(edit.location.row, edit.location.column, edit.end_location.row, edit.end_location.column),
        "text": edit.content,
    }


def rdjson(findings: Sequence[Finding]) -> str:
    """reviewdog's Diagnostic Format (`reviewdog -f=rdjson`)."""
    diagnostics = []
    for f in findings:
        diagnostic: dict[str, Any] = {
            "message": f.message,
            "location": {
                "path": relative(f.path),
                "range": _range(f.location.row, f.location.column, f.end_location.row, f.end_location.column),
            },
            "severity": "ERROR",
            "code": {"value": f.code, **({"url": url} if (url := rule_url(f.code)) else {})},
        }
        if f.fix is not None and f.fix.applicability == SAFE:
            diagnostic["suggestions"] = [_suggestion(edit) for edit in f.fix.required_edits()]
        diagnostics.append(diagnostic)
    document = {"source": {"name": "isolint"}, "severity": "ERROR", "diagnostics": diagnostics}
    return json.dumps(document, indent=2) + "\n"


def pylint(findings: Sequence[Finding]) -> str:
    """`path:line: [CODE] message`, which pylint-parsing tools read: one line
    each, whatever the path or the message holds."""
    return "".join(f"{printable(f.path)}:{f.location.row}: [{f.code}] {printable(f.message)}\n" for f in findings)


def _azure_property(text: str) -> str:
    return text.replace("%", "%AZP25").replace(";", "%3B").replace("\r", "%0D").replace("\n", "%0A").replace("]", "%5D")


def azure(findings: Sequence[Finding]) -> str:
    """Azure Pipelines logging commands: one error annotation per finding."""
    lines = []
    for f in findings:
        properties = ";".join(
            f"{key}={_azure_property(str(value))}"
            for key, value in (
                ("type", "error"),
                ("sourcepath", f.path),
                ("linenumber", f.location.row),
                ("columnnumber", f.location.column),
                ("code", f.code),
            )
        )
        message = f.message.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")
        lines.append(f"##vso[task.logissue {properties};]{message}\n")
    return "".join(lines)


def grouped(findings: Sequence[Finding], *, styled: bool = True) -> str:
    """Findings under their file's name, as ruff's `grouped`."""

    def style(text: str, **styles: Any) -> str:
        return click.style(text, **styles) if styled else text

    by_path: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_path[finding.path].append(finding)
    chunks = []
    for path, items in by_path.items():
        width = max(len(f"{f.location.row}:{f.location.column}") for f in items)
        lines = [style(printable(path), bold=True, underline=True) + ":"]
        for f in items:
            marker = "[*] " if f.fix is not None and f.fix.applicability == SAFE else ""
            where = f"{f.location.row}:{f.location.column}"
            lines.append(f"  {where:<{width}} {style(f.code, fg='red', bold=True)} {marker}{printable(f.message)}")
        chunks.append("\n".join(lines) + "\n")
    return "\n".join(chunks)
