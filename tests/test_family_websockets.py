"""The WebSocket family (ISO3xx) across files: what fixtures cannot express."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import isolint
from isolint.config import DEFAULT_CONTEXT_PARAMS, load_settings
from isolint.engine import lint_text
from isolint.index import Fact, ProjectIndex
from isolint.newer_syntax import parse_module  # fixtures/pep701 included
from isolint.rules import ALL_RULES
from isolint.rules.websockets.analysis import index_facts
from isolint.rules.websockets.family import (
    DEFAULT_EMITTER_METHODS,
    INDEX_PREFILTER,
    WebSocketConfig,
    fact_holds,
    is_indexed_accessor,
    plumbing_prefilter,
)
from tests.conftest import write
from tests.helpers import CountingIndex, alias_chain, check_findings, run_cli

FAMILY_DEFAULTS = WebSocketConfig(context_params=frozenset(DEFAULT_CONTEXT_PARAMS))

MANAGER_MODULE = """\
class WebSocketManager:
    async def send_to_user(self, user_id, message):
        pass

    async def broadcast(self, message):
        pass


websocket_manager = WebSocketManager()
_hub = None


def shared_hub():
    global _hub
    if _hub is None:
        _hub = WebSocketManager()
    return _hub
"""


# What ISO302 says of a read of the global manager, and of an accessor's call.
GLOBAL_MANAGER = (
    "is the module-global WebSocket manager: every user's events go through it, so a wrong user or run id "
    "reaches someone else's socket"
)
HANDED_OUT = (
    "returns the process-wide WebSocket manager: every user's events go through it, so a wrong user or run id "
    "reaches someone else's socket"
)


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / ".git").mkdir()  # the index covers the repository
    write(tmp_path / "chatapp" / "__init__.py", "")
    write(tmp_path / "chatapp" / "websocket_manager.py", MANAGER_MODULE)
    for name, text in files.items():
        write(tmp_path / "chatapp" / name, text)
    return tmp_path


def _found(paths: list[Path], *selectors: str) -> list[tuple[str, int, str]]:
    return sorted((Path(f.path).name, f.location.row, f.code) for f in check_findings(paths, *selectors))


def test_an_imported_global_manager_is_recognised_and_swapped(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "routes.py": (
                "from chatapp.websocket_manager import websocket_manager as manager\n"
                "from isolint.runtime import UserExecutionContext\n\n\n"
                "async def finish(context: UserExecutionContext, report: str) -> None:\n"
                "    await manager.send_to_user(context.user_id, {'report': report})\n\n\n"
                "async def connect(websocket, user_id: str) -> None:\n"
                "    await manager.connect(websocket, user_id)\n"
            )
        },
    )
    routes = root / "chatapp" / "routes.py"
    assert _found([routes], "ISO302") == [("routes.py", 6, "ISO302"), ("routes.py", 10, "ISO302")]
    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO302", str(routes))
    fixed = routes.read_text(encoding="utf-8")
    assert "await context.websocket_emitter.send_to_user(context.user_id, {'report': report})" in fixed
    assert "await manager.connect(websocket, user_id)" in fixed  # no context, and `connect` is no emitter method


def test_an_accessor_defined_elsewhere_is_found_by_what_it_returns(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "app.py": "from chatapp.websocket_manager import shared_hub\n\nhub = shared_hub()\n",
            "agents.py": (
                "from chatapp import websocket_manager as ws\n\n\n"
                "async def done(user_id):\n"
                "    await ws.shared_hub().broadcast({'user': user_id})\n"
            ),
        },
    )
    package = root / "chatapp"
    found = _found([package / "app.py", package / "agents.py"], "ISO3")
    assert found == [("agents.py", 5, "ISO302"), ("agents.py", 5, "ISO303"), ("app.py", 3, "ISO301")]


def test_a_manager_a_package_re_exports_is_the_manager_where_it_is_imported_from_the_package(tmp_path: Path) -> None:
    """`chatapp/events/__init__.py` re-exports its module's global as it is:
    imported from the package, it is the module's manager. (A module's name
    imported from its package is the module:
    test_an_accessor_defined_elsewhere_is_found_by_what_it_returns.)"""
    root = _project(
        tmp_path,
        {
            "events/state.py": "from chatapp.websocket_manager import WebSocketManager\n\nhub = WebSocketManager()\n",
            "events/__init__.py": "from .state import hub\n",
            "notify.py": (
                "from chatapp.events import hub\n\n\n"
                "async def done(user_id):\n"
                "    await hub.send_to_user(user_id, {})\n"
            ),
        },
    )
    notify = root / "chatapp" / "notify.py"
    found = [(f.location.row, f.code, f.message) for f in check_findings([notify], "ISO3")]
    assert found == [(5, "ISO302", f"`hub` {GLOBAL_MANAGER}")]


RENAMED_HUB = {
    "events/state.py": (
        "from chatapp.websocket_manager import WebSocketManager\n\n"
        "hub = WebSocketManager()\n\n\n"
        "def get_websocket_manager():\n"
        "    return hub\n\n\n"
        "def format_event(name):\n"
        "    return {'event': name}\n"
    ),
    # A package's API renames its module's names; so does a compatibility module.
    "events/__init__.py": (
        "from .state import format_event as manager_event\n"
        "from .state import get_websocket_manager as connections\n"
        "from .state import hub as manager\n"
    ),
    "compat.py": "from chatapp.events.state import hub as legacy_hub\n",
    "notify.py": (
        "from chatapp.compat import legacy_hub\n"
        "from chatapp.events import connections, manager, manager_event\n\n\n"
        "async def done(user_id):\n"
        "    await manager.send_to_user(user_id, manager_event('done'))\n"
        "    await connections().send_to_user(user_id, {})\n"
        "    await legacy_hub.send_to_user(user_id, {})\n"
    ),
}


def test_a_manager_or_accessor_renamed_on_import_is_the_manager_where_the_new_name_is_imported(
    tmp_path: Path,
) -> None:
    """`from .state import hub as manager` in a package's `__init__` (or any
    module) renames the module's global: imported under the new name, it is
    the manager, and so is a renamed accessor's call. A renamed function
    that hands out no manager (`manager_event`) stays what it is."""
    root = _project(tmp_path, RENAMED_HUB)
    notify = root / "chatapp" / "notify.py"
    found = [(f.location.row, f.location.column, f.code, f.message) for f in check_findings([notify], "ISO3")]
    assert found == [
        (6, 11, "ISO302", f"`manager` {GLOBAL_MANAGER}"),
        (7, 11, "ISO302", f"`connections()` {HANDED_OUT}"),
        (8, 11, "ISO302", f"`legacy_hub` {GLOBAL_MANAGER}"),
    ]


def test_a_renamed_manager_the_package_binds_again_is_not_followed(tmp_path: Path) -> None:
    """The package binds `manager` again after renaming the global to it (a
    test double, in a branch): what an importer gets is not known to be the
    manager. The other renames still hold."""
    files = dict(RENAMED_HUB)
    files["events/__init__.py"] += "\nif TESTING:\n    from .doubles import RecordingHub as manager\n"
    root = _project(tmp_path, files)
    notify = root / "chatapp" / "notify.py"
    found = [(f.location.row, f.code) for f in check_findings([notify], "ISO3")]
    assert found == [(7, "ISO302"), (8, "ISO302")]


def test_a_subclass_elsewhere_is_fixed_and_keeps_the_base_assignment_alive(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "base.py": (
                "from chatapp.websocket_manager import websocket_manager\n\n\n"
                "class BaseAgent:\n"
                "    def __init__(self) -> None:\n"
                "        self.websocket = websocket_manager\n"
            ),
            "data.py": (
                "from chatapp.base import BaseAgent\n"
                "from isolint.runtime import UserExecutionContext\n\n\n"
                "class DataAgent(BaseAgent):\n"
                "    async def execute(self, context: UserExecutionContext) -> None:\n"
                "        await self.websocket.send_to_user(context.user_id, {'type': 'tool_executing'})\n"
            ),
        },
    )
    base, data = root / "chatapp" / "base.py", root / "chatapp" / "data.py"
    assert _found([base, data], "ISO304") == [("base.py", 6, "ISO304"), ("data.py", 7, "ISO304")]
    run_cli("fix", "--unsafe-fixes", "--no-cache", "--select", "ISO304", str(base), str(data))
    assert "await context.websocket_emitter.send_to_user(" in data.read_text(encoding="utf-8")
    # The index was built before the subclass changed: the base keeps the
    # attribute in this run, and drops it in the next.
    assert "self.websocket = websocket_manager" in base.read_text(encoding="utf-8")
    run_cli("fix", "--unsafe-fixes", "--no-cache", "--select", "ISO304", str(base), str(data))
    assert "self.websocket" not in base.read_text(encoding="utf-8")
    ast.parse(base.read_text(encoding="utf-8"))


def test_every_rule_of_the_family_indexes_on_its_own(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "notify.py": "from chatapp.websocket_manager import websocket_manager\n\n\nasync def f():\n    await websocket_manager.broadcast({})\n"
        },
    )
    assert _found([root / "chatapp" / "notify.py"], "ISO303") == [("notify.py", 5, "ISO303")]


def test_singleton_accessors_returning_plumbing_count_as_accessors(tmp_path: Path) -> None:
    from isolint.rules import BY_CODE

    settings = load_settings([tmp_path], isolated=True)
    source = "from chatapp.services import get_notifier, get_registry\n\n\ndef f():\n    get_notifier().emit('x')\n    get_registry().emit('x')\n"
    index = ProjectIndex(
        [
            Fact(
                "singletons:accessor",
                "chatapp.services.get_notifier",
                "chatapp/services.py",
                3,
                {"returns": "AgentWebSocketBridge"},
            ),
            Fact(
                "singletons:accessor",
                "chatapp.services.get_registry",
                "chatapp/services.py",
                9,
                {"returns": "AgentRegistry"},
            ),
        ]
    )
    findings = lint_text(
        source, "chatapp/use.py", [BY_CODE["ISO302"]], settings, module_name="chatapp.use", project=index
    )
    assert [(f.code, f.location.row) for f in findings] == [("ISO302", 5)]


def test_legacy_shaped_agents_move_their_events_onto_the_context_emitter(tmp_path: Path) -> None:
    """The sample app's agents once ISO4 has given `execute` a context."""
    root = _project(
        tmp_path,
        {
            "base.py": (
                "from chatapp.websocket_manager import shared_hub\n\n\n"
                "class BaseAgent:\n"
                "    def __init__(self, db_session) -> None:\n"
                "        self.db_session = db_session\n"
                "        self.websocket = shared_hub()\n"
            ),
            "triage.py": (
                "from chatapp.base import BaseAgent\n"
                "from chatapp.websocket_manager import shared_hub\n"
                "from isolint.runtime import UserExecutionContext\n\n\n"
                "class TriageAgent(BaseAgent):\n"
                "    async def execute(self, context: UserExecutionContext, stream_updates: bool = False) -> None:\n"
                "        if stream_updates:\n"
                "            await shared_hub().send_to_user(context.user_id, {'type': 'agent_thinking'})\n"
            ),
            "data.py": (
                "from chatapp.base import BaseAgent\n"
                "from isolint.runtime import UserExecutionContext\n\n\n"
                "class DataAgent(BaseAgent):\n"
                "    async def execute(self, context: UserExecutionContext) -> None:\n"
                "        await self.websocket.send_to_user(context.user_id, {'type': 'tool_executing'})\n"
                "        await self.websocket.send_to_user(context.user_id, {'type': 'tool_completed'})\n"
            ),
        },
    )
    package = root / "chatapp"
    run_cli("fix", "--unsafe-fixes", "--no-cache", "--select", "ISO3", str(package))
    for name in ("triage.py", "data.py"):
        text = (package / name).read_text(encoding="utf-8")
        assert "context.websocket_emitter.send_to_user(context.user_id" in text
        assert "shared_hub()." not in text and "self.websocket." not in text
    remaining = _found([package], "ISO3")
    assert remaining == [("base.py", 7, "ISO304"), ("websocket_manager.py", 9, "ISO301")]


