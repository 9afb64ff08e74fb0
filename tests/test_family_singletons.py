"""The singleton family (ISO1xx) across files: the project index, qualified
names, the cache, and fixes that fixtures cannot express."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from isolint.config import Settings, load_settings
from isolint.index import Fact, ProjectIndex, index_source
from isolint.newer_syntax import parse_module  # fixtures/pep701 included
from isolint.rules import BY_CODE
from tests.conftest import FIXTURES, write
from tests.helpers import CountingIndex, alias_chain, check_findings, run_cli

REGISTRY = '''\
"""Process-wide registry."""

import threading


class AgentRegistry:
    _instance = None
    _lock = threading.Lock()

    @classmethod
    def get_instance(cls):
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance


def get_agent_registry():
    return AgentRegistry.get_instance()
'''
WEBSOCKETS = """\
_manager = None


class WebSocketManager:
    pass


def get_ws():
    global _manager
    if _manager is None:
        _manager = WebSocketManager()
    return _manager
"""
SUPERVISOR = """\
import functools as ft


class Supervisor:
    pass


@ft.lru_cache
def get_supervisor():
    return Supervisor()
"""
CONSUMER = """\
from isolint.runtime import UserExecutionContext

from . import websockets as ws
from .registry import AgentRegistry as Registry, get_agent_registry as registry_of
from .supervisor import get_supervisor


async def handle(context: UserExecutionContext):
    agents = registry_of()
    await ws.get_ws().send(context.user_id)
    return agents, Registry.get_instance(), get_supervisor()


def elsewhere():
    return get_agent_registry()


def get_agent_registry():
    return "a local function with the same name"
