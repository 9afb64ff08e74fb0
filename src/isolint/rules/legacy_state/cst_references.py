"""The legacy-state family (ISO4xx): recognising references to the legacy
per-run state class and building the fixes that replace it.

A reference is a name bound to one of the `[legacy-state] classes`: the class
name itself (imported plainly, under `if TYPE_CHECKING:`, inside a function,
or through a module that re-exports it), a local alias of it
(`from a.b import DeepAgentState as S`, `S = DeepAgentState`), or an
attribute naming it (`state_module.DeepAgentState`). Inside annotations,
string forward references (`"List[DeepAgentState]"`) are parsed and looked
through. The class's own body, comments, docstrings and names that merely
contain the class name are never references.

Project index facts (ISO401 contributes them; every indexer runs, whichever
rules are selected):

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
"""

from __future__ import annotations

import ast
import contextlib
import re
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..._lazy import cst
from ...index import links
from ...semantic import Parameter, Signature, signature_of
from ...traversal import children, walk
from .._helpers import alternation, word_alternatives
from ..base import FixSpec

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex
    from ..base import FileContext

REEXPORT = "legacy-state:reexport"
RUN_ID_SIGNATURE = "legacy-state:run-id-signature"
# A function or method that takes the context class and no run id (migrated, by a
# person or by ISO405); data {"method", "context": the parameter, and its call signature}.
CONTEXT_SIGNATURE = "legacy-state:context-signature"
RUN_ID = "run_id"
STATE_TYPE = "<legacy state or context class>"  # not an identifier, so never a real annotation name
# Attributes the context already has: a legacy read of one of these needs no rewrite.
CONTEXT_FIELDS = frozenset(
    {"user_id", "thread_id", "run_id", "request_id", "db_session", "websocket_emitter", "metadata"}
)
UNION_NAMES = ("Union", "typing.Union")
OPTIONAL_NAMES = ("Optional", "typing.Optional")

# Files that may rename a name at module level (`import ... as`, a parenthesised
# `N as L,` line, or `L = N`), or define a function taking `run_id`.
_INDEX_PREFILTER = re.compile(
    rb"\bimport\b[^\n]*\bas\s|^[ \t]+\w+[ \t]+as[ \t]+\w+[ \t]*,?[ \t]*(?:#[^\n]*)?$"
    rb"|^[A-Za-z_]\w*[ \t]*=[ \t]*[A-Za-z_][\w.]*[ \t]*(?:#[^\n]*)?$|\brun_id\b",
    re.MULTILINE,
)


class LegacyStateFamily:
    """Mixin for the family's rules: shared prefilter; they read the index
    facts ISO401 contributes (`index_facts`)."""

    family = "legacy-state"
    prefilter = re.compile(rb"(?!)")  # built from the settings and the index by compile_prefilter
    reads_facts: ClassVar[tuple[str, ...]] = (REEXPORT,)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        return names_regex(reference_names(settings, project))


def reference_names(settings: Settings, project: ProjectIndex) -> set[str]:
    """Names whose presence a finding of the family needs: the legacy classes
    and the aliases some module binds to one of them."""
    classes = frozenset(settings.legacy_state["classes"])
    aliases = {
        fact.name
        for fact in project.of_kind(REEXPORT)
        if resolves_to_legacy(project, classes, fact.qualname.rpartition(".")[0], fact.name)
    }
    return set(classes) | aliases


def names_regex(names: Iterable[str]) -> re.Pattern[bytes]:
    names = sorted(names, key=len, reverse=True)
    if not names:
        return re.compile(rb"(?!)")
    return re.compile(alternation(word_alternatives((re.escape(n.encode()) for n in names), rb"\b")))


# --- the index ----------------------------------------------------------------


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


INDEX_PREFILTER = _INDEX_PREFILTER


def index_facts(tree: ast.Module, settings: Settings) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    yield from _index_aliases(tree)
    yield from _index_run_id_signatures(tree, frozenset(settings.legacy_state["classes"]) | {settings.context_name})
    yield from _index_context_signatures(tree, settings.context_name)


def compile_index_prefilter(settings: Settings) -> re.Pattern[bytes]:
    """The family's index prefilter, plus the context class (for context signatures)."""
    context = re.escape(settings.context_name.encode())
    return re.compile(_INDEX_PREFILTER.pattern + rb"|" + context, re.MULTILINE)


