"""Output formats for findings, each a function from findings to text."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from ..findings import Finding

Renderer = Callable[[Sequence[Finding]], str]

# Format -> (module of this package, function). A renderer's module is
# imported when its format is asked for: some read every rule's metadata,
# which would import every rule module on a run that needs none.
FORMATS: dict[str, tuple[str, str]] = {
    "full": ("text", "full"),
    "concise": ("text", "concise"),
    "json": ("machine", "json_array"),
    "json-lines": ("machine", "json_lines"),
    "sarif": ("sarif", "render"),
    "github": ("ci", "github"),
    "junit": ("ci", "junit"),
    "gitlab": ("platforms", "gitlab"),
    "rdjson": ("platforms", "rdjson"),
    "pylint": ("platforms", "pylint"),
    "azure": ("platforms", "azure"),
    "grouped": ("platforms", "grouped"),
}
TEXT_FORMATS = ("full", "concise", "grouped")  # for people: the summary lines follow the findings
STYLED_FORMATS = TEXT_FORMATS  # their renderers take `styled`: colour, or plain text
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


def _loaded(output_format: str) -> Callable[..., str]:
    module, function = FORMATS[output_format]
    found: Callable[..., str] = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return found


def renderer(output_format: str) -> Renderer:
    return _loaded(output_format)


def render(findings: Sequence[Finding], output_format: str, *, styled: bool = True) -> str:
    """The findings in `output_format`; the formats for people in colour unless not `styled`."""
    if output_format in STYLED_FORMATS:
        return _loaded(output_format)(findings, styled=styled)
    return _loaded(output_format)(findings)