def test_a_global_bound_to_an_accessor_in_another_module_is_the_accessor_where_it_is_passed_on(tmp_path: Path) -> None:
    # Passed on uncalled, it is the accessor passed on (as `Depends(shared_hub)` is); called, it fetches the manager.
    root = _project(
        tmp_path,
        {
            "aliases.py": "from chatapp.websocket_manager import shared_hub\n\nget_ws = shared_hub\nhub = shared_hub()\n",
            "routes.py": (
                "from chatapp.aliases import get_ws, hub\n\n\n"
                "def register(registry):\n"
                "    registry.add('ws', get_ws)\n"
                "    registry.add('hub', hub)\n\n\n"
                "async def notify(user_id):\n"
                "    await get_ws().send_to_user(user_id, {})\n"
            ),
        },
    )
    found = check_findings([root / "chatapp" / "routes.py"], "ISO302")
    assert [(f.location.row, f.message.partition(":")[0]) for f in found] == [
        (6, "`hub` is the module-global WebSocket manager"),
        (10, "`get_ws()` returns the process-wide WebSocket manager"),
    ]


COMPAT_MODULE = '''\
from chatapp.websocket_manager import shared_hub
from chatapp.helpers import get_helper


def get_connection_manager():
    """Kept so that old imports keep working."""
    return shared_hub()


def get_helper_alias():
    return get_helper()
'''


