"""ISO406 legacy-state-isinstance: `isinstance(x, DeepAgentState)`."""

from __future__ import annotations

from typing import Any

from .._lazy import cst
from ..findings import SAFE
from ._legacy_state import LegacyStateFamily, code, context_fix, legacy_names
from .base import Rule

CHECKS = ("isinstance", "issubclass")


class LegacyStateIsinstance(LegacyStateFamily, Rule):
    code = "ISO406"
    name = "legacy-state-isinstance"
    summary = "An isinstance/issubclass check against the legacy `DeepAgentState`"
    fix_safety = SAFE

    def visit_Call(self, node: cst.Call) -> None:
        if not (isinstance(node.func, cst.Name) and node.func.value in CHECKS and len(node.args) == 2):
            return
        names = legacy_names(self.file)
        types = node.args[1].value
        members = [e.value for e in types.elements] if isinstance(types, cst.Tuple) else [types]
        legacy = [m for m in members if names.is_reference(m)]
        if not legacy or names.in_class_body(self.file.ancestors):
            return
        target = self.settings.context_name
        self.report(
            types,
            f"`{node.func.value}(..., {code(types)})` checks for the legacy per-run state `{names.class_of(legacy[0])}`; "
            f"per-request code passes a `{target}`",
            fix=context_fix(self.file, f"Check for `{target}`", SAFE, {types: self._rewritten(types, names)}),
        )

    def _rewritten(self, types: Any, names: Any) -> Any:
        context = cst.Name(self.settings.context_name)
        if not isinstance(types, cst.Tuple):
            return context
        elements, seen = [], set()
        for element in types.elements:
            value = context if names.is_reference(element.value) else element.value
            if code(value) not in seen:
                seen.add(code(value))
                elements.append(element.with_changes(value=value))
        if len(elements) == 1 and isinstance(elements[0], cst.Element):
            return elements[0].value
        elements[-1] = elements[-1].with_changes(comma=types.elements[-1].comma)
        return types.with_changes(elements=elements)
