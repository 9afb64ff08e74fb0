"""The singleton family's one analysis on `ast`: what its rules report, and
(what it finds at module level) the facts the project index records.

`singleton_class` (ISO101), `lazy_global` (ISO102) and `cached_getter`
(ISO105) each serve their rule, in any scope of the checked file, and their
fact kind (see `family`); `can_uncache` decides whether a per-call fix exists.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...scopes import FUNCTIONS
from .._helpers import matches_patterns
from ..ast_context import AstFile
from ..ast_helpers import decorator_names, first_param_name, last_name
from .family import (
    ACCESSOR_METHODS,
    CACHE_DECORATORS,
    COMPOUND_STATEMENTS,
    DEFAULT_INSTANCE_ATTRIBUTES,
    ENUM_BASES,
    IMMUTABLE_BASES,
    KIND_ACCESSOR,
    KIND_CACHED_GETTER,
    KIND_CLASS,
    AccessorFact,
    CachedGetterFact,
    ClassFact,
    FactRow,
    Function,
    immutable_annotation,
    immutable_classes,
    immutable_value,
    walk,
    walk_body,
)

if TYPE_CHECKING:
    from ...config import Settings


# --- classes caching their own instance (ISO101) --------------------------------------------


@dataclass(frozen=True)
class CachingMethod:
    """A method storing its class's own instance in `attribute`, as `role`
    ("new", "accessor" or "static-setter", see `method_role`)."""

    method: Function
    attribute: str
    role: str

    def receivers(self, class_name: str) -> set[str]:
        return cache_receivers(self.method, self.role, class_name)


def cache_receivers(method: Function, role: str, class_name: str) -> set[str]:
    """Names through which a method in `role` reaches its class: the class's name, and `cls`."""
    receivers = {class_name}
    first = first_param_name(method)
    if first and (role == "new" or "classmethod" in decorator_names(method)):
        receivers.add(first)
    return receivers


@dataclass(frozen=True)
class SingletonEvidence:
    """Why a class hands out one shared instance (ISO101)."""

    node: ast.ClassDef
    decorator: ast.expr | None  # `@singleton`
    metaclass: ast.keyword | None  # `metaclass=Singleton`
    caching: tuple[CachingMethod, ...]

    @property
    def shared_construction(self) -> bool:
        """Whether `Class()` itself returns the shared object."""
        return self.decorator is not None or self.metaclass is not None or any(c.role == "new" for c in self.caching)

    @property
    def accessors(self) -> list[str]:
        return [c.method.name for c in self.caching if c.role == "accessor"]


def singleton_class(node: ast.ClassDef, attributes: Iterable[str]) -> SingletonEvidence | None:
    """The class as a singleton, or None if it does not cache its instance."""
    decorator = next(
        (d for d in node.decorator_list if last_name(d.func if isinstance(d, ast.Call) else d) == "singleton"), None
    )
    metaclass = next(
        (k for k in node.keywords if k.arg == "metaclass" and is_singleton_metaclass(last_name(k.value))), None
    )
    caching = tuple(_caching_methods(node, set(attributes)))
    if decorator is None and metaclass is None and not caching:
        return None
    return SingletonEvidence(node, decorator, metaclass, caching)


def _caching_methods(node: ast.ClassDef, attributes: set[str]) -> Iterator[CachingMethod]:
    bases = {name for name in (last_name(b) for b in node.bases) if name}
    for method in node.body:
        if not isinstance(method, FUNCTIONS):
            continue
        role = method_role(method.name, decorator_names(method), bases)
        if role is None:
            continue
        attribute = _cache_attribute(method, cache_receivers(method, role, node.name), attributes)
        if attribute:
            yield CachingMethod(method, attribute, role)


def method_role(name: str, decorators: set[str], bases: set[str]) -> str | None:
    """How a class's method can cache the class's own instance: "new"
    (`__new__`), "accessor" (a get_instance-style class/static method) or
    "static-setter" (any staticmethod storing it on the class); None if it cannot."""
    if name == "__new__":
        return None if bases & (ENUM_BASES | IMMUTABLE_BASES) else "new"
    if decorators & {"classmethod", "staticmethod"} and name in ACCESSOR_METHODS:
        return "accessor"
    if "staticmethod" in decorators:
        return "static-setter"
    return None


