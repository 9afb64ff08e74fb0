"""What counts as WebSocket plumbing, for the ISO3xx family.

Plumbing is a class or accessor whose name matches `websocket-names`, an
accessor the project index knows returns such a class, or a module-level
name bound to either. Never plumbing: factories (`*Factory*`), and calls
that hand over the request context or the route's own `websocket`, which
build a per-user or per-connection object.

Project index facts (contributed by ISO301, from `index_facts`):

- `websockets:accessor` `module.func`: a module-level function that hands out
  the shared manager (its name matches, or it returns a matching class).
  data: `{"returns": "<Class>" or ""}`. A compatibility alias, a function
  without arguments whose body returns another accessor's argument-less call
  (`def get_connection_manager(): return get_manager()`), is one too, with
  `{"returns": "", "delegates": "<callee>"}` and, when the callee is
  imported, `"requires"` as for globals below.
- `websockets:global` `module.name`: a module-level name bound to plumbing at
  import time. data: `{"source": "<callee>"}`.
- `websockets:attribute` `module.Class.attr`: a method stores plumbing on
  `self.attr`. data: `{"method": "<method>", "source": "<callee or name>"}`.
- `websockets:inherited-read` `module.Class.attr`: a method reads `self.attr`
  that its class does not assign (so a base class does). data: `{"bases": [...]}`.

ISO102's `singletons:accessor` facts whose `returns` matches count as
accessors too, when that rule runs.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .._lazy import cst
from ..index import links
from ..traversal import children
from ._context import context_param
from ._helpers import (
    alternation,
    dotted_name,
    glob_to_bytes_regex,
    last_name,
    matches_patterns,
    unanchored_alternatives,
    word_alternatives,
)
from .base import Option

DEFAULT_WEBSOCKET_NAMES = [
    "*WebSocketManager*",
    "*WebsocketManager*",
    "*WebSocketBridge*",
    "*WebSocketNotifier*",
    "*ConnectionManager*",
    "*ws_manager*",
    "get_websocket_manager",
    "get_agent_websocket_bridge",
    "get_websocket_bridge",
    "get_global_bridge",
]
DEFAULT_EMITTER_METHODS = [
    "emit",
    "send_to_user",
    "notify_agent_started",
    "notify_agent_thinking",
    "notify_tool_executing",
    "notify_tool_completed",
    "notify_agent_completed",
    "notify_agent_error",
]
WEBSOCKET_NAMES = Option(
    "websocket-names",
    "list[str]",
    DEFAULT_WEBSOCKET_NAMES,
    "Globs for classes and accessors that are WebSocket plumbing (names containing `Factory` never are).",
)
EMITTER_METHODS = Option(
    "emitter-methods",
    "list[str]",
    DEFAULT_EMITTER_METHODS,
    "Methods the per-user emitter supports; the fix swaps a receiver only when every method called on it is one.",
)

# Class-side accessors: `WebSocketManager.get_instance()`.
CLASS_ACCESSORS = ("get_instance", "instance", "get")
# Parameters that hold the route's own connection.
CONNECTION_PARAMS = ("websocket", "ws")
EMITTER_ATTRIBUTE = "websocket_emitter"
ACCESSOR_KINDS = ("websockets:accessor", "singletons:accessor")

# Files that can define plumbing by the default names; names configured
# outside these words are found within their own file only.
INDEX_PREFILTER = re.compile(rb"(?i)socket|bridge|notifier|connection_?manager|ws_manager")


def is_plumbing_name(name: str, globs: Iterable[str]) -> bool:
    return matches_patterns(name, globs) and "factory" not in name.lower()


def plumbing_prefilter(globs: Iterable[str], project: Any, *, calls_only: bool = False) -> re.Pattern[bytes]:
    """Bytes any finding needs: a call of a glob-matching name (`get_websocket_manager(`,
    `WebSocketManager.get_instance(`) or of an indexed accessor, or (unless
    `calls_only`) an indexed module-global manager."""
    return re.compile(alternation(plumbing_alternatives(globs, project, calls_only=calls_only)))


def plumbing_alternatives(globs: Iterable[str], project: Any, *, calls_only: bool = False) -> list[bytes]:
    """`plumbing_prefilter`'s alternatives, for rules that add their own."""
    calls = sorted({glob_to_bytes_regex(glob).removesuffix(rb"\w*") for glob in globs})  # `[\w.]*` follows
    calls += sorted(re.escape(name.encode()) for name in project.names(*ACCESSOR_KINDS))
    alternatives = unanchored_alternatives(calls or [rb"(?!)"], rb"[\w.]*\s*\(")
    globs = list(globs)
    shared = sorted(
        {
            re.escape(fact.name.encode())
            for fact in project.of_kind("websockets:global")
            if fact_holds(project, fact, globs)
        }
    )
    if shared and not calls_only:
        alternatives += word_alternatives(shared, rb"\b")
    return alternatives


