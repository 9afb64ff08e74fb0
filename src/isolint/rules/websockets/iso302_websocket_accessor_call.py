"""ISO302 websocket-accessor-call: request code reaching the shared WebSocket manager."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from .._context import context_param
from ..base import FixSpec, Rule
from ._cst_plumbing import (
    EMITTER_METHODS,
    WEBSOCKET_NAMES,
    IndexesPlumbing,
    Plumbing,
    capture_target,
    parents_within,
    plumbing_prefilter,
    swap_receivers,
)


class WebSocketAccessorCall(IndexesPlumbing, Rule):
    code = "ISO302"
    name = "websocket-accessor-call"
    family = "websockets"
    summary = "A function fetches the process-wide WebSocket manager instead of the request's own emitter"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` and the index by compile_prefilter
    options = (WEBSOCKET_NAMES, EMITTER_METHODS)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        return plumbing_prefilter(settings.options_for(cls)["websocket-names"], project)

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, options["websocket-names"])

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.plumbing.is_internal(node, self.file.enclosing(cst.ClassDef)):
            return
        parents = parents_within(node)
        groups: dict[str, list[cst.BaseExpression]] = defaultdict(list)
        for child in parents:
            source = self._shared_use(child, parents, node)
            if source is not None:
                groups[source].append(child)
        context = context_param(node, self.settings)
        for source, uses in groups.items():
            self._report_group(node, source, uses, parents, context)

    def _shared_use(self, node: cst.CSTNode, parents: dict, function: cst.FunctionDef) -> str | None:
        if isinstance(node, cst.Call):
            source = self.plumbing.accessor_call(node, function)
        elif isinstance(node, cst.Name) and self._is_load(node, parents):
            source = self.plumbing.global_name(node)
        else:
            return None
        if source is None:
            return None
        holder = parents.get(node)
        if isinstance(holder, cst.Await):
            holder = parents.get(holder)
        if isinstance(holder, (cst.Assign, cst.AnnAssign)) and capture_target(holder, function) is not None:
            return None  # `self.x = get_websocket_manager()`: ISO304's finding
        return source

    @staticmethod
    def _is_load(name: cst.Name, parents: dict) -> bool:
        parent = parents.get(name)
        if isinstance(parent, cst.Attribute) and parent.attr is name:
            return False  # `other.websocket_manager`
        if isinstance(parent, cst.Arg) and parent.keyword is name:
            return False  # `f(websocket_manager=...)`
        return not isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.NameItem))  # rebinding, `global x`

    def _report_group(
        self,
        function: cst.FunctionDef,
        source: str,
        uses: list[cst.BaseExpression],
        parents: dict,
        context: str | None,
    ) -> None:
        if _returned_by_whole_body(function, uses):
            self._report_alias(function, source, uses[0])
            return
        fix = None
        manual = None
        if context is None:
            manual = (
                f"Give `{function.name.value}` the request context (a `{self.settings.context_name}` parameter) "
                "and emit through `context.websocket_emitter`; the fix then does the swap."
            )
        else:
            replacements, problem = swap_receivers(uses, parents, context, self.option_values["emitter-methods"])
            if problem is None:
                fix = FixSpec(f"Emit through `{context}.websocket_emitter`", UNSAFE, replace=replacements)
            else:
                manual = (
                    f"Not swapped automatically: {problem}. Send this user's events through "
                    f"`{context}.websocket_emitter` by hand; connecting sockets belongs in the WebSocket route."
                )
        for use in uses:
            what = (
                f"`{source}()` returns the process-wide"
                if isinstance(use, cst.Call)
                else f"`{source}` is the module-global"
            )
            self.report(
                use,
                f"{what} WebSocket manager: every user's events go through it, so a wrong user or run id "
                "reaches someone else's socket",
                fix=fix,
                manual=manual,
            )

    def _report_alias(self, function: cst.FunctionDef, source: str, use: cst.BaseExpression) -> None:
        """A compatibility accessor: its callers get the shared manager through it (they are reported too)."""
        self.report(
            use,
            f"`{function.name.value}()` hands out the process-wide WebSocket manager (`{source}()`) under another name: "
            "every caller emits through one shared object, and a wrong user or run id reaches someone else's socket",
            manual=(
                f"Move its callers to the request's `context.websocket_emitter` (ISO302 and ISO304 report them), "
                f"then delete `{function.name.value}`."
            ),
        )


def _returned_by_whole_body(function: cst.FunctionDef, uses: list[cst.BaseExpression]) -> bool:
    """Whether the function is an alias of the accessor as the index sees one
    (`_websockets._ast_aliases`): no arguments, and a body that is one
    `return <use>` (after any docstring), the use an argument-less call."""
    params = function.params
    if (
        params.posonly_params
        or params.params
        or params.kwonly_params
        or isinstance(params.star_arg, cst.Param)
        or params.star_kwarg
    ):
        return False
    if len(uses) != 1 or not isinstance(uses[0], cst.Call) or uses[0].args:
        return False
    body = list(function.body.body) if isinstance(function.body, cst.IndentedBlock) else [function.body]
    statements = [small for line in body if isinstance(line, cst.SimpleStatementLine) for small in line.body]
    if len(statements) != len(body):
        return False
    if (
        statements
        and isinstance(statements[0], cst.Expr)
        and isinstance(statements[0].value, (cst.SimpleString, cst.ConcatenatedString))
    ):
        statements = statements[1:]
    if len(statements) != 1 or not isinstance(statements[0], cst.Return):
        return False
    value = statements[0].value
    if isinstance(value, cst.Await):
        value = value.expression
    return value is uses[0]
