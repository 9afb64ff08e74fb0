"""`report --history --format csv`: one row per commit, oldest first."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

BASE_COLUMNS = ("commit", "date", "subject", "files", "findings", "safe", "unsafe", "manual", "unparsable")


# A cell starting with one of these is a formula to Excel, LibreOffice and
# Google Sheets: a commit subject like `=HYPERLINK(...)` would run as one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Text cells that a spreadsheet would read as a formula get a leading
    `'`, as OWASP recommends against CSV injection; numbers stay numbers."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_TRIGGERS):
        value = "'" + value
    # A lone \r is not quoted by the csv module (it is not our line
    # terminator) but ends the row for most readers: a subject is one line.
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def render(document: Mapping[str, Any]) -> str:
    rows = document.get("history") or []
    families = [row["family"] for row in document["families"]]
    tracks = [row["family"] for row in document["progress"]]
    header = [
        *BASE_COLUMNS,
        *families,
        *(f"{family}:legacy" for family in tracks),
        *(f"{family}:target" for family in tracks),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [
                *(_cell(row[column]) for column in BASE_COLUMNS),
                *(row["families"].get(family, 0) for family in families),
                *(row["progress"].get(family, {}).get("legacy", 0) for family in tracks),
                *(row["progress"].get(family, {}).get("target", 0) for family in tracks),
            ]
        )
    return out.getvalue()
