"""The legacy-state family (ISO4xx): its configuration, vocabulary, prefilters
and project-index facts.

A reference is a name bound to one of the `[legacy-state] classes`: the class
name itself (imported plainly, under `if TYPE_CHECKING:`, inside a function,
or through a module that re-exports it), a local alias of it
(`from a.b import DeepAgentState as S`, `S = DeepAgentState`), or an
attribute naming it (`state_module.DeepAgentState`). Inside annotations,
string forward references (`"List[DeepAgentState]"`) are parsed and looked
through. The class's own body, comments, docstrings and names that merely
contain the class name are never references (see `references.py`).

Project index facts (ISO401 contributes them; every indexer runs, whichever
rules are selected). They are read off the same `ast` shapes the rules
analyse (`module_renames`, `functions_and_methods`, `annotation_names`):

- "legacy-state:reexport": a module-level alias that renames a name,
  `from M import N as L` or `L = N` / `L = m.N`. The fact's name is `L`;
  data {"module": "M" ("" for the same module), "level": relative-import
  level, "name": "N"}. Whether `L` is legacy is decided at check time by
  following these facts to a configured class, so the facts do not depend on
  the configuration.
- "legacy-state:run-id-signature": a function or method with a `run_id`
  parameter and at least one other annotated parameter, named `function` or
  `Class.method`; data {"method": bool, "positional": [parameters callers pass
  positionally, without self/cls], "required": how many of those have no
  default, "annotations": {parameter: [names in its annotation]}}, where a
  configured legacy class and the context class both appear as `STATE_TYPE`:
  either marks the parameter call sites pass the state through, so migrating
  a signature from one to the other leaves the fact (and the cached results
  of every module calling it) unchanged. ISO405 reads it to find call sites
  in other modules.
- "legacy-state:context-signature": a function or method that takes the
  context class and no run id (migrated, by a person or by ISO405); data
  {"method", "context": the parameter, and its call signature}. ISO407 reads it.
"""

from __future__ import annotations

import ast
import contextlib
import re
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from ...index import RENAME, links
from ...prefilters import NEVER, AnyOf, TextFilter
from ...scopes import resolve_relative
from ...semantic import Parameter, Signature, bound_names, signature_of
from .._helpers import alternation, word_alternatives
from ..ast_context import AstRule

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import Fact, ProjectIndex

FAMILY = "legacy-state"
REEXPORT = RENAME  # the index follows these for every family (index.RENAME)
RUN_ID_SIGNATURE = "legacy-state:run-id-signature"
CONTEXT_SIGNATURE = "legacy-state:context-signature"
RUN_ID = "run_id"
STATE_TYPE = "<legacy state or context class>"  # not an identifier, so never a real annotation name
# Attributes the context already has: a legacy read of one of these needs no rewrite.
CONTEXT_FIELDS = frozenset(
    {"user_id", "thread_id", "run_id", "request_id", "db_session", "websocket_emitter", "metadata"}
)
UNION_NAMES = ("Union", "typing.Union")
OPTIONAL_NAMES = ("Optional", "typing.Optional")
ANNOTATED_NAMES = ("Annotated", "typing.Annotated")
# Class methods of the legacy class that build an instance from data (ISO405
# and ISO407 judge variables by them; ISO403 and ISO404 take them as an option).
CONSTRUCTORS = ("model_validate", "parse_obj")
# Methods that change a field in place: `state.messages.append(...)` is a write
# (ISO404's `mutating-methods` default; ISO405 judges a body's uses by them).
MUTATING_METHODS = [
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "update",
    "setdefault",
    "popitem",
    "add",
    "discard",
    "sort",
    "reverse",
]
WRITE_HINT = (
    "The context is immutable: return the value from this agent (the caller combines results), or keep per-run "
    "results in a local object owned by this run instead of on the shared state."
)
CALL_HINT = (
    "Do this work on data the agent owns (a local object for this run) and return the result; the context is "
    "immutable and has only its identity fields, resources and read-only `metadata`."
)


