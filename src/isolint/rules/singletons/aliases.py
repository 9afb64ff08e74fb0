"""Compatibility aliases of the family's singletons, across modules.

`def registry(): return get_agent_registry()` hands out whatever the function
it calls hands out, and code that calls `registry()` shares that singleton
as much as code calling `get_agent_registry()` does. The index pass sees one
module at a time and cannot know what an imported name is, so it records
every module function (and static or class method of a module class) taking
no arguments whose whole body returns an argument-less call as an alias of
the absolute names it calls
("singletons:alias", data {"calls": [names]}). The rules follow aliases
(`through_aliases`) to a singleton the index knows; an alias reaching none
counts for nothing. Calls into the standard library (`datetime.now`) are
left out: they hand out no singleton of the project, and recording them
would only grow the index.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...index import links
from ...prefilters import AllOf
from ..ast_helpers import decorator_names, dotted_name, returned_value, takes_arguments, without_await
from .evidence import indexed_file, module_functions
from .family import ACCESSOR_KINDS, KIND_CLASS, ClassFact, FactRow
from .per_call import KIND_PER_CALL, PerCallFact

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import Fact, ProjectIndex

KIND_ALIAS = "singletons:alias"
# Necessary for an alias: a definition taking no arguments (or a class
# method taking `cls` alone), and a return of an argument-less call (each
# starts with its literal: `re` skips ahead to it).
ALIAS_INDEX_PREFILTER = AllOf(
    re.compile(rb"def(?<!\wdef)\s+\w+\s*\(\s*(?:cls\s*,?\s*)?\)"),
    re.compile(rb"return(?<!\wreturn)(?!\w)[\s(]*(?:await(?!\w)[\s(]*)?[\w.]+\s*\(\s*\)"),
)


@dataclass(frozen=True)
class AliasFact:
    """ "singletons:alias": a function handing out what another one does."""

    calls: tuple[str, ...]  # the absolute names its call may resolve to

    def to_data(self) -> dict[str, Any]:
        return {"calls": list(self.calls)}

    @classmethod
    def read(cls, fact: Fact) -> AliasFact:
        return cls(tuple(fact.data.get("calls", ())))


def alias_facts(tree: ast.Module, raw: bytes, settings: Settings, module: str, is_package: bool) -> Iterator[FactRow]:
    """An alias fact for each module function, or static or class method of a
    module class, taking no arguments (a class method its class alone) whose
    body (after any docstring) is one `return [await] f()`, with `f` resolved
    through the module's imports and definitions."""
    candidates = [
        (name, node, call)
        for name, node in module_functions(tree)
        if not _takes_arguments(node)
        and isinstance(call := without_await(returned_value(node)), ast.Call)
        and not call.args
        and not call.keywords
        and dotted_name(call.func) is not None
    ]
    if not candidates:
        return  # resolving names costs a scope pass: only for a module that has one
    file = indexed_file(tree, raw, settings, module, is_package)
    for name, node, call in candidates:
        calls = sorted(
            called
            for called in file.qualified_names(call.func)
            # A bare name is a builtin or unbound; an import of the standard library hands out no project singleton.
            if "." in called and called.partition(".")[0] not in sys.stdlib_module_names
        )
        if calls:
            yield KIND_ALIAS, name, node.lineno, AliasFact(tuple(calls)).to_data()


