"""The Fixit 2 counterpart of isolint's ISO201 for the benchmark: flag
`self.<...session...> = ...` inside any function."""

from __future__ import annotations

import libcst as cst
from fixit import LintRule


class SelfSessionAssignment(LintRule):
    MESSAGE = "A database session is stored on self"

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            expr = target.target
            if (
                isinstance(expr, cst.Attribute)
                and isinstance(expr.value, cst.Name)
                and expr.value.value == "self"
                and "session" in expr.attr.value
            ):
                self.report(node)
