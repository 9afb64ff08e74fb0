"""ISO406 legacy-state-isinstance: `isinstance(x, DeepAgentState)`."""

from __future__ import annotations

from ..._lazy import cst
from ...findings import NO_FIX
from ..base import Rule
from .cst_references import legacy_names
from .edits import code
from .family import LegacyStateFamily

CHECKS = ("isinstance", "issubclass")


class LegacyStateIsinstance(LegacyStateFamily, Rule):
    code = "ISO406"
    name = "legacy-state-isinstance"
    summary = "An isinstance/issubclass check against the legacy `DeepAgentState`"
    fix_safety = NO_FIX

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
            manual=(
                f"While callers migrate, this value can be either class: decide what each branch does with a `{target}` "
                f"(usually read it as the context) and check for both only if both branches handle both. No automatic "
                f"fix: checking for `{target}` alone sends every legacy object that still arrives down the other branch."
            ),
        )
