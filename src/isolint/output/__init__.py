"""Output formats for findings, each a function from findings to text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..findings import Finding
from . import ci, machine, platforms, sarif, text

Renderer = Callable[[Sequence[Finding]], str]

FORMATS: dict[str, Renderer] = {
    "full": text.full,
    "concise": text.concise,
    "json": machine.json_array,
    "json-lines": machine.json_lines,
    "sarif": sarif.render,
    "github": ci.github,
    "junit": ci.junit,
    "gitlab": platforms.gitlab,
    "rdjson": platforms.rdjson,
    "pylint": platforms.pylint,
    "azure": platforms.azure,
    "grouped": platforms.grouped,
}
TEXT_FORMATS = ("full", "concise", "grouped")  # for people: the summary lines follow the findings
# Those that print each fix's edits: a check in another format never builds them.
EDIT_FORMATS = ("json", "json-lines", "sarif", "rdjson")
STATISTICS_FORMATS = (
    "full",
    "concise",
    "grouped",
    "pylint",
    "json",
    "json-lines",
)  # those that can show a count per rule


def render(findings: Sequence[Finding], output_format: str) -> str:
    return FORMATS[output_format](findings)
