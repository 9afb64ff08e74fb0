"""What a name in a stdlib `ast` tree refers to: the file's one name resolver.

Rules ask "is this call `chatapp.registry.get_agent_registry`?" for a
handful of candidate nodes per file. The answer comes from the bindings of
only the scopes around the asked-for node: the imports, definitions and
assignments of the module and of the enclosing functions, classes, lambdas
and comprehensions, with Python's rules (class scopes are not seen from
nested functions; `global` and `nonlocal` redirect). Each scope's bindings
are collected once, on first use.

The same scopes answer how often a name is bound in a scope, which
statements import it, and which names read that binding.

An import gives the imported dotted name (relative ones keep their dots;
`rules.ast_context.AstFile.qualified_names` makes them absolute), a binding
of this module gives `Name` / `Class.attr`, a function local gives
`func.<locals>.name`, a builtin `builtins.name`, and an unbound name nothing.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat

BUILTIN_NAMES = frozenset(dir(builtins))
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# A node that opens a scope of its own.
ScopeNode = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda | ast.expr
# What holds statements, and so bindings, inside a scope: nested statements,
# except clauses, `with` items and `match` cases with their patterns.
_STATEMENT_PARTS = (ast.stmt, ast.excepthandler, ast.withitem, ast.match_case, ast.pattern)
_TYPE_STRING_CALLS = frozenset({"cast", "TypeVar", "NewType"})


@dataclass
class _Scope:
    node: ast.AST  # Module, FunctionDef, AsyncFunctionDef, ClassDef, Lambda or a comprehension
    kind: str  # "module", "function", "class" or "comprehension"
    qualname: str  # the prefix of this scope's own bindings
    bindings: dict[str, list[str | None]] = field(default_factory=dict)  # name -> imported dotted names / None (local)
    global_names: set[str] = field(default_factory=set)
    nonlocal_names: set[str] = field(default_factory=set)
    imports: dict[str, list[ast.Import | ast.ImportFrom]] = field(default_factory=dict)

    def bind(self, name: str, imported: str | None = None) -> None:
        self.bindings.setdefault(name, []).append(imported)

    def local_name(self, name: str) -> str:
        if self.kind == "module":
            return name
        if self.kind == "function":
            return f"{self.qualname}.<locals>.{name}"
        return f"{self.qualname}.{name}"


# Fields whose nodes nothing asks about: a name's load/store context and the
# operator of an operation (shared singletons, one per kind).
_SKIPPED_FIELDS = frozenset({"ctx", "op", "ops"})
_DEFINITIONS = (*FUNCTIONS, ast.ClassDef)
_FIELD_ORDER: dict[type[ast.AST], tuple[str, ...]] = {}


def _field_order(node_type: type[ast.AST]) -> tuple[str, ...]:
    fields = [name for name in node_type._fields if name not in _SKIPPED_FIELDS]
    if issubclass(node_type, _DEFINITIONS):
        # As written: decorators, then the signature (or bases), then the body.
        middle = [name for name in fields if name not in ("decorator_list", "body")]
        fields = ["decorator_list", *middle, "body"]
    order = _FIELD_ORDER[node_type] = tuple(fields)
    return order


def children(node: ast.AST) -> list[ast.AST]:
    """`node`'s children in the order the source writes them (`ast`'s own
    field order puts a definition's decorators and return annotation after
    its body), without contexts and operators. Not to be changed: while a
    file is analysed (`remembering_children`) the list is shared."""
    remembered = _remembered
    if remembered is not None:
        known = remembered.get(node)  # nodes hash by identity: no id() object to allocate per lookup
        if known is not None:
            return known
    found: list[ast.AST] = []
    order = _FIELD_ORDER.get(type(node))
    for name in order if order is not None else _field_order(type(node)):
        value = getattr(node, name, None)
        if isinstance(value, list):
            if value:  # a list field may hold None (a dict's `**` key) or names (`global a, b`)
                found += [item for item in value if isinstance(item, ast.AST)]
        elif isinstance(value, ast.AST):
            found.append(value)
    if remembered is not None:
        remembered[node] = found  # the key holds the node: a dead node's id is never mistaken for it
    return found


_remembered: dict[ast.AST, list[ast.AST]] | None = None


@contextlib.contextmanager
def remembering_children() -> Iterator[None]:
    """Compute each node's children once while one file is analysed: the
    dispatcher, the parent map, the name resolver and the rules walk the same
    tree, about five times per node."""
    global _remembered
    outer = _remembered
    _remembered = {}
    try:
        yield
    finally:
        _remembered = outer


def walk(*roots: ast.AST) -> Iterator[ast.AST]:
    """`roots` and their descendants, depth first in source order (`ast.walk`
    goes breadth first): the first match of a search is the first one the
    source writes."""
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def breadth_first(root: ast.AST) -> Iterator[ast.AST]:
    """`root` and its descendants by depth, as `ast.walk` goes, through the
    remembered `children` (so in source order, without contexts and
    operators): `ast.walk` asks every node for its fields on every walk."""
    queue = deque([root])
    while queue:
        node = queue.popleft()
        queue.extend(children(node))
        yield node


STATEMENT_HOLDERS = (ast.stmt, ast.excepthandler, ast.match_case)  # the nodes that hold statements


def statements_breadth_first(root: ast.AST) -> Iterator[ast.AST]:
    """`root` and the statements under it (with except handlers and match
    cases), in `breadth_first`'s order, without entering expressions: no
    expression holds a statement, and most of a tree's nodes are expressions."""
    queue = deque([root])
    while queue:
        node = queue.popleft()
        queue.extend(child for child in children(node) if isinstance(child, STATEMENT_HOLDERS))
        yield node