def test_a_compatibility_alias_of_an_accessor_in_another_module_is_an_accessor_too(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "helpers.py": "def get_helper():\n    return object()\n",
            "compat.py": COMPAT_MODULE,
            "agent.py": (
                "from chatapp.compat import get_connection_manager, get_helper_alias\n\n\n"
                "class ChatAgent:\n"
                "    def __init__(self):\n"
                "        self.ws = get_connection_manager()\n"
                "        self.helper = get_helper_alias()\n\n"
                "    async def done(self, user_id):\n"
                "        await get_connection_manager().send_to_user(user_id, {})\n"
                "        get_helper_alias().emit('x')\n"
            ),
        },
    )
    package = root / "chatapp"
    found = check_findings([package / "compat.py", package / "agent.py"], "ISO302", "ISO304")
    assert [(Path(f.path).name, f.location.row, f.code, f.message) for f in found] == [
        (
            "agent.py",
            6,
            "ISO304",
            (
                "`self.ws` keeps the process-wide WebSocket manager (`get_connection_manager`) on the "
                "instance: every request `ChatAgent` serves emits through one shared object"
            ),
        ),
        (
            "agent.py",
            10,
            "ISO302",
            (
                "`get_connection_manager()` returns the process-wide WebSocket manager: every user's "
                "events go through it, so a wrong user or run id reaches someone else's socket"
            ),
        ),
        (
            "compat.py",
            7,
            "ISO302",
            (
                "`get_connection_manager()` hands out the process-wide WebSocket manager "
                "(`shared_hub()`) under another name: every caller emits through one shared object, and a wrong user or run "
                "id reaches someone else's socket"
            ),
        ),
    ]
    alias = next(f for f in found if f.path.endswith("compat.py"))
    assert alias.fix is None and "then delete `get_connection_manager`" in (alias.manual or "")


