"""AgentClassRegistry and AgentInstanceFactory.create_agent_instance."""

from __future__ import annotations

import functools
import gc
import weakref

import pytest
from runtime_support import run

from isolint import runtime
from isolint.runtime import (
    AgentClassRegistry,
    AgentInstanceFactory,
    DuplicateAgentError,
    RegistryFrozenError,
    SharedAgentInstanceError,
    UnknownAgentError,
    UserExecutionContext,
)


class EchoAgent:
    def __init__(self, context: UserExecutionContext) -> None:
        self.context = context


class ClosingAgent(EchoAgent):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


def context(user_id: str = "user-1") -> UserExecutionContext:
    return UserExecutionContext.create(user_id=user_id)


def test_classes_and_factories_are_registered_by_name():
    registry = AgentClassRegistry()
    registry.register("echo", EchoAgent, description="repeats")
    registry.register_factory("custom", lambda ctx: EchoAgent(ctx))
    assert registry.names() == ("echo", "custom")
    assert registry.get("echo").target is EchoAgent
    assert registry.get("echo").description == "repeats"
    assert registry.get("custom").kind == "factory"
    assert "echo" in registry and len(registry) == 2


@pytest.mark.parametrize(
    ("register", "error"),
    [
        pytest.param(
            lambda r: r.register("a", EchoAgent(context())),
            TypeError,
            id="instance-as-class",
        ),
        pytest.param(
            lambda r: r.register_factory("a", EchoAgent(context())),
            TypeError,
            id="instance-as-factory",
        ),
        pytest.param(lambda r: r.register_factory("a", 42), TypeError, id="not-callable"),
        pytest.param(
            lambda r: r.register_factory("a", _async_factory),
            TypeError,
            id="async-factory",
        ),
        pytest.param(lambda r: r.register("", EchoAgent), ValueError, id="empty-name"),
        pytest.param(lambda r: r.register(None, EchoAgent), ValueError, id="none-name"),
    ],
)
def test_registering_anything_but_a_recipe_fails(register, error):
    registry = AgentClassRegistry()
    with pytest.raises(error):
        register(registry)
    assert registry.names() == ()


async def _async_factory(ctx: UserExecutionContext) -> EchoAgent:
    return EchoAgent(ctx)


class _CallableAgentMaker:
    def __call__(self, ctx: UserExecutionContext) -> EchoAgent:
        return EchoAgent(ctx)


def test_a_callable_instance_is_refused_because_its_state_would_be_shared():
    with pytest.raises(TypeError, match="instance of _CallableAgentMaker"):
        AgentClassRegistry().register_factory("maker", _CallableAgentMaker())


class _Builder:
    def build(self, ctx: UserExecutionContext) -> EchoAgent:
        return EchoAgent(ctx)


def test_partials_methods_and_classes_are_fine_as_factories():
    registry = AgentClassRegistry()
    registry.register_factory("partial", functools.partial(EchoAgent))
    registry.register_factory("class", EchoAgent)
    registry.register_factory("method", _Builder().build)
    assert registry.names() == ("partial", "class", "method")


def test_a_duplicate_name_is_refused():
    registry = AgentClassRegistry()
    registry.register("echo", EchoAgent)
    with pytest.raises(DuplicateAgentError, match="'echo' is already registered"):
        registry.register_factory("echo", EchoAgent)


def test_a_frozen_registry_refuses_registrations():
    registry = AgentClassRegistry()
    registry.register("echo", EchoAgent)
    registry.freeze()
    registry.freeze()  # idempotent
    assert registry.frozen
    with pytest.raises(RegistryFrozenError):
        registry.register("other", EchoAgent)
    with pytest.raises(RegistryFrozenError):
        registry.register_factory("other", EchoAgent)
    assert registry.get("echo").target is EchoAgent


def test_an_unknown_name_lists_the_known_ones():
    registry = AgentClassRegistry()
    registry.register("triage", EchoAgent)
    registry.register("billing", EchoAgent)
    with pytest.raises(UnknownAgentError) as caught:
        registry.get("triag")
    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == "no agent named 'triag'; registered agents: 'triage', 'billing'"
    assert caught.value.known == ("triage", "billing")


def test_there_is_no_module_level_registry_or_factory():
    shared = [
        name for name, value in vars(runtime).items() if isinstance(value, (AgentClassRegistry, AgentInstanceFactory))
    ]
    assert shared == []


def test_a_thousand_creations_give_a_thousand_distinct_agents():
    registry = AgentClassRegistry()
    registry.register("echo", EchoAgent)
    registry.register_factory("built", lambda ctx: EchoAgent(ctx))
    factory = AgentInstanceFactory(registry)
    ctx = context()
    agents = [factory.create_agent_instance("echo", ctx) for _ in range(500)]
    agents += [factory.create_agent("built", ctx) for _ in range(500)]
    assert len({id(agent) for agent in agents}) == 1000
    assert all(agent.context is ctx for agent in agents)
    assert factory.metrics().agents_created == 1000


def test_a_factory_returning_the_same_instance_twice_is_caught():
    singleton = EchoAgent(context())
    registry = AgentClassRegistry()
    registry.register_factory("shared", lambda ctx: singleton)
    factory = AgentInstanceFactory(registry)
    factory.create_agent_instance("shared", context())
    with pytest.raises(
        SharedAgentInstanceError,
        match="'shared' returned an instance it already returned",
    ):
        factory.create_agent_instance("shared", context("user-2"))


def test_a_factory_returning_none_is_caught():
    registry = AgentClassRegistry()
    registry.register_factory("nothing", lambda ctx: None)
    with pytest.raises(TypeError, match="returned None"):
        AgentInstanceFactory(registry).create_agent_instance("nothing", context())


@pytest.mark.parametrize("body_fails", [False, True], ids=["body-ok", "body-fails"])
def test_agents_are_collectable_after_their_scope_exits(body_fails):
    registry = AgentClassRegistry()
    registry.register("closing", ClosingAgent)
    registry.register("plain", EchoAgent)
    factory = AgentInstanceFactory(registry)

    def create(ctx: UserExecutionContext) -> dict[str, weakref.ref[EchoAgent]]:
        return {name: weakref.ref(factory.create_agent_instance(name, ctx)) for name in ("closing", "plain")}

    async def scenario() -> dict[str, weakref.ref[EchoAgent]]:
        refs = {}
        try:
            async with factory.user_execution_scope(user_id="user-1") as ctx:
                refs = create(ctx)
                # The scope keeps only what it must close later; nothing else holds agents.
                assert refs["closing"]() is not None
                assert refs["plain"]() is None
                if body_fails:
                    raise RuntimeError("boom")
        except RuntimeError:
            pass
        return refs

    refs = run(scenario())
    gc.collect()
    assert {name: ref() for name, ref in refs.items()} == {
        "closing": None,
        "plain": None,
    }


def test_each_scope_gets_its_own_agents_and_closes_them():
    registry = AgentClassRegistry()
    registry.register("closing", ClosingAgent)
    factory = AgentInstanceFactory(registry)
    seen: list[ClosingAgent] = []

    async def one(user_id: str) -> None:
        async with factory.user_execution_scope(user_id=user_id) as ctx:
            agent = factory.create_agent_instance("closing", ctx)
            assert agent.context.user_id == user_id
            seen.append(agent)

    async def scenario() -> None:
        for user_id in ("user-1", "user-2", "user-3"):
            await one(user_id)

    run(scenario())
    assert len({id(agent) for agent in seen}) == 3
    assert all(agent.closed for agent in seen)