class IndexesPlumbing:
    """Mixin for the rules that recognise plumbing: they read the family's
    index facts, which ISO301 contributes (every indexer runs, whichever
    rules are selected)."""

    reads_facts: ClassVar[tuple[str, ...]] = (
        "websockets:accessor",
        "websockets:global",
        "websockets:attribute",
        "websockets:inherited-read",
        "singletons:accessor",
    )


# --- the project index (stdlib ast) ------------------------------------------


def index_facts(
    tree: ast.Module, globs: list[str], context_params: Iterable[str]
) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    """The family's facts. A function taking the request context (a parameter
    named in `context-params`, or annotated with a `...Context` class) hands
    out nothing shared."""
    scoped = frozenset(context_params)
    accessors: set[str] = set()
    functions = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _ast_takes_context(node, scoped)
    ]
    for node in functions:
        returned = _ast_returned_class(node, globs)
        if returned or (node.name[0].islower() and is_plumbing_name(node.name, globs)):
            accessors.add(node.name)
            yield "websockets:accessor", node.name, node.lineno, {"returns": returned}
    known = _Known(globs, accessors, _ast_imports(tree), scoped)
    yield from _ast_aliases([node for node in functions if node.name not in accessors], known)
    for statement in _ast_module_statements(tree.body):
        value = getattr(statement, "value", None)
        targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
        data = known.source(value) if value is not None else None
        for target in targets:
            if data and isinstance(target, ast.Name):
                known.module_globals.add(target.id)
                yield "websockets:global", target.id, statement.lineno, data
    for top in tree.body:
        if isinstance(top, ast.ClassDef):
            yield from _ast_class_facts(top, known)


def _ast_aliases(
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef], known: _Known
) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    """Compatibility aliases: functions taking no arguments whose whole body
    returns an argument-less call of an accessor. An alias of an alias in the
    same module counts, wherever it is defined. (Requiring no arguments keeps
    the speculative facts, those that `requires` an imported name, few.)"""
    pending = [node for node in functions if not _ast_takes_arguments(node)]
    while pending:
        found = []
        for node in pending:
            returned = _ast_returned_value(node)
            call = returned.value if isinstance(returned, ast.Await) else returned
            data = known.source(call) if isinstance(call, ast.Call) and not call.args and not call.keywords else None
            if data:
                found.append(node)
                known.accessors.add(node.name)
                yield (
                    "websockets:accessor",
                    node.name,
                    node.lineno,
                    {"returns": "", "delegates": data["source"], **data},
                )
        if not found:
            return
        pending = [node for node in pending if node not in found]


def _ast_takes_arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = function.args
    return bool(args.posonlyargs or args.args or args.kwonlyargs or args.vararg or args.kwarg)


def _ast_returned_value(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    """The value of a body that is one `return <value>` (after any docstring)."""
    body = function.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return):
        return body[0].value
    return None


def _ast_imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> absolute dotted name, for module-level `from a.b import c [as d]`."""
    imports = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return imports


def _ast_module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Assignments run at import time, including those under `if`/`try`."""
    for statement in body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            yield statement
        elif isinstance(statement, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(statement, field, []):
                    yield from _ast_module_statements(child.body if isinstance(child, ast.ExceptHandler) else [child])


def _ast_takes_context(function: ast.FunctionDef | ast.AsyncFunctionDef, context_params: frozenset[str]) -> bool:
    for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        if arg.arg in context_params or re.search(r"Context\b", annotation):
            return True
    return False


def _ast_callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _ast_passes_scope(call: ast.Call, context_params: frozenset[str]) -> bool:
    names = (*context_params, *CONNECTION_PARAMS)
    for arg in [*call.args, *(keyword.value for keyword in call.keywords)]:
        while isinstance(arg, ast.Attribute):
            arg = arg.value
        if isinstance(arg, ast.Name) and arg.id in names:
            return True
    return any(keyword.arg in names for keyword in call.keywords)


class _Known:
    """What one module's index pass knows makes a value shared plumbing."""

    def __init__(
        self, globs: list[str], accessors: set[str], imports: dict[str, str], context_params: frozenset[str]
    ) -> None:
        self.globs = globs
        self.accessors = accessors
        self.imports = imports
        self.context_params = context_params
        self.module_globals: set[str] = set()

    def source(self, value: ast.expr) -> dict[str, str] | None:
        """Fact data when `value` is shared plumbing: `{"source": callee or name}`,
        plus `"requires"`: an imported name the check pass must find indexed as
        an accessor or global (the index pass cannot look into other files)."""
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Name):
            if value.id in self.module_globals:
                return {"source": value.id}
            return {"source": value.id, "requires": self.imports[value.id]} if value.id in self.imports else None
        if not isinstance(value, ast.Call) or _ast_passes_scope(value, self.context_params):
            return None
        func = value.func
        callee = _ast_callee(value)
        if callee is None:
            return None
        if is_plumbing_name(callee, self.globs) or (isinstance(func, ast.Name) and callee in self.accessors):
            return {"source": callee}
        if isinstance(func, ast.Attribute) and callee in CLASS_ACCESSORS:
            owner = func.value.id if isinstance(func.value, ast.Name) else getattr(func.value, "attr", None)
            if owner and is_plumbing_name(owner, self.globs):
                return {"source": f"{owner}.{callee}"}
        if isinstance(func, ast.Name) and func.id in self.imports:
            return {"source": callee, "requires": self.imports[func.id]}
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.imports:
            return {"source": callee, "requires": f"{self.imports[func.value.id]}.{callee}"}
        return None


