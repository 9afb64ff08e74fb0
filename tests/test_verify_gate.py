"""The verification gate on its own: texts before and after a fix in, violations out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from isolint.semantic import ModuleModel
from isolint.verify import ModuleSource, Vocabulary, verify

VOCABULARY = Vocabulary(
    "isolint.runtime.UserExecutionContext",
    frozenset({"DeepAgentState"}),
    frozenset({"context"}),
    frozenset({"user_id", "run_id"}),
)

REGISTRY = """
class AgentRegistry:
    def __init__(self) -> None:
        self._classes = {}

    def register(self, name, cls):
        self._classes[name] = cls
"""

REGISTRATION = """
from app.registry import AgentRegistry


def setup(registry: AgentRegistry, agent_class) -> None:
    registry.{call}("triage", agent_class)
"""


def project(*sources: ModuleSource):
    def read_others(names: frozenset[str], definitions: frozenset[str]) -> Iterator[ModuleSource]:
        yield from sources

    return read_others


def reasons(before: str, after: str, *others: ModuleSource) -> list[str]:
    source = ModuleSource("app/setup.py", "app.setup", False, before)
    verdict = verify({source.path: (source, after)}, project(*others), VOCABULARY)
    return [violation.describe() for violation in verdict.violations]


def test_a_rewritten_call_of_a_method_the_class_lacks_is_refused() -> None:
    registry = ModuleSource("app/registry.py", "app.registry", False, REGISTRY)
    found = reasons(REGISTRATION.format(call="register"), REGISTRATION.format(call="register_factory"), registry)
    assert found == [
        "app/setup.py:6: `registry.register_factory('triage', agent_class)` calls `.register_factory()` on a "
        "`app.registry.AgentRegistry`, which has no such method"
    ]


def test_a_method_a_base_class_outside_the_project_may_have_is_not_judged() -> None:
    external = ModuleSource(
        "app/registry.py", "app.registry", False, "from lib import Base\n\n\nclass AgentRegistry(Base):\n    pass\n"
    )
    assert reasons(REGISTRATION.format(call="register"), REGISTRATION.format(call="register_factory"), external) == []


def test_a_method_the_class_inherits_within_the_project_is_fine() -> None:
    inherited = ModuleSource(
        "app/registry.py",
        "app.registry",
        False,
        "class Base:\n    def register_factory(self, name, factory):\n        pass\n\n\nclass AgentRegistry(Base):\n    pass\n",
    )
    assert reasons(REGISTRATION.format(call="register"), REGISTRATION.format(call="register_factory"), inherited) == []


def test_a_class_with_dynamic_attributes_is_not_judged() -> None:
    dynamic = ModuleSource(
        "app/registry.py", "app.registry", False, REGISTRY + "\n    def __getattr__(self, name):\n        return None\n"
    )
    assert reasons(REGISTRATION.format(call="register"), REGISTRATION.format(call="register_factory"), dynamic) == []


def test_an_unchanged_call_is_not_the_fixes_concern() -> None:
    registry = ModuleSource("app/registry.py", "app.registry", False, REGISTRY)
    text = REGISTRATION.format(call="register_factory")
    assert reasons(text, text + "\n# edited\n", registry) == []


HELPER_BEFORE = """
from app.state import DeepAgentState


def summarize(state: DeepAgentState) -> str:
    return state.user_id
"""

HELPER_AFTER = """
from app.state import DeepAgentState
from isolint.runtime import UserExecutionContext


def summarize(state: UserExecutionContext) -> str:
    return state.user_id
"""

AGENT = """
from isolint.runtime import UserExecutionContext
from app.setup import summarize


class Agent:
    def __init__(self, context: UserExecutionContext, legacy) -> None:
        self.context = context
        self.legacy = legacy

    def run(self) -> str:
        return summarize(self.{attribute})
"""


def test_an_attribute_that_every_store_fills_with_a_context_is_known_to_be_one() -> None:
    agent = ModuleSource("app/agent.py", "app.agent", False, AGENT.format(attribute="context"))
    assert reasons(HELPER_BEFORE, HELPER_AFTER, agent) == []


def test_an_attribute_filled_with_anything_else_can_still_be_the_legacy_state() -> None:
    agent = ModuleSource("app/agent.py", "app.agent", False, AGENT.format(attribute="legacy"))
    assert reasons(HELPER_BEFORE, HELPER_AFTER, agent) == [
        "app/agent.py:12: `summarize(self.legacy)` calls `app.setup.summarize`, whose `state` the fixes make a "
        "`UserExecutionContext`; its argument 1 can still be the legacy state"
    ]


POOL = """
class Pool:
    def acquire(self):
        return self


class ManagedPool(Pool):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def make_pool() -> Pool:
    return Pool()
"""

USES_POOL = """
from app.pool import ManagedPool, Pool, make_pool


def run(item) -> None:
    pool = {entered}
    pool.acquire()