def is_cache_ref(node: ast.AST, receivers: set[str], attributes: set[str]) -> bool:
    """`cls._instance` / `Registry._instances` for one of `receivers`."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr in attributes
        and isinstance(node.value, ast.Name)
        and node.value.id in receivers
    )


def _cache_attribute(method: Function, receivers: set[str], attributes: set[str]) -> str | None:
    """The cache attribute `method` stores a value (not None) into: `cls._instance = ...`."""
    for node in walk_body(method.body):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        for target in targets:
            if isinstance(target, ast.Subscript):
                target = target.value
            if isinstance(target, ast.Attribute) and is_cache_ref(target, receivers, attributes):
                return target.attr
    return None


def is_singleton_metaclass(name: str | None) -> bool:
    return name is not None and "Singleton" in name


def class_facts(tree: ast.Module, attributes: Iterable[str]) -> Iterator[FactRow]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and (found := singleton_class(node, attributes)) is not None:
            data = ClassFact(tuple(found.accessors), found.shared_construction).to_data()
            yield KIND_CLASS, node.name, node.lineno, data


# --- accessors caching in a module global (ISO102) -------------------------------------------


def lazy_global(function: Function, immutables: frozenset[str]) -> tuple[str, ast.expr] | None:
    """(global name, the value it is lazily set to) for a lazy accessor:
    `if _x is None: _x = X()` or `_x = _x or X()`, then `return _x`. Not for
    an immutable value (a string, a flag, a compiled pattern, one of the
    module's `immutables`; by the value or by the function's return
    annotation): sharing one is harmless, and ISO102 then judges the
    function as a setter."""
    found = _lazy_global(function)
    if found is None or immutable_value(found[1], immutables) or immutable_annotation(function.returns, immutables):
        return None
    return found


def file_immutables(file: AstFile) -> frozenset[str]:
    """`immutable_classes` of the file, computed once (`AstFile.shared`)."""
    return immutable_classes(file.tree)


def _lazy_global(function: Function) -> tuple[str, ast.expr] | None:
    declared = {name for node in walk_body(function.body) if isinstance(node, ast.Global) for name in node.names}
    if not declared:
        return None
    returned = {
        node.value.id
        for node in walk_body(function.body)
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Name)
    }
    candidates = declared & returned
    for node in walk_body(function.body):
        if isinstance(node, ast.If) and (name := none_checked_name(node.test)) in candidates:
            value = _assigned_value(node.body, name)
            if value is not None:
                return name, value
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in candidates
            and isinstance(node.value, ast.BoolOp)
            and isinstance(node.value.op, ast.Or)
            and len(node.value.values) == 2
            and isinstance(node.value.values[0], ast.Name)
            and node.value.values[0].id == node.targets[0].id
        ):
            return node.targets[0].id, node.value.values[1]
    return None


def none_checked_name(test: ast.expr) -> str | None:
    """`X` in `X is None`, `X == None` or `not X`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Name):
        return test.operand.id
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and len(test.ops) == 1
        and isinstance(test.ops[0], (ast.Is, ast.Eq))
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return test.left.id
    return None


def _assigned_value(block: list[ast.stmt], name: str) -> ast.expr | None:
    for node in walk_body(block):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return node.value
    return None


def class_like(name: str | None) -> str | None:
    """`name` if it reads as a class (CapWords), for the facts' "returns"."""
    return name if name and name[:1].isupper() else None


def created_class(value: ast.expr) -> str | None:
    """`X` for a lazily set value `X(...)` / `mod.X(...)`."""
    return last_name(value.func) if isinstance(value, ast.Call) else None


def module_functions(tree: ast.Module) -> Iterator[tuple[str, Function]]:
    """Module functions, and static/class methods of module classes, by name within the module."""
    for node in tree.body:
        if isinstance(node, FUNCTIONS):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for method in node.body:
                if isinstance(method, FUNCTIONS) and decorator_names(method) & {"staticmethod", "classmethod"}:
                    yield f"{node.name}.{method.name}", method


def accessor_facts(tree: ast.Module) -> Iterator[FactRow]:
    # The default cache attributes, not ISO101's option: what delegating accessors hand out.
    classes = {
        node.name: found
        for node in tree.body
        if isinstance(node, ast.ClassDef) and (found := singleton_class(node, DEFAULT_INSTANCE_ATTRIBUTES))
    }
    immutables = immutable_classes(tree)
    for name, function in module_functions(tree):
        lazy = lazy_global(function, immutables)
        if lazy is not None:
            global_name, value = lazy
            data = AccessorFact(class_like(created_class(value)), global_name, "lazy-global").to_data()
            yield KIND_ACCESSOR, name, function.lineno, data
            continue
        if "." in name:
            continue  # a class's own accessor is its class fact
        body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call):
            delegated = _delegated_class(body[0].value.func, classes)
            if delegated:
                yield KIND_ACCESSOR, name, function.lineno, AccessorFact(delegated, None, "delegates").to_data()