@dataclass(frozen=True)
class ContextRead:
    """What a read of a legacy field becomes on the context."""

    attribute: str | None  # the context's attribute; None: the field is looked up in its `metadata`

    @property
    def safe(self) -> bool:
        """A context attribute reads the same value; `metadata.get` may find nothing."""
        return self.attribute is not None


def context_read(field: str, field_map: Mapping[str, str], *, same_receiver: bool) -> ContextRead | None:
    """How `<state>.<field>` reads on the context (`same_receiver`: the
    context is the same variable); None when the read stays as it is."""
    mapped = field_map.get(field)
    if mapped is not None:
        return None if mapped == field and same_receiver else ContextRead(mapped)
    if field in CONTEXT_FIELDS:
        return None if same_receiver else ContextRead(field)
    return ContextRead(None)


# --- configuration ------------------------------------------------------------


@dataclass(frozen=True)
class LegacyStateConfig:
    """`[tool.isolint.legacy-state]` and the context class, typed, as the
    family's analysis and fixes read them."""

    classes: frozenset[str]
    field_map: Mapping[str, str]
    adapter: str
    context_name: str
    context_module: str
    context_params: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings) -> LegacyStateConfig:
        """The configuration for `settings`, built once per settings object."""
        cached = _CONFIGS.get(id(settings))
        if cached is not None and cached[0]() is settings:
            return cached[1]
        options = settings.family_options(FAMILY)
        config = cls(
            classes=frozenset(options["classes"]),
            field_map=MappingProxyType(dict(options["field-map"])),
            adapter=options["adapter"],
            context_name=settings.context_name,
            context_module=settings.context_module,
            context_params=tuple(settings.context_params),
        )
        for key in [key for key, (ref, _) in _CONFIGS.items() if ref() is None]:
            del _CONFIGS[key]  # settings gone: their ids may be reused
        _CONFIGS[id(settings)] = (weakref.ref(settings), config)
        return config


# Settings are frozen but hold dicts (unhashable): keyed by identity, checked by a weak reference.
_CONFIGS: dict[int, tuple[weakref.ref[Settings], LegacyStateConfig]] = {}


# --- vocabulary and prefilters ------------------------------------------------


class LegacyStateRule(AstRule):
    """Base of the family's rules: they visit the stdlib `ast`, share a
    prefilter, and read the index facts ISO401 contributes (`index_facts`)."""

    abstract_base = True
    family = FAMILY
    prefilter = re.compile(rb"(?!)")  # built from the settings and the index by compile_prefilter
    reads_facts: ClassVar[tuple[str, ...]] = (REEXPORT,)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        return names_regex(reference_names(settings, project))


def reference_names(settings: Settings, project: ProjectIndex) -> set[str]:
    """Names whose presence a finding of the family needs: the legacy classes
    and the aliases some module binds to one of them."""
    classes = LegacyStateConfig.of(settings).classes
    aliases = {
        fact.name
        for fact in project.of_kind(REEXPORT)
        if resolves_to_legacy(project, classes, fact.qualname.rpartition(".")[0], fact.name)
    }
    return set(classes) | aliases


def names_regex(names: Iterable[str]) -> TextFilter:
    names = sorted(names, key=len, reverse=True)
    if not names:
        return NEVER
    return re.compile(alternation(word_alternatives((re.escape(n.encode()) for n in names), rb"\b")))


# Files that may rename a name at module level (`import ... as`, a parenthesised
# `N as L,` line, or `L = N`), or define a function taking `run_id`.
_RENAMING_LINE = rb"(?:[ \t]+\w+[ \t]+as[ \t]+\w+[ \t]*,?[ \t]*(?:#[^\n]*)?|[A-Za-z_]\w*[ \t]*=[ \t]*[A-Za-z_][\w.]*[ \t]*(?:#[^\n]*)?)$"
# Each part starts with a literal, which `re` skips ahead to: a line is found
# from the newline before it (or at the start of the file), since `^`, like
# `\b`, is tried at every byte.
INDEX_PREFILTER = AnyOf(
    re.compile(rb"import(?<!\wimport)\b[^\n]*\bas\s"),
    re.compile(rb"run_id(?<!\wrun_id)\b"),
    re.compile(rb"\n" + _RENAMING_LINE, re.MULTILINE),
    re.compile(rb"\A" + _RENAMING_LINE, re.MULTILINE),
)


