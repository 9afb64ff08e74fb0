"""UserWebSocketEmitter and ConnectionRegistry."""

from __future__ import annotations

import asyncio
import json

import pytest
from runtime_support import make_factory, run

from isolint.runtime import (
    AGENT_EVENTS,
    OVERFLOW_CLOSE_CODE,
    ConnectionRegistry,
    CrossUserEmitError,
    EmitterClosedError,
    InvalidContextError,
    UserWebSocketEmitter,
)


class Transport:
    """Collects frames; can be made to stall or fail."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.closed_with: tuple[int, str] | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def send(self, text: str) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionResetError("peer went away")
        self.frames.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


def emitter_for(transport: Transport, user_id: str = "user-1", **options) -> UserWebSocketEmitter:
    return UserWebSocketEmitter(user_id, f"conn-{user_id}", transport.send, close=transport.close, **options)


def test_the_standard_events_arrive_in_order_stamped_with_the_run():
    transport = Transport()

    async def scenario() -> None:
        emitter = emitter_for(transport).bind(thread_id="thread-1", run_id="run-1")
        emitter.notify_agent_started("triage", step=1)
        emitter.notify_agent_thinking("triage", "reading the ticket")
        emitter.notify_tool_executing("search", query="refund")
        emitter.notify_tool_completed("search", ["doc-1"])
        emitter.notify_agent_completed("triage", {"answer": 42})
        emitter.notify_agent_error("triage", ValueError("bad input"))
        await emitter.flush()

    run(scenario())
    assert [f["event"] for f in transport.frames] == list(AGENT_EVENTS)
    assert [f["seq"] for f in transport.frames] == [1, 2, 3, 4, 5, 6]
    assert {(f["user_id"], f["thread_id"], f["run_id"]) for f in transport.frames} == {("user-1", "thread-1", "run-1")}
    payloads = [f["payload"] for f in transport.frames]
    assert payloads[0] == {"agent_name": "triage", "step": 1}
    assert payloads[1] == {"agent_name": "triage", "thought": "reading the ticket"}
    assert payloads[2] == {"tool_name": "search", "query": "refund"}
    assert payloads[3] == {"tool_name": "search", "result": ["doc-1"]}
    assert payloads[4] == {"agent_name": "triage", "result": {"answer": 42}}
    assert payloads[5] == {
        "agent_name": "triage",
        "error": {"type": "ValueError", "message": "bad input"},
    }


def test_emits_are_queued_at_call_time_and_may_also_be_awaited():
    transport = Transport()

    async def scenario() -> list[int]:
        emitter = emitter_for(transport)
        receipt = emitter.emit("plain", {"n": 1})  # no await needed
        awaited = await emitter.send_to_user("user-1", {"n": 2})  # legacy `await manager.send(...)`
        await emitter.flush()
        await emitter.aclose()
        return [receipt.sequence, awaited]

    assert run(scenario()) == [1, 2]
    assert [f["payload"] for f in transport.frames] == [{"n": 1}, {"n": 2}]
    assert transport.frames[1]["event"] == "message"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(object(), id="object"),
        pytest.param({"x": {1, 2}}, id="set"),
        pytest.param(float("nan"), id="nan"),
    ],
)
def test_a_non_json_payload_fails_at_the_call_site(payload):
    transport = Transport()

    async def scenario() -> None:
        emitter = emitter_for(transport)
        with pytest.raises(TypeError, match="'update' is not JSON-serialisable"):
            emitter.emit("update", payload)
        emitter.emit("after", None)
        await emitter.aclose()

    run(scenario())
    assert [(f["event"], f["seq"]) for f in transport.frames] == [("after", 1)]


def test_sending_to_another_user_is_refused_counted_and_sends_nothing():
    transport = Transport()
    factory = make_factory()

    async def scenario() -> UserWebSocketEmitter:
        root = emitter_for(transport)
        async with factory.user_execution_scope(user_id="user-1", websocket_emitter=root) as ctx:
            with pytest.raises(CrossUserEmitError) as caught:
                ctx.websocket_emitter.send_to_user("user-2", {"secret": "s"})
            assert "user-2" not in str(caught.value)  # the error could reach the wrong client
            assert caught.value.target_user_id == "user-2"
            ctx.websocket_emitter.send_to_user(ctx.user_id, {"fine": True})
        await root.aclose()
        return root

    root = run(scenario())
    assert [f["payload"] for f in transport.frames] == [{"fine": True}]
    assert root.stats().cross_user_attempts == 1
    assert factory.metrics().cross_user_emit_attempts == 1


def test_aclose_is_idempotent_and_emitting_afterwards_fails():
    transport = Transport()

    async def scenario() -> None:
        emitter = emitter_for(transport)
        emitter.emit("one")
        await emitter.aclose()
        await emitter.aclose()
        with pytest.raises(EmitterClosedError):
            emitter.emit("two")
        with pytest.raises(EmitterClosedError):
            emitter.notify_agent_started("late")

    run(scenario())
    assert [f["event"] for f in transport.frames] == ["one"]  # queued frames are flushed first


def test_overflow_with_close_closes_the_connection_with_1013():
    transport = Transport()

    async def scenario() -> UserWebSocketEmitter:
        transport.gate.clear()  # the client stops reading
        emitter = emitter_for(transport, max_queue=3)
        for index in range(4):  # one frame is in flight, three are queued
            emitter.emit("tick", index)
            await asyncio.sleep(0)
        with pytest.raises(EmitterClosedError, match="1013"):
            emitter.emit("tick", 4)
        with pytest.raises(EmitterClosedError):
            emitter.emit("tick", 5)
        await emitter.aclose()
        return emitter

    emitter = run(scenario())
    assert transport.closed_with == (OVERFLOW_CLOSE_CODE, "client too slow")
    assert emitter.close_code == 1013 and emitter.closed
    assert transport.frames == []


def test_overflow_with_drop_oldest_drops_and_counts():
    transport = Transport()

    async def scenario() -> UserWebSocketEmitter:
        transport.gate.clear()
        emitter = emitter_for(transport, max_queue=3, overflow="drop_oldest")
        emitter.emit("tick", 0)
        await asyncio.sleep(0)  # frame 0 is now in flight
        for index in range(1, 7):
            emitter.emit("tick", index)
        transport.gate.set()
        await emitter.flush()
        await emitter.aclose()
        return emitter

    emitter = run(scenario())
    assert [f["payload"] for f in transport.frames] == [0, 4, 5, 6]
    assert emitter.stats().dropped == 3
    assert transport.closed_with is None


def test_a_failing_transport_closes_only_its_own_emitter():
    broken, healthy = Transport(), Transport()
    broken.fail = True

    async def scenario() -> tuple[UserWebSocketEmitter, UserWebSocketEmitter]:
        first, second = emitter_for(broken, "user-1"), emitter_for(healthy, "user-2")
        first.emit("hello")
        second.emit("hello")
        await asyncio.gather(first.flush(), second.flush())
        with pytest.raises(EmitterClosedError, match="transport failed"):
            first.emit("again")
        second.emit("again")
        await second.aclose()
        await first.aclose()
        return first, second

    first, second = run(scenario())
    assert isinstance(first.failure, ConnectionResetError)
    assert second.failure is None
    assert [f["event"] for f in healthy.frames] == ["hello", "again"]


def test_aclose_gives_up_on_a_stalled_client_after_its_timeout():
    transport = Transport()

    async def scenario() -> None:
        transport.gate.clear()
        emitter = emitter_for(transport)
        emitter.emit("stuck")
        await asyncio.wait_for(emitter.aclose(timeout=0.05), 1.0)
        assert await no_stray_tasks() == set()

    run(scenario())


async def no_stray_tasks() -> set[asyncio.Task]:
    await asyncio.sleep(0)
    return asyncio.all_tasks() - {asyncio.current_task()}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        pytest.param(("", "c"), InvalidContextError, id="empty-user"),
        pytest.param((None, "c"), InvalidContextError, id="none-user"),
        pytest.param(("u", "null"), InvalidContextError, id="placeholder-connection"),
        pytest.param(("u", "c", "not callable"), TypeError, id="bad-send"),
    ],
)
def test_an_emitter_needs_a_real_user_connection_and_transport(arguments, error):
    async def send(text: str) -> None:
        pass

    args = arguments if len(arguments) == 3 else (*arguments, send)
    with pytest.raises(error):
        UserWebSocketEmitter(*args)


@pytest.mark.parametrize("options", [{"max_queue": 0}, {"overflow": "block"}])
def test_emitter_options_are_checked(options):
    async def send(text: str) -> None:
        pass

    with pytest.raises(ValueError):
        UserWebSocketEmitter("u", "c", send, **options)


def test_the_connection_registry_maps_users_to_their_connections():
    registry: ConnectionRegistry[object] = ConnectionRegistry()
    first, second, third = object(), object(), object()
    registry.register("user-1", first)
    registry.register("user-1", second)
    registry.register("user-1", second)  # idempotent
    registry.register("user-2", third)
    assert registry.connections("user-1") == (first, second)
    assert registry.connections("user-3") == ()
    assert (len(registry), registry.connection_count()) == (2, 3)
    assert registry.unregister("user-1", first) and not registry.unregister("user-1", first)
    assert registry.unregister("user-2", third)
    assert registry.user_ids() == ("user-1",)


@pytest.mark.parametrize("user_id", [None, "", "  ", "None", "null", 7])
def test_the_connection_registry_rejects_missing_user_ids(user_id):
    registry: ConnectionRegistry[object] = ConnectionRegistry()
    with pytest.raises(InvalidContextError, match=r"^user_id: "):
        registry.register(user_id, object())
    assert len(registry) == 0


def test_the_connection_registry_refuses_an_emitter_under_another_user():
    async def send(text: str) -> None:
        pass

    registry: ConnectionRegistry[UserWebSocketEmitter] = ConnectionRegistry()
    with pytest.raises(InvalidContextError, match=r"^connection: belongs to a different user"):
        registry.register("user-2", UserWebSocketEmitter("user-1", "c", send))