"""


def make_project(root: Path) -> Path:
    (root / ".git").mkdir()
    write(root / "chatapp" / "__init__.py", "")
    write(root / "chatapp" / "registry.py", REGISTRY)
    write(root / "chatapp" / "websockets.py", WEBSOCKETS)
    write(root / "chatapp" / "supervisor.py", SUPERVISOR)
    return write(root / "chatapp" / "consumer.py", CONSUMER)


def test_rule_all_lists_the_family_with_fix_safety() -> None:
    rows = {row["code"]: row for row in json.loads(run_cli("rule", "--all", "--output-format", "json").stdout)}
    expected = {
        "ISO101": "unsafe",
        "ISO102": "unsafe",
        "ISO103": "none",
        "ISO104": "unsafe",
        "ISO105": "unsafe",
        "ISO106": "none",
    }
    assert {code: rows[code]["fix"] for code in expected} == expected
    assert all(rows[code]["family"] == "singletons" for code in expected)
    text = run_cli("rule", "--all").stdout
    assert all(f"{code}" in text and BY_CODE[code].name in text for code in expected)


def test_accessor_calls_are_found_across_files_by_qualified_name(tmp_path: Path) -> None:
    consumer = make_project(tmp_path)
    found = [(f.location.row, f.message) for f in check_findings([consumer], "ISO106")]
    assert found == [
        (
            9,
            "`registry_of()` returns the process-wide `AgentRegistry` (defined in chatapp/registry.py:19); every request that reaches this call shares it",
        ),
        (
            10,
            "`ws.get_ws()` returns the process-wide `WebSocketManager` (defined in chatapp/websockets.py:8); every request that reaches this call shares it",
        ),
        (
            11,
            "`Registry.get_instance()` returns the process-wide `AgentRegistry` (defined in chatapp/registry.py:6); every request that reaches this call shares it",
        ),
        (
            11,
            "`get_supervisor()` returns the process-wide `Supervisor` (defined in chatapp/supervisor.py:9); every request that reaches this call shares it",
        ),
    ]


def test_manual_hint_depends_on_the_request_context_parameter(tmp_path: Path) -> None:
    make_project(tmp_path)
    write(
        tmp_path / "chatapp" / "plain.py",
        "from .registry import get_agent_registry\n\n\ndef work():\n    return get_agent_registry()\n",
    )
    by_file = {Path(f.path).name: f.manual for f in check_findings([tmp_path], "ISO106") if f.location.row in (5, 9)}
    assert "already has the request context (`context`)" in by_file["consumer.py"]
    assert "factory scope" in by_file["consumer.py"]
    assert by_file["plain.py"].startswith("Pass the request context into `work`")


def test_checking_one_file_still_indexes_the_project(tmp_path: Path) -> None:
    consumer = make_project(tmp_path)
    write(tmp_path / "chatapp" / "routes.py", "from .websockets import get_ws\n\nmanager = get_ws()\n")
    assert len(check_findings([consumer], "ISO106")) == 4
    [finding] = check_findings([tmp_path / "chatapp" / "routes.py"], "ISO103")
    assert "binds the process-wide `WebSocketManager` to a module global" in finding.message


def test_cached_results_follow_changes_in_other_files(in_tmp: Path) -> None:
    make_project(in_tmp)
    codes = lambda: [  # noqa: E731
        (Path(row["filename"]).name, row["location"]["row"])
        for row in json.loads(run_cli("check", "--select", "ISO106", "--output-format", "json").stdout)
    ]
    assert ("consumer.py", 10) in codes()
    write(
        in_tmp / "chatapp" / "websockets.py",
        "class WebSocketManager:\n    pass\n\n\ndef get_ws():\n    return WebSocketManager()\n",
    )
    assert ("consumer.py", 10) not in codes()


def test_accessor_facts_name_the_class_they_return() -> None:
    facts = index_source(
        WEBSOCKETS.encode(),
        "chatapp/websockets.py",
        "chatapp.websockets",
        [(BY_CODE["ISO102"], BY_CODE["ISO102"].index_prefilter)],
        Settings(root=Path.cwd()),
    )
    assert facts == [
        Fact(
            "singletons:accessor",
            "chatapp.websockets.get_ws",
            "chatapp/websockets.py",
            8,
            {"returns": "WebSocketManager", "global": "_manager", "how": "lazy-global"},
        )
    ]
    delegating = index_source(
        REGISTRY.encode(),
        "chatapp/registry.py",
        "chatapp.registry",
        [(BY_CODE["ISO102"], BY_CODE["ISO102"].index_prefilter)],
        Settings(root=Path.cwd()),
    )
    assert [(f.name, f.data["returns"], f.data["how"]) for f in delegating] == [
        ("get_agent_registry", "AgentRegistry", "delegates")
    ]


def test_cache_decorators_resolve_through_aliases_only_to_functools(tmp_path: Path) -> None:
    write(
        tmp_path / "getters.py",
        "import functools as ft\nfrom mylib import lru_cache\nfrom functools import cache as memo\n\n\n"
        "@ft.lru_cache(maxsize=1)\ndef a():\n    return Client()\n\n\n"
        "@lru_cache\ndef b():\n    return Client()\n\n\n"
        "@memo\ndef c():\n    return Client()\n",
    )
    assert [f.location.row for f in check_findings([tmp_path / "getters.py"], "ISO105")] == [7, 17]


def test_every_fix_in_a_file_lands_in_one_run(tmp_path: Path) -> None:
    target = write(
        tmp_path / "services.py",
        "from functools import lru_cache\n\nfrom isolint.runtime import AgentClassRegistry\n\n_bridge = None\n\n\n"
        "class PlannerAgent:\n    _instance = None\n\n    @classmethod\n    def get_instance(cls):\n"
        "        if cls._instance is None:\n            cls._instance = cls()\n        return cls._instance\n\n\n"
        "def get_bridge():\n    global _bridge\n    if _bridge is None:\n        _bridge = BridgeAgent()\n    return _bridge\n\n\n"
        "@lru_cache\ndef get_tracker():\n    return RunHistory()\n\n\n"
        "@lru_cache\ndef get_monitor():\n    return ConversationMemory()\n\n\n"
        "def setup(registry: AgentClassRegistry):\n    registry.register('triage', TriageAgent())\n",
    )
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO1", str(target))
    fixed = target.read_text()
    ast.parse(fixed)
    assert "5 fixes applied" in result.stdout, result.stdout
    assert "lru_cache" not in fixed and "_instance =" not in fixed and "_bridge =" not in fixed
    assert "registry.register_factory('triage', lambda context: TriageAgent())" in fixed
    again = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO1", "--check", str(target))
    assert again.exit_code == 0 and target.read_text() == fixed


def test_forwarded_agent_instances_name_the_agent_and_why_the_registry_is_shared() -> None:
    found = check_findings([FIXTURES / "rules" / "ISO104" / "forwarded_instances.py"], "ISO104")
    tail = "; every request that looks it up runs that one object and sees the previous request's state"
    assert [(f.location.row, f.message.removesuffix(tail)) for f in found] == [
        (14, "`add()` puts the agent instance it was given (`agent`) into the module-level registry `registry`"),
        (
            17,
            (
                "`add_stored()` puts the agent instance it was given (`agent`) into `self._registry`, which holds the "
                "process-wide `get_agent_registry()`"
            ),
        ),
        (
            20,
            (
                "`remember()` puts the agent instance it was given (`worker`) into the class attribute "
                "`Supervisor._by_name`, which every instance shares"
            ),
        ),
        (
            24,
            (
                "`attach_all()` puts each agent instance it was given (`sub_agents`) into the process-wide registry "
                "`AgentRegistry.get_instance()` returns"
            ),
        ),
        (
            33,
            (
                "the `agents` setter puts each agent instance it was given (`value`) into the module-level registry "
                "`registry`"
            ),
        ),
        (
            37,
            (
                "`publish()` puts the agent instance it was given (`agent`) into the process-wide registry "
                "`get_agent_registry()` returns"
            ),
        ),
        (
            44,
            (
                "`release()` puts the agent instance it was given (`agent`) into the class attribute `Pool.idle`, which "
                "every instance shares"
            ),
        ),
    ]
    assert all(f.message.endswith(tail) and f.fix is None and "AgentInstanceFactory" in (f.manual or "") for f in found)


def test_a_registry_from_an_accessor_the_index_knows_is_process_wide(tmp_path: Path) -> None:
    write(tmp_path / ".git" / "HEAD", "")
    write(tmp_path / "app" / "__init__.py", "")
    write(
        tmp_path / "app" / "registry.py",
        "_registry = None\n\n\ndef agents_hub():\n    global _registry\n    if _registry is None:\n"
        "        _registry = {}\n    return _registry\n",
    )
    write(
        tmp_path / "app" / "team.py",
        "from app.registry import agents_hub\n\n\ndef join(agent):\n    agents_hub()[agent.name] = agent\n",
    )
    [finding] = check_findings([tmp_path / "app" / "team.py"], "ISO104")
    assert finding.location.row == 5 and "the process-wide registry `agents_hub()` returns" in finding.message


COMPAT = '''\
"""Old names, kept for callers."""
from datetime import datetime

from .registry import get_agent_registry
from .supervisor import get_supervisor as supervisor_of


def registry():
    """The registry, under its old name."""
    return get_agent_registry()


def legacy_registry():
    return registry()


async def current_supervisor():
    return await supervisor_of()


def now():
    return datetime.now()


def registry_for(user_id):
    return get_agent_registry()


def first():
    return second()


def second():
    return first()


class Registries:
    @staticmethod
    def agents():
        return get_agent_registry()

    @classmethod
    def shared(cls):
        return registry()

    def own(self):
        return registry()
'''
TEAM = """\
from chatapp import compat
from chatapp.compat import Registries, first, legacy_registry, now, registry_for