def compile_index_prefilter(settings: Settings) -> TextFilter:
    """The family's index prefilter, plus the context class (for context signatures)."""
    return AnyOf(re.compile(re.escape(settings.context_name.encode())), *INDEX_PREFILTER.filters)


# --- shapes the index and the rules share ---------------------------------------


@dataclass(frozen=True)
class Rename:
    """A module-level statement that binds `local` to another module's or this
    module's `name`: `from module import name as local`, `local = name`,
    `local = m.name`."""

    local: str
    module: str  # "" for this module
    level: int  # relative-import level
    name: str
    line: int


def module_renames(tree: ast.Module) -> Iterator[Rename]:
    """The module's renames that hold where the module has run: a name the
    module binds again after its rename (`manager = Other()`, in a branch
    or a loop too) is not followed, as what an importer gets is unknown."""
    renames = [(position, rename) for position, node in enumerate(tree.body) for rename in _renames(node)]
    if not renames:
        return
    last_bound: dict[str, int] = {}
    for position, node in enumerate(tree.body):
        last_bound.update(dict.fromkeys(bound_names([node]), position))
    last = {(position, rename.local): rename for position, rename in renames}  # `import a as L, b as L`: b
    for (position, local), rename in last.items():
        if last_bound.get(local) == position:
            yield rename


def _renames(node: ast.stmt) -> Iterator[Rename]:
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            if alias.asname and alias.asname != alias.name:
                yield Rename(alias.asname, node.module or "", node.level, alias.name, node.lineno)
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        value = node.value
        if isinstance(value, (ast.Name, ast.Attribute)):
            name = value.id if isinstance(value, ast.Name) else value.attr
            yield Rename(node.targets[0].id, "", 0, name, node.lineno)


Function = ast.FunctionDef | ast.AsyncFunctionDef