"""

ENTERS_POOL = """
from app.pool import ManagedPool, Pool, make_pool


def run(item) -> None:
    with {entered} as pool:
        pool.acquire()
"""


def test_a_with_the_fixes_add_on_an_object_that_is_no_context_manager_is_refused() -> None:
    pool = ModuleSource("app/pool.py", "app.pool", False, POOL)
    for entered in ("Pool()", "make_pool()"):
        found = reasons(USES_POOL.format(entered=entered), ENTERS_POOL.format(entered=entered), pool)
        assert found == [
            f"app/setup.py:6: `with {entered}` enters a `app.pool.Pool`, which has no `__enter__`/`__exit__` (TypeError)"
        ]


def test_a_with_on_a_context_manager_or_an_unknown_object_is_fine() -> None:
    pool = ModuleSource("app/pool.py", "app.pool", False, POOL)
    assert reasons(USES_POOL.format(entered="ManagedPool()"), ENTERS_POOL.format(entered="ManagedPool()"), pool) == []
    assert reasons(USES_POOL.format(entered="item.pool()"), ENTERS_POOL.format(entered="item.pool()"), pool) == []


def test_the_models_of_unchanged_files_can_be_built_together_in_worker_processes() -> None:
    # The gate asks for the unchanged files' models at once; built in two
    # processes (31 files: more than are built inline), as `fix` builds them,
    # the verdict is the one built one by one here.
    from isolint.fixing import unchanged_models
    from isolint.verify import ModelCache

    registry = ModuleSource("app/registry.py", "app.registry", False, REGISTRY)
    others = [registry, *(ModuleSource(f"app/m{i}.py", f"app.m{i}", False, f"X{i} = {i}\n") for i in range(30))]
    asked: list[list[str]] = []
    build = unchanged_models(2)

    def recorded(sources: Sequence[ModuleSource]) -> list[ModuleModel | None]:
        asked.append([source.path for source in sources])
        return build(sources)

    source = ModuleSource("app/setup.py", "app.setup", False, REGISTRATION.format(call="register"))
    after = REGISTRATION.format(call="register_factory")
    together = verify({source.path: (source, after)}, project(*others), VOCABULARY, ModelCache(recorded))
    one_by_one = verify({source.path: (source, after)}, project(*others), VOCABULARY)
    assert asked == [[other.path for other in others]]
    assert [v.describe() for v in together.violations] == [v.describe() for v in one_by_one.violations]
    assert len(together.violations) == 1


RECEIVERS = """
from app.state import DeepAgentState
from isolint.runtime import UserExecutionContext


class Agent:
    async def execute(self, state: DeepAgentState) -> None:
        state.results["plan"] = 1

    async def migrated(self, context: UserExecutionContext) -> None:
        print(context.user_id)

    async def reads(self, state) -> str:
        return state.user_id

    async def writes(self, state) -> None:
        state.results = {}

    async def forwards(self, state) -> None:
        await self.execute(state)

    async def spreads(self, *states) -> None:
        pass
"""
BUILT = 'DeepAgentState(user_id="u")'
CONTEXT = 'UserExecutionContext.create(user_id="u")'
CALLER = """
import logging

from app.state import DeepAgentState
from isolint.runtime import UserExecutionContext

logger = logging.getLogger(__name__)


async def main(agent, client) -> None:
    {body}
