"""The family's project-index facts: a projection of `evidence`'s analysis, and how rules read them.

Facts (contributed by ISO201's indexer, read by ISO201 and ISO205):

- "sessions:class-stores-session" (qualname `module.Class`): the class stores
  a session on `self`. data: `stored` (list of {attribute, parameter, position,
  method, line}; `parameter`/`position` are null unless the value is a
  constructor parameter; `position` counts positional parameters after
  `self`), `bases`, `init`, `reads`.
- "sessions:class-bases" (qualname `module.Class`): any other class with base
  classes, so subclasses can be followed across files. data: `bases`,
  `init`, `reads`.

`bases` are dotted names resolved through the file's imports (relative ones
against the file's module; where the indexer was not told it, they keep
their leading dots) or `<module>.Name` for the module's own classes, which
`resolve_base` finishes. `init` is null when
the class has no `__init__`, else {positional, kwonly, forwards}, `forwards`
being [parameter, position in `super().__init__(...)` or null, keyword or
null]. `reads` lists [attribute, method, [[parameter, [annotation names], unreliable]...]]
for every `self.<attr>` the class reads but never assigns (inherited state).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from ...index import links
from ...scopes import statements, walk
from ..ast_helpers import dotted_name
from .evidence import (
    Function,
    SessionEvidence,
    SessionStore,
    annotation_names,
    methods_of,
    positional_params,
    receiver_of,
)

if TYPE_CHECKING:
    from ...index import Fact, ProjectIndex

CLASS_KINDS = ("sessions:class-stores-session", "sessions:class-bases")
IndexFact = tuple[str, str, int, dict[str, Any]]  # (kind, name in the module, line, JSON-safe data)


class StoredSession(TypedDict):
    """An entry of "sessions:class-stores-session"'s `stored`."""

    attribute: str
    parameter: str | None  # the constructor parameter stored, if the value is one
    position: int | None  # its position among the positional parameters after `self`
    method: str
    line: int  # of the stored value


class InitSignature(TypedDict):
    """A class fact's `init`: what constructing the class passes where."""

    positional: list[str]  # after `self`
    kwonly: list[str]
    forwards: list[list[Any]]  # [parameter, position or None, keyword or None] in `super().__init__(...)`


# --- writing: a projection of the analysis ------------------------------------------


def class_facts(evidence: SessionEvidence) -> Iterator[IndexFact]:
    """The index facts of one file (see the module docstring): its classes at
    module level, nested in classes or in `if`/`try` blocks."""

    def visit(body: Sequence[ast.stmt], prefix: str) -> Iterator[IndexFact]:
        for node in body:
            if isinstance(node, ast.ClassDef):
                yield from _class_fact(evidence, node, prefix + node.name)
                yield from visit(node.body, prefix + node.name + ".")
            elif isinstance(node, (ast.If, ast.Try)):
                yield from visit([*node.body, *node.orelse], prefix)

    yield from visit(evidence.tree.body, "")


def _class_fact(evidence: SessionEvidence, klass: ast.ClassDef, name: str) -> Iterator[IndexFact]:
    bases = [b for b in (_written_base(evidence, base) for base in klass.bases) if b and b != "<module>.object"]
    stored = [_stored(store, klass) for store in evidence.session_stores(klass)]
    if not stored and not bases:
        return  # no fact: skip describing the reads
    init = _init(klass)
    signature: InitSignature | None = None
    if init is not None:
        signature = {
            "positional": [a.arg for a in positional_params(init)],
            "kwonly": [a.arg for a in init.args.kwonlyargs],
            "forwards": _super_init_forwards(init),
        }
    data = {"bases": bases, "init": signature, "reads": _inherited_reads(klass)}
    if stored:
        yield "sessions:class-stores-session", name, klass.lineno, {"stored": _unique(stored), **data}
    else:
        yield "sessions:class-bases", name, klass.lineno, data


def _written_base(evidence: SessionEvidence, base: ast.expr) -> str | None:
    """A base as the index records it: through the imports, or `<module>.Name` for this module's own."""
    dotted = dotted_name(base.value if isinstance(base, ast.Subscript) else base)  # `Base[T]` derives from `Base`
    if dotted is None:
        return None
    return evidence.qualify(dotted) if dotted.partition(".")[0] in evidence.imports else f"<module>.{dotted}"