def _takes_arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether calling it takes an argument: a class method's first parameter,
    `cls` (the prefilter's spelling), is its class."""
    args = function.args
    if "classmethod" in decorator_names(function) and [a.arg for a in args.args] == ["cls"]:
        return bool(args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg)
    return takes_arguments(function)


@links(KIND_ALIAS)
def _alias_links(fact: Fact) -> list[str]:
    """An alias stands on what it calls: a file calling the alias depends on those facts too."""
    return [name.rpartition(".")[2] for name in AliasFact.read(fact).calls]


def through_aliases(project: ProjectIndex, qualified: Iterable[str]) -> list[str]:
    """`qualified`, sorted, then what the indexed aliases among them call,
    transitively: an alias hands out what it calls; and where a package
    re-exports one of these names, where it is defined (`reexported`). Each
    name comes once, so a cycle of aliases ends."""
    found = sorted(qualified)
    seen = set(found)
    position = 0
    while position < len(found):
        current = found[position]
        position += 1
        fact = project.get(KIND_ALIAS, current)
        defined = reexported(project, current)
        for name in [*(AliasFact.read(fact).calls if fact is not None else ()), *([defined] if defined else [])]:
            if name not in seen:
                seen.add(name)
                found.append(name)
    return found


# What the family's facts define, and what can own an accessor method.
_DEFINING_KINDS = (*ACCESSOR_KINDS, KIND_CLASS, KIND_PER_CALL, KIND_ALIAS)
_OWNING_KINDS = (KIND_CLASS, KIND_PER_CALL)


def reexported(project: ProjectIndex, qualname: str) -> str | None:
    """Where the family's facts define `qualname` when it is not defined as
    named (ProjectIndex.exported): a package re-exports it from one of its
    modules, or an import renamed it. `pkg.registry.get_registry` for
    `pkg.get_registry`, or for `pkg.agents` after `from .registry import
    get_registry as agents`; `pkg.registry.Registry.instance` for
    `pkg.Registry.instance`. None when it is defined as named, or not indexed."""
    fact = project.exported(qualname, *_DEFINING_KINDS)
    if fact is not None:
        return fact.qualname if fact.qualname != qualname else None
    owner, _, method = qualname.rpartition(".")
    fact = project.exported(owner, *_OWNING_KINDS) if owner else None
    return f"{fact.qualname}.{method}" if fact is not None and fact.qualname != owner else None


def aliases_reaching(project: ProjectIndex, hands_out: Callable[[str], bool]) -> frozenset[str]:
    """Short names of the indexed aliases from which `through_aliases` reaches
    a name that `hands_out` accepts (as far as facts other than aliases say).
    One pass backwards from those names over the aliases' calls: a search
    forwards from each alias walked a chain of them once per alias."""
    callers: dict[str, list[Fact]] = defaultdict(list)
    for fact in project.of_kind(KIND_ALIAS):
        for name in AliasFact.read(fact).calls:
            callers[name].append(fact)
    pending = [name for name in callers if hands_out(name)]
    reaching: dict[str, Fact] = {}
    while pending:
        for fact in callers.get(pending.pop(), ()):
            if fact.qualname not in reaching:
                reaching[fact.qualname] = fact
                pending.append(fact.qualname)
    return frozenset(fact.name for fact in reaching.values())


def singleton_aliases(project: ProjectIndex) -> frozenset[str]:
    """Short names that stand for a singleton the index knows without being
    one of its facts, for the rules' prefilters and cheap name tests: the
    indexed aliases that reach one (other aliases hand out nothing shared),
    and the names imports give to either (`from .registry import
    get_agent_registry as agents`)."""
    reaching = aliases_reaching(project, lambda name: _names_singleton(project, name))

    def stands_for_one(name: str) -> bool:
        alias = project.exported(name, KIND_ALIAS)
        return _names_singleton(project, name) or (alias is not None and alias.name in reaching)

    return reaching | project.renamed(stands_for_one)


def _names_singleton(project: ProjectIndex, qualname: str) -> bool:
    """Whether an indexed singleton fact defines `qualname`, as named or
    re-exported by a package: an accessor, a cached getter, a class, one of a
    class's accessors, or what a per-call fix changed."""
    if _defines_singleton(project, qualname):
        return True
    defined = reexported(project, qualname)
    return defined is not None and _defines_singleton(project, defined)


def _defines_singleton(project: ProjectIndex, qualname: str) -> bool:
    if any(project.get(kind, qualname) for kind in (*ACCESSOR_KINDS, KIND_CLASS, KIND_PER_CALL)):
        return True
    owner, _, method = qualname.rpartition(".")
    fact = project.get(KIND_CLASS, owner)
    if fact is not None and method in ClassFact.read(fact).accessors:
        return True
    fact = project.get(KIND_PER_CALL, owner)
    return fact is not None and method in PerCallFact.read(fact).accessors
