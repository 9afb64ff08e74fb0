"""ISO407 stale-context-caller: a call still made the legacy way to a function that now takes the context."""

from __future__ import annotations

from typing import Any

from ..._lazy import cst
from ...semantic import CallShape
from ..base import Rule
from .cst_references import legacy_names, signature_facts, state_variables
from .edits import code
from .family import CONSTRUCTORS, CONTEXT_SIGNATURE, REEXPORT, RUN_ID, LegacyStateFamily, names_regex, signature_from


class StaleContextCaller(LegacyStateFamily, Rule):
    code = "ISO407"
    name = "stale-context-caller"
    summary = "A call still passes the legacy state or a run id to a function that now takes the request context"
    reads_facts = (REEXPORT, CONTEXT_SIGNATURE)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> Any:
        # Every finding calls a function the index knows takes the context.
        return names_regex(project.names(CONTEXT_SIGNATURE))

    def visit_Call(self, node: cst.Call) -> None:
        facts = self._signatures(node.func)
        if not facts or any(arg.star for arg in node.args):
            return
        caller = self.file.enclosing(cst.FunctionDef)
        legacy, _ = state_variables(legacy_names(self.file), caller or self.file.module, CONSTRUCTORS)
        shape = CallShape(
            sum(1 for arg in node.args if arg.keyword is None),
            tuple(arg.keyword.value for arg in node.args if arg.keyword is not None),
        )
        for fact in facts:
            signature = signature_from(fact.data)
            binding = signature.bind(shape)
            context = fact.data["context"]
            where = f"`{fact.qualname}` ({fact.path}:{fact.line}), which takes `{context}` (the request context) and no run id"
            if binding is None and self._looks_legacy(node, legacy):
                self.report(
                    node,
                    f"`{code(node.func)}(...)` is called the legacy way (state and run id) but calls {where}",
                    manual=self._hint(context),
                )
                return
            passed = self._argument_for(node, binding or {}, context)
            if passed is not None and isinstance(passed, cst.Name) and passed.value in legacy:
                self.report(
                    node,
                    f"`{code(node.func)}(...)` passes the legacy state `{passed.value}` as `{context}` to {where}",
                    manual=self._hint(context),
                )
                return

    def _hint(self, context: str) -> str:
        return (
            f"Pass the caller's request context as `{context}` (a `{self.settings.context_name}`; build one per request "
            f"where none exists yet) and drop the run id argument: the callee reads `{context}.{RUN_ID}`."
        )

    def _signatures(self, func: Any) -> list[Any]:
        found = signature_facts(self.file.project, CONTEXT_SIGNATURE, func)
        if isinstance(func, cst.Name) and found:
            # A plain function is resolved through the imports; a method has only its name to go by.
            qualified = self.file.qualified_names(func)
            found = [f for f in found if f.qualname in qualified or f.path == self.file.path] or found
        # The nearest definition first: this module's own, then the others.
        return sorted(found, key=lambda f: (f.path != self.file.path, f.path, f.line))

    @staticmethod
    def _looks_legacy(node: cst.Call, legacy: set[str]) -> bool:
        """A state variable or a run id among the arguments: `f(state, run_id)`, `f(ctx.state, ctx.run_id)`,
        `f(..., run_id=...)`; not `session.execute(stmt, params)`."""
        for arg in node.args:
            value = arg.value
            spelled = (
                value.value
                if isinstance(value, cst.Name)
                else value.attr.value
                if isinstance(value, cst.Attribute)
                else None
            )
            if (
                (arg.keyword is not None and arg.keyword.value == RUN_ID)
                or spelled == RUN_ID
                or spelled in legacy
                or spelled == "state"
            ):
                return True
        return False

    @staticmethod
    def _argument_for(node: cst.Call, binding: dict[str, str], parameter: str) -> Any:
        for slot, name in binding.items():
            if name != parameter:
                continue
            if slot.isdigit():
                return [a for a in node.args if a.keyword is None][int(slot)].value
            return next(a.value for a in node.args if a.keyword is not None and a.keyword.value == slot)
        return None
