"""What counts as WebSocket plumbing, for the ISO3xx family: its vocabulary,
its typed configuration, its prefilters and the project-index facts it reads.

Plumbing is a class or accessor whose name matches `websocket-names`, an
accessor the project index knows returns such a class, or a module-level
name bound to either. Never plumbing: factories (`*Factory*`), and calls
that hand over the request context or the route's own `websocket`, which
build a per-user or per-connection object.

Project index facts (contributed by ISO301, from `analysis.index_facts`):

- `websockets:accessor` `module.func`: a module-level function that hands out
  the shared manager (its name matches, or it returns a matching class).
  data: `{"returns": "<Class>" or ""}`. A compatibility alias, a function
  without arguments whose body returns another accessor's argument-less call
  (`def get_connection_manager(): return get_manager()`), is one too, with
  `{"returns": "", "delegates": "<callee>"}` and, when the callee is
  imported, `"requires"` as for globals below. So is a function without
  arguments whose body returns a global of its module that holds plumbing
  (`def current(): return _hub`), delegating to that global.
- `websockets:global` `module.name`: a module-level name bound to plumbing at
  import time. data: `{"source": "<callee>"}`.
- `websockets:attribute` `module.Class.attr`: a method stores plumbing on
  `self.attr`. data: `{"method": "<method>", "source": "<callee or name>"}`.
- `websockets:inherited-read` `module.Class.attr`: a method reads `self.attr`
  that its class does not assign (so a base class does). data: `{"bases": [...]}`.

ISO102's `singletons:accessor` facts whose `returns` matches count as
accessors too, when that rule runs; and so do the singletons family's
`singletons:alias` facts (ISO106's indexer, which needs no trigger word)
whose callee is an accessor: an alias of an alias in a module that never
names a socket.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ...index import RENAME, Fact, links
from ...prefilters import AnyOf, Lowered
from .._helpers import alternation, glob_to_bytes_regex, matches_patterns, unanchored_alternatives, word_alternatives
from ..ast_context import AstFile, AstRule
from ..base import Option
from ..singletons.aliases import KIND_ALIAS, aliases_reaching, through_aliases

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex
    from ..base import Rule

DEFAULT_WEBSOCKET_NAMES = [
    "*WebSocketManager*",
    "*WebsocketManager*",
    "*WebSocketBridge*",
    "*WebSocketNotifier*",
    "*ConnectionManager*",
    "*ws_manager*",
    "get_websocket_manager",
    "get_agent_websocket_bridge",
    "get_websocket_bridge",
    "get_global_bridge",
]
DEFAULT_EMITTER_METHODS = [
    "emit",
    "send_to_user",
    "notify_agent_started",
    "notify_agent_thinking",
    "notify_tool_executing",
    "notify_tool_completed",
    "notify_agent_completed",
    "notify_agent_error",
]
WEBSOCKET_NAMES = Option(
    "websocket-names",
    "list[str]",
    DEFAULT_WEBSOCKET_NAMES,
    "Globs for classes and accessors that are WebSocket plumbing (names containing `Factory` never are).",
)
EMITTER_METHODS = Option(
    "emitter-methods",
    "list[str]",
    DEFAULT_EMITTER_METHODS,
    "Methods the per-user emitter supports; the fix swaps a receiver only when every method called on it is one.",
)
# Options of one rule each (ISO303, ISO305), not of the family table.
BROADCAST_METHODS = Option(
    "broadcast-methods",
    "list[str]",
    ["broadcast", "broadcast_to_all", "send_to_all"],
    "Methods of WebSocket plumbing that deliver to every connected user.",
)
CONNECTION_NAMES = Option(
    "connection-names",
    "list[str]",
    ["*connections*", "*sockets*", "*clients*", "*subscribers*"],
    "Globs for module- or class-level dicts that hold connections per user.",
)

# Class-side accessors: `WebSocketManager.get_instance()`.
CLASS_ACCESSORS = ("get_instance", "instance", "get")
# Parameters that hold the route's own connection.
CONNECTION_PARAMS = ("websocket", "ws")
EMITTER_ATTRIBUTE = "websocket_emitter"
ACCESSOR_KINDS = ("websockets:accessor", "singletons:accessor")

# Files that can define plumbing by the default names; names configured
# outside these words are found within their own file only.
SOCKET_WORDS = Lowered(re.compile(rb"socket|bridge|notifier|connection_?manager|ws_manager"))
# A module-level name bound to an argument-less call (`HUB = events()`): it
# holds what an accessor or alias in another module hands out, though its
# module names no socket. Rare (about 1 module in 15 on library code, most
# indexed already); such a module is indexed for these globals alone. Each
# part starts with a literal, as `re` skips ahead to one: a line from the
# newline before it, or the start of the file.
_CALL_GLOBAL_LINE = (
    rb"[A-Za-z_]\w*[ \t]*(?::[^=\n]*)?=[ \t]*(?:await[ \t]+)?[A-Za-z_][\w.]*[ \t]*\([ \t]*\)[ \t]*(?:#[^\n]*)?$"
)
CALL_GLOBALS = AnyOf(
    re.compile(rb"\n" + _CALL_GLOBAL_LINE, re.MULTILINE), re.compile(rb"\A" + _CALL_GLOBAL_LINE, re.MULTILINE)
)
INDEX_PREFILTER = AnyOf(SOCKET_WORDS, *CALL_GLOBALS.filters)


@dataclass(frozen=True)
class WebSocketConfig:
    """The family's settings, read once from the option tables: the family's
    `[tool.isolint.websockets]` for the index, a rule's own options (the
    family's values with that rule's overrides) for a rule."""

    websocket_names: tuple[str, ...] = tuple(DEFAULT_WEBSOCKET_NAMES)
    emitter_methods: frozenset[str] = frozenset(DEFAULT_EMITTER_METHODS)
    broadcast_methods: tuple[str, ...] = tuple(BROADCAST_METHODS.default)
    connection_names: tuple[str, ...] = tuple(CONNECTION_NAMES.default)
    context_params: frozenset[str] = frozenset()  # `context-params`: names that carry the request context

    @classmethod
    def from_options(cls, options: Mapping[str, Any], context_params: Iterable[str]) -> WebSocketConfig:
        """From an option table; a key it lacks keeps its default."""
        return cls(
            websocket_names=tuple(options.get(WEBSOCKET_NAMES.name, cls.websocket_names)),
            emitter_methods=frozenset(options.get(EMITTER_METHODS.name, cls.emitter_methods)),
            broadcast_methods=tuple(options.get(BROADCAST_METHODS.name, cls.broadcast_methods)),
            connection_names=tuple(options.get(CONNECTION_NAMES.name, cls.connection_names)),
            context_params=frozenset(context_params),
        )

    @classmethod
    def of_family(cls, settings: Settings) -> WebSocketConfig:
        """What the project index sees: the family table alone."""
        return cls.from_options(settings.family_options("websockets"), settings.context_params)

    @classmethod
    def of_rule(cls, rule: type[Rule], settings: Settings) -> WebSocketConfig:
        """What one rule sees: the family table with the rule's own overrides."""
        return cls.from_options(settings.options_for(rule), settings.context_params)

    def is_plumbing_name(self, name: str | None) -> bool:
        return name is not None and is_plumbing_name(name, self.websocket_names)

    def is_connection_name(self, name: str) -> bool:
        return matches_patterns(name, self.connection_names)