@pytest.mark.parametrize(
    ("imported", "called"),
    [
        ("from chatapp.websocket_manager import shared_hub", "shared_hub()"),
        ("from .websocket_manager import shared_hub", "shared_hub()"),
        ("from . import websocket_manager", "websocket_manager.shared_hub()"),
    ],
    ids=["absolute", "relative", "relative module"],
)
def test_an_alias_reaches_its_callers_however_it_imports_the_accessor(
    tmp_path: Path, imported: str, called: str
) -> None:
    """The index resolves a relative import against the module, as the check
    does: the alias, whose name says nothing, is an accessor where it is called."""
    notifier = f'"""Shims for the old socket notifier."""\n{imported}\n\n\ndef events():\n    return {called}\n'
    handler = "from chatapp.notifier import events\n\n\nasync def notify(user_id):\n    await events().send_to_user(user_id, {})\n"
    root = _project(tmp_path, {"notifier.py": notifier, "handler.py": handler})
    assert _found([root / "chatapp" / "handler.py"], "ISO302") == [("handler.py", 5, "ISO302")]


def test_aliases_that_import_each_other_prove_nothing(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "a.py": "from chatapp.b import get_b_manager\n\n\ndef get_a_manager():\n    return get_b_manager()\n",
            "b.py": "from chatapp.a import get_a_manager\n\n\ndef get_b_manager():\n    return get_a_manager()\n",
            "use.py": (
                "from chatapp.a import get_a_manager\n\n\nasync def f(user_id):\n"
                "    await get_a_manager().send_to_user(user_id, {})\n"
            ),
        },
    )
    package = root / "chatapp"
    assert _found([package / "a.py", package / "b.py", package / "use.py"], "ISO3") == []