def statements(*roots: ast.AST, skipping: tuple[type[ast.stmt], ...] = ()) -> Iterator[ast.stmt]:
    """Every statement of `roots` and under them, nested ones included, depth
    first in source order, without entering expressions: no expression holds
    a statement, and most of a tree's nodes are expressions. A statement of a
    `skipping` type is neither yielded nor entered (a nested function)."""
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if isinstance(node, skipping):
            continue
        if isinstance(node, ast.stmt):
            yield node
        stack.extend(reversed([child for child in children(node) if isinstance(child, STATEMENT_HOLDERS)]))


_OWN_SCOPES = (*_DEFINITIONS, ast.Lambda)


def walk_scope(statements: list[ast.stmt], scopes: tuple[type[ast.AST], ...] = _OWN_SCOPES) -> Iterator[ast.AST]:
    """The nodes of a body, in source order, without descending into nested
    scopes (functions, classes and lambdas unless `scopes` says otherwise):
    they are yielded, not entered."""
    stack: list[ast.AST] = list(reversed(statements))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, scopes):
            stack.extend(reversed(children(node)))


def parent_map(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    """node -> its parent, for every node under `tree` (contexts and operators
    aside). Nodes hash by identity; keying by them rather than by `id()`
    allocates no integer per node or per lookup."""
    parents: dict[ast.AST, ast.AST] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        below = children(node)
        parents.update(zip(below, repeat(node)))
        stack.extend(below)
    return parents


def full_name(node: ast.AST) -> tuple[ast.Name | None, str]:
    """(the Name a chain starts from, its dotted spelling), reading through
    calls and subscripts: `get_registry().agents` is `get_registry.agents`.
    (None, "") when it does not start from a name."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            return node, ".".join([node.id, *reversed(parts)])
        else:
            return None, ""


def resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module `from <level dots><name> import ...` refers to."""
    if level == 0:
        return name or ""
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    if name:
        parts.append(name)
    return ".".join(parts)


def absolute_name(name: str, module_name: str, is_package: bool) -> str:
    """A relative dotted name as an import binds it (`..registry.get`) made
    absolute from the module it is written in."""
    level = len(name) - len(name.lstrip("."))
    return resolve_relative(module_name, is_package, level, name[level:] or None)


def absolute_names(found: set[tuple[str, bool]], module_name: str, is_package: bool) -> set[str]:
    """A resolver's (dotted name, is it this module's) pairs as absolute names:
    relative imports resolved, this module's own bindings prefixed with its
    name (`chatapp.registry.AgentRegistry`)."""
    resolved = set()
    for name, is_local in found:
        if name.startswith("."):
            name = absolute_name(name, module_name, is_package)
        elif is_local and module_name:
            name = f"{module_name}.{name}"
        resolved.add(name)
    return resolved


_AS_NAME = re.compile(r"\bas[\s\\]+(\w+)")


def names_after_as(source: str) -> frozenset[str]:
    """Every identifier following `as` in the source: a superset of the
    names imports bind under another name."""
    return frozenset(_AS_NAME.findall(source))


class NameResolver:
    """Qualified names of Name and Attribute nodes of one module (see the module docstring)."""

    def __init__(self, tree: ast.Module, parents: dict[ast.AST, ast.AST]) -> None:
        self.tree = tree
        self._parents = parents
        self._walrus_targets: list[ast.NamedExpr] | None = None
        self._scopes: dict[int, _Scope] = {}
        # id of an owner -> its Name nodes that do not store, by identifier (see `reads`)
        self._loads: dict[int, dict[str, list[ast.Name]]] = {}
        # id of an owner -> the string constants under it (see `in_string_annotation`)
        self._strings: dict[int, list[tuple[ast.Constant, str]]] = {}

    def qualified_names(self, node: ast.AST) -> set[tuple[str, bool]]:
        """(dotted name, is it a binding of this module) pairs `node` may refer to."""
        head, full = full_name(node)
        if head is None:
            return set()
        for scope in self._lookup_chain(head):
            if head.id in scope.global_names:
                scope = self._module_scope()
            elif head.id in scope.nonlocal_names:
                continue
            bound = scope.bindings.get(head.id)
            if bound is None:
                continue
            names = set()
            for imported in bound:
                if imported is None:
                    names.add((scope.local_name(full), True))
                elif real := _imported_name(imported, full):
                    names.add((real, False))
            return names
        return {(f"builtins.{head.id}", False)} if head.id in BUILTIN_NAMES else set()

    # --- bindings and their readers -------------------------------------------

    def binding_count(self, owner: ast.AST, name: str) -> int:
        """How many times `name` is bound (assigned, imported, a parameter, ...)
        in the scope `owner` (a Module, function or ClassDef) opens."""
        return len(self._scope_for(owner).bindings.get(name, ()))

    def imports_of(self, owner: ast.AST, name: str) -> list[ast.Import | ast.ImportFrom]:
        """The Import/ImportFrom statements that bind `name` in `owner`'s scope."""
        return list(self._scope_for(owner).imports.get(name, ()))

    def innermost_owner(self, node: ast.AST) -> ast.AST:
        """The Module, function, ClassDef, Lambda or comprehension whose scope `node` is evaluated in."""
        return next(iter(self._lookup_chain(node))).node

    def reads(self, owner: ast.AST, name: str) -> list[ast.Name]:
        """The Name nodes that read `name` as `owner`'s scope binds it, in
        source order: loads and deletions, in nested scopes too where they do
        not rebind it. Names in
        string annotations are not included (see `in_string_annotation`)."""
        scope = self._scope_for(owner)
        loads = self._loads.get(id(owner))
        if loads is None:  # one walk per owner, not one per question: a fix asks of every import
            loads = self._loads[id(owner)] = {}
            for node in walk(owner):
                if type(node) is ast.Name and not isinstance(node.ctx, ast.Store):
                    loads.setdefault(node.id, []).append(node)
        return [node for node in loads.get(name, ()) if self._binding_scope(node) is scope]

    def in_string_annotation(self, owner: ast.AST, name: str) -> bool:
        """Whether a string under `owner` that can be a type spells `name`:
        strings in annotations, in subscripts (`Optional["T"]`, except
        `Literal[...]`) and in `cast` / `TypeVar` / `NewType` arguments. A
        docstring does not count."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        parents = self._parents
        strings = self._strings.get(id(owner))
        if strings is None:  # one walk per owner: a fix asks of every import it may have orphaned
            strings = self._strings[id(owner)] = [
                (node, node.value) for node in walk(owner) if type(node) is ast.Constant and isinstance(node.value, str)
            ]
        for node, value in strings:
            if not pattern.search(value):
                continue
            child: ast.AST = node
            parent = parents.get(node)
            while parent is not None and not isinstance(parent, ast.stmt | ast.mod):
                if _is_annotation_of(child, parent):
                    return True
                if (
                    isinstance(parent, ast.Subscript)
                    and child is not parent.value
                    and full_name(parent.value)[1].rpartition(".")[2] != "Literal"
                ):
                    return True
                if isinstance(parent, ast.Call) and full_name(parent.func)[1].rpartition(".")[2] in _TYPE_STRING_CALLS:
                    return True
                child, parent = parent, parents.get(parent)
            if parent is not None and _is_annotation_of(child, parent):
                return True
        return False

    def _scope_for(self, owner: ast.AST) -> _Scope:
        if isinstance(owner, ast.Module):
            return self._module_scope()
        kind = (
            "class"
            if isinstance(owner, ast.ClassDef)
            else "comprehension"
            if isinstance(owner, COMPREHENSIONS)
            else "function"
        )
        return self._scope_of(owner, kind, self._qualname_of(owner))

    def _module_scope(self) -> _Scope:
        return self._scope_of(self.tree, "module", "")

    def _binding_scope(self, name: ast.Name) -> _Scope | None:
        for scope in self._lookup_chain(name):
            if name.id in scope.global_names:
                return self._module_scope()
            if name.id in scope.nonlocal_names:
                continue
            if name.id in scope.bindings:
                return scope
        return None

    # --- which scopes a name is looked up in ------------------------------------

    def _lookup_chain(self, node: ast.AST) -> Iterator[_Scope]:
        """The scopes `node` is looked up in, innermost first. A class scope
        counts only for names directly in its body; what a definition
        evaluates outside its body (decorators, defaults, annotations, bases,
        a comprehension's first iterable) belongs to the scope around it."""
        parents = self._parents
        child, parent = node, parents.get(node)
        innermost = True
        in_first_iterable = False
        while parent is not None:
            scope = None
            if _in_body(child, parent):
                kind = "class" if isinstance(parent, ast.ClassDef) else "function"
                scope = self._scope_of(parent, kind, self._qualname_of(parent))
            elif isinstance(parent, COMPREHENSIONS) and not in_first_iterable:
                scope = self._scope_of(parent, "comprehension", self._qualname_of(parent))
            in_first_iterable = (
                isinstance(parent, ast.comprehension)
                and child is parent.iter
                and (outer := parents.get(parent)) is not None
                and isinstance(outer, COMPREHENSIONS)
                and outer.generators[0] is parent
            )
            if scope is not None:
                if scope.kind != "class" or innermost:
                    yield scope
                innermost = False
            child, parent = parent, parents.get(parent)
        yield self._module_scope()

    def _qualname_of(self, scope_node: ast.AST) -> str:
        names = []
        node: ast.AST | None = scope_node
        parents = self._parents
        while node is not None:
            if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
                names.append(node.name)
            elif isinstance(node, ast.Lambda):
                names.append("<lambda>")
            elif isinstance(node, COMPREHENSIONS):
                names.append("<comprehension>")
            parent = parents.get(node)
            if parent is not None and isinstance(parent, (*FUNCTIONS, ast.Lambda)) and _in_body(node, parent):
                names.append("<locals>")
            node = parent
        return ".".join(reversed(names))

    # --- what a scope binds -----------------------------------------------------

    def _scope_of(self, node: ast.AST, kind: str, qualname: str) -> _Scope:
        scope = self._scopes.get(id(node))
        if scope is None:
            scope = self._scopes[id(node)] = _Scope(node, kind, qualname)
            _collect_bindings(scope)
            if self._walrus_targets is None:
                # The parent map holds every node but the module: a scan of it
                # tells whether there is any `:=` at all, most often not, more
                # cheaply than walking the tree; the walk gives source order.
                walruses = any(type(n) is ast.NamedExpr for n in self._parents)
                self._walrus_targets = [n for n in walk(self.tree) if isinstance(n, ast.NamedExpr)] if walruses else []
            for walrus in self._walrus_targets:
                if self._walrus_scope_node(walrus) is node:
                    _bind_target(scope, walrus.target)
        return scope

    def _walrus_scope_node(self, walrus: ast.NamedExpr) -> ast.AST:
        """Where `(x := ...)` binds `x`: the enclosing function, class or module (comprehensions do not count)."""
        parents = self._parents
        child: ast.AST = walrus
        parent = parents.get(walrus)
        while parent is not None:
            if _in_body(child, parent):
                return parent
            child, parent = parent, parents.get(parent)
        return self.tree


def _in_body(child: ast.AST, parent: ast.AST) -> bool:
    """Whether `child` is part of the body of the function, class or lambda `parent`."""
    if isinstance(parent, ast.Lambda):
        return child is parent.body
    if isinstance(parent, (*FUNCTIONS, ast.ClassDef)):
        return isinstance(child, ast.stmt) and any(statement is child for statement in parent.body)
    return False


def _is_annotation_of(child: ast.AST, parent: ast.AST) -> bool:
    if isinstance(parent, (ast.arg, ast.AnnAssign)):
        return parent.annotation is child
    return isinstance(parent, FUNCTIONS) and parent.returns is child


def _imported_name(imported: str, full: str) -> str:
    """`imported` is "<real dotted name>\\0<local dotted name>"; `full` through it, or "" if it does not apply."""
    real, _, local = imported.partition("\0")
    if full == local:
        return real
    if full.startswith(local + "."):
        return real + full[len(local) :]
    return ""


def _collect_bindings(scope: _Scope) -> None:
    node = scope.node
    roots: list[ast.AST]
    if isinstance(node, ast.Module):
        roots = list(node.body)
    elif isinstance(node, COMPREHENSIONS):
        roots = []
        for generator in node.generators:
            _bind_target(scope, generator.target)
    elif isinstance(node, ast.Lambda):
        roots = []
        _bind_arguments(scope, node.args)
    elif isinstance(node, FUNCTIONS):
        _bind_arguments(scope, node.args)
        roots = list(node.body)
    elif isinstance(node, ast.ClassDef):
        roots = list(node.body)
    else:
        roots = []
    # Statements only: an expression binds nothing but a walrus target (NameResolver._scope_of adds those).
    stack = list(reversed(roots))
    while stack:
        current = stack.pop()
        if _binds(scope, current):
            continue  # a nested scope or an import: nothing more to bind inside
        stack.extend(child for child in reversed(children(current)) if isinstance(child, _STATEMENT_PARTS))


def _bind_arguments(scope: _Scope, arguments: ast.arguments) -> None:
    for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        scope.bind(arg.arg)
    for star in (arguments.vararg, arguments.kwarg):
        if star is not None:
            scope.bind(star.arg)


def _binds(scope: _Scope, node: ast.AST) -> bool:
    """Record what `node` binds in `scope`; True when `node` opens a nested
    scope whose inside is not ours, or binds nothing more inside."""
    if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
        scope.bind(node.name)
        return True
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname is not None:
                local, imported = alias.asname, f"{alias.name}\0{alias.asname}"
            else:  # `import a.b` binds `a`, the package itself
                local = alias.name.partition(".")[0]
                imported = f"{local}\0{local}"
            scope.bind(local, imported)
            scope.imports.setdefault(local, []).append(node)
        return True
    if isinstance(node, ast.ImportFrom):
        base = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                continue
            local = alias.asname or alias.name
            real = f"{base}{alias.name}" if base.endswith(".") else f"{base}.{alias.name}"
            scope.bind(local, f"{real}\0{local}")
            scope.imports.setdefault(local, []).append(node)
        return True
    if isinstance(node, ast.Global):
        scope.global_names.update(node.names)
    elif isinstance(node, ast.Nonlocal):
        scope.nonlocal_names.update(node.names)
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            _bind_target(scope, target)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        _bind_target(scope, node.target)
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        _bind_target(scope, node.optional_vars)
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name is not None:
        scope.bind(node.name)
    elif isinstance(node, ast.MatchMapping) and node.rest is not None:
        scope.bind(node.rest)
    return False


def _bind_target(scope: _Scope, target: ast.AST) -> None:
    if isinstance(target, ast.Name):
        scope.bind(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            _bind_target(scope, element)
    elif isinstance(target, ast.Starred):
        _bind_target(scope, target.value)
