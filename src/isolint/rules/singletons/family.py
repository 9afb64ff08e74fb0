"""The singleton family (ISO1xx): its configuration, vocabulary, and one analysis on `ast`.

The rules and the project index find singletons with the same functions
(`singleton_class`, `lazy_global`, `cached_getter`): a rule reports what they
find in any scope of the file being checked; the index keeps what they find
at module level, as facts other files resolve by qualified name:

- "singletons:class": a class caching its own instance (ISO101), e.g.
  `AgentRegistry`; data {"accessors": [methods returning the cached
  instance], "shared_construction": true when `Class()` itself returns the
  shared object (caching `__new__`, a Singleton metaclass, `@singleton`)}.
- "singletons:accessor": a function or static/class method handing out a
  process-wide object (ISO102), e.g. `get_websocket_manager`; data
  {"returns": the class it constructs or delegates to, or null, "global": the
  module global it caches in (null when it delegates), "how": "lazy-global"
  or "delegates" (it returns a same-module singleton class's accessor)}.
- "singletons:cached-getter": an `lru_cache`/`cache` zero-argument
  constructor function (ISO105); data {"returns": the class it constructs, or null}.
- "singletons:keyed-state-class" (see `keyed_state`) and
  "singletons:per-call" (see `per_call`).

Each kind has one producer (ISO101, ISO102, ISO105, ISO103, ISO106); every
indexer runs whichever rules are selected, so ISO103 and ISO106 read the others.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...ast_visit import source_order_children
from ...scopes import FUNCTIONS
from .._helpers import matches_patterns
from ..ast_context import AstFile, AstRule
from ..ast_helpers import decorator_names, first_param_name, last_name
from ..base import FixSpec

if TYPE_CHECKING:
    from ...config import Settings

KIND_CLASS = "singletons:class"
KIND_ACCESSOR = "singletons:accessor"
KIND_CACHED_GETTER = "singletons:cached-getter"
ACCESSOR_KINDS = (KIND_ACCESSOR, KIND_CACHED_GETTER)

FactRow = tuple[str, str, int, dict[str, Any]]
Function = ast.FunctionDef | ast.AsyncFunctionDef

# --- vocabulary ---------------------------------------------------------------------

DEFAULT_INSTANCE_ATTRIBUTES = ("_instance", "__instance", "_instances", "_singleton", "_shared_instance")
DEFAULT_GETTER_ALLOW = ("*Settings", "*Config", "*Configuration")
ACCESSOR_METHODS = ("get_instance", "instance", "get")
ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum"})
IMMUTABLE_BASES = frozenset({"str", "int", "float", "complex", "bytes", "tuple", "frozenset", "bool"})
CACHE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache"})
# Builtin calls whose result is an immutable value, not a service object.
BUILTIN_CONSTANTS = frozenset(
    {
        "bool",
        "bytes",
        "complex",
        "float",
        "frozenset",
        "int",
        "len",
        "max",
        "min",
        "range",
        "repr",
        "round",
        "str",
        "sum",
        "tuple",
    }
)
# Attributes that mark an instance as holding one user's or one run's data.
PER_RUN_ATTRIBUTES = frozenset({"user_id", "thread_id", "chat_thread_id", "run_id", "request_id"})

# Necessary conditions for a file to hold a fact of each kind.
# Every alternative starts with a literal (a leading `\b` or `[Ss]` would make
# `re` try every byte of every file); word starts are checked by lookbehinds.
CLASS_INDEX_PREFILTER = re.compile(
    rb"_instance|_singleton|Singleton|singleton|cls(?<!\wcls)\.\w+\s*(?:\[[^\n]*\]\s*)?=(?!=)"
)
ACCESSOR_INDEX_PREFILTER = re.compile(CLASS_INDEX_PREFILTER.pattern + rb"|global(?<!\wglobal)\s")
CACHED_INDEX_PREFILTER = re.compile(rb"(?:lru_cache(?<!\wlru_cache)|cache(?<!\wcache))\b")


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True)
class SingletonsConfig:
    """What the family's analysis and rules read from the settings, typed: the
    family table `[tool.isolint.singletons]` and each rule's resolved options
    (its own table `[rules.ISO1xx]` over the family's and the defaults)."""

    per_request_classes: tuple[str, ...]  # classes the per-call fixes may change
    instance_attributes: tuple[str, ...]  # ISO101: class attributes holding a cached instance
    service_suffixes: tuple[str, ...]  # ISO103: class-name endings of stateful services
    accessor_patterns: tuple[str, ...]  # ISO103: singleton accessor globs
    service_allow: tuple[str, ...]  # ISO103: never reported
    agent_classes: tuple[str, ...]  # ISO104
    register_methods: tuple[str, ...]  # ISO104: what puts an agent into a registry
    factory_method: str  # ISO104: the registry method the fix calls
    factory_registries: tuple[str, ...]  # ISO104: registries known to have it
    getter_allow: tuple[str, ...]  # ISO105: classes a cached getter may build

    @classmethod
    def from_settings(cls, settings: Settings) -> SingletonsConfig:
        rules = settings.rule_options
        iso103, iso104 = rules["ISO103"], rules["ISO104"]
        return cls(
            per_request_classes=tuple(settings.family_options("singletons")["per-request-classes"]),
            instance_attributes=tuple(rules["ISO101"]["instance-attributes"]),
            service_suffixes=tuple(iso103["service-suffixes"]),
            accessor_patterns=tuple(iso103["accessor-patterns"]),
            service_allow=tuple(iso103["allow"]),
            agent_classes=tuple(iso104["agent-classes"]),
            register_methods=tuple(iso104["register-methods"]),
            factory_method=iso104["factory-method"],
            factory_registries=tuple(iso104["factory-registries"]),
            getter_allow=tuple(rules["ISO105"]["allow"]),
        )


_last_config: tuple[Settings, SingletonsConfig] | None = None


def family_config(settings: Settings) -> SingletonsConfig:
    """The family's configuration for `settings`, built once per run (a run
    has one Settings; rules are instantiated per file)."""
    global _last_config
    if _last_config is None or _last_config[0] is not settings:
        _last_config = (settings, SingletonsConfig.from_settings(settings))
    return _last_config[1]


# --- the family's rules -------------------------------------------------------------


class SingletonsRule(AstRule):
    """What the family's rules share: they report `ast` nodes."""

    abstract_base = True

    def report(  # type: ignore[override]  # Rule.report names LibCST nodes; an AstRule reports `ast` ones
        self, node: ast.AST, message: str, *, fix: FixSpec | None = None, manual: str | None = None
    ) -> None:
        super().report(node, message, fix=fix, manual=manual)  # type: ignore[arg-type]


_DEFINITION_KEYWORDS = re.compile(r"(?:async[\s\\]+)?(?:def|class)[\s\\]+")


def name_node(definition: Function | ast.ClassDef, file: AstFile) -> ast.AST:
    """A node spanning the name of a function or class, which the family's
    findings point at (`ast` gives the name no node of its own; the whole
    definition spans its body). The definition itself if the name is not
    where the keyword says it is."""
    line = definition.lineno
    first_body_line = definition.body[0].lineno if definition.body else line
    text = "\n".join(file.lines[line - 1 : max(first_body_line, line)])
    start = file.column(line, definition.col_offset)
    keyword = _DEFINITION_KEYWORDS.match(text, start)
    if keyword is None or not text.startswith(definition.name, keyword.end()):
        return definition
    name_line = line + text.count("\n", 0, keyword.end())
    name_column = keyword.end() - (text.rfind("\n", 0, keyword.end()) + 1)
    prefix = file.lines[name_line - 1][:name_column].encode("utf-8", "surrogatepass")
    offset = len(prefix)  # `ast` columns are UTF-8 byte offsets
    name = ast.Name(id=definition.name, ctx=ast.Load())
    name.lineno, name.end_lineno = name_line, name_line
    name.col_offset, name.end_col_offset = offset, offset + len(definition.name.encode("utf-8", "surrogatepass"))
    return name


def spelled_names(node: ast.AST) -> Iterator[str]:
    """The identifiers written in `node`, in source order, as LibCST spells
    them with `Name` nodes: names, attribute and keyword names, parameters,
    and the names definitions, imports, `global` and `except ... as` bind."""
    for child in walk(node):
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr
        elif isinstance(child, ast.arg | ast.keyword | ast.ExceptHandler):
            name = child.arg if isinstance(child, ast.arg | ast.keyword) else child.name
            if name is not None:
                yield name
        elif isinstance(child, (*FUNCTIONS, ast.ClassDef)):
            yield child.name
        elif isinstance(child, ast.Global | ast.Nonlocal):
            yield from child.names
        elif isinstance(child, ast.alias):
            yield from child.name.split(".")
            if child.asname:
                yield child.asname


def enclosing_function(ancestors: list[ast.AST]) -> Function | None:
    """The innermost function around the node being visited (a lambda or class is looked through)."""
    return next((node for node in reversed(ancestors) if isinstance(node, FUNCTIONS)), None)


# --- walking ------------------------------------------------------------------------


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and its descendants, depth first in source order: the first
    match of a search is the first one the source writes."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(source_order_children(current)))


def walk_body(statements: Iterable[ast.stmt]) -> Iterator[ast.AST]:
    for statement in statements:
        yield from walk(statement)


# --- classes caching their own instance (ISO101) --------------------------------------------


@dataclass(frozen=True)
class CachingMethod:
    """A method storing its class's own instance in `attribute`, as `role`
    ("new", "accessor" or "static-setter", see `method_role`)."""

    method: Function
    attribute: str
    role: str

    def receivers(self, class_name: str) -> set[str]:
        """Names through which the method reaches the class: its name, and `cls`."""
        receivers = {class_name}
        first = first_param_name(self.method)
        if first and (self.role == "new" or "classmethod" in decorator_names(self.method)):
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
        receivers = CachingMethod(method, "", role).receivers(node.name)
        attribute = _cache_attribute(method, receivers, attributes)
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
            data = {"accessors": found.accessors, "shared_construction": found.shared_construction}
            yield KIND_CLASS, node.name, node.lineno, data


# --- accessors caching in a module global (ISO102) -------------------------------------------


def lazy_global(function: Function) -> tuple[str, ast.expr] | None:
    """(global name, the value it is lazily set to) for a lazy accessor:
    `if _x is None: _x = X()` or `_x = _x or X()`, then `return _x`."""
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


def _functions(tree: ast.Module) -> Iterator[tuple[str, Function]]:
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
    classes = {name: data for _, name, _, data in class_facts(tree, DEFAULT_INSTANCE_ATTRIBUTES)}
    for name, function in _functions(tree):
        lazy = lazy_global(function)
        if lazy is not None:
            global_name, value = lazy
            data = {"returns": class_like(created_class(value)), "global": global_name, "how": "lazy-global"}
            yield KIND_ACCESSOR, name, function.lineno, data
            continue
        if "." in name:
            continue  # a class's own accessor is its class fact
        body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call):
            delegated = _delegated_class(body[0].value.func, classes)
            if delegated:
                yield KIND_ACCESSOR, name, function.lineno, {"returns": delegated, "global": None, "how": "delegates"}