def test_the_index_prefilter_passes_every_fixture_with_an_accessor_of_its_own() -> None:
    """Accessors that stand on their own need the prefilter's words; aliases that
    `require` an imported name are only candidates (found in files that have them)."""
    from tests.conftest import FIXTURES

    aliases = 0
    for path in sorted(FIXTURES.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        facts = [
            data
            for kind, _, _, data in index_facts(parse_module(source), FAMILY_DEFAULTS)
            if kind == "websockets:accessor" and "requires" not in data
        ]
        aliases += sum(1 for data in facts if "delegates" in data)
        if facts:
            assert INDEX_PREFILTER.search(source.encode("utf-8")), path
    assert aliases >= 1


def test_only_argument_less_functions_returning_an_argument_less_call_are_aliases() -> None:
    source = (
        "from datetime import datetime\nfrom app.ws import get_manager\n\n\n"
        "def now():\n    return datetime.now(tz=None)\n\n\n"
        "def manager_for(user_id):\n    return get_manager()\n\n\n"
        "def get_connection_manager():\n    return get_manager()\n"
    )
    facts = [(name, data) for _, name, _, data in index_facts(ast.parse(source), FAMILY_DEFAULTS)]
    assert facts == [
        (
            "get_connection_manager",
            {"returns": "", "delegates": "get_manager", "source": "get_manager", "requires": "app.ws.get_manager"},
        )
    ]


def test_a_function_returning_a_global_manager_is_an_accessor_wherever_the_global_is_bound() -> None:
    """`current()` hands out the module's manager; a function with arguments,
    or returning a global that is not plumbing, is no accessor. What binds
    the global may come later in the module, and a global bound to the
    accessor's call later still."""
    source = (
        "def current():\n    return _hub\n\n\n"
        "def settings():\n    return _settings\n\n\n"
        "def for_user(user_id):\n    return _hub\n\n\n"
        "_hub = WebSocketManager()\n_settings = load_settings()\nHUB = current()\n"
    )
    assert list(index_facts(ast.parse(source), FAMILY_DEFAULTS)) == [
        ("websockets:global", "_hub", 13, {"source": "WebSocketManager"}),
        ("websockets:accessor", "current", 1, {"returns": "", "delegates": "_hub", "source": "_hub"}),
        ("websockets:global", "HUB", 15, {"source": "current"}),
    ]


def test_calls_of_a_function_returning_the_global_manager_are_reported_in_other_modules(tmp_path: Path) -> None:
    hub = "_hub = WebSocketManager()\n\n\ndef current():\n    return _hub\n"
    handler = "from chatapp.hub import current\n\n\nasync def notify(user_id):\n    await current().send_to_user(user_id, {})\n"
    root = _project(
        tmp_path, {"hub.py": "from chatapp.websocket_manager import WebSocketManager\n" + hub, "handler.py": handler}
    )
    [finding] = check_findings([root / "chatapp" / "handler.py"], "ISO302")
    assert (finding.location.row, finding.message) == (
        5,
        "`current()` returns the process-wide WebSocket manager: every user's events go through it, "
        "so a wrong user or run id reaches someone else's socket",
    )


def test_an_alias_in_a_module_without_trigger_words_is_found_through_the_singletons_alias_facts(
    tmp_path: Path,
) -> None:
    """`events.py` names no socket, so the family's index never reads it; the
    singletons family indexes its alias, and it reaches `current`, whose global
    is the manager. Its callers elsewhere are reported: a global bound to it
    (ISO301), a call (ISO302), a capture on `self` (ISO304). An alias of
    something else is not."""
    hub = "from chatapp.websocket_manager import WebSocketManager\n\n_hub = WebSocketManager()\n\n\ndef current():\n    return _hub\n"
    events = (
        "from chatapp.hub import current\nfrom chatapp.settings import load\n\n\n"
        "def events():\n    return current()\n\n\ndef config():\n    return load()\n"
    )
    handler = (
        "from chatapp.events import config, events\n\nHUB = events()\nCONFIG = config()\n\n\n"
        "async def notify(user_id):\n    await events().send_to_user(user_id, config())\n\n\n"
        "class ChatAgent:\n    def __init__(self):\n        self.hub = events()\n"
    )
    root = _project(
        tmp_path,
        {
            "hub.py": hub,
            "events.py": events,
            "settings.py": "def load():\n    return {}\n",
            "handler.py": handler,
        },
    )
    found = [
        (Path(f.path).name, f.location.row, f.code, f.message)
        for f in check_findings([root / "chatapp" / "handler.py"])
    ]
    assert found == [
        (
            "handler.py",
            3,
            "ISO301",
            "module-level `events(...)` runs at import time and gives every user one WebSocket manager; "
            "a wrong user or run id sends one user's events to another",
        ),
        (
            "handler.py",
            8,
            "ISO302",
            "`events()` returns the process-wide WebSocket manager: every user's events go through it, "
            "so a wrong user or run id reaches someone else's socket",
        ),
        (
            "handler.py",
            13,
            "ISO304",
            "`self.hub` keeps the process-wide WebSocket manager (`events`) on the instance: "
            "every request `ChatAgent` serves emits through one shared object",
        ),
    ]


def test_chains_longer_than_the_recursion_limit_still_reach_the_manager() -> None:
    """Generated code can chain aliases and imports module after module:
    following them takes a loop, not a call per hop. An alias of an alias
    (the singletons family's facts), an accessor returning an imported one's
    call (`requires`), a global bound to an imported global: each chain ends
    at the manager. A cycle reaches nothing."""
    hops = 5000
    facts = [
        Fact("websockets:accessor", "hub.get_manager", "hub.py", 1, {"returns": "WebSocketManager"}),
        Fact("websockets:global", "hub.manager", "hub.py", 9, {"source": "WebSocketManager"}),
    ]
    facts += alias_chain(hops, "alias", "hub.get_manager")
    for i in range(hops):
        last = i + 1 == hops
        required = "hub.get_manager" if last else f"r{i + 1}.get"
        facts.append(Fact("websockets:accessor", f"r{i}.get", f"r{i}.py", 1, {"returns": "", "requires": required}))
        required = "hub.manager" if last else f"g{i + 1}.hub"
        facts.append(Fact("websockets:global", f"g{i}.hub", f"g{i}.py", 1, {"source": "hub", "requires": required}))
    facts += [
        Fact("singletons:alias", "loop.a", "loop.py", 1, {"calls": ["loop.b"]}),
        Fact("websockets:accessor", "loop.b", "loop.py", 5, {"returns": "", "requires": "loop.a"}),
    ]
    project, globs = ProjectIndex(facts), WebSocketConfig().websocket_names
    assert is_indexed_accessor(project, "m0.alias0", globs)
    assert is_indexed_accessor(project, "r0.get", globs)
    assert fact_holds(project, project.get("websockets:global", "g0.hub"), globs)
    assert not is_indexed_accessor(project, "loop.a", globs)


def test_the_prefilter_takes_the_aliases_reaching_the_manager_in_work_linear_in_their_number() -> None:
    hops = 2000
    facts = [Fact("websockets:accessor", "hub.get_manager", "hub.py", 1, {"returns": "WebSocketManager"})]
    facts += alias_chain(hops, "events", "hub.get_manager")
    facts.append(Fact("singletons:alias", "other.config", "other.py", 1, {"calls": ["settings.load"]}))
    project = CountingIndex(facts)
    prefilter = plumbing_prefilter(WebSocketConfig().websocket_names, project)
    assert prefilter.search(b"events0()") and prefilter.search(b"events1999()")
    assert not prefilter.search(b"config()")
    assert project.lookups <= 10 * hops


ONE_ANALYSIS_FILES = {
    "hub.py": (
        "from chatapp.websocket_manager import shared_hub\n\n"
        "hub = shared_hub()\n"
        "bridge = get_websocket_bridge()\n\n\n"
        "def get_connection_manager(): return shared_hub()\n"  # one line: the fact is on the def, the finding on the call
    ),
    "agent.py": (
        "from chatapp.websocket_manager import shared_hub\n\n\n"
        "class ChatAgent:\n"
        "    def __init__(self, ws_for_user):\n"
        "        self.websocket = shared_hub()\n"
        "        self.per_user = ws_for_user\n"
    ),
}


def test_the_index_records_what_the_rules_report(tmp_path: Path) -> None:
    """One analysis, two readers: each import-time binding, capture on `self`
    and compatibility alias the index records is what ISO301, ISO304 and
    ISO302 report, on the same line."""
    root = _project(tmp_path, ONE_ANALYSIS_FILES)
    paths = [root / "chatapp" / name for name in ONE_ANALYSIS_FILES]
    reported_as = {"websockets:global": "ISO301", "websockets:attribute": "ISO304"}
    indexed = sorted(
        (path.name, line, "ISO302" if "delegates" in data else reported_as[kind])
        for path in paths
        for kind, _, line, data in index_facts(parse_module(path.read_text(encoding="utf-8")), FAMILY_DEFAULTS)
        if kind in reported_as or "delegates" in data
    )
    assert indexed == [
        ("agent.py", 6, "ISO304"),
        ("hub.py", 3, "ISO301"),
        ("hub.py", 4, "ISO301"),
        ("hub.py", 7, "ISO302"),
    ]
    assert _found(paths, "ISO301", "ISO302", "ISO304") == indexed


def test_a_check_of_the_family_never_parses_with_libcst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ISO3xx rule visits `ast`: LibCST parses only to build a fix's edits."""
    import libcst

    def refuse(text: str) -> None:
        raise AssertionError("LibCST parsed a file for a plain check")

    source = (
        "from chatapp.websocket_manager import get_websocket_manager\n\n\n"
        "async def done(context):\n"
        "    await get_websocket_manager().send_to_user(context.user_id, {})\n"
    )
    family = [rule for rule in ALL_RULES if rule.family == "websockets"]
    settings = load_settings([tmp_path], isolated=True)
    monkeypatch.setattr(libcst, "parse_module", refuse)
    findings = lint_text(source, "chatapp/done.py", family, settings, module_name="chatapp.done", build_edits=False)
    assert [(f.code, f.fix is not None) for f in findings] == [("ISO302", True)]


def test_the_family_imports_before_the_engine_does() -> None:
    """The rules package is discovered while `ast_visit` is still importing."""
    import subprocess
    import sys

    for first in ("isolint.engine", "isolint.config", "isolint.rules.websockets.analysis"):
        subprocess.run([sys.executable, "-c", f"import {first}"], check=True)


def test_the_emitter_signatures_the_swap_checks_are_the_runtimes() -> None:
    """The rules know the runtime emitter's methods without importing it: the
    table must say what `inspect` reads off `UserWebSocketEmitter`."""
    import inspect

    from isolint.rules.websockets.emitter import EMITTER_SIGNATURES
    from isolint.runtime import UserWebSocketEmitter

    def described(method: str) -> tuple[object, ...]:
        parameters = list(inspect.signature(getattr(UserWebSocketEmitter, method)).parameters.values())[1:]
        kinds = inspect.Parameter
        return (
            [(p.name, p.default is not kinds.empty) for p in parameters if p.kind is kinds.POSITIONAL_OR_KEYWORD],
            [(p.name, p.default is not kinds.empty) for p in parameters if p.kind is kinds.KEYWORD_ONLY],
            any(p.kind is kinds.VAR_POSITIONAL for p in parameters),
            any(p.kind is kinds.VAR_KEYWORD for p in parameters),
        )

    for method, signature in EMITTER_SIGNATURES.items():
        table = (
            [(p.name, p.has_default) for p in signature.positional],
            [(p.name, p.has_default) for p in signature.keyword_only],
            signature.var_positional,
            signature.var_keyword,
        )
        assert table == described(method), method
    assert set(EMITTER_SIGNATURES) == set(DEFAULT_EMITTER_METHODS)


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        ('send_to_user(context.user_id, {"step": 1})', None),
        ('send_to_user(context.user_id, {"step": 1}, event="step")', None),
        ('notify_agent_error("triage", error)', None),
        ('notify_agent_error(f"{name}")', None),
        (
            'send_to_user(context.user_id, "step", {"step": 1})',
            "`.send_to_user(...)` is called in a way the emitter's `send_to_user(user_id, message, *, event)` does not take",
        ),
        (
            'emit("step", {"step": 1}, True)',
            "`.emit(...)` is called in a way the emitter's `emit(event, payload)` does not take",
        ),
        (
            "notify_agent_error(error)",
            "`.notify_agent_error(...)` with one argument may be the legacy `notify_agent_error(error)` form, which "
            "the emitter refuses (it takes the agent's name first; `isolint.runtime.compat` keeps the old form)",
        ),
        (
            "broadcast_to_room('r', {})",
            "the per-user emitter has no `broadcast_to_room` (supported: see `emitter-methods`)",
        ),
    ],
)
def test_a_call_is_swapped_onto_the_emitter_only_in_a_shape_the_emitter_takes(
    call: str, reason: str | None, tmp_path: Path
) -> None:
    """A manager's method of the same name can take other arguments: swapped,
    the call would raise TypeError. A method `emitter-methods` adds that
    isolint's emitter lacks would raise AttributeError."""
    write(
        tmp_path / "pyproject.toml",
        '[tool.isolint.websockets]\nemitter-methods = ["emit", "send_to_user", "notify_agent_error", '
        '"broadcast_to_room"]\n',
    )
    source = (
        "from chatapp.websocket_manager import get_websocket_manager\n"
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "async def step(context: UserExecutionContext, name: str, error: Exception) -> None:\n"
        f"    await get_websocket_manager().{call}\n"
    )
    settings = load_settings([tmp_path])
    family = [rule for rule in ALL_RULES if rule.code == "ISO302"]
    [finding] = lint_text(source, "chatapp/step.py", family, settings, module_name="chatapp.step", build_edits=False)
    if reason is None:
        assert finding.fix is not None and finding.manual is None
    else:
        assert finding.fix is None and finding.manual is not None
        assert finding.manual.startswith(f"Not swapped automatically: {reason}. ")