REGISTRY = compat.registry()


def join(agent):
    compat.registry().register(agent)
    return legacy_registry(), now(), first(), registry_for(agent.user_id)


def lookup():
    return Registries.agents(), Registries.shared(), Registries().own()
"""


def test_a_compatibility_alias_records_the_absolute_names_it_calls() -> None:
    """Argument-less functions returning an argument-less call, through
    relative imports and `as`, awaited or not, and one calling another in the
    same module; a function with parameters, and a call into the standard
    library, are no alias."""
    facts = index_source(
        COMPAT.encode(),
        "chatapp/compat.py",
        "chatapp.compat",
        [(BY_CODE["ISO106"], BY_CODE["ISO106"].index_prefilter)],
        Settings(root=Path.cwd()),
    )
    assert [(f.kind, f.qualname, f.line, f.data) for f in facts] == [
        ("singletons:alias", "chatapp.compat.registry", 8, {"calls": ["chatapp.registry.get_agent_registry"]}),
        ("singletons:alias", "chatapp.compat.legacy_registry", 13, {"calls": ["chatapp.compat.registry"]}),
        ("singletons:alias", "chatapp.compat.current_supervisor", 17, {"calls": ["chatapp.supervisor.get_supervisor"]}),
        ("singletons:alias", "chatapp.compat.first", 29, {"calls": ["chatapp.compat.second"]}),
        ("singletons:alias", "chatapp.compat.second", 33, {"calls": ["chatapp.compat.first"]}),
        (
            "singletons:alias",
            "chatapp.compat.Registries.agents",
            39,
            {"calls": ["chatapp.registry.get_agent_registry"]},
        ),
        ("singletons:alias", "chatapp.compat.Registries.shared", 43, {"calls": ["chatapp.compat.registry"]}),
    ]


def test_calls_of_an_alias_of_a_singleton_accessor_are_reported_in_other_modules(tmp_path: Path) -> None:
    """`compat.registry()` and `legacy_registry()` (an alias of that alias)
    hand out the registry: bound at import time (ISO103), registered into
    (ISO104) and fetched (ISO106), as do a static method and a class method
    aliasing them. An alias of the standard library, a cycle of aliases, a
    function taking arguments and an instance method hand out nothing shared."""
    make_project(tmp_path)
    write(tmp_path / "chatapp" / "compat.py", COMPAT)
    team = write(tmp_path / "chatapp" / "team.py", TEAM)
    found = [(f.code, f.location.row, f.location.column, f.message) for f in check_findings([team])]
    assert found == [
        (
            "ISO103",
            4,
            12,
            "`compat.registry()` runs at import time and binds the process-wide `AgentRegistry` to a module global; "
            "every request then shares that one object, and nothing can give a request its own",
        ),
        (
            "ISO104",
            8,
            5,
            "`join()` puts the agent instance it was given (`agent`) into the process-wide registry "
            "`compat.registry()` returns; every request that looks it up runs that one object and sees the "
            "previous request's state",
        ),
        (
            "ISO106",
            8,
            5,
            "`compat.registry()` returns the process-wide `AgentRegistry` (defined in chatapp/registry.py:19); "
            "every request that reaches this call shares it",
        ),
        (
            "ISO106",
            9,
            12,
            "`legacy_registry()` returns the process-wide `AgentRegistry` (defined in chatapp/registry.py:19); "
            "every request that reaches this call shares it",
        ),
        (
            "ISO106",
            13,
            12,
            "`Registries.agents()` returns the process-wide `AgentRegistry` (defined in chatapp/registry.py:19); "
            "every request that reaches this call shares it",
        ),
        (
            "ISO106",
            13,
            33,
            "`Registries.shared()` returns the process-wide `AgentRegistry` (defined in chatapp/registry.py:19); "
            "every request that reaches this call shares it",
        ),
    ]


def test_cached_results_follow_the_singleton_behind_an_alias(in_tmp: Path) -> None:
    """A file calling an alias depends on what the alias calls, in a third file."""
    make_project(in_tmp)
    write(in_tmp / "chatapp" / "compat.py", COMPAT)
    write(in_tmp / "chatapp" / "team.py", TEAM)
    codes = lambda: [  # noqa: E731
        (row["code"], row["location"]["row"])
        for row in json.loads(run_cli("check", "chatapp/team.py", "--output-format", "json").stdout)
    ]
    assert codes() == [("ISO103", 4), ("ISO104", 8), ("ISO106", 8), ("ISO106", 9), ("ISO106", 13), ("ISO106", 13)]
    write(
        in_tmp / "chatapp" / "registry.py",
        "class AgentRegistry:\n    pass\n\n\ndef get_agent_registry():\n    return AgentRegistry()\n",
    )
    assert codes() == []


REEXPORTED_TEAM = """\
from chatapp.services import AgentRegistry, get_agent_registry, shared_registry

