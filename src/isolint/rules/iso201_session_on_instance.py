"""ISO201 session-on-instance: a database session stored on `self`."""

from __future__ import annotations

import re

from .._lazy import cst
from ._helpers import assignment_targets, first_param_name, matches_patterns
from .base import Option, Rule


class SessionOnInstance(Rule):
    code = "ISO201"
    name = "session-on-instance"
    family = "sessions"
    summary = "A database session is stored on `self`, so every request using the object shares it"
    prefilter = re.compile(rb"\.\s*(?:db|\w*session)\s*(?::|=[^=])")
    options = (
        Option("names", "list[str]", ["db", "session", "db_session", "*_session"], "Attribute names (globs) that hold a session."),
        Option(
            "exclude-names",
            "list[str]",
            ["*_session_id", "*_session_factory", "*sessionmaker*"],
            "Attribute names (globs) that are never sessions; they win over `names`.",
        ),
    )

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node)

    def _check(self, node: cst.Assign | cst.AnnAssign) -> None:
        method = self.file.enclosing(cst.FunctionDef)
        if method is None or not self._is_method(method):
            return
        receiver = first_param_name(method)
        for target in assignment_targets(node):
            if (
                isinstance(target, cst.Attribute)
                and isinstance(target.value, cst.Name)
                and target.value.value == receiver
                and self._is_session_name(target.attr.value)
            ):
                self.report(
                    target,
                    f"`{receiver}.{target.attr.value}` keeps a database session on the instance; every request "
                    "that reaches this object shares its transaction",
                    manual=(
                        "Use the request-scoped session from the context (`context.db_session`) in each method "
                        "that needs it, and stop storing it in `__init__`."
                    ),
                )

    def _is_method(self, function: cst.FunctionDef) -> bool:
        index = self.file.ancestors.index(function)
        # FunctionDef -> IndentedBlock -> ClassDef: the function is defined in a class body.
        return index >= 2 and isinstance(self.file.ancestors[index - 2], cst.ClassDef) and first_param_name(function) is not None

    def _is_session_name(self, name: str) -> bool:
        return matches_patterns(name, self.options["names"]) and not matches_patterns(name, self.options["exclude-names"])
