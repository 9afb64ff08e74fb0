"""ISO202 session-on-class: a live database session in a class body."""

from __future__ import annotations

from typing import Any

from .._lazy import cst
from . import _sessions as sessions
from ._helpers import assignment_targets, dotted_name
from .base import Rule


class SessionOnClass(sessions.EvidenceRule, Rule):
    code = "ISO202"
    name = "session-on-class"
    family = "sessions"
    summary = "A class attribute holds a live database session shared by every instance and request"

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        for statement in node.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if not isinstance(getattr(small, "value", None), (cst.Call, cst.Await)):
                    continue  # a live session is created here, not declared (`session: AsyncSession`)
                annotation = small.annotation if isinstance(small, cst.AnnAssign) else None
                for target in assignment_targets(small):
                    if not isinstance(target, cst.Name):
                        continue
                    evidence = self.evidence.decide(target.value, small.value, None, annotation)
                    if evidence is None or _is_registry(small.value):
                        continue
                    self.report(
                        target,
                        f"class attribute `{node.name.value}.{target.value}` holds one database session "
                        f"({evidence.reason}) for every instance and every request",
                        manual=(
                            "Delete the class attribute and use the request-scoped session "
                            "(`context.db_session`, opened per request by `user_execution_scope(...)`) where it is used."
                        ),
                    )


def _is_registry(value: Any) -> bool:
    """`scoped_session(maker)`: a registry handing out sessions, not one session."""
    return isinstance(value, cst.Call) and (dotted_name(value.func) or "").rpartition(".")[2] in sessions.REGISTRY_CALLS
