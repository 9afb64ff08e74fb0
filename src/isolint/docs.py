"""The rule docs shipped with the package (the repository's top-level `rules/`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .rules import Rule

SECTIONS = ("What it does", "Why is this bad", "Example", "Use instead", "Fix safety", "Options")


def docs_dir() -> Path:
    packaged = Path(__file__).parent / "_docs" / "rules"  # inside an installed wheel
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"  # a source checkout or editable install


def doc_path(rule: type[Rule]) -> Path:
    """A built-in rule's doc is in the shipped `rules/`; a plugin rule's
    (isolint.plugins) beside the module that defines it."""
    filename = f"{rule.code}-{rule.name}.md"
    if not rule.__module__.startswith(f"{__package__}.rules."):
        module_file = getattr(sys.modules.get(rule.__module__), "__file__", None)
        if module_file:
            return Path(module_file).parent / filename
    return docs_dir() / filename


def read_doc(rule: type[Rule]) -> str | None:
    try:
        return doc_path(rule).read_text(encoding="utf-8")
    except OSError:
        return None


def section(doc: str, title: str) -> str | None:
    """The body of `## title`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", doc, re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else None


def code_block(text: str) -> str | None:
    """The first ```python fenced block in `text`."""
    match = re.search(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else None
