"""The legacy-state family's LibCST analysis, for the rules still on LibCST
(ISO405, ISO407): which names in a file refer to a legacy class, which
variables hold legacy state, and how a field of it is used. The `ast` analysis
of the other rules is in `references.py`."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...traversal import children, walk
from .edits import bound_name, dotted, parse_string_annotation, rewrite_annotation, union_members
from .family import OPTIONAL_NAMES, REEXPORT, UNION_NAMES, absolute_module, resolves_to_legacy

if TYPE_CHECKING:
    from ...index import ProjectIndex
    from ..base import FileContext


def signature_facts(project: Any, kind: str, func: Any) -> list[Any]:
    """The index facts of `kind` for what a call's `func` names: a function by its
    name (`f(...)`), a method by its attribute (`x.f(...)`)."""
    if isinstance(func, cst.Name):
        name, method = func.value, False
    elif isinstance(func, cst.Attribute):
        name, method = func.attr.value, True
    else:
        return []
    return [fact for fact in project.of_kind(kind) if fact.name == name and fact.data["method"] == method]


# --- recognising references in one file ---------------------------------------


class LegacyNames:
    """What in one file refers to a legacy class; built once per file."""

    def __init__(self, file: FileContext) -> None:
        settings = file.settings
        self.classes = frozenset(settings.legacy_state["classes"])
        self.context_name = settings.context_name
        self.local: dict[str, str] = {}  # alias bound in this file -> the legacy class
        self.class_bodies: set[Any] = set()  # the legacy classes' own definitions
        project = file.project
        for node in walk(file.module):
            if isinstance(node, cst.ClassDef) and node.name.value in self.classes:
                self.class_bodies.add(node)
            elif isinstance(node, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
                module = absolute_module(
                    dotted(node.module) if node.module is not None else "",
                    len(node.relative),
                    file.module_name,
                    file.is_package,
                )
                for alias in node.names:
                    name = alias.name.value if isinstance(alias.name, cst.Name) else None
                    if name is not None and resolves_to_legacy(project, self.classes, module, name):
                        self.local[bound_name(alias)] = (
                            name if name in self.classes else self._legacy_of(project, module, name)
                        )
        for statement in file.module.body:  # module-level `L = DeepAgentState`
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if (
                        isinstance(small, cst.Assign)
                        and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                        and self.is_reference(small.value)
                    ):
                        self.local[small.targets[0].target.value] = self.class_of(small.value)

    def _legacy_of(self, project: ProjectIndex, module: str, name: str) -> str:
        fact = project.get(REEXPORT, f"{module}.{name}")
        while fact is not None and fact.data["name"] not in self.classes:
            fact_module = fact.qualname.rpartition(".")[0]
            target = absolute_module(
                fact.data["module"], fact.data["level"], fact_module, fact.path.endswith("__init__.py")
            )
            fact = project.get(REEXPORT, f"{target}.{fact.data['name']}")
        return fact.data["name"] if fact is not None else name

    def is_reference(self, expr: Any) -> bool:
        if isinstance(expr, cst.Name):
            return expr.value in self.classes or expr.value in self.local
        if isinstance(expr, cst.Attribute):
            return expr.attr.value in self.classes
        return False

    def class_of(self, expr: Any) -> str:
        name = expr.value if isinstance(expr, cst.Name) else expr.attr.value
        return self.local.get(name, name)

    def rewrite_annotation(self, expr: Any) -> Any:
        return rewrite_annotation(expr, self.is_reference, self.context_name)

    def in_class_body(self, ancestors: Iterable[Any]) -> bool:
        return any(node in self.class_bodies for node in ancestors)

    # annotations ---------------------------------------------------------------

    def annotation_mentions(self, expr: Any) -> str | None:
        """The legacy class named anywhere in an annotation, strings included."""
        for node in walk(expr):
            if self.is_reference(node):
                return self.class_of(node)
            if isinstance(node, cst.SimpleString):
                parsed = parse_string_annotation(node)
                found = self.annotation_mentions(parsed) if parsed is not None else None
                if found:
                    return found
        return None

    def is_state_type(self, expr: Any) -> bool:
        """Whether a value with this annotation is a legacy state object
        (the class itself, optional, in a union, quoted)."""
        return _types_in(expr, self.is_reference)

    def is_context_type(self, expr: Any) -> bool:
        return _types_in(expr, lambda node: _last_name(node) == self.context_name)


_CACHE: weakref.WeakKeyDictionary[Any, LegacyNames] = weakref.WeakKeyDictionary()


def legacy_names(file: FileContext) -> LegacyNames:
    """The file's LegacyNames, shared by every rule of the family checking it."""
    names = _CACHE.get(file)
    if names is None:
        names = _CACHE[file] = LegacyNames(file)
    return names


