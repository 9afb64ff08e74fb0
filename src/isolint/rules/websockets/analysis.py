"""The family's one analysis, on the stdlib `ast`: which values are shared
WebSocket plumbing.

Two readers share it. The project index (`index_facts`) sees one module at a
time and knows only its imports, so a value taken from an imported name
becomes a fact that `requires` that name. The rules (`Plumbing`) see the
finished index and resolve names through the file's scopes. Both decide with
the same shapes: what a callee's name says (`plumbing_by_name`), what hands
over a request's own scope (`passes_scope`), what an alias looks like
(`ast_helpers.takes_arguments`, `returned_value`), what stores on `self`
(`capture_target`), and which nodes belong to a function's own body
(`own_nodes`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...scopes import (
    STATEMENT_HOLDERS,
    breadth_first,
    children,
    resolve_relative,
    statements_breadth_first,
    walk_scope,
)
from ..ast_helpers import (
    assignment_targets,
    context_param,
    dotted_name,
    first_param_name,
    last_name,
    returned_value,
    takes_arguments,
    without_await,
)
from ..singletons.aliases import KIND_ALIAS
from .family import (
    ACCESSOR_KINDS,
    CLASS_ACCESSORS,
    CONNECTION_PARAMS,
    WebSocketConfig,
    fact_holds,
    is_indexed_accessor,
)

if TYPE_CHECKING:
    from ...index import Fact, ProjectIndex
    from ..ast_context import AstFile

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
IndexFact = tuple[str, str, int, dict[str, Any]]

# --- shapes both readers decide with --------------------------------------------


def passes_scope(call: ast.Call, scoped: Collection[str]) -> bool:
    """Whether the call gets the request context or the route's own socket
    (a name in `scoped`, or an attribute of one, as an argument or keyword):
    then it builds a per-user or per-connection object."""
    for argument in [*call.args, *(keyword.value for keyword in call.keywords)]:
        if isinstance(argument, ast.Starred):
            argument = argument.value
        while isinstance(argument, ast.Attribute):
            argument = argument.value
        if isinstance(argument, ast.Name) and argument.id in scoped:
            return True
    return any(keyword.arg in scoped for keyword in call.keywords)


def plumbing_by_name(func: ast.expr, config: WebSocketConfig) -> str | None:
    """What a callee's own name says: itself when it matches `websocket-names`
    (`get_websocket_manager`, `WebSocketManager`), `<Class>.<accessor>` for a
    class-side accessor of a matching class (`WebSocketManager.get_instance`);
    None when the name says nothing."""
    callee = last_name(func)
    if config.is_plumbing_name(callee):
        return callee
    if isinstance(func, ast.Attribute) and callee in CLASS_ACCESSORS:
        owner = last_name(func.value)
        if config.is_plumbing_name(owner):
            return f"{owner}.{callee}"
    return None


def capture_target(statement: ast.AST, method: FunctionNode | None) -> ast.Attribute | None:
    """The `self.<attr>` that `statement` assigns inside a method, if that is its only target."""
    targets = assignment_targets(statement)
    if method is None or len(targets) != 1:
        return None
    target = targets[0]
    receiver = first_param_name(method)
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == receiver:
        return target
    return None


def own_nodes(function: FunctionNode) -> list[ast.AST]:
    """Every node of the function's body, in source order. A nested function
    or class is its own scope: it is listed, but nothing inside it."""
    return list(walk_scope(function.body, (*FUNCTION_NODES, ast.ClassDef)))


# --- the project index's view: one module, its imports ----------------------------


def index_facts(
    tree: ast.Module, config: WebSocketConfig, module: str = "", is_package: bool = False
) -> Iterator[IndexFact]:
    """The family's facts for the module `module` (empty when unknown: its
    relative imports are then left out). A function taking the request
    context (a parameter named in `context-params`, or annotated with a
    `...Context` class) hands out nothing shared."""
    accessors: set[str] = set()
    functions = [
        node
        for node in tree.body
        if isinstance(node, FUNCTION_NODES) and not _takes_context(node, config.context_params)
    ]
    for node in functions:
        returned = _returned_class(node, config)
        if returned or (node.name[0].islower() and config.is_plumbing_name(node.name)):
            accessors.add(node.name)
            yield "websockets:accessor", node.name, node.lineno, {"returns": returned}
    known = _ModuleKnowledge(config, accessors, _imports(tree, module, is_package))
    # Aliases, globals and functions returning a global build on each other,
    # in any order in the module (`HUB = current()`, `def current(): return
    # _hub`, `_hub = make_hub()`): until a round finds nothing new.
    candidates = [node for node in functions if node.name not in accessors]
    assignments = list(_import_time_assignments(tree.body))
    while True:
        found = [*_aliases(candidates, known), *_globals(assignments, known), *_global_returns(candidates, known)]
        if not found:
            break
        yield from found
        candidates = [node for node in candidates if node.name not in known.accessors]
        assignments = [statement for statement in assignments if not _binds_known_global(statement, known)]
    for top in tree.body:
        if isinstance(top, ast.ClassDef):
            yield from _class_facts(top, known)


def call_global_facts(
    tree: ast.Module, config: WebSocketConfig, module: str = "", is_package: bool = False
) -> Iterator[IndexFact]:
    """The facts of a module that names no socket (family.CALL_GLOBALS): its
    globals bound at import time to an argument-less call of an imported
    name (`HUB = events()`). Each `requires` that name: it holds plumbing
    where the check pass finds the name an accessor, or an alias of one."""
    known = _ModuleKnowledge(config, set(), _imports(tree, module, is_package))
    calls = [
        statement
        for statement in _import_time_assignments(tree.body)
        if isinstance(value := without_await(statement.value), ast.Call) and not value.args and not value.keywords
    ]
    yield from _globals(calls, known)


def _globals(assignments: list[ast.Assign | ast.AnnAssign], known: _ModuleKnowledge) -> Iterator[IndexFact]:
    """Module globals bound at import time to shared plumbing."""
    for statement in assignments:
        data = known.source(statement.value) if statement.value is not None else None
        value = without_await(statement.value)
        if data and isinstance(value, ast.Name):
            # `get_ws = get_manager` binds the function, not what it returns:
            # an accessor here, or whatever the imported name is (the check pass knows).
            data = {**data, "holds": "accessor" if value.id in known.accessors else "name"}
        for target in assignment_targets(statement):
            if data and isinstance(target, ast.Name):
                known.module_globals.add(target.id)
                yield "websockets:global", target.id, statement.lineno, data


def _binds_known_global(statement: ast.Assign | ast.AnnAssign, known: _ModuleKnowledge) -> bool:
    return any(
        isinstance(target, ast.Name) and target.id in known.module_globals for target in assignment_targets(statement)
    )


def _global_returns(functions: list[FunctionNode], known: _ModuleKnowledge) -> Iterator[IndexFact]:
    """Accessors of a module global: functions taking no arguments whose
    whole body returns a global of this module that holds plumbing
    (`def current(): return _hub`)."""
    for node in functions:
        value = returned_value(node)
        if (
            node.name not in known.accessors
            and not takes_arguments(node)
            and isinstance(value, ast.Name)
            and value.id in known.module_globals
        ):
            known.accessors.add(node.name)
            yield (
                "websockets:accessor",
                node.name,
                node.lineno,
                {"returns": "", "delegates": value.id, "source": value.id},
            )


def _aliases(functions: list[FunctionNode], known: _ModuleKnowledge) -> Iterator[IndexFact]:
    """Compatibility aliases: functions taking no arguments whose whole body
    returns an argument-less call of an accessor. An alias of an alias in the
    same module counts, wherever it is defined. (Requiring no arguments keeps
    the speculative facts, those that `requires` an imported name, few.)"""
    pending = [node for node in functions if not takes_arguments(node)]
    while pending:
        found = []
        for node in pending:
            call = without_await(returned_value(node))
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


def _imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    """Local name -> absolute dotted name, for module-level `from a.b import c
    [as d]`, relative ones (`from .b import c`) resolved against `module`."""
    imports = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or (node.level and not module):
            continue
        source = resolve_relative(module, is_package, node.level, node.module)
        if source:
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{source}.{alias.name}"
    return imports


def _import_time_assignments(body: list[ast.stmt]) -> Iterator[ast.Assign | ast.AnnAssign]:
    """Assignments run at import time, including those under `if`/`try`/`with`."""
    for statement in body:
        if isinstance(statement, (ast.Assign, ast.AnnAssign)):
            yield statement
        elif isinstance(statement, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(statement, field, []):
                    yield from _import_time_assignments(child.body if isinstance(child, ast.ExceptHandler) else [child])


def _takes_context(function: FunctionNode, context_params: Collection[str]) -> bool:
    for arg in [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        if arg.arg in context_params or re.search(r"Context\b", annotation):
            return True
    return False


class _ModuleKnowledge:
    """What one module's index pass knows makes a value shared plumbing."""

    def __init__(self, config: WebSocketConfig, accessors: set[str], imports: dict[str, str]) -> None:
        self.config = config
        self.accessors = accessors
        self.imports = imports
        self.scoped = config.context_params | set(CONNECTION_PARAMS)
        self.module_globals: set[str] = set()

    def source(self, value: ast.expr | None) -> dict[str, str] | None:
        """Fact data when `value` is shared plumbing: `{"source": callee or name}`,
        plus `"requires"`: an imported name the check pass must find indexed as
        an accessor or global (the index pass cannot look into other files)."""
        value = without_await(value)
        if isinstance(value, ast.Name):
            if value.id in self.module_globals or value.id in self.accessors:
                return {"source": value.id}  # a global, or an accessor bound under another name
            return {"source": value.id, "requires": self.imports[value.id]} if value.id in self.imports else None
        if not isinstance(value, ast.Call) or passes_scope(value, self.scoped):
            return None
        func = value.func
        callee = last_name(func)
        if callee is None:
            return None
        named = plumbing_by_name(func, self.config)
        if named is not None:
            return {"source": named}
        if isinstance(func, ast.Name) and (callee in self.accessors or callee in self.module_globals):
            return {"source": callee}  # an accessor, or a global bound to one (`get_ws = get_manager`)
        if isinstance(func, ast.Name) and func.id in self.imports:
            return {"source": callee, "requires": self.imports[func.id]}
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.imports:
            return {"source": callee, "requires": f"{self.imports[func.value.id]}.{callee}"}
        return None


