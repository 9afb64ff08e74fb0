"""ISO106 singleton-accessor-call: a function that fetches a process-wide singleton.

Reads the index facts "singletons:class", "singletons:accessor" and
"singletons:cached-getter" (see `_singletons`) from the whole project, and
contributes them too, so that it works when ISO101/ISO102/ISO105 are not
selected.
"""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable, Mapping

from .._lazy import cst
from . import _singletons
from ._context import context_param
from ._helpers import dotted_name
from .base import Rule


class SingletonAccessorCall(Rule):
    code = "ISO106"
    name = "singleton-accessor-call"
    family = "singletons"
    summary = "A function fetches a process-wide singleton found elsewhere in the project"
    prefilter = re.compile(rb"(?!)")  # built from the index by compile_prefilter
    metadata = ("QualifiedNameProvider",)
    uses_index = True
    index_prefilter = _singletons.ANY_INDEX_PREFILTER

    @classmethod
    def index(cls, tree: ast.Module, options: Mapping[str, Any]) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return _singletons.every_fact(tree)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A call resolving to an indexed accessor or class spells its name in the file.
        names = sorted(project.names(_singletons.KIND_CLASS, *_singletons.ACCESSOR_KINDS), key=len, reverse=True)
        if not names:
            return re.compile(rb"(?!)")
        return re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")\b")

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

    def _singleton_behind(self, func: cst.BaseExpression) -> tuple[str, Any] | None:
        """("`AgentRegistry`", the fact defining it) when `func` hands out an indexed singleton."""
        project = self.file.project
        for qualname in sorted(self.file.qualified_names(func)):
            fact = project.get(_singletons.KIND_ACCESSOR, qualname) or project.get(_singletons.KIND_CACHED_GETTER, qualname)
            if fact is not None:
                returns = fact.data.get("returns")
                return (f"`{returns}`" if returns else "object"), fact
            fact = project.get(_singletons.KIND_CLASS, qualname)
            if fact is not None and fact.data.get("shared_construction"):
                return f"`{fact.name}`", fact  # constructing it returns the shared instance
            owner, _, method = qualname.rpartition(".")
            fact = project.get(_singletons.KIND_CLASS, owner)
            if fact is not None and method in fact.data.get("accessors", ()):
                return f"`{fact.name}`", fact
        return None
