"""ISO103 module-service-instance: a service object created, or fetched from a singleton accessor, at import time.

Reads the index facts "singletons:accessor", "singletons:cached-getter" and
"singletons:class" (see `family`), which ISO101, ISO102 and ISO105
contribute (every indexer runs, whichever rules are selected), and its own
"singletons:keyed-state-class" (see `keyed_state`): an instance of a class
keeping per-caller entries is reported whatever the class is called.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...index import RENAME
from .._helpers import alternation, glob_to_bytes_regex, matches_patterns, word_alternatives
from ..ast_context import AstRule
from ..ast_helpers import assignment_targets, dotted_name, is_module_level, last_name
from ..base import Option
from .aliases import KIND_ALIAS, singleton_aliases, through_aliases
from .family import (
    ACCESSOR_KINDS,
    KIND_ACCESSOR,
    KIND_CACHED_GETTER,
    KIND_CLASS,
    ClassFact,
    family_config,
    handed_out,
)
from .keyed_state import KEYED_STATE_INDEX_PREFILTER, KIND_KEYED_STATE, KeyedStateFact, keyed_state_facts

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex

MANUAL = (
    "Infrastructure that holds no user state (a connection pool, an HTTP client) goes into app state created at "
    "startup (e.g. FastAPI lifespan -> `app.state`); anything that holds user state is created per request through "
    "the factory (`AgentInstanceFactory` inside `user_execution_scope(...)`) and reached through the request context."
)


INDEXED_KINDS = (*ACCESSOR_KINDS, KIND_CLASS, KIND_KEYED_STATE)


class ModuleServiceInstance(AstRule):
    code = "ISO103"
    name = "module-service-instance"
    family = "singletons"
    summary = "A module-level service instance (or singleton accessor result) is shared by every request"
    prefilter = re.compile(rb"(?!)")  # built from the options and the index by compile_prefilter
    reads_facts = (*INDEXED_KINDS, KIND_ALIAS, RENAME)
    index_prefilter = KEYED_STATE_INDEX_PREFILTER
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
    def index(cls, tree: ast.Module, settings: Settings) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return keyed_state_facts(tree)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # A finding assigns the result of calling a class ending in a suffix, an
        # accessor matching a pattern, or an accessor/singleton class the index
        # knows: `= [await] <...name>(`. Mentions alone (`-> FooManager`) don't count.
        config = family_config(settings)
        # An empty suffix list matches any callee, as an empty group would.
        suffixes = [re.escape(s.encode()) for s in config.service_suffixes] or [b""]
        globs = [glob_to_bytes_regex(glob) for glob in config.accessor_patterns]
        # Factored on their literal prefixes, as a trie: tried one by one, the
        # indexed names made the scan of a file grow with the project's size.
        indexed = project.names(*INDEXED_KINDS) | project.derived(singleton_aliases)
        indexed_names = word_alternatives(re.escape(n.encode()) for n in sorted(indexed))
        names = alternation(suffixes, globs, indexed_names)
        # Test the fragments' first characters before trying each one: the
        # scan runs at every `=` of every file.
        initials = {word[:1] for word in [*config.service_suffixes, *config.accessor_patterns, *indexed]}
        if not config.service_suffixes or initials & {"", "*", "?"}:
            gate = b""  # an empty suffix group or a leading wildcard: any character may start a match
        else:
            gate = rb"(?=[" + re.escape("".join(sorted(initials)).encode()) + rb"])"
        return re.compile(rb"=\s*\(?\s*(?:await\s+)?[\w.]*?" + gate + rb"(?:" + names + rb")[\w.]*\s*\(")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check(node)

    def _check(self, node: ast.Assign | ast.AnnAssign) -> None:
        if not assignment_targets(node) or not is_module_level(self.file.ancestors):
            return
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if not isinstance(value, ast.Call):
            return
        callee = dotted_name(value.func)
        name = last_name(value.func)
        if callee is None or name is None or not self._could_match(name):
            return
        qualified = self.file.qualified_names(value.func)  # resolving names costs a scope pass: only now
        config = family_config(self.settings)
        if any(matches_patterns(candidate, config.service_allow) for candidate in {callee, name, *qualified}):
            return
        accessor = self._known_accessor(name, qualified)
        if accessor is not None:
            self.report(
                value,
                f"`{callee}()` runs at import time and binds {accessor} to a module global; every request "
                "then shares that one object, and nothing can give a request its own",
                manual=MANUAL + " Call it inside the code that needs it, with the request context, instead.",
            )
        elif any(name.endswith(suffix) for suffix in config.service_suffixes):
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
                f"caller (`self.{keyed.attribute}[...]` keyed by `{keyed.key}` in `{keyed.method}`); every "
                "request shares them",
                manual=MANUAL,
            )

    def _could_match(self, name: str) -> bool:
        project, config = self.file.project, family_config(self.settings)
        return (
            any(name.endswith(suffix) for suffix in config.service_suffixes)
            or matches_patterns(name, config.accessor_patterns)
            or name in project.names(*INDEXED_KINDS)
            or name in project.derived(singleton_aliases)
            or name in project.derived(_class_accessors)
        )

    def _keyed_state(self, qualified: set[str]) -> KeyedStateFact | None:
        """The per-caller write of the class constructed, if the index knows one."""
        for qualname in qualified:
            fact = self.file.project.get(KIND_KEYED_STATE, qualname)
            if fact is not None:
                return KeyedStateFact.read(fact)
        return None

    def _known_accessor(self, name: str, qualified: set[str]) -> str | None:
        """How to name what a known singleton accessor returns, or None if `func` is not one."""
        project = self.file.project
        for qualname in through_aliases(project, qualified):
            fact = project.get(KIND_ACCESSOR, qualname) or project.get(KIND_CACHED_GETTER, qualname)
            if fact is not None:
                returns = handed_out(fact)
                return f"the process-wide `{returns}`" if returns else "a process-wide object"
            owner, _, method = qualname.rpartition(".")
            fact = project.get(KIND_CLASS, owner)
            if fact is not None and method in ClassFact.read(fact).accessors:
                return f"the process-wide `{fact.name}`"
        if matches_patterns(name, family_config(self.settings).accessor_patterns):
            return "what looks like a process-wide singleton"
        return None


def _class_accessors(project: ProjectIndex) -> frozenset[str]:
    """The accessor methods of every indexed singleton class, once per index."""
    return frozenset(name for fact in project.of_kind(KIND_CLASS) for name in ClassFact.read(fact).accessors)