REGISTRY = get_agent_registry()


def join(agent):
    get_agent_registry().register(agent)
    return AgentRegistry.get_instance(), shared_registry()
"""


def test_a_singleton_a_package_re_exports_is_reported_where_it_is_imported_from_the_package(tmp_path: Path) -> None:
    """`chatapp/services/__init__.py` re-exports its modules' names as they
    are, the common shape of a package's API: the accessor, the class and its
    accessor method, and an alias, imported from the package, are the
    singleton the module defines. The `__init__` itself holds no fact."""
    (tmp_path / ".git").mkdir()
    write(tmp_path / "chatapp" / "__init__.py", "")
    write(tmp_path / "chatapp" / "services" / "registry.py", REGISTRY)
    write(
        tmp_path / "chatapp" / "services" / "compat.py",
        "from .registry import get_agent_registry\n\n\ndef shared_registry():\n    return get_agent_registry()\n",
    )
    write(
        tmp_path / "chatapp" / "services" / "__init__.py",
        "from .compat import shared_registry\nfrom .registry import AgentRegistry, get_agent_registry\n",
    )
    team = write(tmp_path / "chatapp" / "team.py", REEXPORTED_TEAM)
    found = [(f.code, f.location.row, f.location.column, f.message) for f in check_findings([team])]
    assert found == [
        (
            "ISO103",
            3,
            12,
            "`get_agent_registry()` runs at import time and binds the process-wide `AgentRegistry` to a module "
            "global; every request then shares that one object, and nothing can give a request its own",
        ),
        (
            "ISO104",
            7,
            5,
            "`join()` puts the agent instance it was given (`agent`) into the process-wide registry "
            "`get_agent_registry()` returns; every request that looks it up runs that one object and sees the "
            "previous request's state",
        ),
        (
            "ISO106",
            7,
            5,
            "`get_agent_registry()` returns the process-wide `AgentRegistry` (defined in "
            "chatapp/services/registry.py:19); every request that reaches this call shares it",
        ),
        (
            "ISO106",
            8,
            12,
            "`AgentRegistry.get_instance()` returns the process-wide `AgentRegistry` (defined in "
            "chatapp/services/registry.py:6); every request that reaches this call shares it",
        ),
        (
            "ISO106",
            8,
            42,
            "`shared_registry()` returns the process-wide `AgentRegistry` (defined in "
            "chatapp/services/registry.py:19); every request that reaches this call shares it",
        ),
    ]


def test_a_singleton_renamed_on_import_is_reported_under_its_new_name(tmp_path: Path) -> None:
    """`from .registry import get_agent_registry as agents` in a package's
    `__init__` renames the accessor (and the class, with its accessor
    method): imported under the new names, they are the singleton. A
    renamed name that is no singleton (`helpers`) stays what it is."""
    (tmp_path / ".git").mkdir()
    write(tmp_path / "chatapp" / "__init__.py", "")
    write(tmp_path / "chatapp" / "services" / "registry.py", REGISTRY + "\n\ndef make_helpers():\n    return []\n")
    write(
        tmp_path / "chatapp" / "services" / "__init__.py",
        "from .registry import AgentRegistry as Registry\n"
        "from .registry import get_agent_registry as agents\n"
        "from .registry import make_helpers as helpers\n",
    )
    team = write(
        tmp_path / "chatapp" / "team.py",
        "from chatapp.services import Registry, agents, helpers\n\n\n"
        "def join(agent):\n"
        "    agents().register(agent)\n"
        "    return Registry.get_instance(), helpers()\n",
    )
    found = [(f.code, f.location.row, f.location.column, f.message) for f in check_findings([team])]
    assert found == [
        (
            "ISO104",
            5,
            5,
            "`join()` puts the agent instance it was given (`agent`) into the process-wide registry "
            "`agents()` returns; every request that looks it up runs that one object and sees the "
            "previous request's state",
        ),
        (
            "ISO106",
            5,
            5,
            "`agents()` returns the process-wide `AgentRegistry` (defined in "
            "chatapp/services/registry.py:19); every request that reaches this call shares it",
        ),
        (
            "ISO106",
            6,
            12,
            "`Registry.get_instance()` returns the process-wide `AgentRegistry` (defined in "
            "chatapp/services/registry.py:6); every request that reaches this call shares it",
        ),
    ]


@pytest.mark.parametrize(
    ("body", "is_alias", "passes"),
    [
        ("def f():\n    return get_registry()\n", True, True),
        ('async def f():\n    """Old name."""\n    return await (get_registry())\n', True, True),
        ("def f(\n):\n    return (\n        registry.get_registry(\n        )\n    )\n", True, True),
        ("def f() -> Registry:\n    return get_registry()\n", True, True),
        ("def f():\n    return 1\n", False, False),
        ("def f(user_id):\n    return get_registry()\n", False, False),
        ("def f():\n    return get_registry(1)\n", False, False),
        ("class C:\n    @staticmethod\n    def f():\n        return get_registry()\n", True, True),
        ("class C:\n    @classmethod\n    def f(cls):\n        return get_registry()\n", True, True),
        ("class C:\n    @classmethod\n    def f(klass):\n        return get_registry()\n", False, False),
        ("class C:\n    def f(self):\n        return get_registry()\n", False, False),
        # The prefilter is a necessary condition only: the statements around the return are the parser's to see.
        ("def f():\n    registry = get_registry()\n    return registry.get_registry()\n", False, True),
    ],
)
def test_the_alias_index_prefilter_passes_the_shapes_of_an_alias(body: str, is_alias: bool, passes: bool) -> None:
    from isolint.rules.singletons.aliases import ALIAS_INDEX_PREFILTER, alias_facts

    raw = ("from app import registry\nfrom app.registry import Registry, get_registry\n\n\n" + body).encode()
    facts = list(alias_facts(parse_module(raw), raw, Settings(root=Path.cwd()), "app.compat", False))
    assert (bool(facts), bool(ALIAS_INDEX_PREFILTER.search(raw))) == (is_alias, passes)


def test_the_aliases_reaching_a_singleton_are_found_in_work_linear_in_their_number() -> None:
    """A chain of aliases, module after module, as generated code makes: each
    alias reaches the accessor at its end, and finding them all takes a
    bounded number of lookups per alias (a search from each alias took one
    per alias behind it: about 2 million here)."""
    hops = 2000
    facts = [Fact("singletons:accessor", "hub.get_registry", "hub.py", 1, {"returns": "Registry"})]
    facts += alias_chain(hops, "alias", "hub.get_registry")
    facts.append(Fact("singletons:alias", "other.now", "other.py", 1, {"calls": ["dates.now"]}))
    project = CountingIndex(facts)
    from isolint.rules.singletons.aliases import singleton_aliases

    assert singleton_aliases(project) == {f"alias{i}" for i in range(hops)}
    assert project.lookups <= 10 * hops


def test_the_alias_index_prefilter_passes_every_fixture_with_an_alias() -> None:
    from isolint.rules.singletons.aliases import ALIAS_INDEX_PREFILTER, alias_facts

    sources = {str(path): path.read_bytes() for path in sorted(FIXTURES.rglob("*.py"))}
    sources.update({"COMPAT": COMPAT.encode(), "REGISTRY": REGISTRY.encode()})
    with_facts = 0
    for where, raw in sources.items():
        if list(alias_facts(parse_module(raw), raw, Settings(root=Path.cwd()), "app.module", False)):
            with_facts += 1
            assert ALIAS_INDEX_PREFILTER.search(raw), where
    assert with_facts >= 2


def test_the_prefilter_passes_forwarding_files_only_with_an_agent_word_and_a_store() -> None:
    from isolint.config import load_settings
    from isolint.index import EMPTY

    rule = BY_CODE["ISO104"]
    prefilter = rule.compile_prefilter(load_settings([Path(".")], isolated=True), EMPTY)
    assert prefilter.search(b"def add(self, agent):\n    registry.register(agent)\n")
    assert prefilter.search(b"@agents.setter\ndef agents(self, value):\n    for a in value:\n        hub[a.name] = a\n")
    assert not prefilter.search(b"def add(self, tool):\n    registry.register(tool)\n")
    assert not prefilter.search(b"def read(agent):\n    return agent.name == other\n")


def test_the_forwarding_prefilter_takes_the_configured_agent_classes_as_agent_words(tmp_path: Path) -> None:
    from isolint.config import load_settings
    from isolint.index import EMPTY

    write(tmp_path / "pyproject.toml", '[tool.isolint.rules.ISO104]\nagent-classes = ["*Bot", "Helper?"]\n')
    settings = load_settings([tmp_path])
    prefilter = BY_CODE["ISO104"].compile_prefilter(settings, EMPTY)
    assert prefilter.search(b"def add(self, bot: SupportBot):\n    hub.register(bot)\n")
    assert prefilter.search(b"def add(self, h: HelperA):\n    hub[h.name] = h\n")
    assert prefilter.search(b"SupportBot ()\n")  # a construction alone
    assert prefilter.search(b"def add(self, agent):\n    pool.append(agent)\n")  # the word itself
    assert not prefilter.search(b"def add(self, bot: SupportBot):\n    return bot.name\n")
    assert not prefilter.search(b"def add(self, tool):\n    hub.register(tool)\n")


def test_an_instance_of_a_class_keeping_per_caller_entries_is_reported_from_another_module(tmp_path: Path) -> None:
    write(tmp_path / ".git" / "HEAD", "")
    write(tmp_path / "app" / "__init__.py", "")
    write(
        tmp_path / "app" / "limits.py",
        "class SlidingWindow:\n    def __init__(self):\n        self._seen = {}\n\n"
        "    def allow(self, client_id):\n        self._seen.setdefault(client_id, []).append(1)\n        return True\n\n\n"
        "class Clock:\n    def __init__(self):\n        self.ticks = {}\n\n    def now(self, zone):\n        return self.ticks.get(zone)\n",
    )
    write(
        tmp_path / "app" / "api.py",
        "from app.limits import Clock, SlidingWindow\n\nwindow = SlidingWindow()\nclock = Clock()\n",
    )
    [finding] = check_findings([tmp_path / "app" / "api.py"], "ISO103")
    assert (finding.location.row, finding.message) == (
        3,
        (
            "module-level `SlidingWindow(...)` creates one `SlidingWindow` for the whole process, and it keeps entries "
            "per caller (`self._seen[...]` keyed by `client_id` in `allow`); every request shares them"
        ),
    )


def test_keyed_state_facts_come_from_writes_keyed_by_a_parameter_outside_init() -> None:
    from isolint.rules.singletons.keyed_state import keyed_state_facts

    source = (FIXTURES / "rules" / "ISO103" / "keyed_state.py").read_text()
    assert [(name, data["key"]) for _, name, _, data in keyed_state_facts(ast.parse(source))] == [
        ("RateLimiter", "user_id"),
        ("QuotaBook", "tenant"),
        ("Throttle", "key"),
        ("PresenceBoard", "user_id"),
    ]
    negatives = (FIXTURES / "rules" / "ISO103" / "keyed_state_negatives.py").read_text()
    assert list(keyed_state_facts(ast.parse(negatives))) == []


def test_per_call_data_reaching_a_global_through_locals_names_the_parameter_it_came_from() -> None:
    found = check_findings([FIXTURES / "rules" / "ISO102" / "per_call_logger.py"], "ISO102")
    tail = "; concurrent requests read whichever request wrote last"
    assert [(f.location.row, f.location.column, f.message.removesuffix(tail)) for f in found] == [
        (14, 5, "`set_logger()` overwrites the module global `_logger` with per-call data (`run_id`)"),
        (
            21,
            5,
            "`set_correlation()` overwrites the module global `_logger` with per-call data (`adapter`, from `correlation_id`)",
        ),
        (27, 5, "`start_run()` overwrites the module global `_logger` with per-call data (`run_id`, from `request`)"),
        (27, 14, "`start_run()` overwrites the module global `_run_id` with per-call data (`run_id`, from `request`)"),
    ]
    assert all(f.message.endswith(tail) and f.fix is None and "ContextVar" in (f.manual or "") for f in found)


def test_the_keyed_state_index_prefilter_passes_every_fixture_with_such_a_class() -> None:
    from isolint.rules.singletons.keyed_state import KEYED_STATE_INDEX_PREFILTER, keyed_state_facts

    with_facts = 0
    for path in sorted(FIXTURES.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if list(keyed_state_facts(parse_module(source))):
            with_facts += 1
            assert KEYED_STATE_INDEX_PREFILTER.search(source.encode("utf-8")), path
    assert with_facts >= 1


# One analysis (rules/singletons/evidence.py) makes both the findings and the
# facts of ISO101, ISO102 and ISO105: at module level they name the same definitions.
PRODUCER_CASES = sorted(
    case
    for code in ("ISO101", "ISO102", "ISO105")
    for case in (FIXTURES / "rules" / code).glob("*.py")
    if not case.name.endswith(".fixed.py")
)


@pytest.mark.parametrize("case", PRODUCER_CASES, ids=lambda case: f"{case.parent.name}/{case.name}")
def test_the_index_records_exactly_the_module_level_singletons_the_rule_reports(case: Path) -> None:
    rule = BY_CODE[case.parent.name]
    settings = load_settings([case], isolated=True)
    indexer = (rule, rule.compile_index_prefilter(settings))
    source = case.read_text(encoding="utf-8")
    facts = index_source(source.encode(), case.name, "", [indexer], settings)
    # A class's own accessor is its class fact, a delegating accessor no ISO102
    # finding, and a suppressed finding is still a fact.
    recorded = {
        f.line
        for f in facts
        if "." not in f.qualname
        and f.data.get("how") != "delegates"
        and "isolint: ignore" not in source.splitlines()[f.line - 1]
    }
    definitions = {
        node.lineno
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    reported = {
        f.location.row
        for f in check_findings([case], rule.code)
        if f.location.row in definitions and "overwrites the module global" not in f.message
    }
    assert recorded == reported


PER_CALL_SHAPES = """\
import threading