def is_plumbing_name(name: str, globs: Iterable[str]) -> bool:
    return matches_patterns(name, globs) and "factory" not in name.lower()


class WebSocketRule(AstRule):
    """A rule of the family: it reads its typed configuration, and reports `ast` nodes."""

    abstract_base = True

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.config = WebSocketConfig.from_options(options, file.settings.context_params)


class IndexesPlumbing:
    """Mixin for the rules that recognise plumbing: they read the family's
    index facts, which ISO301 contributes (every indexer runs, whichever
    rules are selected)."""

    reads_facts: ClassVar[tuple[str, ...]] = (
        "websockets:accessor",
        "websockets:global",
        "websockets:attribute",
        "websockets:inherited-read",
        "singletons:accessor",
        KIND_ALIAS,
        RENAME,
    )


# --- prefilters -------------------------------------------------------------------


def plumbing_prefilter(globs: Collection[str], project: ProjectIndex, *, calls_only: bool = False) -> re.Pattern[bytes]:
    """Bytes any finding needs: a call of a glob-matching name (`get_websocket_manager(`,
    `WebSocketManager.get_instance(`) or of an indexed accessor, or (unless
    `calls_only`) an indexed module-global manager."""
    return re.compile(alternation(plumbing_alternatives(globs, project, calls_only=calls_only)))


