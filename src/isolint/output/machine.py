"""ruff-compatible JSON: tools built for `ruff --output-format json` work unchanged."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from ..findings import Finding
from .links import rule_url


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "cell": None,
        "code": finding.code,
        "end_location": finding.end_location.to_json(),
        "filename": os.path.abspath(finding.path),
        "fix": finding.fix.to_json() if finding.fix is not None else None,
        "location": finding.location.to_json(),
        "message": finding.message,
        "noqa_row": finding.location.row,
        "url": rule_url(finding.code),
        "isolint": {"name": finding.name, "family": finding.family, "manual": finding.manual},
    }


def json_array(findings: Sequence[Finding]) -> str:
    return json.dumps([finding_json(f) for f in findings], indent=2) + "\n"


def json_lines(findings: Sequence[Finding]) -> str:
    return "".join(json.dumps(finding_json(f)) + "\n" for f in findings)