_a = None
_b = None
_lock = threading.Lock()


class ConvAgent:
    pass


def on_one_line():
    global _a
    if _a is None: _a = ConvAgent()
    return _a


def with_another_global():
    global _b, _count
    if _b is None:
        _b = ConvAgent()
    _count = 1
    return _b


def in_a_loop():
    global _a
    for _ in range(1):
        if _a is None:
            _a = ConvAgent()
    return _a


def locked():
    global _b
    with _lock:
        if _b is None:
            _b = ConvAgent()
    return _b


class Memory:
    _instance = None

    @classmethod
    def get_instance(cls):
        try:
            if cls._instance is None:
                cls._instance = cls()
        finally:
            pass
        return cls._instance


class ConversationState:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance
"""


def test_a_per_call_fix_a_check_offers_is_one_the_edit_can_build() -> None:
    """Whether the fix exists is decided on ast (a check parses no LibCST);
    the edit is built on LibCST: both must agree on every shape."""
    from isolint.engine import lint_text

    settings = load_settings([Path(".")], isolated=True)
    rules = [BY_CODE["ISO101"], BY_CODE["ISO102"]]
    offered = {
        (f.code, f.location.row): f.fix is not None
        for f in lint_text(PER_CALL_SHAPES, "shapes.py", rules, settings, build_edits=False)
    }
    built = {
        (f.code, f.location.row): f.fix is not None and bool(f.fix.edits)
        for f in lint_text(PER_CALL_SHAPES, "shapes.py", rules, settings, build_edits=True)
    }
    assert offered == built
    assert offered == {
        ("ISO102", 12): False,  # `if ...: _a = ...` on one line
        ("ISO102", 18): False,  # `global _b, _count`: the other global would stay
        ("ISO102", 26): False,  # the cache is set in a loop
        ("ISO102", 34): True,
        ("ISO101", 42): False,  # the cache is set in a `try`
        ("ISO101", 55): True,
    }


def test_a_finding_on_a_definition_spans_its_name_however_the_definition_is_written() -> None:
    from isolint.engine import lint_text

    source = (
        "_a = None\n\n\nclass Agent:\n    pass\n\n\n"
        "async  def  fetch():\n    global _a\n    if _a is None:\n        _a = Agent()\n    return _a\n\n\n"
        "def \\\n        spaced():\n    global _a\n    _a = _a or Agent()\n    return _a\n\n\n"
        "def état():\n    global _a\n    if not _a:\n        _a = Agent()\n    return _a\n"
    )
    findings = lint_text(source, "a.py", [BY_CODE["ISO102"]], load_settings([Path(".")], isolated=True))
    assert [(f.location.row, f.location.column, f.end_location.column, f.snippet) for f in findings] == [
        (8, 13, 18, "fetch"),
        (16, 9, 15, "spaced"),
        (22, 5, 9, "état"),
    ]


@pytest.mark.parametrize(
    ("options", "line", "matches"),
    [
        ("", "hub = EventManager()\n", True),
        ("", "hub = events.EventManager.create()\n", True),
        ("", "limit = 5\n", False),
        ("", "hub = KnownThing()\n", True),  # an indexed class, whatever its name ends in
        ("", "hub = pkg.KnownThing()\n", True),
        ("", "hub = UnknownKnownThing()\n", False),  # the indexed name must start a word
        ("", "hub = KnownThingFactory.build()\n", True),
        ("service-suffixes = []\n", "hub = anything_at_all()\n", True),  # no suffix: any callee
        ("service-suffixes = []\naccessor-patterns = []\n", "limit = 5\n", False),
    ],
)
def test_the_module_instance_prefilter_keeps_every_file_a_finding_can_be_in(
    tmp_path: Path, options: str, line: str, matches: bool
) -> None:
    """ISO103's byte prefilter: an assignment of a call whose callee ends in a
    service suffix, matches an accessor pattern or starts with an indexed
    name. The indexed names are factored into a trie, so the scan does not
    grow with the size of the project."""
    write(tmp_path / "pyproject.toml", "[tool.isolint.rules.ISO103]\n" + options)
    settings = load_settings([tmp_path])
    project = ProjectIndex([Fact("singletons:class", "app.things.KnownThing", "app/things.py", 1)])
    prefilter = BY_CODE["ISO103"].compile_prefilter(settings, project)
    assert (prefilter.search(line.encode()) is not None) is matches