def test_a_global_manager_read_as_its_modules_attribute_is_the_manager(tmp_path: Path) -> None:
    """`from chatapp import websocket_manager as hubs` then
    `hubs.websocket_manager.send_to_user(...)`: the global, reached through its
    module. Another attribute of the module, or of an object, is not."""
    root = _project(
        tmp_path,
        {
            "notify.py": (
                "from isolint.runtime import UserExecutionContext\n\n"
                "from chatapp import websocket_manager as hubs\n\n\n"
                "async def done(context: UserExecutionContext) -> None:\n"
                "    await hubs.websocket_manager.send_to_user(context.user_id, {})\n\n\n"
                "async def other(agent, user_id) -> None:\n"
                "    await agent.websocket_manager.send_to_user(user_id, {})\n"
                "    return hubs.WebSocketManager\n\n\n"
                "class Agent:\n"
                "    def __init__(self):\n"
                "        self.ws = hubs.websocket_manager\n"
            ),
        },
    )
    notify = root / "chatapp" / "notify.py"
    found = [(f.location.row, f.code, f.message.partition(":")[0]) for f in check_findings([notify], "ISO3")]
    assert found == [
        (7, "ISO302", "`hubs.websocket_manager` is the module-global WebSocket manager"),
        (
            17,
            "ISO304",
            "`self.ws` keeps the process-wide WebSocket manager (`hubs.websocket_manager`) on the instance",
        ),
    ]
    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO302", str(notify))
    assert "    await context.websocket_emitter.send_to_user(context.user_id, {})\n" in notify.read_text(
        encoding="utf-8"
    )


