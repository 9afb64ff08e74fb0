"""ISO202 session-on-class: a live database session in a class body."""

from __future__ import annotations

import ast

from ..ast_helpers import assignment_targets, dotted_name
from .evidence import SessionRule
from .family import REGISTRY_CALLS, EvidencePrefilter


class SessionOnClass(EvidencePrefilter, SessionRule):
    code = "ISO202"
    name = "session-on-class"
    family = "sessions"
    summary = "A class attribute holds a live database session shared by every instance and request"

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for statement in node.body:
            if not isinstance(statement, (ast.Assign, ast.AnnAssign)):
                continue
            value = statement.value
            if not isinstance(value, (ast.Call, ast.Await)):
                continue  # a live session is created here, not declared (`session: AsyncSession`)
            annotation = statement.annotation if isinstance(statement, ast.AnnAssign) else None
            for target in assignment_targets(statement):
                if not isinstance(target, ast.Name):
                    continue
                evidence = self.evidence.decide(target.id, value, None, annotation)
                if evidence is None or _is_registry(value):
                    continue
                self.report(
                    target,
                    f"class attribute `{node.name}.{target.id}` holds one database session "
                    f"({evidence.reason}) for every instance and every request",
                    manual=(
                        "Delete the class attribute and use the request-scoped session "
                        "(`context.db_session`, opened per request by `user_execution_scope(...)`) where it is used."
                    ),
                )


def _is_registry(value: ast.expr) -> bool:
    """`scoped_session(maker)`: a registry handing out sessions, not one session."""
    return isinstance(value, ast.Call) and (dotted_name(value.func) or "").rpartition(".")[2] in REGISTRY_CALLS