def _functions_and_methods(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str | None]]:
    """Module-level functions and the methods of module-level classes, with the class's name."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, None
        elif isinstance(node, ast.ClassDef):
            yield from ((f, node.name) for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _index_context_signatures(tree: ast.Module, context_name: str) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    for function, owner in _functions_and_methods(tree):
        args = function.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        if any(a.arg == RUN_ID for a in every):
            continue  # still the legacy pair: ISO405's
        context = next(
            (a.arg for a in every if a.annotation is not None and context_name in _ast_annotation_names(a.annotation)),
            None,
        )
        decorators = {d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in function.decorator_list}
        if context is None or decorators - {"staticmethod", "classmethod", "abstractmethod", "override"}:
            continue  # a wrapping decorator decides how it is called
        signature = signature_of(function, bound=owner is not None and "staticmethod" not in decorators)
        name = f"{owner}.{function.name}" if owner else function.name
        yield (
            CONTEXT_SIGNATURE,
            name,
            function.lineno,
            {"method": owner is not None, "context": context, **signature_data(signature)},
        )


def _index_aliases(tree: ast.Module) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.asname and alias.asname != alias.name:
                    yield (
                        REEXPORT,
                        alias.asname,
                        node.lineno,
                        {"module": node.module or "", "level": node.level, "name": alias.name},
                    )
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Name):
                yield REEXPORT, node.targets[0].id, node.lineno, {"module": "", "level": 0, "name": value.id}
            elif isinstance(value, ast.Attribute):
                yield REEXPORT, node.targets[0].id, node.lineno, {"module": "", "level": 0, "name": value.attr}


def _index_run_id_signatures(
    tree: ast.Module, state_types: frozenset[str]
) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    def signature(function: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None) -> dict[str, Any] | None:
        args = function.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        if not any(a.arg == RUN_ID for a in every):
            return None
        annotations = {
            a.arg: sorted({STATE_TYPE if n in state_types else n for n in _ast_annotation_names(a.annotation)})
            for a in every
            if a.annotation is not None and a.arg != RUN_ID
        }
        if not annotations:
            return None
        positional = [a.arg for a in [*args.posonlyargs, *args.args]]
        required = len(positional) - len(args.defaults)
        decorators = {d.id for d in function.decorator_list if isinstance(d, ast.Name)}
        if owner is not None and "staticmethod" not in decorators and positional:
            positional, required = positional[1:], required - 1  # self / cls
        return {"method": owner is not None, "positional": positional, "required": required, "annotations": annotations}

    for function, owner in _functions_and_methods(tree):
        data = signature(function, owner)
        if data is not None:
            name = f"{owner}.{function.name}" if owner else function.name
            yield RUN_ID_SIGNATURE, name, function.lineno, data


def _ast_annotation_names(annotation: ast.expr) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            with contextlib.suppress(SyntaxError):  # a string that is not an annotation names nothing
                names |= _ast_annotation_names(ast.parse(node.value, mode="eval").body)
    return names


@links(REEXPORT)
def _alias_target(fact: Any) -> list[str]:
    """An alias builds on the name it renames (resolves_to_legacy follows the chain)."""
    return [fact.data["name"]]


def resolves_to_legacy(
    project: ProjectIndex, classes: frozenset[str], module: str, name: str, seen: frozenset[str] = frozenset()
) -> bool:
    """Whether `module.name` is, through re-export facts, one of `classes`."""
    if name in classes:
        return True
    qualname = f"{module}.{name}" if module else name
    fact = project.get(REEXPORT, qualname)
    if fact is None or qualname in seen:
        return False
    fact_module = fact.qualname.rpartition(".")[0]
    target = absolute_module(fact.data["module"], fact.data["level"], fact_module, fact.path.endswith("__init__.py"))
    return resolves_to_legacy(project, classes, target, fact.data["name"], seen | {qualname})


def absolute_module(module: str, level: int, importer: str, importer_is_package: bool) -> str:
    """The absolute name of `module` as imported from `importer` (`""`: the importer itself)."""
    if level == 0:
        return module or importer
    package = importer.split(".") if importer else []
    if not importer_is_package:
        package = package[:-1]
    package = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*package, *([module] if module else [])])


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
                    _dotted(node.module) if node.module is not None else "",
                    len(node.relative),
                    file.module_name,
                    file.is_package,
                )
                for alias in node.names:
                    name = alias.name.value if isinstance(alias.name, cst.Name) else None
                    if name is not None and resolves_to_legacy(project, self.classes, module, name):
                        self.local[_bound_name(alias)] = (
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

    def rewrite_annotation(self, expr: Any) -> Any:
        """`expr` with every legacy class replaced by the context class, keeping
        the shape; unions that end up naming the context twice collapse."""
        if self.is_reference(expr):
            return cst.Name(self.context_name)
        if isinstance(expr, cst.SimpleString):
            parsed = parse_string_annotation(expr)
            if parsed is None:
                return expr
            code = cst.Module([]).code_for_node(self.rewrite_annotation(parsed))
            if expr.quote in code or "\\" in code:
                return expr
            return expr.with_changes(value=f"{expr.prefix}{expr.quote}{code}{expr.quote}")
        if isinstance(expr, cst.Subscript):
            elements = [
                e.with_changes(slice=e.slice.with_changes(value=self.rewrite_annotation(e.slice.value)))
                if isinstance(e.slice, cst.Index)
                else e
                for e in expr.slice
            ]
            if _dotted(expr.value) in UNION_NAMES:
                elements = _unique(elements, lambda e: e.slice.value if isinstance(e.slice, cst.Index) else e)
                if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
                    return elements[0].slice.value
                elements[-1] = elements[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return expr.with_changes(slice=elements)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
            members = _unique([self.rewrite_annotation(m) for m in _union_members(expr)], lambda m: m)
            rebuilt = members[0]
            for member in members[1:]:
                rebuilt = cst.BinaryOperation(rebuilt, cst.BitOr(), member)
            return rebuilt.with_changes(lpar=expr.lpar, rpar=expr.rpar) if expr.lpar else rebuilt
        return expr


_CACHE: weakref.WeakKeyDictionary[Any, LegacyNames] = weakref.WeakKeyDictionary()


def legacy_names(file: FileContext) -> LegacyNames:
    """The file's LegacyNames, shared by every rule of the family checking it."""
    names = _CACHE.get(file)
    if names is None:
        names = _CACHE[file] = LegacyNames(file)
    return names