def _init(klass: ast.ClassDef) -> Function | None:
    return next((method for method in methods_of(klass) if method.name == "__init__"), None)


def _stored(store: SessionStore, klass: ast.ClassDef) -> StoredSession:
    """Where the session comes from: a constructor parameter (by name and position) or elsewhere."""
    parameter = position = None
    value = store.value
    if store.method is _init(klass) and isinstance(value, ast.Name):
        positional = [a.arg for a in positional_params(store.method)]
        if value.id in positional:
            parameter, position = value.id, positional.index(value.id)
        elif value.id in [a.arg for a in store.method.args.kwonlyargs]:
            parameter = value.id
    return {
        "attribute": store.attribute,
        "parameter": parameter,
        "position": position,
        "method": store.method.name,
        "line": value.lineno,
    }


def _inherited_reads(klass: ast.ClassDef) -> list[Any]:
    """[attribute, method, parameters] for each `self.<attribute>` the class reads but never assigns."""
    assigned: set[str] = set()
    rows: list[list[Any]] = []
    for method in methods_of(klass):
        receiver = receiver_of(method)
        if receiver is None:
            continue
        read_names: dict[str, None] = {}  # `self.x` loads, each once, in source order
        for node in walk(method):
            if isinstance(node, ast.Attribute):
                if isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name) and node.value.id == receiver:
                    read_names[node.attr] = None
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                assigned.update(
                    target.attr
                    for target in targets
                    if isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == receiver
                )
        if read_names:
            params = _read_params(method)
            rows.extend([attribute, method.name, params] for attribute in read_names)
    return _unique([row for row in rows if row[0] not in assigned])


def _super_init_forwards(init: Function) -> list[list[Any]]:
    """[parameter, position or None, keyword or None] for each parameter passed on to `super().__init__`."""
    params = {a.arg for a in [*init.args.posonlyargs, *init.args.args, *init.args.kwonlyargs]}
    forwards: list[list[Any]] = []
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and isinstance(node.func.value, ast.Call)
            and dotted_name(node.func.value.func) == "super"
        ):
            for position, arg in enumerate(node.args):
                if isinstance(arg, ast.Starred):
                    break
                if isinstance(arg, ast.Name) and arg.id in params:
                    forwards.append([arg.id, position, None])
            for keyword in node.keywords:
                if keyword.arg and isinstance(keyword.value, ast.Name) and keyword.value.id in params:
                    forwards.append([keyword.value.id, None, keyword.arg])
    return forwards


def _read_params(method: Function) -> list[list[Any]]:
    """[name, names in its annotation, unreliable?] for a method's parameters, as recorded with its reads."""
    unreliable = _unreliable_params(method)
    return [
        [a.arg, sorted(annotation_names(a.annotation)) if a.annotation else [], a.arg in unreliable]
        for a in [*method.args.args, *method.args.kwonlyargs]
    ]


