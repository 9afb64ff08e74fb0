"""The singleton family (ISO1xx): its fact kinds, vocabulary, configuration,
and what its rules share.

The rules and the project index find singletons with the same functions
(`evidence`): a rule reports what they find in any scope of the file being
checked; the index keeps what they find at module level, as facts other
files resolve by qualified name:

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
- "singletons:keyed-state-class" (see `keyed_state`),
  "singletons:per-call" (see `per_call`) and "singletons:alias" (see `aliases`).

Each kind has one producer (ISO101, ISO102, ISO105, ISO103, ISO106); every
indexer runs whichever rules are selected, so ISO103, ISO104 and ISO106 read the others.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...scopes import FUNCTIONS, walk
from .._helpers import matches_patterns
from ..ast_helpers import last_name

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import Fact

KIND_CLASS = "singletons:class"
KIND_ACCESSOR = "singletons:accessor"
KIND_CACHED_GETTER = "singletons:cached-getter"
ACCESSOR_KINDS = (KIND_ACCESSOR, KIND_CACHED_GETTER)

FactRow = tuple[str, str, int, dict[str, Any]]
Function = ast.FunctionDef | ast.AsyncFunctionDef

# --- the facts' data, typed ----------------------------------------------------------
# The index keeps a fact's data as JSON; these are its shapes, written by the
# producers (`to_data`) and read back by the rules (`read`).


@dataclass(frozen=True)
class ClassFact:
    """ "singletons:class": a class caching its own instance."""

    accessors: tuple[str, ...]  # its methods returning the cached instance
    shared_construction: bool  # `Class()` itself returns the shared object

    def to_data(self) -> dict[str, Any]:
        return {"accessors": list(self.accessors), "shared_construction": self.shared_construction}

    @classmethod
    def read(cls, fact: Fact) -> ClassFact:
        return cls(tuple(fact.data.get("accessors", ())), bool(fact.data.get("shared_construction")))


@dataclass(frozen=True)
class AccessorFact:
    """ "singletons:accessor": a function handing out a process-wide object."""

    returns: str | None  # the class it constructs or delegates to
    global_name: str | None  # the module global it caches in; None when it delegates
    how: str  # "lazy-global" or "delegates"

    def to_data(self) -> dict[str, Any]:
        return {"returns": self.returns, "global": self.global_name, "how": self.how}

    @classmethod
    def read(cls, fact: Fact) -> AccessorFact:
        return cls(fact.data.get("returns"), fact.data.get("global"), fact.data.get("how", "lazy-global"))


@dataclass(frozen=True)
class CachedGetterFact:
    """ "singletons:cached-getter": a zero-argument getter cached by functools."""

    returns: str | None  # the class it constructs

    def to_data(self) -> dict[str, Any]:
        return {"returns": self.returns}

    @classmethod
    def read(cls, fact: Fact) -> CachedGetterFact:
        return cls(fact.data.get("returns"))


def handed_out(fact: Fact) -> str | None:
    """The class an accessor or a cached getter fact hands out, if known."""
    return AccessorFact.read(fact).returns if fact.kind == KIND_ACCESSOR else CachedGetterFact.read(fact).returns


# --- vocabulary ---------------------------------------------------------------------

DEFAULT_INSTANCE_ATTRIBUTES = ("_instance", "__instance", "_instances", "_singleton", "_shared_instance")
DEFAULT_GETTER_ALLOW = ("*Settings", "*Config", "*Configuration")
ACCESSOR_METHODS = ("get_instance", "instance", "get")
ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum"})
IMMUTABLE_BASES = frozenset({"str", "int", "float", "complex", "bytes", "tuple", "frozenset", "bool"})
CACHE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache"})
# Calls whose result is an immutable value, not a service object: builtins
# (`compile` included: a code object) and the standard library's
# `re.compile`, `os.getenv`, `socket.gethostname`, by their last name.
BUILTIN_CONSTANTS = frozenset(
    {
        *("abs", "all", "any", "ascii", "bin", "bool", "bytes", "callable", "chr", "complex", "compile", "divmod"),
        *("float", "format", "frozenset", "hash", "hasattr", "hex", "id", "int", "isinstance", "issubclass", "len"),
        *("max", "min", "oct", "ord", "pow", "range", "repr", "round", "str", "sum", "tuple"),
        *("getenv", "gethostname", "hexdigest", "__import__", "import_module"),
    }
)
# Types whose objects cannot change (a module is shared by the interpreter anyway).
IMMUTABLE_TYPES = IMMUTABLE_BASES | {"None", "Path", "PurePath", "Pattern", "UUID", "Decimal", "ModuleType"}
# Attributes that mark an instance as holding one user's or one run's data.
PER_RUN_ATTRIBUTES = frozenset({"user_id", "thread_id", "chat_thread_id", "run_id", "request_id"})

# Necessary conditions for a file to hold a fact of each kind.
# Every alternative starts with a literal (a leading `\b` or `[Ss]` would make
# `re` try every byte of every file); word starts are checked by lookbehinds.
CLASS_INDEX_PREFILTER = re.compile(
    rb"_instance|_singleton|Singleton|singleton|cls(?<!\wcls)\.\w+\s*(?:\[[^\n]*\]\s*)?=(?!=)"
)
ACCESSOR_INDEX_PREFILTER = re.compile(CLASS_INDEX_PREFILTER.pattern + rb"|global(?<!\wglobal)\s")
# `cache` or `lru_cache` as a word: one literal for `re` to skip ahead to, two alternatives scan every `c` and `l`.
CACHED_INDEX_PREFILTER = re.compile(rb"cache(?:(?<!\wcache)|(?<=\blru_cache))\b")


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


# Statements with a body of their own: what LibCST does not hold in a line of small statements.
COMPOUND_STATEMENTS = (
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


# --- walking ------------------------------------------------------------------------


def walk_body(statements: Iterable[ast.stmt]) -> Iterator[ast.AST]:
    return walk(*statements)


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
        for node in walk(class_node)
    )


def immutable_classes(tree: ast.Module) -> frozenset[str]:
    """The module's own classes whose instances cannot change: named tuples
    (`class V(NamedTuple)`, `V = namedtuple(...)`), enums, frozen dataclasses
    and attrs classes, and subclasses of `str`, `int`, `tuple` and the like."""
    found = set()
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef):
            bases = {last_name(base.value if isinstance(base, ast.Subscript) else base) for base in statement.bases}
            if bases & (ENUM_BASES | IMMUTABLE_BASES | {"NamedTuple"}) or any(
                _frozen_decorator(decorator) for decorator in statement.decorator_list
            ):
                found.add(statement.name)
        elif (
            isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Call)
            and last_name(statement.value.func) in ("namedtuple", "NamedTuple")
        ):
            found.update(target.id for target in statement.targets if isinstance(target, ast.Name))
    return frozenset(found)


def _frozen_decorator(decorator: ast.expr) -> bool:
    """`@dataclass(frozen=True)`, `@attr.s(frozen=True)`, `@attrs.frozen`."""
    if isinstance(decorator, ast.Call):
        return any(
            keyword.arg == "frozen" and isinstance(keyword.value, ast.Constant) and keyword.value.value is True
            for keyword in decorator.keywords
        )
    return last_name(decorator) == "frozen"


def immutable_value(value: ast.expr, immutables: frozenset[str]) -> bool:
    """Whether `value` is known to evaluate to an immutable object, which
    every request can share: a literal, an f-string, a comparison, `not x`,
    arithmetic, a tuple of such, a call of `BUILTIN_CONSTANTS`, of one of the
    module's `immutables` (`immutable_classes`) or of a string's method
    (`",".join(...)`)."""
    if isinstance(value, (ast.Constant, ast.JoinedStr, ast.Compare)):
        return True
    if isinstance(value, ast.UnaryOp):
        return isinstance(value.op, ast.Not) or immutable_value(value.operand, immutables)
    if isinstance(value, ast.BinOp):
        return immutable_value(value.left, immutables) and immutable_value(value.right, immutables)
    if isinstance(value, ast.BoolOp):
        return all(immutable_value(operand, immutables) for operand in value.values)
    if isinstance(value, ast.Tuple):
        return all(immutable_value(element, immutables) for element in value.elts)
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Constant, ast.JoinedStr)):
            return True
        if isinstance(func, ast.Name) and func.id in immutables:
            return True
        return (func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)) in BUILTIN_CONSTANTS
    return False


def immutable_annotation(annotation: ast.expr | None, immutables: frozenset[str]) -> bool:
    """Whether a return annotation says the value cannot change: `-> bool`,
    `-> str | None`, `-> Optional[Path]`, `-> tuple[int, ...]`, `-> re.Pattern[str]`,
    or one of the module's `immutables` (`immutable_classes`)."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant):
        if isinstance(annotation.value, str):  # a forward reference
            try:
                return immutable_annotation(ast.parse(annotation.value, mode="eval").body, immutables)
            except SyntaxError:
                return False
        return annotation.value is None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return immutable_annotation(annotation.left, immutables) and immutable_annotation(annotation.right, immutables)
    if isinstance(annotation, ast.Subscript):
        head = last_name(annotation.value)
        if head in ("Optional", "Union"):
            members = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
            return all(immutable_annotation(member, immutables) for member in members)
        return head in ("Literal", "tuple", "Tuple", "frozenset", "FrozenSet", "Pattern")
    if isinstance(annotation, ast.Name) and annotation.id in immutables:
        return True
    return last_name(annotation) in IMMUTABLE_TYPES


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