def _returned_class(function: FunctionNode, config: WebSocketConfig) -> str:
    """The plumbing class an accessor builds and returns (directly or through a variable)."""

    def built_class(value: ast.expr | None) -> str | None:
        callee = last_name(value.func) if isinstance(value, ast.Call) else None
        return callee if callee and callee[0].isupper() and config.is_plumbing_name(callee) else None

    # One walk for both kinds, visited in `ast.walk`'s breadth-first order:
    # by depth, then by position (a later assignment of a name wins, the
    # shallowest return decides). Both are statements, and only statements
    # (and handlers and match cases) hold statements: the walk never enters
    # an expression, and a statement's depth counted through them is its
    # depth in the tree.
    assigns: list[tuple[int, int, ast.Assign]] = []
    returns: list[tuple[int, int, ast.Return]] = []
    stack: list[tuple[ast.AST, int]] = [(function, 0)]
    position = 0
    while stack:
        node, depth = stack.pop()
        position += 1
        if isinstance(node, ast.Assign):
            assigns.append((depth, position, node))
        elif isinstance(node, ast.Return) and node.value is not None:
            returns.append((depth, position, node))
        stack.extend((child, depth + 1) for child in reversed(children(node)) if isinstance(child, STATEMENT_HOLDERS))
    built: dict[str, str] = {}
    for _, _, assign in sorted(assigns):
        if callee := built_class(assign.value):
            built.update({t.id: callee for t in assign.targets if isinstance(t, ast.Name)})
    for _, _, returned in sorted(returns):
        if isinstance(returned.value, ast.Name) and returned.value.id in built:
            return built[returned.value.id]
        if callee := built_class(returned.value):
            return callee
    return ""