def _unreliable_params(method: Function) -> set[str]:
    """Parameters that default to None or are rebound in the body: not a context on every path."""
    args = method.args
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional][::-1], args.defaults[::-1], strict=False))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None})
    names = {name for name, default in defaults.items() if isinstance(default, ast.Constant) and default.value is None}
    for node in statements(method):  # no expression holds an assignment
        if isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _unique(items: list[Any]) -> list[Any]:
    seen, out = set(), []
    for item in items:
        key = repr(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# --- reading ----------------------------------------------------------------------


@links(*CLASS_KINDS)
def _class_links(fact: Fact) -> Iterator[str]:
    """A class builds on its bases (ancestors() and descendants() follow them)."""
    return (base.rpartition(".")[2] for base in fact.data["bases"])


class _ClassTable:
    """The index's class facts by (resolved) base, built once per index."""

    def __init__(self, project: ProjectIndex) -> None:
        self.children: dict[str, list[Fact]] = {}
        for fact in project.of_kind(*CLASS_KINDS):
            for base in fact.data["bases"]:
                self.children.setdefault(resolve_base(fact, base), []).append(fact)


def _table(project: ProjectIndex) -> _ClassTable:
    return project.derived(_ClassTable)


def class_fact(project: ProjectIndex, qualname: str) -> Fact | None:
    """The class's fact, through a package's re-export of a submodule's class
    or an import that renamed it (ProjectIndex.exported)."""
    return project.exported(qualname, *CLASS_KINDS)


def renamed_classes(project: ProjectIndex, names: Iterable[str]) -> frozenset[str]:
    """The names imports give the indexed classes named `names`, for the prefilters."""
    wanted = set(names)

    def renames_one(qualname: str) -> bool:
        fact = class_fact(project, qualname)
        return fact is not None and fact.name in wanted

    return project.renamed(renames_one)


def resolve_base(fact: Fact, base: str) -> str:
    """A base name from `fact`'s data as an absolute qualified name."""
    module = fact.qualname.rpartition(".")[0]
    while module and _names_a_class(module):
        module = module.rpartition(".")[0]  # nested classes: strip class names
    if base.startswith("<module>."):
        return f"{module}.{base[len('<module>.') :]}" if module else base[len("<module>.") :]
    if base.startswith("."):
        level = len(base) - len(base.lstrip("."))
        package = module.split(".") if module else []
        if not fact.path.endswith("__init__.py"):
            package = package[:-1]
        package = package[: len(package) - (level - 1)] if level > 1 else package
        return ".".join([*package, base.lstrip(".")])
    return base


def _names_a_class(dotted: str) -> bool:
    return dotted.rpartition(".")[2][:1].isupper()


def ancestors(project: ProjectIndex, qualname: str, limit: int = 8) -> Iterator[Fact]:
    """Facts of the class and its indexed ancestors, nearest first."""
    seen: set[str] = set()
    pending = [qualname]
    while pending and len(seen) < limit:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.add(current)
        fact = class_fact(project, current)
        if fact is None:
            continue
        yield fact
        pending.extend(resolve_base(fact, base) for base in fact.data["bases"])


def inherited_store(
    project: ProjectIndex, base_qualnames: Iterable[str], attribute: str
) -> tuple[Fact, StoredSession] | None:
    """The indexed ancestor (through `base_qualnames`) that stores a session in `attribute`."""
    for base in base_qualnames:
        for fact in ancestors(project, base):
            for stored in fact.data.get("stored", ()):
                if stored["attribute"] == attribute:
                    return fact, stored
    return None


def descendants(project: ProjectIndex, qualname: str) -> list[Fact]:
    """Indexed classes deriving (transitively) from `qualname`."""
    children = _table(project).children
    found: dict[str, Fact] = {}
    frontier = [qualname]
    while frontier:
        current = frontier.pop()
        for child in children.get(current, ()):
            if child.qualname not in found:
                found[child.qualname] = child
                frontier.append(child.qualname)
    return list(found.values())


def stored_slot(
    project: ProjectIndex, qualname: str, position: int | None, keyword: str | None, depth: int = 0
) -> tuple[Fact, StoredSession] | None:
    """Where constructing `qualname` with an argument at `position` / `keyword` stores it as a session."""
    fact = class_fact(project, qualname)
    if fact is None or depth > 8:
        return None
    init = fact.data["init"]
    if init is None:  # the constructor is inherited
        for base in fact.data["bases"]:
            found = stored_slot(project, resolve_base(fact, base), position, keyword, depth + 1)
            if found:
                return found
        return None
    if position is not None:
        parameter = init["positional"][position] if position < len(init["positional"]) else None
    else:
        parameter = keyword if keyword in init["positional"] or keyword in init["kwonly"] else None
    if parameter is None:
        return None
    for stored in fact.data.get("stored", ()):
        if stored["parameter"] == parameter:
            return fact, stored
    for forwarded, to_position, to_keyword in init["forwards"]:
        if forwarded == parameter and fact.data["bases"]:
            found = stored_slot(project, resolve_base(fact, fact.data["bases"][0]), to_position, to_keyword, depth + 1)
            if found:
                return found
    return None
