"""Deferred imports, so that `isolint` starts fast when no file needs parsing.

LibCST costs ~0.2 s to import; a pre-commit run whose files all fail the
prefilters never pays it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module and imports it on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        value = getattr(self._module, attr)
        # Cache on the instance so later lookups skip __getattr__ entirely.
        setattr(self, attr, value)
        return value


cst: Any = LazyModule("libcst")