def _class_facts(node: ast.ClassDef, known: _ModuleKnowledge) -> Iterator[IndexFact]:
    assigned: set[str] = set()
    reads: dict[str, int] = {}
    for method in node.body:
        if not isinstance(method, FUNCTION_NODES) or not method.args.args:
            continue
        receiver = method.args.args[0].arg
        # Without bases there is no inherited read to find: assignments alone yield facts.
        for child in breadth_first(method) if node.bases else statements_breadth_first(method):
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


# --- the rules' view: one file, the whole project index ---------------------------


@dataclass(frozen=True)
class Capture:
    """`self.<attr> = <shared plumbing>` in a method."""

    target: ast.Attribute  # `self.websocket` in the assignment
    assign: ast.Assign | ast.AnnAssign
    source: str  # how the value reaches the plumbing, as written (`get_websocket_manager`)


class Plumbing:
    """Recognises WebSocket plumbing in the file a rule is checking."""

    def __init__(self, file: AstFile, config: WebSocketConfig) -> None:
        self.file = file
        self.config = config
        self._names: dict[str, frozenset[str]] = {}

    def _indexed_names(self, what: str) -> frozenset[str]:
        """Short names of the indexed accessors ("accessors"), globals ("globals")
        or classes storing plumbing on an attribute ("capturing classes"), for
        ruling nodes out before resolving their qualified names."""
        names = self._names.get(what)
        if names is None:
            project = self.file.project
            if what == "accessors":
                # Every alias: whether one reaches plumbing is asked only of the calls spelling its name.
                names = project.names(*ACCESSOR_KINDS, KIND_ALIAS) | project.derived(_renamed_accessors)
            elif what == "globals":
                names = project.names("websockets:global") | project.derived(_renamed_globals)
            else:
                names = project.derived(_capturing_classes)
            self._names[what] = names
        return names

    def source(self, expr: ast.expr | None, function: FunctionNode | None) -> str | None:
        """How `expr` reaches shared plumbing (`get_websocket_manager()`,
        `websocket_manager`), or None."""
        expr = without_await(expr)
        if isinstance(expr, ast.Call):
            return self.accessor_call(expr, function)
        if isinstance(expr, (ast.Name, ast.Attribute)):
            return self.manager_global(expr)
        return None

    def accessor_call(self, call: ast.Call, function: FunctionNode | None) -> str | None:
        func = call.func
        name = last_name(func)
        if name is None:
            return None
        shown = dotted_name(func) or name
        named = plumbing_by_name(func, self.config)
        # an accessor by its name (a class called here builds an object of its own)
        named_accessor = named is not None and (named[0].islower() or "." in named)
        called_global = False
        if not named_accessor and not self.file.may_be_named(func, self._indexed_names("accessors")):
            # a module global bound to an accessor (`get_ws = get_manager`), called: a manager is no callable
            called_global = isinstance(func, ast.Name) and self.global_name(func) is not None
            if not called_global:
                return None  # the cheap tests first: most calls are no plumbing at all
        if self._passes_scope(call, function):
            return None
        if named_accessor or called_global:
            return shown
        globs = self.config.websocket_names
        if any(is_indexed_accessor(self.file.project, q, globs) for q in self.file.qualified_names(func)):
            return shown
        return None

    def is_internal(self, function: FunctionNode, owner: ast.ClassDef | None) -> bool:
        """The plumbing's own code (an accessor, a manager's method) is not request code."""
        is_plumbing = self.config.is_plumbing_name
        return is_plumbing(function.name) or (owner is not None and is_plumbing(owner.name))

    def captures(self, method: FunctionNode) -> list[Capture]:
        """`self.<attr> = <shared plumbing>` statements in `method`."""
        found = []
        for node in own_nodes(method):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                target = capture_target(node, method)
                source = self.source(node.value, method) if target is not None else None
                if target is not None and source is not None:
                    found.append(Capture(target, node, source))
        return found

    def inherited_captures(self, owner: ast.ClassDef) -> dict[str, Fact]:
        """attr -> index fact, for attributes a direct base class (this file or another) captures."""
        capturing = self._indexed_names("capturing classes")
        bases = {
            name
            for base in owner.bases
            if self.file.may_be_named(base, capturing)
            for name in self.file.qualified_names(base)
        }
        if not bases:
            return {}
        by_owner = self.file.project.derived(_attributes_by_owner)
        found = sorted(pair for base in bases for pair in by_owner.get(base, ()))  # in the index's order
        return {fact.name: fact for _, fact in found if self.holds(fact)}

    def builds_shared(self, call: ast.Call) -> str | None:
        """At import time: a call that creates plumbing (`WebSocketManager()`) or fetches it."""
        named = plumbing_by_name(call.func, self.config)
        if named is not None and not self._passes_scope(call, None):
            return dotted_name(call.func) or named
        return self.accessor_call(call, None)

    def global_name(self, name: ast.Name) -> str | None:
        """`name` when it reads an indexed module global holding plumbing."""
        return name.id if self.global_fact(name) is not None else None

    def manager_global(self, name: ast.Name | ast.Attribute) -> str | None:
        """How `name` is written when it reads a module global holding a
        manager: by its name, or as an attribute of its module (`hubs.manager`).
        One bound to an accessor itself (`get_ws = get_manager`) and read
        uncalled is the accessor passed on (`Depends(get_ws)`), as
        `get_manager` would be: its calls are the uses."""
        fact = self.global_fact(name)
        if fact is None or self._bound_to_accessor(fact):
            return None
        return name.id if isinstance(name, ast.Name) else dotted_name(name) or name.attr

    def global_fact(self, name: ast.Name | ast.Attribute) -> Fact | None:
        """The indexed module global holding plumbing that `name` reads, if any
        (an attribute: of the module it was imported as)."""
        if not self.file.may_be_named(name, self._indexed_names("globals")):
            return None
        for qualified in self.file.qualified_names(name):
            fact = self.file.project.exported(qualified, "websockets:global")
            if self.holds(fact):
                return fact
        return None

    def _bound_to_accessor(self, fact: Fact) -> bool:
        """Whether an indexed global is bound to an accessor itself (`get_ws = get_manager`)."""
        holds = fact.data.get("holds")
        required = fact.data.get("requires")
        if holds == "name" and isinstance(required, str):
            return is_indexed_accessor(self.file.project, required, self.config.websocket_names)
        return holds == "accessor"

    def holds(self, fact: Fact | None) -> bool:
        return fact_holds(self.file.project, fact, self.config.websocket_names)

    def _passes_scope(self, call: ast.Call, function: FunctionNode | None) -> bool:
        scoped = {*self.config.context_params, *CONNECTION_PARAMS}
        if function is not None:
            scoped |= _connection_params(function)
            context = context_param(function, self.file.settings)
            if context is not None:
                scoped.add(context)
        return passes_scope(call, scoped)


