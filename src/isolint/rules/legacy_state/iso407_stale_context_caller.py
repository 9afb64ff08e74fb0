"""ISO407 stale-context-caller: a call still made the legacy way to a function that now takes the context."""

from __future__ import annotations

import ast
from typing import Any

from ...index import Fact
from ...semantic import CallShape
from .callees import LINEAGE_KINDS, callee_facts
from .family import (
    CONSTRUCTORS,
    CONTEXT_SIGNATURE,
    REEXPORT,
    RUN_ID,
    LegacyStateRule,
    names_regex,
    signature_from,
)
from .references import enclosing_scope, legacy_references, source_code


class StaleContextCaller(LegacyStateRule):
    code = "ISO407"
    name = "stale-context-caller"
    summary = "A call still passes the legacy state or a run id to a function that now takes the request context"
    reads_facts = (REEXPORT, CONTEXT_SIGNATURE, *LINEAGE_KINDS)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> Any:
        # Every finding calls a function the index knows takes the context.
        return names_regex(project.names(CONTEXT_SIGNATURE))

    def visit_Call(self, node: ast.Call) -> None:
        facts = self._signatures(node.func)
        if not facts or any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            return
        legacy, _ = legacy_references(self.file).state_variables(enclosing_scope(self.file), CONSTRUCTORS)
        shape = CallShape(len(node.args), tuple(k.arg for k in node.keywords if k.arg is not None))
        callee = source_code(self.file, node.func)
        for fact in facts:
            binding = signature_from(fact.data).bind(shape)
            context = fact.data["context"]
            where = f"`{fact.qualname}` ({fact.path}:{fact.line}), which takes `{context}` (the request context) and no run id"
            if binding is None and _looks_legacy(node, legacy):
                self.report(
                    node,
                    f"`{callee}(...)` is called the legacy way (state and run id) but calls {where}",
                    manual=self._hint(context),
                )
                return
            passed = _argument_for(node, binding or {}, context)
            if isinstance(passed, ast.Name) and passed.id in legacy:
                self.report(
                    node,
                    f"`{callee}(...)` passes the legacy state `{passed.id}` as `{context}` to {where}",
                    manual=self._hint(context),
                )
                return

    def _hint(self, context: str) -> str:
        return (
            f"Pass the caller's request context as `{context}` (a `{self.settings.context_name}`; build one per request "
            f"where none exists yet) and drop the run id argument: the callee reads `{context}.{RUN_ID}`."
        )

    def _signatures(self, func: ast.expr) -> list[Fact]:
        found = callee_facts(self.file, CONTEXT_SIGNATURE, func)
        # The nearest definition first: this module's own, then the others.
        return sorted(found, key=lambda f: (f.path != self.file.path, f.path, f.line))


def _looks_legacy(node: ast.Call, legacy: set[str]) -> bool:
    """A state variable or a run id among the arguments: `f(state, run_id)`, `f(ctx.state, ctx.run_id)`,
    `f(..., run_id=...)`; not `session.execute(stmt, params)`."""
    for keyword in node.keywords:
        if keyword.arg == RUN_ID:
            return True
    for value in [*node.args, *(k.value for k in node.keywords)]:
        spelled = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else None
        if spelled == RUN_ID or spelled in legacy or spelled == "state":
            return True
    return False


def _argument_for(node: ast.Call, binding: dict[str, str], parameter: str) -> ast.expr | None:
    """The argument `binding` passes as `parameter`: a position ("0") or a keyword."""
    for slot, name in binding.items():
        if name != parameter:
            continue
        if slot.isdigit():
            return node.args[int(slot)]
        return next(k.value for k in node.keywords if k.arg == slot)
    return None
