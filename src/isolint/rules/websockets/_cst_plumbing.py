"""The LibCST side of the family, kept only while some of its rules still
visit LibCST; it goes once every rule is on `ast`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..._lazy import cst
from ...traversal import children
from .._context import context_param
from .._helpers import dotted_name, last_name
from .family import (  # noqa: F401  (re-exported to the rules still on LibCST)
    ACCESSOR_KINDS,
    CLASS_ACCESSORS,
    CONNECTION_PARAMS,
    EMITTER_ATTRIBUTE,
    EMITTER_METHODS,
    WEBSOCKET_NAMES,
    IndexesPlumbing,
    fact_holds,
    is_indexed_accessor,
    is_plumbing_name,
    plumbing_alternatives,
    plumbing_prefilter,
)


@dataclass
class Capture:
    target: cst.Attribute  # `self.websocket` in the assignment
    assign: cst.Assign | cst.AnnAssign
    source: str
    parents: dict = field(repr=False)  # of the method's body


class Plumbing:
    """Recognises WebSocket plumbing in the file a rule is checking."""

    def __init__(self, file: Any, globs: list[str]) -> None:
        self.file = file
        self.globs = globs
        self._names: dict[str, frozenset[str]] = {}

    def _indexed_names(self, what: str) -> frozenset[str]:
        """Short names of the indexed accessors ("accessors"), globals ("globals")
        or classes storing plumbing on an attribute ("capturing classes"), for
        ruling nodes out before resolving their qualified names."""
        names = self._names.get(what)
        if names is None:
            project = self.file.project
            if what == "accessors":
                names = project.names(*ACCESSOR_KINDS)
            elif what == "globals":
                names = project.names("websockets:global")
            else:
                names = frozenset(
                    f.qualname.rpartition(".")[0].rpartition(".")[2] for f in project.of_kind("websockets:attribute")
                )
            names = self._names[what] = frozenset(names)
        return names

    def is_name(self, name: str | None) -> bool:
        return name is not None and is_plumbing_name(name, self.globs)

    def source(self, expr: cst.BaseExpression, function: cst.FunctionDef | None) -> str | None:
        """How `expr` reaches shared plumbing (`get_websocket_manager()`,
        `websocket_manager`), or None."""
        if isinstance(expr, cst.Await):
            expr = expr.expression
        if isinstance(expr, cst.Call):
            return self.accessor_call(expr, function)
        if isinstance(expr, cst.Name):
            return self.global_name(expr)
        return None

    def accessor_call(self, call: cst.Call, function: cst.FunctionDef | None) -> str | None:
        if self._passes_scope(call, function):
            return None
        func = call.func
        name = last_name(func)
        if name is None:
            return None
        shown = dotted_name(func) or name
        if name[0].islower() and self.is_name(name):
            return shown
        if isinstance(func, cst.Attribute) and name in CLASS_ACCESSORS and self.is_name(last_name(func.value)):
            return shown
        if not self.file.may_be_named(func, self._indexed_names("accessors")):
            return None
        if any(is_indexed_accessor(self.file.project, q, self.globs) for q in self.file.qualified_names(func)):
            return shown
        return None

    def is_internal(self, function: cst.FunctionDef, owner: cst.ClassDef | None) -> bool:
        """The plumbing's own code (an accessor, a manager's method) is not request code."""
        return self.is_name(function.name.value) or (owner is not None and self.is_name(owner.name.value))

    def captures(self, method: cst.FunctionDef) -> list[Capture]:
        """`self.<attr> = <shared plumbing>` statements in `method`."""
        parents = parents_within(method)
        found = []
        for node in parents:
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                target = capture_target(node, method)
                source = self.source(node.value, method) if target is not None else None
                if source is not None:
                    found.append(Capture(target, node, source, parents))
        return found

    def inherited_captures(self, owner: cst.ClassDef) -> dict[str, Any]:
        """attr -> index fact, for attributes a direct base class (this file or another) captures."""
        capturing = self._indexed_names("capturing classes")
        bases = {
            name
            for base in owner.bases
            if self.file.may_be_named(base.value, capturing)
            for name in self.file.qualified_names(base.value)
        }
        if not bases:
            return {}
        return {
            fact.name: fact
            for fact in self.file.project.of_kind("websockets:attribute")
            if fact.qualname.rpartition(".")[0] in bases and self.holds(fact)
        }

    def builds_shared(self, call: cst.Call) -> str | None:
        """At import time: a call that creates plumbing (`WebSocketManager()`) or fetches it."""
        name = last_name(call.func)
        if self.is_name(name) and not self._passes_scope(call, None):
            return dotted_name(call.func) or name
        return self.accessor_call(call, None)

    def global_name(self, name: cst.Name) -> str | None:
        if not self.file.may_be_named(name, self._indexed_names("globals")):
            return None
        for qualified in self.file.qualified_names(name):
            if self.holds(self.file.project.get("websockets:global", qualified)):
                return name.value
        return None

    def holds(self, fact: Any) -> bool:
        return fact_holds(self.file.project, fact, self.globs)

    def _passes_scope(self, call: cst.Call, function: cst.FunctionDef | None) -> bool:
        """Whether the call gets the request context or the route's own socket:
        then it builds a per-user or per-connection object."""
        settings = self.file.settings
        scoped = {*settings.context_params, *CONNECTION_PARAMS}
        if function is not None:
            scoped |= {context_param(function, settings)} | _connection_params(function)
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in scoped:
                return True
            value = arg.value
            while isinstance(value, cst.Attribute):
                value = value.value
            if isinstance(value, cst.Name) and value.value in scoped:
                return True
        return False


def _connection_params(function: cst.FunctionDef) -> set[str]:
    params = function.params
    return {
        param.name.value
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]
        if param.annotation is not None and last_name(param.annotation.annotation) == "WebSocket"
    }


def capture_target(node: cst.Assign | cst.AnnAssign, method: cst.FunctionDef | None) -> cst.Attribute | None:
    """The `self.<attr>` that `node` assigns inside a method, if that is its only target."""
    from .._helpers import assignment_targets, first_param_name

    targets = assignment_targets(node)
    if method is None or len(targets) != 1:
        return None
    target = targets[0]
    receiver = first_param_name(method)
    if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == receiver:
        return target
    return None


# --- moving emission onto the context emitter -----------------------------------


def emitter_expression(context_name: str) -> cst.Attribute:
    return cst.Attribute(value=cst.Name(context_name), attr=cst.Name(EMITTER_ATTRIBUTE))


def parents_within(function: cst.FunctionDef) -> dict[cst.CSTNode, cst.CSTNode]:
    """child -> parent for the function's own body, in source order (the
    bodies of nested functions and classes excluded: they are their own scope)."""
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    stack = [(child, function.body) for child in reversed(children(function.body))]
    while stack:
        node, parent = stack.pop()
        parents[node] = parent
        if not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            stack.extend((child, node) for child in reversed(children(node)))
    return parents


def swap_receivers(
    uses: list[cst.BaseExpression],
    parents: Mapping[cst.CSTNode, cst.CSTNode],
    context_name: str,
    supported: Iterable[str],
) -> tuple[dict[cst.CSTNode, cst.CSTNode], str | None]:
    """Replacements that make `context.websocket_emitter` stand where each use
    of the shared manager stood, or ({}, why not).

    A use qualifies as the receiver of a method call (`use.send_to_user(...)`)
    or as the value of a local binding (`bridge = use`) whose every later use
    is such a receiver or a truth test; every method called must be supported.
    """
    if _rebinds(context_name, parents):
        return {}, f"`{context_name}` is reassigned in this function"
    supported = set(supported)
    methods: set[str] = set()
    replacements: dict[cst.CSTNode, cst.CSTNode] = {}
    for use in uses:
        parent = parents.get(use)
        if isinstance(parent, cst.Await):  # `bridge = await get_bridge()`: the await goes too
            use, parent = parent, parents.get(parent)
        method = _called_method(use, parents)
        if method is not None:
            methods.add(method)
        elif isinstance(parent, cst.Assign) and parent.value is use and len(parent.targets) == 1:
            target = parent.targets[0].target
            if not isinstance(target, cst.Name):
                return {}, "its value is stored, not just called"
            bound_methods, problem = _methods_on_local(target, parents)
            if problem:
                return {}, problem
            methods |= bound_methods
        else:
            return {}, "it is passed, returned or stored rather than called"
        replacements[use] = emitter_expression(context_name)
    unsupported = sorted(methods - supported)
    if unsupported:
        names = ", ".join(f"`{m}`" for m in unsupported)
        return {}, f"the per-user emitter has no {names} (supported: see `emitter-methods`)"
    return replacements, None


def _called_method(expr: cst.CSTNode, parents: Mapping[cst.CSTNode, cst.CSTNode]) -> str | None:
    parent = parents.get(expr)
    if isinstance(parent, cst.Attribute) and parent.value is expr:
        call = parents.get(parent)
        if isinstance(call, cst.Call) and call.func is parent:
            return parent.attr.value
    return None


def _is_truth_test(name: cst.Name, parents: Mapping[cst.CSTNode, cst.CSTNode]) -> bool:
    parent = parents.get(name)
    if isinstance(parent, (cst.If, cst.While)) and parent.test is name:
        return True
    if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
        return True
    return (
        isinstance(parent, cst.Comparison)
        and len(parent.comparisons) == 1
        and isinstance(parent.comparisons[0].operator, (cst.Is, cst.IsNot))
        and isinstance(parent.comparisons[0].comparator, cst.Name)
        and parent.comparisons[0].comparator.value == "None"
    )


def _methods_on_local(target: cst.Name, parents: Mapping[cst.CSTNode, cst.CSTNode]) -> tuple[set[str], str | None]:
    methods: set[str] = set()
    for node in parents:
        if not isinstance(node, cst.Name) or node.value != target.value or node is target:
            continue
        method = _called_method(node, parents)
        if method is not None:
            methods.add(method)
        elif not _is_truth_test(node, parents):
            return set(), f"`{target.value}` is used other than by calling its methods"
    return methods, None


def _rebinds(name: str, parents: Mapping[cst.CSTNode, cst.CSTNode]) -> bool:
    binders = (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.AsName, cst.NamedExpr)
    return any(
        isinstance(node, cst.Name)
        and node.value == name
        and isinstance(parent, binders)
        and node in (getattr(parent, "target", None), getattr(parent, "name", None))
        for node, parent in parents.items()
    )


def without_statement(assign: cst.CSTNode, parents: Mapping[cst.CSTNode, cst.CSTNode]) -> dict[cst.CSTNode, Any]:
    """Replacements deleting the small statement `assign`, leaving `pass` where the block would be empty."""
    line = parents[assign]
    if isinstance(line, cst.SimpleStatementLine) and len(line.body) > 1:
        return {assign: cst.RemoveFromParent()}
    block = parents.get(line)
    if isinstance(block, cst.IndentedBlock) and len(block.body) == 1:
        # the statement's own trailing comment goes with it
        return {line: line.with_changes(body=[cst.Pass()], trailing_whitespace=cst.TrailingWhitespace())}
    return {line: cst.RemoveFromParent()}
