"""What a name in a LibCST tree refers to, without LibCST's scope analysis.

Rules ask "is this call `chatapp.registry.get_agent_registry`?" for a handful
of candidate nodes per file. LibCST's QualifiedNameProvider answers by
analysing every scope, access and assignment of the whole file first, which
cost more than parsing it. This resolver answers the same question from the
bindings of only the scopes around the asked-for node: the imports,
definitions and assignments of the module and of the enclosing functions,
classes, lambdas and comprehensions, with Python's rules (class scopes are
not seen from nested functions; `global` and `nonlocal` redirect).

The same scopes answer what LibCST's ScopeProvider was asked for: how
often a name is bound in a scope, and which names read that binding.

Names come back in LibCST's spelling, so nothing downstream changes: an
import gives the imported dotted name (relative ones keep their dots), a
binding of this module gives `Name` / `Class.attr`, a function local gives
`func.<locals>.name`, a builtin `builtins.name`, and an unbound name nothing.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import libcst as cst  # this module is imported only once a file is parsed

from .traversal import children, walk

BUILTIN_NAMES = frozenset(dir(builtins))
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_STATEMENT_PARTS = (
    cst.BaseSuite,
    cst.BaseStatement,
    cst.BaseSmallStatement,
    cst.Else,
    cst.Finally,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.WithItem,
    cst.MatchCase,
    cst.MatchPattern,
)
# Where a node is a binding target rather than a read.
_TARGET_FIELDS: dict[type[object], str] = {
    cst.AssignTarget: "target",
    cst.AnnAssign: "target",
    cst.AugAssign: "target",
    cst.For: "target",
    cst.CompFor: "target",
    cst.NamedExpr: "target",
    cst.AsName: "name",
    cst.Param: "name",
    cst.FunctionDef: "name",
    cst.ClassDef: "name",
    cst.MatchAs: "name",
    cst.MatchStar: "name",
}


@dataclass
class _Scope:
    node: Any  # Module, FunctionDef, ClassDef, Lambda or a comprehension
    kind: str  # "module", "function", "class" or "comprehension"
    qualname: str  # LibCST's prefix for this scope's own bindings
    bindings: dict[str, list[str | None]] = field(default_factory=dict)  # name -> imported dotted names / None (local)
    global_names: set[str] = field(default_factory=set)
    nonlocal_names: set[str] = field(default_factory=set)
    imports: dict[str, list[Any]] = field(default_factory=dict)  # name -> the Import/ImportFrom statements binding it

    def bind(self, name: str, imported: str | None = None) -> None:
        self.bindings.setdefault(name, []).append(imported)

    def local_name(self, name: str) -> str:
        if self.kind == "module":
            return name
        if self.kind == "function":
            return f"{self.qualname}.<locals>.{name}"
        return f"{self.qualname}.{name}"


class NameResolver:
    """Qualified names of Name and Attribute nodes of one module (see the module docstring)."""

    def __init__(self, module: cst.Module, parents: Callable[[], dict[int, Any]]) -> None:
        self.module = module
        self._parents = parents  # the file's parent map (FileContext.parents), built on first use
        self._walrus_targets: list[Any] | None = None
        self._scopes: dict[int, _Scope] = {}

    def qualified_names(self, node: Any) -> set[tuple[str, bool]]:
        """(dotted name, is it a binding of this module) pairs `node` may refer to."""
        head, full = _full_name(node)
        if head is None or not self._is_reference(head):
            return set()
        for scope in self._lookup_chain(head):
            if head.value in scope.global_names:
                scope = self._scope_of(self.module, "module", "")
            elif head.value in scope.nonlocal_names:
                continue
            bound = scope.bindings.get(head.value)
            if bound is None:
                continue
            names = set()
            for imported in bound:
                if imported is None:
                    names.add((scope.local_name(full), True))
                elif real := _imported_name(imported, full):
                    names.add((real, False))
            return names
        return {(f"builtins.{head.value}", False)} if head.value in BUILTIN_NAMES else set()

    # --- bindings and their readers (what LibCST's ScopeProvider was asked) -------

    def binding_count(self, owner: Any, name: str) -> int:
        """How many times `name` is bound (assigned, imported, a parameter, ...)
        in the scope `owner` (a Module, FunctionDef or ClassDef) opens."""
        return len(self._scope_for(owner).bindings.get(name, ()))

    def imports_of(self, owner: Any, name: str) -> list[Any]:
        """The Import/ImportFrom statements that bind `name` in `owner`'s scope."""
        return list(self._scope_for(owner).imports.get(name, ()))

    def innermost_owner(self, node: Any) -> Any:
        """The Module, FunctionDef, ClassDef, Lambda or comprehension whose scope `node` is evaluated in."""
        return next(iter(self._lookup_chain(node))).node

    def reads(self, owner: Any, name: str) -> list[Any]:
        """The Name nodes that read `name` as `owner`'s scope binds it: loads and
        deletions, in nested scopes too where they do not rebind it. Names in
        string annotations are not included (see `in_string_annotation`)."""
        scope = self._scope_for(owner)
        found = []
        for node in walk(owner):
            if (
                isinstance(node, cst.Name)
                and node.value == name
                and self._is_reference(node)
                and not self._is_attribute_name(node)
                and not self._is_store(node)
                and self._binding_scope(node) is scope
            ):
                found.append(node)
        return found

    def in_string_annotation(self, owner: Any, name: str) -> bool:
        """Whether a string under `owner` that can be a type spells `name`:
        strings in annotations, in subscripts (`Optional["T"]`, except
        `Literal[...]`) and in `cast` / `TypeVar` / `NewType` arguments, as
        LibCST's scope analysis reads them. A docstring does not count."""
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        parents = self._parent_map()
        for node in walk(owner):
            if not (isinstance(node, (cst.SimpleString, cst.FormattedStringText)) and pattern.search(node.value)):
                continue
            child, parent = node, parents.get(id(node))
            while parent is not None and not isinstance(parent, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                if isinstance(parent, cst.Annotation):
                    return True
                if (
                    isinstance(parent, cst.Subscript)
                    and child is not parent.value
                    and _full_name(parent.value)[1].rpartition(".")[2] != "Literal"
                ):
                    return True
                if isinstance(parent, cst.Call) and _full_name(parent.func)[1].rpartition(".")[2] in (
                    "cast",
                    "TypeVar",
                    "NewType",
                ):
                    return True
                child, parent = parent, parents.get(id(parent))
        return False

    def _scope_for(self, owner: Any) -> _Scope:
        if isinstance(owner, cst.Module):
            return self._scope_of(owner, "module", "")
        kind = (
            "class"
            if isinstance(owner, cst.ClassDef)
            else "comprehension"
            if isinstance(owner, _COMPREHENSIONS)
            else "function"
        )
        return self._scope_of(owner, kind, self._qualname_of(owner))

    def _binding_scope(self, name: Any) -> _Scope | None:
        for scope in self._lookup_chain(name):
            if name.value in scope.global_names:
                return self._scope_of(self.module, "module", "")
            if name.value in scope.nonlocal_names:
                continue
            if name.value in scope.bindings:
                return scope
        return None

    def _is_attribute_name(self, name: Any) -> bool:
        parent = self._parent_map().get(id(name))
        return isinstance(parent, cst.Attribute) and parent.attr is name

    def _is_store(self, name: Any) -> bool:
        """Whether `name` is a binding target (an assignment's, a loop's, a parameter, ...), not a read."""
        parents = self._parent_map()
        child, parent = name, parents.get(id(name))
        while isinstance(parent, (cst.Tuple, cst.List, cst.StarredElement, cst.Element)):
            child, parent = parent, parents.get(id(parent))
        target = _TARGET_FIELDS.get(type(parent))
        return target is not None and getattr(parent, target) is child

    def _is_reference(self, name: Any) -> bool:
        """False for names that only spell something: what an import, `global`
        or `nonlocal` binds, and keyword-argument names (LibCST names none of them)."""
        parents = self._parent_map()
        parent = parents.get(id(name))
        if (isinstance(parent, cst.Arg) and parent.keyword is name) or isinstance(parent, cst.NameItem):
            return False
        while isinstance(parent, (cst.Attribute, cst.ImportAlias, cst.AsName)):
            parent = parents.get(id(parent))
        return not isinstance(parent, (cst.Import, cst.ImportFrom))

    # --- which scopes a name is looked up in ------------------------------------

    def _lookup_chain(self, name: Any) -> Iterator[_Scope]:
        """The scopes `name` is looked up in, innermost first. A class scope
        counts only for names directly in its body; what a definition
        evaluates outside its body (decorators, defaults, annotations, bases,
        a comprehension's first iterable) belongs to the scope around it."""
        parents = self._parent_map()
        child, parent = name, parents.get(id(name))
        innermost = True
        first_iterable = False
        while parent is not None:
            scope = None
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and child is parent.body:
                kind = "class" if isinstance(parent, cst.ClassDef) else "function"
                scope = self._scope_of(parent, kind, self._qualname_of(parent))
            elif isinstance(parent, _COMPREHENSIONS) and not first_iterable:
                scope = self._scope_of(parent, "comprehension", self._qualname_of(parent))
            first_iterable = (
                isinstance(parent, cst.CompFor)
                and child is parent.iter
                and parent is getattr(parents.get(id(parent)), "for_in", None)
            )
            if scope is not None:
                if scope.kind != "class" or innermost:
                    yield scope
                innermost = False
            child, parent = parent, parents.get(id(parent))
        yield self._scope_of(self.module, "module", "")

    def _qualname_of(self, scope_node: Any) -> str:
        names = []
        node = scope_node
        parents = self._parent_map()
        while node is not None:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                names.append(node.name.value)
            elif isinstance(node, cst.Lambda):
                names.append("<lambda>")
            elif isinstance(node, _COMPREHENSIONS):
                names.append("<comprehension>")
            parent = parents.get(id(node))
            if isinstance(parent, (cst.FunctionDef, cst.Lambda)) and node is parent.body:
                names.append("<locals>")
            node = parent
        return ".".join(reversed(names))

    def _parent_map(self) -> dict[int, Any]:
        return self._parents()

    # --- what a scope binds -----------------------------------------------------

    def _scope_of(self, node: Any, kind: str, qualname: str) -> _Scope:
        scope = self._scopes.get(id(node))
        if scope is None:
            scope = self._scopes[id(node)] = _Scope(node, kind, qualname)
            _collect_bindings(scope)
            if self._walrus_targets is None:
                # A NamedExpr always has children, so every one is some node's parent.
                self._walrus_targets = [
                    p for p in {id(p): p for p in self._parent_map().values()}.values() if isinstance(p, cst.NamedExpr)
                ]
            for walrus in self._walrus_targets:
                if self._binding_scope_node(walrus) is node:
                    _bind_target(scope, walrus.target)
        return scope

    def _binding_scope_node(self, walrus: Any) -> Any:
        """Where `(x := ...)` binds `x`: the enclosing function, class or module (comprehensions do not count)."""
        parents = self._parent_map()
        child, parent = walrus, parents.get(id(walrus))
        while parent is not None:
            if isinstance(parent, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) and child is parent.body:
                return parent
            child, parent = parent, parents.get(id(parent))
        return self.module


def _full_name(node: Any) -> tuple[Any, str]:
    """(the Name a chain starts from, its dotted spelling), reading through
    calls and subscripts as LibCST does: `get_registry().agents` is
    `get_registry.agents`. (None, "") when it does not start from a name."""
    parts: list[str] = []
    while True:
        if isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        elif isinstance(node, cst.Call):
            node = node.func
        elif isinstance(node, cst.Subscript):
            node = node.value
        elif isinstance(node, cst.Decorator):
            node = node.decorator
        elif isinstance(node, cst.Name):
            return node, ".".join([node.value, *reversed(parts)])
        else:
            return None, ""


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
    if scope.kind == "module":
        roots: list[Any] = list(node.body)
    elif scope.kind == "comprehension":
        roots = []
        for_in = node.for_in
        while for_in is not None:
            _bind_target(scope, for_in.target)
            for_in = for_in.inner_for_in
    elif isinstance(node, cst.Lambda):
        roots = []
        _bind_params(scope, node.params)
    else:
        if isinstance(node, cst.FunctionDef):
            _bind_params(scope, node.params)
        roots = [node.body]
    # Statements only: an expression binds nothing but a walrus target (NameResolver._scope_of adds those).
    stack = list(reversed(roots))
    while stack:
        current = stack.pop()
        if _binds(scope, current):
            continue  # a nested scope or an import: nothing more to bind inside
        stack.extend(child for child in reversed(children(current)) if isinstance(child, _STATEMENT_PARTS))


def _bind_params(scope: _Scope, params: Any) -> None:
    for group in (params.posonly_params, params.params, params.kwonly_params):
        for param in group:
            scope.bind(param.name.value)
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            scope.bind(star.name.value)


def _binds(scope: _Scope, node: Any) -> bool:
    """Record what `node` binds in `scope`; True when `node` opens a nested
    scope whose inside is not ours."""
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        scope.bind(node.name.value)
        # Decorators, defaults, annotations and bases run in this scope, but only walrus targets there could bind.
        return True
    if isinstance(node, (cst.Lambda, *_COMPREHENSIONS)):
        return True
    if isinstance(node, cst.Import):
        for alias in node.names:
            dotted = _dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local, imported = alias.asname.name.value, f"{dotted}\0{alias.asname.name.value}"
            else:  # `import a.b` binds `a`, the package itself
                local = dotted.partition(".")[0]
                imported = f"{local}\0{local}"
            scope.bind(local, imported)
            scope.imports.setdefault(local, []).append(node)
        return True
    if isinstance(node, cst.ImportFrom):
        if isinstance(node.names, cst.ImportStar):
            return True
        base = "." * len(node.relative) + (_dotted(node.module) if node.module is not None else "")
        for alias in node.names:
            name = _dotted(alias.name)
            local = (
                alias.asname.name.value
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name)
                else name
            )
            real = f"{base}{name}" if base.endswith(".") else f"{base}.{name}"
            scope.bind(local, f"{real}\0{local}")
            scope.imports.setdefault(local, []).append(node)
        return True
    if isinstance(node, cst.Global):
        scope.global_names.update(item.name.value for item in node.names)
    elif isinstance(node, cst.Nonlocal):
        scope.nonlocal_names.update(item.name.value for item in node.names)
    elif isinstance(node, cst.Assign):
        for target in node.targets:
            _bind_target(scope, target.target)
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For)):
        _bind_target(scope, node.target)
    elif isinstance(node, cst.WithItem) and node.asname is not None:
        _bind_target(scope, node.asname.name)
    elif isinstance(node, cst.ExceptHandler) and node.name is not None:
        _bind_target(scope, node.name.name)
    elif isinstance(node, (cst.MatchAs, cst.MatchStar)) and node.name is not None:
        _bind_target(scope, node.name)
    return False


def _bind_target(scope: _Scope, target: Any) -> None:
    if isinstance(target, cst.Name):
        scope.bind(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _bind_target(scope, element.value)
    elif isinstance(target, cst.StarredElement):
        _bind_target(scope, target.value)


def _dotted(node: Any) -> str:
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    parts.append(node.value)
    return ".".join(reversed(parts))
