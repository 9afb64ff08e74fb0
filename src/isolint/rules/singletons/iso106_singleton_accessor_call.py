"""ISO106 singleton-accessor-call: a function that fetches a process-wide singleton.

Reads the index facts "singletons:class", "singletons:accessor" and
"singletons:cached-getter" (see `family`) from the whole project;
ISO101, ISO102 and ISO105 contribute them (every indexer runs, whichever
rules are selected). Its own facts: "singletons:per-call" (see `per_call`)
keep listing the callers of a singleton `isolint fix` made per call, and
"singletons:alias" (see `aliases`) find the calls of a compatibility alias
of an accessor, in whichever module the alias is.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...index import RENAME
from ...prefilters import NEVER, AnyOf, TextFilter
from .._helpers import alternation, word_alternatives
from ..ast_context import AstRule
from ..ast_helpers import context_param, dotted_name
from .aliases import ALIAS_INDEX_PREFILTER, KIND_ALIAS, alias_facts, singleton_aliases, through_aliases
from .family import (
    ACCESSOR_KINDS,
    KIND_ACCESSOR,
    KIND_CACHED_GETTER,
    KIND_CLASS,
    ClassFact,
    handed_out,
)
from .per_call import KIND_PER_CALL, MARKER, PerCallFact, per_call_facts

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import Fact, ProjectIndex


class SingletonAccessorCall(AstRule):
    code = "ISO106"
    name = "singleton-accessor-call"
    family = "singletons"
    summary = "A function fetches a process-wide singleton found elsewhere in the project"
    prefilter = re.compile(rb"(?!)")  # built from the index by compile_prefilter
    reads_facts = (*ACCESSOR_KINDS, KIND_CLASS, KIND_PER_CALL, KIND_ALIAS, RENAME)
    # A singleton the fixes made per call keeps its call sites listed (see
    # per_call); an alias of an accessor hands out its singleton (see aliases).
    index_prefilter = AnyOf(MARKER, ALIAS_INDEX_PREFILTER)

    @classmethod
    def index_module(
        cls, tree: ast.Module, raw: bytes, settings: Settings, module: str, is_package: bool
    ) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
        yield from per_call_facts(tree, raw)
        yield from alias_facts(tree, raw, settings, module, is_package)

    _names: frozenset[str] | None = None  # see _indexed_names, per file

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        # A call resolving to an indexed accessor or class spells its name in the file.
        names = sorted(
            project.names(KIND_CLASS, *ACCESSOR_KINDS, KIND_PER_CALL) | project.derived(singleton_aliases),
            key=len,
            reverse=True,
        )
        if not names:
            return NEVER
        return re.compile(alternation(word_alternatives((re.escape(n.encode()) for n in names), rb"\b")))

    def _indexed_names(self) -> frozenset[str]:
        """Short names a call must end in to hand out an indexed singleton:
        accessors, classes, and the classes' accessor methods."""
        if self._names is None:
            self._names = self.file.project.derived(_indexed_singleton_names)
        return self._names

    def visit_Call(self, node: ast.Call) -> None:
        function = self.file.enclosing_function()
        if function is None:
            return  # import-time calls are ISO103's
        found = self._singleton_behind(node.func)
        if found is None:
            return
        singleton, fact = found
        called = dotted_name(node.func) or fact.name
        where = f"{fact.path}:{fact.line}"
        if fact.kind == KIND_PER_CALL:
            self._report_per_call(node, called, singleton, fact)
            return
        context = context_param(function, self.settings)
        if context is not None:
            manual = (
                f"`{function.name}` already has the request context (`{context}`): obtain the {singleton} from "
                f"the request's factory scope instead (`AgentInstanceFactory.create_agent_instance(name, {context})` "
                f"or a resource carried on `{context}`), not from the process-wide accessor."
            )
        else:
            manual = (
                f"Pass the request context into `{function.name}` and obtain the {singleton} from the request's "
                "factory scope; if it holds no user state, create it once at startup and keep it in app state."
            )
        self.report(
            node,
            f"`{called}()` returns the process-wide {singleton} (defined in {where}); every request that reaches "
            "this call shares it",
            manual=manual,
        )

    def _report_per_call(self, node: ast.Call, called: str, made: str, fact: Fact) -> None:
        code = PerCallFact.read(fact).code
        self.report(
            node,
            f"`{called}()` returns a new {made} per call since `isolint fix` ({code}) made it per call "
            f"({fact.path}:{fact.line}); this call no longer shares it with other callers",
            manual=(
                f"If this code relied on getting the same {made} as another caller (state written there and read "
                "here), pass that instance along instead, or keep it on the request context. Once checked, delete "
                f"the `# isolint {code}: ...` comment at the definition ({fact.path}:{fact.line}): its call sites are then "
                "no longer listed."
            ),
        )

    def _singleton_behind(self, func: ast.expr) -> tuple[str, Fact] | None:
        """("`AgentRegistry`", the fact defining it) when `func` hands out an indexed singleton."""
        project = self.file.project
        if not self.file.may_be_named(func, self._indexed_names()):
            return None
        for qualname in through_aliases(project, self.file.qualified_names(func)):
            fact = project.get(KIND_ACCESSOR, qualname) or project.get(KIND_CACHED_GETTER, qualname)
            if fact is not None:
                returns = handed_out(fact)
                return (f"`{returns}`" if returns else "object"), fact
            fact = project.get(KIND_CLASS, qualname)
            if fact is not None and ClassFact.read(fact).shared_construction:
                return f"`{fact.name}`", fact  # constructing it returns the shared instance
            fact = project.get(KIND_PER_CALL, qualname)
            made = PerCallFact.read(fact) if fact is not None else None
            if fact is not None and made is not None and (not made.accessors or made.constructed):
                return (f"`{made.returns}`" if made.returns else "object"), fact
            owner, _, method = qualname.rpartition(".")
            fact = project.get(KIND_CLASS, owner)
            if fact is not None and method in ClassFact.read(fact).accessors:
                return f"`{fact.name}`", fact
            fact = project.get(KIND_PER_CALL, owner)
            if fact is not None and method in PerCallFact.read(fact).accessors:
                return f"`{fact.name}`", fact
        return None


def _indexed_singleton_names(project: ProjectIndex) -> frozenset[str]:
    """What `_indexed_names` answers, the same for every file of the project."""
    methods = {m for fact in project.of_kind(KIND_CLASS) for m in ClassFact.read(fact).accessors} | {
        m for fact in project.of_kind(KIND_PER_CALL) for m in PerCallFact.read(fact).accessors
    }
    return project.names(KIND_CLASS, *ACCESSOR_KINDS, KIND_PER_CALL) | methods | project.derived(singleton_aliases)