def _connection_params(function: FunctionNode) -> set[str]:
    """Parameters annotated as the route's `WebSocket`."""
    arguments = function.args
    return {
        arg.arg
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        if arg.annotation is not None and last_name(arg.annotation) == "WebSocket"
    }


def _attributes_by_owner(project: ProjectIndex) -> dict[str, list[tuple[int, Fact]]]:
    """The `websockets:attribute` facts by the class holding the attribute,
    each with its position among them: once per index, not once per class checked."""
    by_owner: dict[str, list[tuple[int, Fact]]] = {}
    for position, fact in enumerate(project.of_kind("websockets:attribute")):
        by_owner.setdefault(fact.qualname.rpartition(".")[0], []).append((position, fact))
    return by_owner


def _renamed_accessors(project: ProjectIndex) -> frozenset[str]:
    """The names imports give an indexed accessor or alias, once per index."""
    return project.renamed(lambda name: project.exported(name, *ACCESSOR_KINDS, KIND_ALIAS) is not None)


def _renamed_globals(project: ProjectIndex) -> frozenset[str]:
    """The names imports give an indexed module global, once per index."""
    return project.renamed(lambda name: project.exported(name, "websockets:global") is not None)


def _capturing_classes(project: ProjectIndex) -> frozenset[str]:
    """Short names of the classes whose attributes hold plumbing, once per index."""
    return frozenset(f.qualname.rpartition(".")[0].rpartition(".")[2] for f in project.of_kind("websockets:attribute"))
