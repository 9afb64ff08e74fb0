"""ISO103 module-service-instance: a service object created, or fetched from a singleton accessor, at import time.

Reads the index facts "singletons:accessor", "singletons:cached-getter" and
"singletons:class" (see `_singletons`), which ISO101, ISO102 and ISO105
contribute (every indexer runs, whichever rules are selected), and its own
"singletons:keyed-state-class": an instance of a class keeping per-caller
entries is reported whatever the class is called.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._lazy import cst
from . import _singletons
from ._helpers import (
    assignment_targets,
    dotted_name,
    glob_to_bytes_regex,
    is_module_level,
    last_name,
    matches_patterns,
)
from .base import Option, Rule

MANUAL = (
    "Infrastructure that holds no user state (a connection pool, an HTTP client) goes into app state created at "
    "startup (e.g. FastAPI lifespan -> `app.state`); anything that holds user state is created per request through "
    "the factory (`AgentInstanceFactory` inside `user_execution_scope(...)`) and reached through the request context."
)


INDEXED_KINDS = (*_singletons.ACCESSOR_KINDS, _singletons.KIND_CLASS, _singletons.KIND_KEYED_STATE)


class ModuleServiceInstance(Rule):
    code = "ISO103"
    name = "module-service-instance"
    family = "singletons"
    summary = "A module-level service instance (or singleton accessor result) is shared by every request"
    prefilter = re.compile(rb"(?!)")  # built from the options and the index by compile_prefilter
    reads_facts = (*_singletons.ACCESSOR_KINDS, _singletons.KIND_CLASS, _singletons.KIND_KEYED_STATE)
    index_prefilter = _singletons.KEYED_STATE_INDEX_PREFILTER
    options = (
        Option(
            "service-suffixes",
            "list[str]",
            [
                "Manager",
                "Registry",
                "Service",
                "Bridge",
                "Dispatcher",
                "Executor",
                "Engine",
                "Tracker",
                "Cache",
                "Store",
                "Emitter",
                "Notifier",
                "Orchestrator",
                "Supervisor",
                "Agent",
                "Handler",
                "Pool",
                "Coordinator",
                "Monitor",
                "Collector",
                "Broker",
                "Hub",
                "Bus",
                "Controller",
                "Provider",
                "Locator",
                "Container",
            ],
            "Class-name endings that mark a stateful service.",
        ),
        Option(
            "accessor-patterns",
            "list[str]",
            ["get_*_manager", "get_*_registry", "get_*_service", "get_*_bridge"],
            "Globs for singleton accessor functions, on top of those ISO102/ISO105 find in the project.",
        ),
        Option(
            "allow",
            "list[str]",
            ["*Settings", "*Config", "*Configuration", "logging.*", "APIRouter", "ContextVar", "TypeVar"],
            "Globs for classes or qualified names that are never reported.",
        ),
    )

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return _singletons.keyed_state_facts(tree)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A finding assigns the result of calling a class ending in a suffix, an
        # accessor matching a pattern, or an accessor/singleton class the index
        # knows: `= [await] <...name>(`. Mentions alone (`-> FooManager`) don't count.
        options = settings.options_for(cls)
        fragments = [rb"(?:" + b"|".join(re.escape(s.encode()) for s in options["service-suffixes"]) + rb")"]
        fragments += [glob_to_bytes_regex(glob) for glob in options["accessor-patterns"]]
        fragments += [rb"\b" + re.escape(n.encode()) for n in sorted(project.names(*INDEXED_KINDS))]
        names = b"|".join(b"(?:" + f + b")" for f in fragments if f)
        if not names:
            return re.compile(rb"(?!)")
        # Test the fragments' first characters before trying each one: the
        # scan runs at every `=` of every file.
        indexed = project.names(*INDEXED_KINDS)
        initials = {word[:1] for word in [*options["service-suffixes"], *options["accessor-patterns"], *indexed]}
        if not options["service-suffixes"] or initials & {"", "*", "?"}:
            gate = b""  # an empty suffix group or a leading wildcard: any character may start a match
        else:
            gate = rb"(?=[" + re.escape("".join(sorted(initials)).encode()) + rb"])"
        return re.compile(rb"=\s*\(?\s*(?:await\s+)?[\w.]*?" + gate + rb"(?:" + names + rb")[\w.]*\s*\(")

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node)

    def _check(self, node: cst.Assign | cst.AnnAssign) -> None:
        if not assignment_targets(node) or not is_module_level(self.file.ancestors):
            return
        value = node.value.expression if isinstance(node.value, cst.Await) else node.value
        if not isinstance(value, cst.Call):
            return
        callee = dotted_name(value.func)
        name = last_name(value.func)
        if callee is None or name is None or not self._could_match(name):
            return
        qualified = self.file.qualified_names(value.func)  # resolving names costs a scope pass: only now
        if any(matches_patterns(candidate, self.option_values["allow"]) for candidate in {callee, name, *qualified}):
            return
        accessor = self._known_accessor(name, qualified)
        if accessor is not None:
            self.report(
                value,
                f"`{callee}()` runs at import time and binds {accessor} to a module global; every request "
                "then shares that one object, and nothing can give a request its own",
                manual=MANUAL + " Call it inside the code that needs it, with the request context, instead.",
            )
        elif any(name.endswith(suffix) for suffix in self.option_values["service-suffixes"]):
            self.report(
                value,
                f"module-level `{callee}(...)` creates one `{name}` for the whole process; every request shares it "
                "and whatever it keeps",
                manual=MANUAL,
            )
        elif (keyed := self._keyed_state(qualified)) is not None:
            self.report(
                value,
                f"module-level `{callee}(...)` creates one `{name}` for the whole process, and it keeps entries per "
                f"caller (`self.{keyed['attribute']}[...]` keyed by `{keyed['key']}` in `{keyed['method']}`); every "
                "request shares them",
                manual=MANUAL,
            )

    def _could_match(self, name: str) -> bool:
        project = self.file.project
        return (
            any(name.endswith(suffix) for suffix in self.option_values["service-suffixes"])
            or matches_patterns(name, self.option_values["accessor-patterns"])
            or name in project.names(*INDEXED_KINDS)
            or any(name in fact.data.get("accessors", ()) for fact in project.of_kind(_singletons.KIND_CLASS))
        )

    def _keyed_state(self, qualified: set[str]) -> Mapping[str, Any] | None:
        """The per-caller write of the class constructed, if the index knows one."""
        for qualname in qualified:
            fact = self.file.project.get(_singletons.KIND_KEYED_STATE, qualname)
            if fact is not None:
                return fact.data
        return None

    def _known_accessor(self, name: str, qualified: set[str]) -> str | None:
        """How to name what a known singleton accessor returns, or None if `func` is not one."""
        project = self.file.project
        for qualname in qualified:
            fact = project.get(_singletons.KIND_ACCESSOR, qualname) or project.get(
                _singletons.KIND_CACHED_GETTER, qualname
            )
            if fact is not None:
                returns = fact.data.get("returns")
                return f"the process-wide `{returns}`" if returns else "a process-wide object"
            owner, _, method = qualname.rpartition(".")
            fact = project.get(_singletons.KIND_CLASS, owner)
            if fact is not None and method in fact.data.get("accessors", ()):
                return f"the process-wide `{fact.name}`"
        if matches_patterns(name, self.option_values["accessor-patterns"]):
            return "what looks like a process-wide singleton"
        return None
