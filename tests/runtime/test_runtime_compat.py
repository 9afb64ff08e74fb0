"""isolint.runtime.compat, tested by porting the call shapes of the original backend.

Each test is written the way the migrated code calls the registry, factory, context
and emitter; each must work, or fail loudly, never silently do something else.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from runtime_support import RecordingSession, run

from isolint.runtime import (
    AgentClassRegistry,
    InvalidContextError,
    NoActiveContextError,
    UserConcurrencyLimitError,
    UserExecutionContext,
    UserWebSocketEmitter,
)
from isolint.runtime.compat import (
    AgentRegistry,
    CompatAgentInstanceFactory,
    CompatWebSocketEmitter,
)


class LLMManager:
    """A live dependency: must reach agents as itself, never a copy."""


class TriageAgent:
    def __init__(self, llm_manager: LLMManager, tool_dispatcher: object) -> None:
        self.llm_manager = llm_manager
        self.tool_dispatcher = tool_dispatcher
        self.closed = False

    async def cleanup(self) -> None:
        self.closed = True


class ReportAgent:
    def __init__(self) -> None:
        self.context: UserExecutionContext | None = None

    @classmethod
    def create_agent_with_context(cls, context: UserExecutionContext) -> ReportAgent:
        agent = cls()
        agent.context = context
        return agent


class PlainAgent:
    def __init__(self) -> None:
        self.ran = False


class ContextAgent:
    def __init__(self, user_context: UserExecutionContext) -> None:
        self.user_context = user_context


def legacy_registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register("triage", TriageAgent, "Routes requests", version="2.1.0")
    registry.register("report", ReportAgent, "Writes reports", dependencies=["triage"])
    registry.register("plain", PlainAgent, "No arguments")
    registry.register("context", ContextAgent, "Takes user_context")
    registry.register("orphan", PlainAgent, "Needs a missing agent", dependencies=["billing"])
    return registry


def test_the_original_registry_calls_work():
    registry = legacy_registry()
    assert registry.get_agent_class("triage") is TriageAgent
    assert registry.get_agent_class("nope") is None
    assert registry.list_agent_names() == [
        "triage",
        "report",
        "plain",
        "context",
        "orphan",
    ]
    assert registry.has_agent_class("report") and not registry.has_agent_class("x")
    assert registry.is_frozen() is False
    registry.freeze()
    assert registry.is_frozen() is True
    assert registry.validate_dependencies() == {"orphan": ["billing"]}
    stats = registry.get_registry_stats()
    assert (stats["total_agents"], stats["frozen"]) == (5, True)
    assert registry.agent_info("triage").version == "2.1.0"


def test_registering_an_instance_or_a_str_of_dependencies_is_loud():
    registry = AgentRegistry()
    with pytest.raises(TypeError, match="takes a class"):
        registry.register("shared", PlainAgent(), "an instance")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not a str"):
        registry.register("x", PlainAgent, "d", dependencies="triage")


def test_the_spec_returned_by_get_is_callable_like_the_class():
    registry = AgentClassRegistry()
    registry.register("context", ContextAgent)
    context = UserExecutionContext.create(user_id="alice")
    agent = registry.get("context")(context)
    assert isinstance(agent, ContextAgent) and agent.user_context is context


def factory_with(log: list[str] | None = None, **options: Any) -> CompatAgentInstanceFactory:
    registry = legacy_registry()
    registry.freeze()
    llm = LLMManager()
    return CompatAgentInstanceFactory(
        registry,
        services={"llm_manager": llm, "tool_dispatcher": "dispatcher"},
        session_factory=(lambda: RecordingSession(log)) if log is not None else None,
        **options,
    )


def test_agents_are_built_the_way_their_class_asks(log):
    factory = factory_with()

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            triage = factory.create_agent_instance("triage", context)
            assert isinstance(triage, TriageAgent)  # used directly...
            agent = await factory.create_agent_instance("triage", context)  # ...or awaited
            assert type(agent) is TriageAgent
            # The live dependency is the factory's object, not a deep copy.
            assert agent.llm_manager is context.services["llm_manager"]
            report = await factory.create_agent_instance("report", context)
            assert report.context is context
            plain = await factory.create_agent_instance("plain", context)
            assert plain.ran is False
            by_context = await factory.create_agent_instance("context", context)
            assert by_context.user_context is context
        assert agent.closed, "agents built through compat are cleaned up with the scope"

    run(scenario())


def test_a_constructor_parameter_nobody_provides_is_a_clear_error():
    class NeedsBilling:
        def __init__(self, context: UserExecutionContext, billing: object) -> None:
            pass

    registry = AgentRegistry()
    registry.register("needs", NeedsBilling, "d")
    factory = CompatAgentInstanceFactory(registry)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            with pytest.raises(TypeError, match="services=\\{'billing'"):
                factory.create_agent_instance("needs", context)

    run(scenario())
    assert factory.metrics().creation_errors == 1


def test_create_and_cleanup_pairs_work_without_async_with(log):
    factory = factory_with(log)

    async def scenario() -> None:
        context = await factory.create_user_execution_context("alice", "thread-1", "run-1")
        try:
            await factory.create_agent_instance("triage", context)
            assert factory.get_factory_metrics()["active_contexts"] == 1
        finally:
            await factory.cleanup_user_context(context)
        failed = await factory.create_user_execution_context("bob")
        await factory.cleanup_user_context(failed, ValueError("the request failed"))
        with pytest.raises(NoActiveContextError):
            await factory.cleanup_user_context(failed)

    run(scenario())
    assert log == [
        "session.commit",
        "session.close",
        "session.rollback",
        "session.close",
    ]


def test_the_factory_metrics_dict_has_the_original_keys(log):
    factory = factory_with(log)

    async def scenario() -> dict[str, Any]:
        context = await factory.create_user_execution_context("alice")
        await asyncio.sleep(0.01)
        during = factory.get_factory_metrics()
        await factory.cleanup_user_context(context)
        return during

    during = run(scenario())
    after = factory.get_factory_metrics()
    assert during["active_contexts"] == 1
    assert during["oldest_active_scope_seconds"] >= 0.01
    assert after["active_contexts"] == 0 and after["total_contexts_cleaned"] == 1
    assert after["average_creation_time_ms"] > 0
    assert after["average_cleanup_time_ms"] > 0
    assert after["creation_errors"] == after["cleanup_errors"] == 0
    assert "alice" not in json.dumps(after)


def test_one_user_cannot_take_every_slot(log):
    factory = factory_with(log, max_scopes_per_user=2)

    async def scenario() -> None:
        tabs = [await factory.create_user_execution_context("alice") for _ in range(2)]
        with pytest.raises(UserConcurrencyLimitError):
            await factory.create_user_execution_context("alice")
        other = await factory.create_user_execution_context("bob")  # bob is not blocked
        for context in (*tabs, other):
            await factory.cleanup_user_context(context)
        again = await factory.create_user_execution_context("alice")
        await factory.cleanup_user_context(again)

    run(scenario())
    metrics = factory.metrics()
    assert metrics.scopes_refused_by_user_limit == 1
    assert metrics.sessions_opened == 4  # the refused scope opened nothing


def test_context_helpers_of_the_original():
    context = UserExecutionContext.from_request("alice", "thread-1", "run-1")
    assert (context.user_id, context.thread_id, context.run_id) == (
        "alice",
        "thread-1",
        "run-1",
    )
    child = context.create_child_context("plan", {"step": 1})
    grandchild = child.create_child_context("search")
    assert (context.operation_depth, child.operation_depth) == (0, 1)
    assert grandchild.operation_depth == 2
    assert child.metadata["step"] == 1 and child.parent_request_id == context.request_id
    deep = context
    for _ in range(3):
        deep = deep.create_child_context("recurse", max_depth=3)
    with pytest.raises(InvalidContextError, match="operation_depth"):
        deep.create_child_context("recurse", max_depth=3)
    correlation = context.get_correlation_id()
    assert correlation.count(":") == 2 and "alice" not in correlation


def test_services_are_shared_never_copied_and_never_logged():
    llm = LLMManager()
    context = UserExecutionContext.create(user_id="alice", services={"llm": llm})
    assert context.services["llm"] is llm
    assert context.child("sub").services["llm"] is llm
    assert "services" not in context.to_dict()
    with pytest.raises(TypeError):
        context.services["llm"] = LLMManager()  # type: ignore[index]


class Frames:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.frames.append(json.loads(text))


def test_the_original_notify_signatures_put_every_value_in_its_field():
    transport = Frames()

    async def scenario() -> None:
        emitter = CompatWebSocketEmitter("alice", "conn-1", transport.send)
        emitter.notify_agent_started("triage", {"source": "chat"})
        emitter.notify_agent_thinking("triage", "reading", 2)
        emitter.notify_tool_executing("search", {"query": "refund"})
        emitter.notify_tool_completed("search", ["doc"], {"ms": 12})
        emitter.notify_agent_completed("triage", {"answer": 42}, {"ms": 30})
        emitter.notify_agent_error(ValueError("bad input"))
        emitter.notify_agent_error("timed out", "triage")
        await emitter.flush()

    run(scenario())
    payloads = [frame["payload"] for frame in transport.frames]
    assert payloads == [
        {"agent_name": "triage", "metadata": {"source": "chat"}},
        {"agent_name": "triage", "thought": "reading", "step_number": 2},
        {"tool_name": "search", "metadata": {"query": "refund"}},
        {"tool_name": "search", "result": ["doc"], "metadata": {"ms": 12}},
        {"agent_name": "triage", "result": {"answer": 42}, "metadata": {"ms": 30}},
        {"agent_name": None, "error": {"type": "ValueError", "message": "bad input"}},
        {"agent_name": "triage", "error": {"type": None, "message": "timed out"}},
    ]


def test_the_compat_emitter_keeps_its_signatures_inside_a_scope():
    transport = Frames()
    factory = factory_with()

    async def scenario() -> None:
        emitter = CompatWebSocketEmitter("alice", "conn-1", transport.send)
        async with factory.user_execution_scope(user_id="alice", websocket_emitter=emitter) as context:
            context.websocket_emitter.notify_agent_error(RuntimeError("boom"))
            await context.websocket_emitter.flush()

    run(scenario())
    assert transport.frames[0]["payload"]["error"]["message"] == "boom"


def test_the_core_emitter_refuses_the_legacy_shapes_loudly():
    transport = Frames()

    async def scenario() -> None:
        emitter = UserWebSocketEmitter("alice", "conn-1", transport.send)
        with pytest.raises(TypeError, match="compat"):
            emitter.notify_agent_error(ValueError("bad"))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="thought must be a str"):
            emitter.notify_agent_thinking("triage", {"step": 1})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            emitter.notify_agent_started("triage", {"source": "chat"})  # type: ignore[call-arg]

    run(scenario())
    assert transport.frames == []


def test_after_a_disconnect_the_compat_emitter_drops_and_counts():
    async def gone(text: str) -> None:
        raise ConnectionResetError("client went away")

    async def scenario() -> tuple[bool, int]:
        emitter = CompatWebSocketEmitter("alice", "conn-1", gone)
        emitter.notify_agent_started("triage")
        await emitter.flush()
        receipt = emitter.notify_agent_completed("triage", "done")
        return bool(receipt), emitter.stats().dropped

    assert run(scenario()) == (False, 2)
