"""SARIF 2.1.0, with rule metadata (the shipped docs) and fixes."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..docs import read_doc, section
from ..findings import Edit, Finding
from ..rules import ALL_RULES
from .links import fingerprints, rule_url

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule(rule: Any) -> dict[str, Any]:
    doc = read_doc(rule) or ""
    descriptor: dict[str, Any] = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": section(doc, "What it does") or rule.summary},
        "defaultConfiguration": {"level": "error"},
        "properties": {"family": rule.family, "fixSafety": rule.fix_safety, "tags": ["isolation", rule.family]},
    }
    url = rule_url(rule.code)
    if url:
        descriptor["helpUri"] = url
    if doc:
        descriptor["help"] = {"text": section(doc, "Why is this bad") or rule.summary, "markdown": doc}
    return descriptor


def _artifact(path: str) -> dict[str, str]:
    """A URI reference, percent-encoded (RFC 3986): `a#b c.py` is a file
    name, not the path `a` with a fragment. Bytes that are not UTF-8 are
    encoded as the bytes they are."""
    if Path(path).is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(os.fsencode(Path(path).as_posix()), safe="/"), "uriBaseId": "%SRCROOT%"}


def _region(start_row: int, start_col: int, end_row: int, end_col: int) -> dict[str, int]:
    return {"startLine": start_row, "startColumn": start_col, "endLine": end_row, "endColumn": end_col}


def _replacement(edit: Edit) -> dict[str, Any]:
    return {
        "deletedRegion": _region(
            edit.location.row, edit.location.column, edit.end_location.row, edit.end_location.column
        ),
        "insertedContent": {"text": edit.content},
    }


def _result(finding: Finding, rule_index: dict[str, int], fingerprint: str) -> dict[str, Any]:
    artifact = _artifact(finding.path)
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index[finding.code],
        "level": "error",
        "message": {"text": finding.message},
        # Line-independent, so code scanning keeps tracking a finding when lines above it move.
        "partialFingerprints": {"isolintFingerprint/v1": fingerprint},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact,
                    "region": _region(
                        finding.location.row,
                        finding.location.column,
                        finding.end_location.row,
                        finding.end_location.column,
                    ),
                }
            }
        ],
    }
    if finding.fix is not None:
        result["fixes"] = [
            {
                "description": {"text": f"{finding.fix.message} ({finding.fix.applicability})"},
                "artifactChanges": [
                    {
                        "artifactLocation": artifact,
                        "replacements": [_replacement(e) for e in finding.fix.required_edits()],
                    }
                ],
            }
        ]
    if finding.manual:
        result["properties"] = {"manual": finding.manual}
    return result


def render(findings: Sequence[Finding]) -> str:
    rule_index = {rule.code: index for index, rule in enumerate(ALL_RULES)}
    stable = fingerprints(findings)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "isolint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(rule) for rule in ALL_RULES],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": [_result(f, rule_index, stable[id(f)]) for f in findings],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