def plumbing_alternatives(globs: Collection[str], project: ProjectIndex, *, calls_only: bool = False) -> list[bytes]:
    """`plumbing_prefilter`'s alternatives, for rules that add their own."""
    calls = sorted({glob_to_bytes_regex(glob).removesuffix(rb"\w*") for glob in globs})  # `[\w.]*` follows
    calls += sorted(re.escape(name.encode()) for name in project.names(*ACCESSOR_KINDS))
    reaching = aliases_reaching(project, lambda name: _hands_out_plumbing(project, name, globs))
    calls += sorted(re.escape(name.encode()) for name in reaching)
    # The names imports give an accessor or a global (`from .state import hub as manager`).
    renamed_accessors = project.renamed(lambda name: is_indexed_accessor(project, name, globs))
    calls += sorted(re.escape(name.encode()) for name in renamed_accessors)
    alternatives = unanchored_alternatives(calls or [rb"(?!)"], rb"[\w.]*\s*\(")
    renamed_globals = project.renamed(
        lambda name: fact_holds(project, project.exported(name, "websockets:global"), globs)
    )
    shared = sorted(
        {
            re.escape(fact.name.encode())
            for fact in project.of_kind("websockets:global")
            if fact_holds(project, fact, globs)
        }
        | {re.escape(name.encode()) for name in renamed_globals}
    )
    if shared and not calls_only:
        alternatives += word_alternatives(shared, rb"\b")
    return alternatives


# --- reading the index ------------------------------------------------------------


@links("websockets:global", "websockets:attribute", "websockets:accessor")
def _required_link(fact: Fact) -> list[str]:
    """A value from an import stands only if the imported name is plumbing (fact_holds)."""
    required = fact.data.get("requires")
    return [required.rpartition(".")[2]] if required else []


@links("websockets:inherited-read")
def _bases_links(fact: Fact) -> Iterator[str]:
    return (base.partition("[")[0].rpartition(".")[2] for base in fact.data.get("bases", ()))


def is_indexed_accessor(project: ProjectIndex, qualname: str, globs: Iterable[str]) -> bool:
    """Ours (an alias of an imported accessor only if that one is), ISO102's
    singleton accessor when the class it returns is plumbing, or an alias the
    singletons family indexed (in any module, trigger words or not) of one of those."""
    return _reaches_plumbing(project, ("accessor", qualname), globs)


def fact_holds(project: ProjectIndex, fact: Fact | None, globs: Iterable[str]) -> bool:
    """Whether an indexed fact stands: one whose value came from an import
    needs that name indexed as plumbing too (a cycle of imports proves nothing)."""
    if fact is None:
        return False
    required = fact.data.get("requires")
    return not required or _reaches_plumbing(project, ("required", required), globs)


def _reaches_plumbing(project: ProjectIndex, start: tuple[str, str], globs: Iterable[str]) -> bool:
    """Whether following the index from `start` ends at plumbing: from an
    ("accessor", name), the name's accessor fact or the accessors its aliases
    call; from a ("required", name) an imported value needs, an accessor or
    a global of that name. A fact that `requires` another name leads on to
    it. A loop over a worklist, not a call per hop: generated code can chain
    imports and aliases module after module, past the recursion limit."""
    pending, visited = [start], {start}

    def follow(state: tuple[str, str]) -> None:
        if state not in visited:
            visited.add(state)
            pending.append(state)

    while pending:
        what, name = pending.pop()
        facts: list[Fact | None] = []
        if what == "required":
            follow(("accessor", name))
            facts.append(project.exported(name, "websockets:global"))
        else:
            for reached in through_aliases(project, [name]):
                accessor = project.exported(reached, "websockets:accessor")
                if accessor is not None:
                    facts.append(accessor)
                elif _returns_plumbing(project.get("singletons:accessor", reached), globs):
                    return True
        for fact in facts:
            if fact is None:
                continue
            required = fact.data.get("requires")
            if not required:
                return True
            follow(("required", required))
    return False


def _hands_out_plumbing(project: ProjectIndex, qualname: str, globs: Iterable[str]) -> bool:
    """Whether `qualname`'s own accessor fact (not an alias's) hands out
    plumbing, as named or re-exported by a package (as `_reaches_plumbing` finds it)."""
    accessor = project.exported(qualname, "websockets:accessor")
    if accessor is not None:
        return fact_holds(project, accessor, globs)
    return _returns_plumbing(project.exported(qualname, "singletons:accessor"), globs)


def _returns_plumbing(singleton_accessor: Fact | None, globs: Iterable[str]) -> bool:
    """Whether ISO102's accessor returns a class whose name is plumbing."""
    return singleton_accessor is not None and is_plumbing_name(str(singleton_accessor.data.get("returns") or ""), globs)