def _ast_returned_class(function: ast.FunctionDef | ast.AsyncFunctionDef, globs: list[str]) -> str:
    """The plumbing class an accessor builds and returns (directly or through a variable)."""
    built: dict[str, str] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            callee = _ast_callee(node.value)
            if callee and callee[0].isupper() and is_plumbing_name(callee, globs):
                built.update({t.id: callee for t in node.targets if isinstance(t, ast.Name)})
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and node.value is not None:
            if isinstance(node.value, ast.Name) and node.value.id in built:
                return built[node.value.id]
            if isinstance(node.value, ast.Call):
                callee = _ast_callee(node.value)
                if callee and callee[0].isupper() and is_plumbing_name(callee, globs):
                    return callee
    return ""


def _ast_class_facts(node: ast.ClassDef, known: _Known) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    assigned: set[str] = set()
    reads: dict[str, int] = {}
    for method in node.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not method.args.args:
            continue
        receiver = method.args.args[0].arg
        for child in ast.walk(method):
            if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name) and child.value.id == receiver:
                if isinstance(child.ctx, ast.Store):
                    assigned.add(child.attr)
                else:
                    reads.setdefault(child.attr, child.lineno)
            if isinstance(child, (ast.Assign, ast.AnnAssign)) and child.value is not None:
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                data = known.source(child.value)
                for target in targets:
                    if (
                        data
                        and isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == receiver
                    ):
                        yield (
                            "websockets:attribute",
                            f"{node.name}.{target.attr}",
                            child.lineno,
                            {"method": method.name, **data},
                        )
    if node.bases:
        bases = [ast.unparse(base) for base in node.bases]
        for attr, line in sorted(reads.items()):
            if attr not in assigned:
                yield "websockets:inherited-read", f"{node.name}.{attr}", line, {"bases": bases}


@links("websockets:global", "websockets:attribute", "websockets:accessor")
def _required_link(fact: Any) -> list[str]:
    """A value from an import stands only if the imported name is plumbing (fact_holds)."""
    required = fact.data.get("requires")
    return [required.rpartition(".")[2]] if required else []


@links("websockets:inherited-read")
def _bases_links(fact: Any) -> Iterator[str]:
    return (base.partition("[")[0].rpartition(".")[2] for base in fact.data.get("bases", ()))


def is_indexed_accessor(project: Any, qualname: str, globs: Iterable[str], seen: frozenset[str] = frozenset()) -> bool:
    """Ours (an alias of an imported accessor only if that one is), or ISO102's
    singleton accessor when the class it returns is plumbing."""
    accessor = project.get("websockets:accessor", qualname)
    if accessor is not None:
        return fact_holds(project, accessor, globs, seen | {qualname})
    singleton = project.get("singletons:accessor", qualname)
    return singleton is not None and is_plumbing_name(str(singleton.data.get("returns") or ""), globs)


def fact_holds(project: Any, fact: Any, globs: Iterable[str], seen: frozenset[str] = frozenset()) -> bool:
    """Whether an indexed fact stands: one whose value came from an import
    needs that name indexed as plumbing too (a cycle of imports proves nothing)."""
    if fact is None:
        return False
    required = fact.data.get("requires")
    if not required:
        return True
    if required in seen:
        return False
    if is_indexed_accessor(project, required, globs, seen):
        return True
    return fact_holds(project, project.get("websockets:global", required), globs, seen | {required})


# --- the per-file model (LibCST) -----------------------------------------------


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
    from ._helpers import assignment_targets, first_param_name

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