def parse_string_annotation(node: Any) -> Any:
    value = node.evaluated_value
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return cst.parse_expression(value.strip())
    except cst.ParserSyntaxError:
        return None


def _types_in(expr: Any, matches: Callable[[Any], bool]) -> bool:
    if matches(expr):
        return True
    if isinstance(expr, cst.SimpleString):
        parsed = parse_string_annotation(expr)
        return parsed is not None and _types_in(parsed, matches)
    if isinstance(expr, cst.Subscript) and _dotted(expr.value) in (
        *UNION_NAMES,
        *OPTIONAL_NAMES,
        "Annotated",
        "typing.Annotated",
    ):
        inner = [e.slice.value for e in expr.slice if isinstance(e.slice, cst.Index)]
        if _dotted(expr.value) in ("Annotated", "typing.Annotated"):
            inner = inner[:1]
        return any(_types_in(e, matches) for e in inner)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return any(_types_in(m, matches) for m in _union_members(expr))
    return False


def _union_members(expr: Any) -> list[Any]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return [*_union_members(expr.left), *_union_members(expr.right)]
    return [expr]


def _unique(items: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        code = cst.Module([]).code_for_node(key(item)).strip()
        if code not in seen:
            seen.add(code)
            out.append(item)
    return out


def _dotted(node: Any) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return ""


def _last_name(node: Any) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


def _bound_name(alias: Any) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return alias.name.value


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


def read_replacement(
    attribute: Any, receiver: Any, field_map: Mapping[str, str], quote: str = '"'
) -> tuple[Any, bool] | None:
    """What a read `<state>.<field>` becomes on the context, and whether that
    is safe; None when the field already exists on the context unchanged."""
    field = attribute.attr.value
    mapped = field_map.get(field)
    if mapped is not None:
        if mapped == field and _same_code(attribute.value, receiver):
            return None
        return attribute.with_changes(value=receiver, attr=cst.Name(mapped)), True
    if field in CONTEXT_FIELDS:
        return None if _same_code(attribute.value, receiver) else (attribute.with_changes(value=receiver), True)
    metadata_get = cst.Attribute(cst.Attribute(receiver, cst.Name("metadata")), cst.Name("get"))
    call = cst.Call(metadata_get, [cst.Arg(cst.SimpleString(f"{quote}{field}{quote}"))])
    return call.with_changes(lpar=attribute.lpar, rpar=attribute.rpar), False


def _same_code(a: Any, b: Any) -> bool:
    return a is b or cst.Module([]).code_for_node(a) == cst.Module([]).code_for_node(b)


WRITE_HINT = (
    "The context is immutable: return the value from this agent (the caller combines results), or keep per-run "
    "results in a local object owned by this run instead of on the shared state."
)
CALL_HINT = (
    "Do this work on data the agent owns (a local object for this run) and return the result; the context is "
    "immutable and has only its identity fields, resources and read-only `metadata`."
)


# --- fixes that introduce the context class -----------------------------------


def context_bound(module: Any, settings: Settings, *, runtime: bool) -> bool:
    """Whether the module already imports the context class at top level (or,
    for uses never evaluated at runtime, under `if TYPE_CHECKING:`)."""
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine) and _binds_context(statement, settings):
            return True
        if (
            not runtime
            and isinstance(statement, cst.If)
            and _dotted(statement.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            and any(isinstance(s, cst.SimpleStatementLine) and _binds_context(s, settings) for s in statement.body.body)
        ):
            return True
    return False


def _binds_context(statement: Any, settings: Settings) -> bool:
    for small in statement.body:
        if (
            isinstance(small, cst.ImportFrom)
            and not isinstance(small.names, cst.ImportStar)
            and any(_bound_name(a) == settings.context_name for a in small.names)
        ):
            return True
    return False


def has_future_annotations(module: Any) -> bool:
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if (
                    isinstance(small, cst.ImportFrom)
                    and _dotted(small.module) == "__future__"
                    and not isinstance(small.names, cst.ImportStar)
                    and any(_bound_name(a) == "annotations" for a in small.names)
                ):
                    return True
    return False


def context_fix(
    file: FileContext, message: str, applicability: str, replace: Mapping[Any, Any], *, runtime: bool = True
) -> FixSpec:
    """A fix that writes the context class name. It also imports the class
    unless the module already does, and removes top-level imports whose last
    use it rewrites (the legacy class, `Union`, a module alias), so it adds
    neither an undefined name nor an unused import. Import edits are one per pass."""
    settings = file.settings
    needs_import = not context_bound(file.module, settings, runtime=runtime)
    unused = _imports_made_unused(file, replace, settings.context_name)
    if not needs_import and not unused:
        return FixSpec(message, applicability, replace=replace)

    def edit_imports(module: Any) -> Any:
        from .._imports import remove_import_alias

        # Add before removing: removing a file's first statement strips the
        # blank lines of the one after it, which adding would then put back
        # only one of (the two before a `def` would become one).
        if needs_import:
            module = add_needed_import(module, settings.context_module, settings.context_name)
        for name in sorted(unused):
            found = top_level_import_of(module, name)  # node identities changed with the rewrite
            if found is not None and name_uses(module, name) == 0:
                module = remove_import_alias(module, *found)
        return module

    if needs_import:
        message = f"{message}; import it from `{settings.context_module}`"
    return FixSpec(message, applicability, replace=replace, transform=edit_imports, isolation="imports")


def add_needed_import(module: Any, from_module: str, name: str) -> Any:
    """`from <from_module> import <name>`, placed and formatted exactly as
    LibCST's `AddImportsVisitor` does (the fixes' expected output was written
    with it), without its deep copy, metadata and matcher traversals: only the
    leading import block is looked at.

    An import counts only in that block (after a docstring or `__strict__`
    line), one import per line. If the block imports `from_module` with
    `*` or imports `name` from it, nothing changes; if it has another
    `from <from_module> import ...`, `name` joins the first one; else a new
    line goes after the block, with a blank line before the next statement.
    """
    body = list(module.body)
    start = 1 if _skip_first(body) else 0
    block_end = start
    target = None
    for statement in body[start:]:
        small = (
            statement.body[0] if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 else None
        )
        if not isinstance(small, (cst.Import, cst.ImportFrom)):
            break
        block_end += 1
        if (
            not isinstance(small, cst.ImportFrom)
            or small.relative
            or small.module is None
            or _dotted(small.module) != from_module
        ):
            continue
        if isinstance(small.names, cst.ImportStar) or any(
            a.asname is None and a.evaluated_name == name for a in small.names
        ):
            return module
        if target is None:
            target = (block_end - 1, statement, small)
    if target is not None:
        position, statement, small = target
        names = [cst.ImportAlias(name=cst.Name(name)), *small.names]
        body[position] = statement.with_changes(body=[small.with_changes(names=names)])
        return module.with_changes(body=body)
    after = body[block_end:]
    if after:
        first = after[0]
        if not first.leading_lines:
            after[0] = first.with_changes(leading_lines=(cst.EmptyLine(),))
        elif first.leading_lines[0].comment is not None:
            after[0] = first.with_changes(leading_lines=(cst.EmptyLine(), *first.leading_lines))
    added = cst.parse_statement(f"from {from_module} import {name}", config=module.config_for_parsing)
    return module.with_changes(body=(*body[:block_end], added, *after))


def _skip_first(body: list[Any]) -> bool:
    """A leading docstring or `__strict__ = ...` line, which imports never go above."""
    if not body or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return False
    small = body[0].body[0]
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.SimpleString)
    return (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value == "__strict__"
    )