def functions_and_methods(tree: ast.Module) -> Iterator[tuple[Function, str | None]]:
    """Module-level functions and the methods of module-level classes, with the class's name."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, None
        elif isinstance(node, ast.ClassDef):
            yield from ((f, node.name) for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)))


def named_parameters(function: Function) -> list[ast.arg]:
    """The parameters a call can name: positional-only, positional and keyword-only (no stars)."""
    args = function.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs]


def annotation_names(annotation: ast.expr) -> set[str]:
    """Every name and attribute an annotation mentions, through string forward references."""
    names: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            with contextlib.suppress(SyntaxError):  # a string that is not an annotation names nothing
                names |= annotation_names(ast.parse(node.value, mode="eval").body)
    return names


# --- the index ----------------------------------------------------------------

IndexFact = tuple[str, str, int, dict[str, Any]]


def index_facts(tree: ast.Module, settings: Settings) -> Iterator[IndexFact]:
    config = LegacyStateConfig.of(settings)
    for rename in module_renames(tree):
        yield REEXPORT, rename.local, rename.line, {"module": rename.module, "level": rename.level, "name": rename.name}
    functions = list(functions_and_methods(tree))
    for function, owner in functions:
        data = run_id_signature(function, owner, config.classes | {config.context_name})
        if data is not None:
            yield RUN_ID_SIGNATURE, _qualname(function, owner), function.lineno, data
    for function, owner in functions:
        data = context_signature(function, owner, config.context_name)
        if data is not None:
            yield CONTEXT_SIGNATURE, _qualname(function, owner), function.lineno, data


def _qualname(function: Function, owner: str | None) -> str:
    return f"{owner}.{function.name}" if owner else function.name


def run_id_signature(function: Function, owner: str | None, state_types: frozenset[str]) -> dict[str, Any] | None:
    """The "legacy-state:run-id-signature" data of a function, or None."""
    every = named_parameters(function)
    if not any(a.arg == RUN_ID for a in every):
        return None
    annotations = {
        a.arg: sorted({STATE_TYPE if n in state_types else n for n in annotation_names(a.annotation)})
        for a in every
        if a.annotation is not None and a.arg != RUN_ID
    }
    if not annotations:
        return None
    args = function.args
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    required = len(positional) - len(args.defaults)
    decorators = {d.id for d in function.decorator_list if isinstance(d, ast.Name)}
    if owner is not None and "staticmethod" not in decorators and positional:
        positional, required = positional[1:], required - 1  # self / cls
    return {"method": owner is not None, "positional": positional, "required": required, "annotations": annotations}


def context_signature(function: Function, owner: str | None, context_name: str) -> dict[str, Any] | None:
    """The "legacy-state:context-signature" data of a function, or None."""
    every = named_parameters(function)
    if any(a.arg == RUN_ID for a in every):
        return None  # still the legacy pair: ISO405's
    context = next(
        (a.arg for a in every if a.annotation is not None and context_name in annotation_names(a.annotation)),
        None,
    )
    decorators = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in function.decorator_list}
    if context is None or decorators - {"staticmethod", "classmethod", "abstractmethod", "override"}:
        return None  # a wrapping decorator decides how it is called
    signature = signature_of(function, bound=owner is not None and "staticmethod" not in decorators)
    return {"method": owner is not None, "context": context, **signature_data(signature)}


def signature_data(signature: Signature) -> dict[str, Any]:
    """A call signature as JSON-safe fact data."""
    return {
        "positional": [[p.name, p.has_default] for p in signature.positional],
        "positional_only": signature.positional_only,
        "keyword_only": [[p.name, p.has_default] for p in signature.keyword_only],
        "var_positional": signature.var_positional,
        "var_keyword": signature.var_keyword,
    }


def signature_from(data: Mapping[str, Any]) -> Signature:
    return Signature(
        tuple(Parameter(name, "", default) for name, default in data["positional"]),
        data["positional_only"],
        tuple(Parameter(name, "", default) for name, default in data["keyword_only"]),
        data["var_positional"],
        data["var_keyword"],
    )


@links(REEXPORT)
def _alias_target(fact: Fact) -> list[str]:
    """An alias builds on the name it renames (resolves_to_legacy follows the chain)."""
    return [fact.data["name"]]


def resolves_to_legacy(project: ProjectIndex, classes: frozenset[str], module: str, name: str) -> bool:
    """Whether `module.name` is, through re-export facts, one of `classes`."""
    return legacy_class_of(project, classes, module, name) is not None


def legacy_class_of(project: ProjectIndex, classes: frozenset[str], module: str, name: str) -> str | None:
    """The legacy class `module.name` is, through re-export facts, or None. A
    package's plain re-export of one of its modules' renames (`from .legacy
    import LegacyState` in `pkg/__init__.py`) is followed too. A loop, not a
    call per re-export: a chain of renames can run through more modules than
    the recursion limit allows; a cycle of them names no class."""
    seen: set[str] = set()
    while name not in classes:
        qualname = f"{module}.{name}" if module else name
        fact = project.exported(qualname, REEXPORT)
        if fact is None or fact.qualname in seen:
            return None
        seen.add(fact.qualname)
        fact_module = fact.qualname.rpartition(".")[0]
        module = absolute_module(
            fact.data["module"], fact.data["level"], fact_module, fact.path.endswith("__init__.py")
        )
        name = fact.data["name"]
    return name


def absolute_module(module: str, level: int, importer: str, importer_is_package: bool) -> str:
    """The absolute name of `module` as imported from `importer` (`""`: the importer itself)."""
    if level == 0:
        return module or importer
    return resolve_relative(importer, importer_is_package, level, module or None)
