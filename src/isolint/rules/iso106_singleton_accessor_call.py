"""ISO106 singleton-accessor-call: a function that fetches a process-wide singleton.

Reads the index facts "singletons:class", "singletons:accessor" and
"singletons:cached-getter" (see `_singletons`) from the whole project;
ISO101, ISO102 and ISO105 contribute them (every indexer runs, whichever
rules are selected).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._lazy import cst
from . import _per_call, _singletons
from ._context import context_param
from ._helpers import alternation, dotted_name, word_alternatives
from .base import Rule


class SingletonAccessorCall(Rule):
    code = "ISO106"
    name = "singleton-accessor-call"
    family = "singletons"
    summary = "A function fetches a process-wide singleton found elsewhere in the project"
    prefilter = re.compile(rb"(?!)")  # built from the index by compile_prefilter
    reads_facts = (*_singletons.ACCESSOR_KINDS, _singletons.KIND_CLASS, _per_call.KIND_PER_CALL)
    # A singleton the fixes made per call keeps its call sites listed (see _per_call).
    index_prefilter = _per_call.MARKER

    @classmethod
    def index_source(
        cls, tree: ast.Module, raw: bytes, settings: Any
    ) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return _per_call.per_call_facts(tree, raw)

    def __init__(self, file: Any, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self._names: frozenset[str] | None = None

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A call resolving to an indexed accessor or class spells its name in the file.
        names = sorted(
            project.names(_singletons.KIND_CLASS, *_singletons.ACCESSOR_KINDS, _per_call.KIND_PER_CALL),
            key=len,
            reverse=True,
        )
        if not names:
            return re.compile(rb"(?!)")
        return re.compile(alternation(word_alternatives((re.escape(n.encode()) for n in names), rb"\b")))

    def _indexed_names(self) -> frozenset[str]:
        """Short names a call must end in to hand out an indexed singleton:
        accessors, classes, and the classes' accessor methods."""
        if self._names is None:
            project = self.file.project
            methods = {
                m
                for kind in (_singletons.KIND_CLASS, _per_call.KIND_PER_CALL)
                for fact in project.of_kind(kind)
                for m in fact.data.get("accessors", ())
            }
            self._names = (
                project.names(_singletons.KIND_CLASS, *_singletons.ACCESSOR_KINDS, _per_call.KIND_PER_CALL) | methods
            )
        return self._names

    def visit_Call(self, node: cst.Call) -> None:
        function = self.file.enclosing(cst.FunctionDef)
        if function is None:
            return  # import-time calls are ISO103's
        found = self._singleton_behind(node.func)
        if found is None:
            return
        singleton, fact = found
        called = dotted_name(node.func) or fact.name
        where = f"{fact.path}:{fact.line}"
        if fact.kind == _per_call.KIND_PER_CALL:
            self._report_per_call(node, called, singleton, fact)
            return
        context = context_param(function, self.settings)
        if context is not None:
            manual = (
                f"`{function.name.value}` already has the request context (`{context}`): obtain the {singleton} from "
                f"the request's factory scope instead (`AgentInstanceFactory.create_agent_instance(name, {context})` "
                f"or a resource carried on `{context}`), not from the process-wide accessor."
            )
        else:
            manual = (
                f"Pass the request context into `{function.name.value}` and obtain the {singleton} from the request's "
                "factory scope; if it holds no user state, create it once at startup and keep it in app state."
            )
        self.report(
            node,
            f"`{called}()` returns the process-wide {singleton} (defined in {where}); every request that reaches "
            "this call shares it",
            manual=manual,
        )

    def _report_per_call(self, node: cst.Call, called: str, made: str, fact: Any) -> None:
        code = fact.data["code"]
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

    def _singleton_behind(self, func: cst.BaseExpression) -> tuple[str, Any] | None:
        """("`AgentRegistry`", the fact defining it) when `func` hands out an indexed singleton."""
        project = self.file.project
        if not self.file.may_be_named(func, self._indexed_names()):
            return None
        for qualname in sorted(self.file.qualified_names(func)):
            fact = project.get(_singletons.KIND_ACCESSOR, qualname) or project.get(
                _singletons.KIND_CACHED_GETTER, qualname
            )
            if fact is not None:
                returns = fact.data.get("returns")
                return (f"`{returns}`" if returns else "object"), fact
            fact = project.get(_singletons.KIND_CLASS, qualname)
            if fact is not None and fact.data.get("shared_construction"):
                return f"`{fact.name}`", fact  # constructing it returns the shared instance
            fact = project.get(_per_call.KIND_PER_CALL, qualname)
            if fact is not None and (not fact.data["accessors"] or fact.data.get("constructed")):
                returns = fact.data.get("returns")
                return (f"`{returns}`" if returns else "object"), fact
            owner, _, method = qualname.rpartition(".")
            for kind in (_singletons.KIND_CLASS, _per_call.KIND_PER_CALL):
                fact = project.get(kind, owner)
                if fact is not None and method in fact.data.get("accessors", ()):
                    return f"`{fact.name}`", fact
        return None