def _imports_made_unused(file: FileContext, replace: Mapping[Any, Any], keep: str) -> set[str]:
    """Top-level imported names whose every remaining use is inside the replaced nodes."""
    module = file.module
    dropped: dict[str, int] = {}
    for old, new in replace.items():
        for name in {n.value for n in walk(old) if isinstance(n, cst.Name)} - {keep}:
            gone = name_uses(old, name) - (name_uses(new, name) if isinstance(new, cst.CSTNode) else 0)
            if gone > 0:
                dropped[name] = dropped.get(name, 0) + gone
    uses = _module_name_uses(file)
    return {name for name, gone in dropped.items() if top_level_import_of(module, name) and uses[name] <= gone}


# Every name's uses in a module, counted once per module: each fix of a file
# asks, and asking name_uses per fix made a file with many findings quadratic.
_MODULE_USES: weakref.WeakKeyDictionary[FileContext, Counter[str]] = weakref.WeakKeyDictionary()
_WORD = re.compile(r"\w+")


def _module_name_uses(file: FileContext) -> Counter[str]:
    """name_uses for every name of the file's module at once."""
    if file not in _MODULE_USES:
        counts: Counter[str] = Counter()
        for node in walk(file.module):
            if isinstance(node, cst.Name):
                counts[node.value] += 1
            elif isinstance(node, cst.SimpleString):
                counts.update(_WORD.findall(node.value))
            elif isinstance(node, (cst.Import, cst.ImportFrom)):
                counts.subtract(n.value for n in walk(node) if isinstance(n, cst.Name))
        _MODULE_USES[file] = counts
    return _MODULE_USES[file]


def name_uses(module: Any, name: str) -> int:
    """How often `name` is used outside import statements, string annotations included."""
    count = 0
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for node in walk(module):
        if isinstance(node, cst.Name) and node.value == name:
            count += 1
        elif isinstance(node, cst.SimpleString):
            count += len(pattern.findall(node.value))
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            count -= sum(1 for n in walk(node) if isinstance(n, cst.Name) and n.value == name)
    return count


def top_level_import_of(module: Any, name: str) -> tuple[Any, Any] | None:
    """The module-level `from x import name` statement and alias binding `name`."""
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        if _bound_name(alias) == name:
                            return small, alias
    return None


def without_argument(args: Any, index: int) -> list[Any]:
    """Call arguments without the one at `index`, keeping the trailing comma style."""
    kept = list(args)
    removed = kept.pop(index)
    if kept and index == len(kept):
        kept[-1] = kept[-1].with_changes(comma=removed.comma)
    return kept


def code(node: Any) -> str:
    return cst.Module([]).code_for_node(node)