def _delegated_class(func: ast.expr, classes: dict[str, SingletonEvidence]) -> str | None:
    """The singleton class `func` hands out: `Registry.get_instance` or a shared `Manager`."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        found = classes.get(func.value.id)
        return func.value.id if found and func.attr in found.accessors else None
    if isinstance(func, ast.Name):
        found = classes.get(func.id)
        return func.id if found and found.shared_construction else None
    return None


# --- cached zero-argument getters (ISO105) ------------------------------------------------

CACHE_SPELLINGS = frozenset(name.rpartition(".")[2] for name in CACHE_DECORATORS)


@dataclass(frozen=True)
class CachedGetter:
    """A zero-argument function cached by functools that returns what it builds."""

    function: ast.FunctionDef
    decorator: ast.expr  # as written: `lru_cache(maxsize=None)`
    constructed: ast.Call

    @property
    def expression(self) -> ast.expr:
        """What the decorator names: `lru_cache` in `@lru_cache(maxsize=None)`."""
        return decorator_expression(self.decorator)

    @property
    def built(self) -> str | None:
        return last_name(self.constructed.func)


def cached_getter(function: Function, file: AstFile, allow: Iterable[str]) -> CachedGetter | None:
    """The getter, when `function` takes no arguments, is decorated with
    functools' cache and returns a call to something `allow` does not exempt."""
    arguments = function.args
    if not isinstance(function, ast.FunctionDef) or arguments.args or arguments.posonlyargs or arguments.kwonlyargs:
        return None
    if arguments.vararg or arguments.kwarg:
        return None
    decorator = next((d for d in function.decorator_list if _is_cache(decorator_expression(d), file)), None)
    if decorator is None:
        return None
    constructed = returned_call(function)
    immutables = file.shared(file_immutables)
    if (
        constructed is None
        or immutable_value(constructed, immutables)
        or immutable_annotation(function.returns, immutables)
    ):
        return None
    return None if _allowed(constructed.func, file, allow) else CachedGetter(function, decorator, constructed)


def decorator_expression(decorator: ast.expr) -> ast.expr:
    """`lru_cache` for `@lru_cache` and `@lru_cache(maxsize=None)`."""
    return decorator.func if isinstance(decorator, ast.Call) else decorator


def _is_cache(expression: ast.expr, file: AstFile) -> bool:
    # Resolving names costs a scope pass: only for `lru_cache`, `ft.cache` and `as` aliases.
    return file.may_be_named(expression, CACHE_SPELLINGS) and bool(file.qualified_names(expression) & CACHE_DECORATORS)


def _allowed(func: ast.expr, file: AstFile, allow: Iterable[str]) -> bool:
    return any(matches_patterns(candidate, allow) for candidate in {last_name(func) or "", *file.qualified_names(func)})


def returned_call(function: Function) -> ast.Call | None:
    """The call whose result `function` returns, directly or through a local name."""
    bound: dict[str, ast.expr] = {}
    for node in walk_body(function.body):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound[node.targets[0].id] = node.value
    for node in walk_body(function.body):
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Name):
                value = bound.get(value.id, value)
            if isinstance(value, ast.Call):
                return value
    return None


def indexed_file(
    tree: ast.Module, raw: bytes, settings: Settings, module: str = "", is_package: bool = False
) -> AstFile:
    """The file an indexer sees, as the rules see it, for the analysis that
    resolves names. Its module (`module`, `is_package`) matters only where
    relative imports or this module's own names do: an alias's callee, not
    functools."""
    return AstFile("", raw.decode("utf-8", "replace"), tree, settings, module_name=module, is_package=is_package)


def cached_getter_facts(file: AstFile, allow: Iterable[str]) -> Iterator[FactRow]:
    for node in file.tree.body:
        if isinstance(node, FUNCTIONS) and (found := cached_getter(node, file, allow)) is not None:
            yield KIND_CACHED_GETTER, node.name, node.lineno, CachedGetterFact(class_like(found.built)).to_data()


# --- what the per-call fixes can take apart ---------------------------------------------


def can_uncache(body: list[ast.stmt], is_ref: Callable[[ast.AST], bool]) -> bool:
    """Whether `uncache.uncache_body` can take the caching out of `body`: the
    shapes it understands, decided here on `ast` so that a plain check knows
    whether the fix exists. Guards testing the cache (an `if` without `else`)
    and locks around them unwrap, simple statements are rewritten; any other
    statement touching the cache (a loop, a `try`) is left to a person. (A
    `global` names its globals as strings, never a reference here.)"""
    for statement in body:
        if not any(is_ref(node) for node in walk(statement)):
            continue
        if (
            isinstance(statement, ast.If) and not statement.orelse and any(is_ref(n) for n in walk(statement.test))
        ) or (
            isinstance(statement, (ast.With, ast.AsyncWith)) and all(_is_lock(i.context_expr) for i in statement.items)
        ):
            inner = statement.body
        elif isinstance(statement, COMPOUND_STATEMENTS):
            return False
        else:
            continue
        header = statement.test if isinstance(statement, ast.If) else statement.items[-1].context_expr
        if inner[0].lineno == header.end_lineno and any(is_ref(node) for node in walk_body(inner)):
            return False  # `if _x is None: _x = X()` on one line: its statements are not lines to rewrite
        if not can_uncache(inner, is_ref):
            return False
    return True


def _is_lock(expression: ast.expr) -> bool:
    name = last_name(expression)
    return name is not None and "lock" in name.lower()