def test_an_alias_of_an_accessor_a_package_re_exports_reaches_the_manager(tmp_path: Path) -> None:
    """`def events(): return get_manager()`, with `get_manager` imported from
    the package that re-exports it: the prefilter takes `events` as the
    resolver does, so its callers are checked and reported."""
    root = _project(
        tmp_path,
        {
            "hub/state.py": (
                "from chatapp.websocket_manager import WebSocketManager\n\n"
                "_manager = WebSocketManager()\n\n\ndef get_manager():\n    return _manager\n"
            ),
            "hub/__init__.py": "from .state import get_manager\n",
            "compat.py": "from chatapp.hub import get_manager\n\n\ndef events():\n    return get_manager()\n",
            "notify.py": (
                "from chatapp.compat import events\n\n\nasync def done(user_id):\n"
                "    await events().send_to_user(user_id, {})\n"
            ),
        },
    )
    notify = root / "chatapp" / "notify.py"
    assert [(f.location.row, f.code) for f in check_findings([notify], "ISO302")] == [(5, "ISO302")]


CROSS_USER_PROGRAM = {
    "app/__init__.py": "",
    "app/ws.py": (
        "class WebSocketManager:\n"
        "    def __init__(self):\n"
        "        self.sent = []\n\n"
        "    async def send_to_user(self, user_id, message):\n"
        "        self.sent.append((user_id, message['type']))\n\n\n"
        "_manager = WebSocketManager()\n\n\n"
        "def get_websocket_manager():\n"
        "    return _manager\n"
    ),
    "app/handlers.py": (
        "from isolint.runtime import UserExecutionContext\n\n"
        "from app.ws import get_websocket_manager\n\n\n"
        "async def done(context: UserExecutionContext) -> None:\n"
        "    await get_websocket_manager().send_to_user(context.user_id, {'type': 'done'})\n\n\n"
        "async def escalate(context: UserExecutionContext, admin_id: str) -> None:\n"
        "    await get_websocket_manager().send_to_user(admin_id, {'type': 'escalated'})\n"
    ),
}
CROSS_USER_RUN = """\
import asyncio, json
from isolint.runtime import UserExecutionContext, UserWebSocketEmitter
from app.handlers import done, escalate
from app.ws import get_websocket_manager

frames = []


async def send(text):
    frames.append(("alice", json.loads(text)["event"]))


async def main():
    emitter = UserWebSocketEmitter("alice", "conn-alice", send)
    context = UserExecutionContext.create(user_id="alice", thread_id="t1", run_id="r1", websocket_emitter=emitter)
    await done(context)
    await escalate(context, "admin")
    await asyncio.sleep(0.05)  # the emitter's queue drains
    sent = [user for user, _ in get_websocket_manager().sent] + [user for user, _ in frames]
    print(sorted(sent))


asyncio.run(main())
"""


