"""ISO302 websocket-accessor-call: request code reaching the shared WebSocket manager."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ...findings import UNSAFE
from ..ast_context import AstFile
from ..ast_helpers import context_param, returned_value, takes_arguments, without_await
from ..base import CstEdit, FixSpec
from .analysis import FunctionNode, Plumbing, capture_target, own_nodes
from .emitter import EmitterSwap, emitter_signatures, plan_swap
from .family import (
    EMITTER_METHODS,
    WEBSOCKET_NAMES,
    IndexesPlumbing,
    WebSocketConfig,
    WebSocketRule,
    plumbing_prefilter,
)

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView
    from ...index import ProjectIndex

# What can be a use of the shared manager: a call of an accessor, or a read
# of a global holding it, by name or as its module's attribute.
_USES = (ast.Call, ast.Name, ast.Attribute)


class WebSocketAccessorCall(IndexesPlumbing, WebSocketRule):
    code = "ISO302"
    name = "websocket-accessor-call"
    family = "websockets"
    summary = "A function fetches the process-wide WebSocket manager instead of the request's own emitter"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` and the index by compile_prefilter
    options = (WEBSOCKET_NAMES, EMITTER_METHODS)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        return plumbing_prefilter(WebSocketConfig.of_rule(cls, settings).websocket_names, project)

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, self.config)

    def visit_FunctionDef(self, node: FunctionNode) -> None:
        if self.plumbing.is_internal(node, self.file.enclosing(ast.ClassDef)):
            return
        groups: dict[str, list[ast.expr]] = defaultdict(list)
        for child in own_nodes(node):
            if isinstance(child, _USES) and (source := self._shared_use(child, node)) is not None:
                groups[source].append(child)
        context = context_param(node, self.settings)
        for source, uses in groups.items():
            self._report_group(node, source, uses, context)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _shared_use(self, node: ast.Call | ast.Name | ast.Attribute, function: FunctionNode) -> str | None:
        if isinstance(node, ast.Call):
            source = self.plumbing.accessor_call(node, function)
        else:
            # a read of a manager (`manager`, or `hubs.manager` of its module):
            # not a rebinding, nor a `global` statement's name, nor an accessor
            # passed on uncalled (manager_global)
            source = self.plumbing.manager_global(node) if isinstance(node.ctx, ast.Load) else None
        if source is None:
            return None
        holder = self.file.parent(node)
        if isinstance(holder, ast.Call) and holder.func is node:
            return None  # `get_ws()`: the call is the use (accessor_call); the name is only its callee
        if isinstance(holder, ast.Await):
            holder = self.file.parent(holder)
        if isinstance(holder, (ast.Assign, ast.AnnAssign)) and capture_target(holder, function) is not None:
            return None  # `self.x = get_websocket_manager()`: ISO304's finding
        return source

    def _report_group(self, function: FunctionNode, source: str, uses: list[ast.expr], context: str | None) -> None:
        if _returned_by_whole_body(function, uses):
            self._report_alias(function, source, uses[0])
            return
        fix = None
        manual = None
        if context is None:
            manual = (
                f"Give `{function.name}` the request context (a `{self.settings.context_name}` parameter) "
                "and emit through `context.websocket_emitter`; the fix then does the swap."
            )
        else:
            swap = plan_swap(
                uses,
                function,
                self.file.parents,
                context,
                self.config.emitter_methods,
                emitter_signatures(self.settings.context_module),
            )
            if isinstance(swap, EmitterSwap):
                fix = FixSpec(f"Emit through `{context}.websocket_emitter`", UNSAFE, build=_swap_edit(swap))
            else:
                manual = (
                    f"Not swapped automatically: {swap}. Send this user's events through "
                    f"`{context}.websocket_emitter` by hand; connecting sockets belongs in the WebSocket route."
                )
        for use in uses:
            what = (
                f"`{source}()` returns the process-wide"
                if isinstance(use, ast.Call)
                else f"`{source}` is the module-global"
            )
            self.report(
                use,
                f"{what} WebSocket manager: every user's events go through it, so a wrong user or run id "
                "reaches someone else's socket",
                fix=fix,
                manual=manual,
            )

    def _report_alias(self, function: FunctionNode, source: str, use: ast.expr) -> None:
        """A compatibility accessor: its callers get the shared manager through it (they are reported too)."""
        self.report(
            use,
            f"`{function.name}()` hands out the process-wide WebSocket manager (`{source}()`) under another name: "
            "every caller emits through one shared object, and a wrong user or run id reaches someone else's socket",
            manual=(
                f"Move its callers to the request's `context.websocket_emitter` (ISO302 and ISO304 report them), "
                f"then delete `{function.name}`."
            ),
        )


def _swap_edit(swap: EmitterSwap) -> Callable[[CstView], CstEdit]:
    def build(view: CstView) -> CstEdit:
        return CstEdit(replace=swap.replacements(view))

    return build


def _returned_by_whole_body(function: FunctionNode, uses: list[ast.expr]) -> bool:
    """Whether the function is an alias of the accessor as the index sees one
    (`analysis.index_facts`): no arguments, and a body that is one
    `return <use>` (after any docstring), the use an argument-less call."""
    if takes_arguments(function) or len(uses) != 1:
        return False
    use = uses[0]
    if not isinstance(use, ast.Call) or use.args or use.keywords:
        return False
    return without_await(returned_value(function)) is use
