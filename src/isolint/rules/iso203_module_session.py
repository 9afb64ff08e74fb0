"""ISO203 module-session: a live database session in a module global."""

from __future__ import annotations

from typing import Any

from .._lazy import cst
from . import _sessions as sessions
from ._helpers import assignment_targets, dotted_name, is_module_level
from .base import Rule


class ModuleSession(sessions.EvidenceRule, Rule):
    code = "ISO203"
    name = "module-session"
    family = "sessions"
    summary = "A module-level variable holds a live database session shared by every request"

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check(node, None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node, node.annotation)

    def _check(self, node: cst.Assign | cst.AnnAssign, annotation: Any) -> None:
        # Only created sessions: makers, engines and registries at module level are correct.
        if not isinstance(node.value, (cst.Call, cst.Await)) or not is_module_level(self.file.ancestors):
            return
        if (
            isinstance(node.value, cst.Call)
            and (dotted_name(node.value.func) or "").rpartition(".")[2] in sessions.REGISTRY_CALLS
        ):
            return
        for target in assignment_targets(node):
            if not isinstance(target, cst.Name):
                continue
            evidence = self.evidence.decide(target.value, node.value, None, annotation)
            if evidence is None:
                continue
            self.report(
                target,
                f"module-level `{target.value}` is one database session ({evidence.reason}) shared by every "
                "request in the process; concurrent requests interleave its transaction",
                manual=(
                    f"Keep the session maker at module level and open a session per request instead: use "
                    f"`context.db_session` (opened by `user_execution_scope(...)`) wherever `{target.value}` is imported."
                ),
            )