def test_a_send_to_another_user_is_not_swapped_and_the_program_still_runs(tmp_path: Path) -> None:
    """The request's emitter sends only to its own user (CrossUserEmitError
    for anyone else): `send_to_user(context.user_id, ...)` moves onto it, a
    send to an admin stays on the manager. Before the fix and after it, each
    user gets the one event meant for them."""
    for name, text in CROSS_USER_PROGRAM.items():
        write(tmp_path / name, text)
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(isolint.__file__).parents[1]}", "PATH": os.environ["PATH"]}

    def run() -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-c", CROSS_USER_RUN], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        return done.returncode, done.stdout, done.stderr

    before = run()
    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO302", str(tmp_path / "app"))
    after = run()
    assert before[:2] == (0, "['admin', 'alice']\n"), before
    assert after[:2] == before[:2], after
    handlers = (tmp_path / "app" / "handlers.py").read_text(encoding="utf-8")
    assert "await context.websocket_emitter.send_to_user(context.user_id, {'type': 'done'})" in handlers
    assert "await get_websocket_manager().send_to_user(admin_id, {'type': 'escalated'})" in handlers


def test_a_global_bound_to_an_accessor_call_in_a_module_naming_no_socket_is_the_manager_where_it_is_read(
    tmp_path: Path,
) -> None:
    """`HUB = events()` in a module that names no socket, where `events` is
    a compatibility alias of the manager's accessor: read from a third
    module, `HUB` is the global manager. A module-level call of something
    else (`router = make_router()`) is nothing, there or where it is read."""
    root = _project(
        tmp_path,
        {
            "events.py": (
                "from chatapp.websocket_manager import get_websocket_manager\n\n\n"
                "def events():\n"
                "    return get_websocket_manager()\n"
            ),
            "routing.py": "def make_router():\n    return []\n",
            "hub.py": "from chatapp.events import events\nfrom chatapp.routing import make_router\n\nHUB = events()\nrouter = make_router()\n",
            "notify.py": (
                "from chatapp.hub import HUB, router\n\n\n"
                "async def done(context):\n"
                "    router.append(context.user_id)\n"
                "    await HUB.send_to_user(context.user_id, {})\n"
            ),
        },
    )
    notify = root / "chatapp" / "notify.py"
    found = [(f.location.row, f.code, f.message) for f in check_findings([notify], "ISO3")]
    assert found == [(6, "ISO302", f"`HUB` {GLOBAL_MANAGER}")]


@pytest.mark.parametrize(
    ("line", "passes"),
    [
        ("HUB = events()", True),
        ("HUB: Hub = await events()  # shared", True),
        ("hub = chatapp.events.current( )", True),
        ("router = make_router(prefix='/x')", False),  # arguments: built here, not handed out
        ("    hub = events()", False),  # not at module level
        ("HUB = events", False),
    ],
)
def test_a_module_naming_no_socket_is_indexed_for_its_argument_less_call_globals(line: str, passes: bool) -> None:
    from isolint.rules.websockets.analysis import call_global_facts
    from isolint.rules.websockets.family import INDEX_PREFILTER, SOCKET_WORDS

    raw = f"from chatapp import events\n\n{line}\n".encode()
    assert SOCKET_WORDS.search(raw) is None
    assert (INDEX_PREFILTER.search(raw) is not None) == passes
    module = (
        "from chatapp.events import events\nfrom chatapp.routing import make_router\n\n"
        "HUB = events()\nrouter = make_router(prefix='/x')\n\n\ndef get_hub():\n    return HUB\n"
    )
    facts = list(call_global_facts(parse_module(module), FAMILY_DEFAULTS, "chatapp.hub"))
    assert facts == [("websockets:global", "HUB", 4, {"source": "events", "requires": "chatapp.events.events"})]
