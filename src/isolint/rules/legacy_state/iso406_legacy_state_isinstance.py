"""ISO406 legacy-state-isinstance: `isinstance(x, DeepAgentState)`."""

from __future__ import annotations

import ast

from ...findings import NO_FIX
from .family import LegacyStateRule
from .references import legacy_references, source_code

CHECKS = ("isinstance", "issubclass")


class LegacyStateIsinstance(LegacyStateRule):
    code = "ISO406"
    name = "legacy-state-isinstance"
    summary = "An isinstance/issubclass check against the legacy `DeepAgentState`"
    fix_safety = NO_FIX

    def visit_Call(self, node: ast.Call) -> None:
        if not (
            isinstance(node.func, ast.Name) and node.func.id in CHECKS and len(node.args) == 2 and not node.keywords
        ):
            return
        references = legacy_references(self.file)
        types = node.args[1]
        members = types.elts if isinstance(types, ast.Tuple) else [types]
        legacy = [m for m in members if references.is_reference(m)]
        if not legacy or references.in_class_body(self.file.ancestors):
            return
        target = self.settings.context_name
        self.report(
            types,
            f"`{node.func.id}(..., {source_code(self.file, types)})` checks for the legacy per-run state "
            f"`{references.class_of(legacy[0])}`; per-request code passes a `{target}`",
            manual=(
                f"While callers migrate, this value can be either class: decide what each branch does with a `{target}` "
                f"(usually read it as the context) and check for both only if both branches handle both. No automatic "
                f"fix: checking for `{target}` alone sends every legacy object that still arrives down the other branch."
            ),
        )