def _types_in(expr: Any, matches: Callable[[Any], bool]) -> bool:
    if matches(expr):
        return True
    if isinstance(expr, cst.SimpleString):
        parsed = parse_string_annotation(expr)
        return parsed is not None and _types_in(parsed, matches)
    if isinstance(expr, cst.Subscript) and dotted(expr.value) in (
        *UNION_NAMES,
        *OPTIONAL_NAMES,
        "Annotated",
        "typing.Annotated",
    ):
        inner = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        if dotted(expr.value) in ("Annotated", "typing.Annotated"):
            inner = inner[:1]
        return any(_types_in(e, matches) for e in inner)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return any(_types_in(m, matches) for m in union_members(expr))
    return False


def _last_name(node: Any) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


# --- values known to be legacy state ----------------------------------------


def is_construction(names: LegacyNames, call: Any, constructors: Iterable[str]) -> bool:
    """`DeepAgentState(...)` or `DeepAgentState.model_validate(...)`."""
    func = call.func
    if names.is_reference(func):
        return True
    return isinstance(func, cst.Attribute) and func.attr.value in constructors and names.is_reference(func.value)


def state_variables(names: LegacyNames, scope: Any, constructors: Iterable[str]) -> tuple[set[str], set[str]]:
    """(legacy state names, context names) bound in a function or module:
    parameters annotated with the class, annotated variables, and variables
    assigned from a construction. Nested functions and classes are their own scopes."""
    legacy: set[str] = set()
    context: set[str] = set()
    if isinstance(scope, cst.FunctionDef):
        params = scope.params
        for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if param.annotation is not None:
                if names.is_state_type(param.annotation.annotation):
                    legacy.add(param.name.value)
                elif names.is_context_type(param.annotation.annotation):
                    context.add(param.name.value)
    for node in _own_scope(scope):
        if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
            if names.is_state_type(node.annotation.annotation):
                legacy.add(node.target.value)
            elif names.is_context_type(node.annotation.annotation):
                context.add(node.target.value)
        elif (
            isinstance(node, cst.Assign)
            and isinstance(node.value, cst.Call)
            and is_construction(names, node.value, constructors)
        ):
            legacy.update(t.target.value for t in node.targets if isinstance(t.target, cst.Name))
    return legacy, context


def _own_scope(scope: Any) -> Iterator[Any]:
    body = scope.body if isinstance(scope, cst.FunctionDef) else scope
    stack = list(reversed(children(body)))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(reversed(children(node)))


# Methods that change a field in place: `state.messages.append(...)` is a write
# (ISO404's `mutating-methods` default; ISO405 judges a body's uses by them).
def classify_access(node: Any, parent: Callable[[Any], Any], mutating_methods: Iterable[str]) -> str:
    """How `<state>.<attr>` (an Attribute) is used: "read", "write" (assigned,
    deleted, or mutated in place) or "call" (a method of the state is called)."""
    up = parent(node)
    if isinstance(up, cst.Call) and up.func is node:
        return "call"
    if _is_target(node, parent):
        return "write"
    if isinstance(up, cst.Attribute) and up.value is node:
        above = parent(up)
        if isinstance(above, cst.Call) and above.func is up and up.attr.value in mutating_methods:
            return "write"
        if _is_target(up, parent):
            return "write"
    if isinstance(up, cst.Subscript) and up.value is node and _is_target(up, parent):
        return "write"
    return "read"


def _is_target(node: Any, parent: Callable[[Any], Any]) -> bool:
    up = parent(node)
    while isinstance(up, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
        node, up = up, parent(up)
    if isinstance(up, cst.AssignTarget):
        return up.target is node
    if isinstance(up, (cst.AnnAssign, cst.AugAssign)):
        return up.target is node
    if isinstance(up, cst.Del):
        return up.target is node
    if isinstance(up, (cst.For, cst.CompFor)):
        return up.target is node
    return False


def key_quote(node: Any, parent: Callable[[Any], Any]) -> str:
    """The quote for a string literal written at `node`: inside a `f"..."`
    a double quote would end the f-string before Python 3.12."""
    up = parent(node)
    while up is not None:
        if isinstance(up, cst.FormattedString):
            return "'" if '"' in up.start else '"'
        up = parent(up)
    return '"'