def _delegated_class(func: ast.expr, classes: dict[str, dict[str, Any]]) -> str | None:
    """The singleton class `func` hands out: `Registry.get_instance` or a shared `Manager`."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        data = classes.get(func.value.id)
        return func.value.id if data and func.attr in data["accessors"] else None
    if isinstance(func, ast.Name):
        data = classes.get(func.id)
        return func.id if data and data["shared_construction"] else None
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
    if constructed is None or _allowed(constructed.func, file, allow):
        return None
    return CachedGetter(function, decorator, constructed)


def decorator_expression(decorator: ast.expr) -> ast.expr:
    """`lru_cache` for `@lru_cache` and `@lru_cache(maxsize=None)`."""
    return decorator.func if isinstance(decorator, ast.Call) else decorator


def _is_cache(expression: ast.expr, file: AstFile) -> bool:
    # Resolving names costs a scope pass: only for `lru_cache`, `ft.cache` and `as` aliases.
    return file.may_be_named(expression, CACHE_SPELLINGS) and bool(file.qualified_names(expression) & CACHE_DECORATORS)


def _allowed(func: ast.expr, file: AstFile, allow: Iterable[str]) -> bool:
    name = last_name(func)
    if name in BUILTIN_CONSTANTS:
        return True
    return any(matches_patterns(candidate, allow) for candidate in {name or "", *file.qualified_names(func)})


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


def indexed_file(tree: ast.Module, raw: bytes, settings: Settings) -> AstFile:
    """The file an indexer sees, as the rules see it, for the analysis that
    resolves names (a module name only matters for relative imports, which
    never reach functools)."""
    return AstFile("", raw.decode("utf-8", "replace"), tree, settings)


def cached_getter_facts(file: AstFile, allow: Iterable[str]) -> Iterator[FactRow]:
    for node in file.tree.body:
        if isinstance(node, FUNCTIONS) and (found := cached_getter(node, file, allow)) is not None:
            yield KIND_CACHED_GETTER, node.name, node.lineno, {"returns": class_like(found.built)}


# --- what the per-call fixes can take apart ---------------------------------------------

_COMPOUND = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.Try,
    ast.TryStar,
    ast.With,
    ast.AsyncWith,
    ast.Match,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)


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
        elif isinstance(statement, _COMPOUND):
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


# --- which singletons may become per call -----------------------------------------


def holds_per_request_state(class_name: str | None, config: SingletonsConfig, class_node: ast.ClassDef | None) -> bool:
    """Whether a singleton of this class holds per-user state (an agent, a
    conversation), so one object per call is the fix; otherwise it is
    process-wide infrastructure (a registry, a connection manager, a limiter,
    a breaker, a pool, a locator, config), whose one object is its point."""
    if class_name is None:
        return False
    if matches_patterns(class_name, config.per_request_classes):
        return True
    if class_node is None:
        return False
    return any(
        isinstance(node, ast.Attribute)
        and node.attr in PER_RUN_ATTRIBUTES
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        for node in ast.walk(class_node)
    )


def module_class(tree: ast.Module, name: str | None) -> ast.ClassDef | None:
    """The module-level class `name` defined in this module, if any."""
    return next((s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == name), None)


def infrastructure_hint(class_name: str | None) -> str:
    what = f"`{class_name}`" if class_name else "The object"
    return (
        f"{what} looks like process-wide infrastructure (a registry, manager, limiter, breaker, pool, client or "
        "config): one shared object is its point, and one per call would split its state between callers (an "
        "acquire on one limiter, the release on another). No automatic fix: create it once at application start-up "
        "(the lifespan), keep it in app state and pass it in (dependency injection), and keep per-user data out "
        "of it. If it does hold per-user state, add the class to `per-request-classes` in "
        "`[tool.isolint.singletons]` and the fix makes it per call."
    )
