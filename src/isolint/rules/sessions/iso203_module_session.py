"""ISO203 module-session: a live database session in a module global."""

from __future__ import annotations

import ast

from ..ast_helpers import assignment_targets, dotted_name, is_module_level
from .evidence import SessionRule
from .family import REGISTRY_CALLS, EvidencePrefilter


class ModuleSession(EvidencePrefilter, SessionRule):
    code = "ISO203"
    name = "module-session"
    family = "sessions"
    summary = "A module-level variable holds a live database session shared by every request"

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check(node, None)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check(node, node.annotation)

    def _check(self, node: ast.Assign | ast.AnnAssign, annotation: ast.expr | None) -> None:
        # Only created sessions: makers, engines and registries at module level are correct.
        value = node.value
        if not isinstance(value, (ast.Call, ast.Await)) or not is_module_level(self.file.ancestors):
            return
        if isinstance(value, ast.Call) and (dotted_name(value.func) or "").rpartition(".")[2] in REGISTRY_CALLS:
            return
        for target in assignment_targets(node):
            if not isinstance(target, ast.Name):
                continue
            evidence = self.evidence.decide(target.id, value, None, annotation)
            if evidence is None:
                continue
            self.report(
                target,
                f"module-level `{target.id}` is one database session ({evidence.reason}) shared by every "
                "request in the process; concurrent requests interleave its transaction",
                manual=(
                    f"Keep the session maker at module level and open a session per request instead: use "
                    f"`context.db_session` (opened by `user_execution_scope(...)`) wherever `{target.id}` is imported."
                ),
            )
