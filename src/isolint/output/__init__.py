"""Output formats for findings, each a function from findings to text."""

from __future__ import annotations

from typing import Callable, Sequence

from ..findings import Finding
from . import ci, machine, sarif, text

Renderer = Callable[[Sequence[Finding]], str]

FORMATS: dict[str, Renderer] = {
    "full": text.full,
    "concise": text.concise,
    "json": machine.json_array,
    "json-lines": machine.json_lines,
    "sarif": sarif.render,
    "github": ci.github,
    "junit": ci.junit,
}
TEXT_FORMATS = ("full", "concise")


def render(findings: Sequence[Finding], output_format: str) -> str:
    return FORMATS[output_format](findings)
