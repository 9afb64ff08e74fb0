"""ISO304 websocket-stored-on-instance: `self.<attr> = <shared WebSocket manager>`."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...findings import UNSAFE
from .._helpers import alternation
from ..ast_context import AstFile
from ..ast_helpers import context_param, first_param_name
from ..base import CstEdit, FixSpec
from .analysis import FUNCTION_NODES, Capture, FunctionNode, Plumbing, own_nodes
from .emitter import EmitterSwap, emitter_signatures, plan_swap, without_statement
from .family import (
    EMITTER_METHODS,
    WEBSOCKET_NAMES,
    IndexesPlumbing,
    WebSocketConfig,
    WebSocketRule,
    fact_holds,
    plumbing_alternatives,
)

if TYPE_CHECKING:
    import libcst as cst

    from ...config import Settings
    from ...cst_view import CstView
    from ...index import Fact, ProjectIndex
else:
    from ..._lazy import cst


@dataclass
class _Migration:
    """What moving one attribute's uses in one class onto the context emitter involves."""

    swaps: list[EmitterSwap] = field(default_factory=list)  # one per method that takes the context
    uses: list[ast.Attribute] = field(default_factory=list)  # every `self.<attr>` read, in source order
    remaining: list[str] = field(default_factory=list)  # "method: why not" for uses the fix leaves


class WebSocketStoredOnInstance(IndexesPlumbing, WebSocketRule):
    code = "ISO304"
    name = "websocket-stored-on-instance"
    family = "websockets"
    summary = "An object keeps the process-wide WebSocket manager on `self`, so all its callers share it"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` and the index by compile_prefilter
    options = (WEBSOCKET_NAMES, EMITTER_METHODS)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # A capture names plumbing; a subclass reads an indexed captured attribute.
        globs = WebSocketConfig.of_rule(cls, settings).websocket_names
        captured = sorted({f.name for f in project.of_kind("websockets:attribute") if fact_holds(project, f, globs)})
        reads = [rb"\." + re.escape(name.encode()) + rb"\b" for name in captured]
        return re.compile(alternation(plumbing_alternatives(globs, project), reads))

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, self.config)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        methods = [m for m in node.body if isinstance(m, FUNCTION_NODES) and first_param_name(m)]
        captures: dict[str, list[Capture]] = {}
        for method in methods:
            for capture in self.plumbing.captures(method):
                captures.setdefault(capture.target.attr, []).append(capture)
        for attr, found in captures.items():
            self._report_captures(node, attr, found, self._migrate(methods, attr))
        for attr, fact in self.plumbing.inherited_captures(node).items():
            if attr not in captures:
                self._report_inherited(attr, fact, self._migrate(methods, attr))

    def _migrate(self, methods: list[FunctionNode], attr: str) -> _Migration:
        migration = _Migration()
        for method in methods:
            uses = self._reads(method, attr)
            if not uses:
                continue
            migration.uses.extend(uses)
            context = context_param(method, self.settings)
            if context is None:
                migration.remaining.append(f"`{method.name}` takes no request context")
                continue
            swap = plan_swap(
                uses,
                method,
                self.file.parents,
                context,
                self.config.emitter_methods,
                emitter_signatures(self.settings.context_module),
            )
            if isinstance(swap, EmitterSwap):
                migration.swaps.append(swap)
            else:
                migration.remaining.append(f"`{method.name}`: {swap}")
        return migration

    def _reads(self, method: FunctionNode, attr: str) -> list[ast.Attribute]:
        """`self.<attr>` in the method's own body, except as a target of `=`
        (an augmented or annotated assignment counts: the fix cannot drop it)."""
        receiver = first_param_name(method)
        return [
            node
            for node in own_nodes(method)
            if isinstance(node, ast.Attribute)
            and node.attr == attr
            and isinstance(node.value, ast.Name)
            and node.value.id == receiver
            and not _is_assignment_target(node, self.file.parent(node))
        ]

    def _read_by_subclasses(self, node: ast.ClassDef, attr: str) -> bool:
        return any(
            fact.name == attr and any(base.rpartition(".")[2] == node.name for base in fact.data.get("bases", ()))
            for fact in self.file.project.of_kind("websockets:inherited-read")
        )

    def _report_captures(self, node: ast.ClassDef, attr: str, captures: list[Capture], migration: _Migration) -> None:
        subclassed = self._read_by_subclasses(node, attr)
        dropped = [] if migration.remaining or subclassed else [capture.assign for capture in captures]
        fix = None
        if migration.swaps or dropped:
            message = "Emit through the context's `websocket_emitter` in methods that take the context"
            if dropped:
                message += f", and drop `self.{attr}`"
            fix = FixSpec(message, UNSAFE, build=_migration_edit(migration.swaps, dropped))
        manual = self._manual(attr, migration, subclassed)
        for capture in captures:
            self.report(
                capture.target,
                f"`self.{attr}` keeps the process-wide WebSocket manager (`{capture.source}`) on the instance: "
                f"every request `{node.name}` serves emits through one shared object",
                fix=fix,
                manual=manual,
            )

    def _report_inherited(self, attr: str, fact: Fact, migration: _Migration) -> None:
        if not migration.uses:
            return
        owner = fact.qualname.rpartition(".")[0].rpartition(".")[2]
        fix = (
            FixSpec(
                "Emit through the context's `websocket_emitter`", UNSAFE, build=_migration_edit(migration.swaps, [])
            )
            if migration.swaps
            else None
        )
        self.report(
            migration.uses[0],
            f"`self.{attr}` is the process-wide WebSocket manager that `{owner}.{fact.data.get('method')}` stores "
            f"({fact.path}:{fact.line}): every request this object serves emits through one shared object",
            fix=fix,
            manual=self._manual(attr, migration, subclassed=False),
        )

    @staticmethod
    def _manual(attr: str, migration: _Migration, subclassed: bool) -> str | None:
        if not migration.remaining and not subclassed:
            return None
        left = "; ".join(migration.remaining)
        blockers = [f"uses the fix leaves: {left}"] if left else []
        if subclassed:
            blockers.append("subclasses elsewhere read it (fix them, then run the fix again to drop it)")
        return (
            f"Give each method that emits the request context and call `context.websocket_emitter` instead of "
            f"`self.{attr}`; " + "; ".join(blockers) + "."
        )


def _is_assignment_target(node: ast.expr, parent: ast.AST | None) -> bool:
    return isinstance(parent, ast.Assign) and any(target is node for target in parent.targets)


def _migration_edit(
    swaps: list[EmitterSwap], dropped: list[ast.Assign | ast.AnnAssign]
) -> Callable[[CstView], CstEdit]:
    """The fix's edits: each method's swap, and the captures deleted when nothing reads them any more."""

    def build(view: CstView) -> CstEdit:
        replace = {}
        for swap in swaps:
            replace.update(swap.replacements(view))
        for assign in dropped:
            cst_assign = view.node(assign, cst.Assign if isinstance(assign, ast.Assign) else cst.AnnAssign)
            replace.update(without_statement(cst_assign, view.parents))
        return CstEdit(replace=replace)

    return build