"""


def handed_over(body: str) -> list[str]:
    """The gate's reasons when the fixes turn the legacy state that `body`
    builds (`BUILT`) into the context (`CONTEXT`), with `RECEIVERS` in the project."""
    agent = ModuleSource("app/agent.py", "app.agent", False, RECEIVERS)
    before = CALLER.format(body=body.format(built=BUILT))
    return reasons(before, CALLER.format(body=body.format(built=CONTEXT)), agent)


def test_a_context_passed_where_the_legacy_state_was_needs_a_callee_taking_the_context() -> None:
    """ISO403 turns a construction into the context: the callee that received
    the legacy state must take the context now, or the program breaks at its
    first `state.results`. Unknown callees may too."""
    prefix = "app/setup.py:11: `agent.{method}(UserExecutionContext.create(user_id='u'))` now passes a `UserExecutionContext` where it passed the legacy state, to "
    assert handed_over("await agent.execute({built})") == [
        prefix.format(method="execute")
        + "`app.agent.Agent.execute`, whose `state: DeepAgentState` can still use it as the legacy state"
    ]
    assert handed_over("await agent.writes({built})") == [
        prefix.format(method="writes") + "`app.agent.Agent.writes`, whose `state` can still use it as the legacy state"
    ]
    assert handed_over("await agent.forwards({built})") == [
        prefix.format(method="forwards")
        + "`app.agent.Agent.forwards`, whose `state` can still use it as the legacy state"
    ]
    assert handed_over("await agent.reads({built})") == [  # unannotated: what it does with it is not followed
        prefix.format(method="reads") + "`app.agent.Agent.reads`, whose `state` can still use it as the legacy state"
    ]
    assert handed_over("await agent.spreads({built})") == [
        prefix.format(method="spreads")
        + "`app.agent.Agent.spreads`, whose `*args` or `**kwargs` can still use it as the legacy state"
    ]
    assert handed_over("await client.submit({built})") == [
        "app/setup.py:11: `client.submit(UserExecutionContext.create(user_id='u'))` now passes a `UserExecutionContext` "
        "where it passed the legacy state, to code the gate cannot read (outside the project, or generated) that "
        "may use it as the legacy state"
    ]


def test_a_variable_the_fixes_retype_is_followed_into_the_calls_that_pass_it() -> None:
    assert handed_over("state = {built}\n    await agent.execute(state)") == [
        "app/setup.py:12: `agent.execute(state)` now passes a `UserExecutionContext` where it passed the legacy "
        "state, to `app.agent.Agent.execute`, whose `state: DeepAgentState` can still use it as the legacy state"
    ]


def test_a_context_passed_to_code_that_takes_one_is_fine() -> None:
    assert handed_over("await agent.migrated({built})") == []
    assert handed_over("print({built})") == []
    assert handed_over('logger.info("state %s", {built})') == []
    assert handed_over("state = {built}\n    await agent.migrated(state)\n    print(state)") == []


def gate_reasons(before: str, built: str = BUILT, context: str = CONTEXT) -> list[str]:
    """The gate's reasons when the fixes turn `before`'s construction of the legacy state into the context."""
    return reasons(before.format(built=built), before.format(built=context))


HEADER = "from app.state import DeepAgentState\nfrom isolint.runtime import UserExecutionContext\n\n\n"


def test_a_context_built_where_the_legacy_state_was_and_returned_leaves_its_callers_unverified() -> None:
    assert gate_reasons(HEADER + "def build():\n    return {built}\n") == [
        "app/setup.py:5: `build` would return a `UserExecutionContext` where it returned the legacy state; its "
        "callers may still use the value as the legacy state"
    ]
    through_a_variable = HEADER + "def build():\n    state = {built}\n    return state\n"
    assert len(gate_reasons(through_a_variable)) == 1
    # A function returning the parameter ISO402 retyped: its callers pass (and get back) a context, which the gate checks.
    retyped = HEADER + "def passthrough(state: {built}):\n    return state\n"
    assert gate_reasons(retyped, "DeepAgentState", "UserExecutionContext") == []


def test_a_context_kept_on_an_attribute_where_the_legacy_state_was_leaves_its_readers_unverified() -> None:
    kept = HEADER + "class Runner:\n    def __init__(self):\n        self.state = {built}\n"
    assert gate_reasons(kept) == [
        "app/setup.py:5: `Runner.state` would hold a `UserExecutionContext` where it held the legacy state; what "
        "reads it may still use it as the legacy state"
    ]
    already = (
        HEADER
        + "class Runner:\n    def __init__(self):\n        self.context = "
        + CONTEXT
        + "\n        self.state = {built}\n"
    )
    assert len(gate_reasons(already)) == 1  # `context` held a context before too


def test_a_variable_the_fixes_make_the_context_is_read_only_for_what_a_context_has() -> None:
    body = HEADER + "def local():\n    state = {built}\n    return state.{attribute}\n"
    assert gate_reasons(body.replace("{attribute}", "results")) == [
        "app/setup.py:5: `local` would read `state.results` from a `UserExecutionContext`, which does not have it"
    ]
    assert gate_reasons(body.replace("{attribute}", "user_id")) == []


def test_a_context_built_at_import_time_where_the_legacy_state_was_leaves_its_readers_unverified() -> None:
    assert gate_reasons(HEADER + "SYSTEM = {built}\n") == [
        "app/setup.py:5: a value built at import time would be a `UserExecutionContext` where it was the legacy "
        "state; what reads it may still use it as the legacy state"
    ]


def test_a_parameter_retyped_to_the_context_is_passed_on_only_to_code_taking_one() -> None:
    """ISO402 retypes `summarize`'s `state`; the unchanged `record` it passes
    it to still writes to the legacy state."""
    record = ModuleSource(
        "app/rec.py",
        "app.rec",
        False,
        "from app.state import DeepAgentState\n\n\ndef record(state: DeepAgentState) -> None:\n"
        "    state.results['seen'] = True\n",
    )
    before = (
        "from app.rec import record\nfrom app.state import DeepAgentState\n\n\n"
        "def summarize(state: DeepAgentState) -> None:\n    record(state)\n"
    )
    after = before.replace("state: DeepAgentState", "state: UserExecutionContext")
    assert reasons(before, after, record) == [
        "app/setup.py:6: `record(state)` now passes a `UserExecutionContext` where it passed the legacy state, to "
        "`app.rec.record`, whose `state: DeepAgentState` can still use it as the legacy state"
    ]
