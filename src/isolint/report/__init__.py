"""`isolint report`: how much migration work remains, where, and what fixes itself.

`model.build` assembles one JSON-safe document (schema: report.schema.json);
each format module renders it: text, markdown, json, html, and csv for
`--history` rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from . import csv_rows, html, markdown, text

REPORT_FORMATS = ("text", "markdown", "json", "html", "csv")


def render(document: Mapping[str, Any], report_format: str) -> str:
    renderers: dict[str, Callable[[Mapping[str, Any]], str]] = {
        "text": text.render,
        "markdown": markdown.render,
        "json": lambda doc: json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
        "html": html.render,
        "csv": csv_rows.render,
    }
    return renderers[report_format](document)
