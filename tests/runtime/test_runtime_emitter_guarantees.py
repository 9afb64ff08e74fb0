"""Emitter guarantees: clean task contexts, bounded close, and disconnects agent code survives."""

from __future__ import annotations

import asyncio
import json

import pytest
from runtime_support import make_factory, run

from isolint.runtime import (
    DEFAULT_PLACEHOLDERS,
    EmitterClosedError,
    IdPolicy,
    InvalidContextError,
    UserWebSocketEmitter,
)
from isolint.runtime.context import _current


def test_the_writer_task_does_not_keep_the_first_run_s_context():
    """One connection serves many runs: its writer must not run as run 1 for ever."""
    seen: list[object] = []

    async def send(text: str) -> None:
        seen.append(_current.get())

    factory = make_factory()

    async def scenario() -> None:
        emitter = UserWebSocketEmitter("alice", "conn-1", send)
        for run_id in ("run-1", "run-2"):
            async with factory.user_execution_scope(
                user_id="alice", run_id=run_id, websocket_emitter=emitter
            ) as context:
                context.websocket_emitter.emit("agent_completed")
                await context.websocket_emitter.flush()
        await emitter.aclose()

    run(scenario())
    assert seen == [None, None]


def test_aclose_on_a_stalled_client_is_bounded_by_default():
    async def stalled(text: str) -> None:
        await asyncio.Event().wait()

    async def scenario() -> UserWebSocketEmitter:
        emitter = UserWebSocketEmitter("alice", "conn-1", stalled)
        emitter.emit("agent_thinking")
        emitter.emit("agent_completed")
        # A default bound exists: without one this wait_for would expire.
        await asyncio.wait_for(emitter.aclose(), 30)
        return emitter

    loop_time = 0.0

    async def timed() -> UserWebSocketEmitter:
        nonlocal loop_time
        start = asyncio.get_running_loop().time()
        emitter = await scenario()
        loop_time = asyncio.get_running_loop().time() - start
        return emitter

    emitter = run(timed())
    assert loop_time < UserWebSocketEmitter.DEFAULT_CLOSE_TIMEOUT + 2
    # The frame stuck in send and the one behind it never reached the client.
    assert emitter.stats().dropped == 2


class Disconnecting:
    """A client that goes away after ``keep`` frames."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.frames: list[dict] = []

    async def send(self, text: str) -> None:
        if len(self.frames) >= self.keep:
            raise ConnectionResetError("client went away")
        self.frames.append(json.loads(text))


def test_in_drop_mode_emits_after_a_disconnect_are_counted_and_dropped():
    client = Disconnecting(keep=1)

    async def scenario() -> list[bool]:
        emitter = UserWebSocketEmitter("alice", "conn-1", client.send, after_close="drop")
        receipts = [emitter.emit("agent_started"), emitter.emit("agent_thinking")]
        await emitter.flush()
        receipts.append(emitter.emit("agent_completed"))  # the client is gone
        receipts.append(emitter.notify_agent_completed("triage", "done"))
        stats = emitter.stats()
        # Lost: the frame cut off by the disconnect, and the two emitted after it.
        assert (stats.sent, stats.dropped, stats.closed) == (1, 3, True)
        assert isinstance(emitter.failure, ConnectionResetError)
        assert await receipts[-1] is None
        await emitter.aclose()
        return [bool(receipt) for receipt in receipts]

    assert run(scenario()) == [True, True, False, False]


def test_by_default_emitting_after_a_disconnect_raises():
    client = Disconnecting(keep=0)

    async def scenario() -> None:
        emitter = UserWebSocketEmitter("alice", "conn-1", client.send)
        emitter.emit("agent_started")
        await emitter.flush()
        with pytest.raises(EmitterClosedError, match="transport failed"):
            emitter.emit("agent_completed")

    run(scenario())


def test_after_close_must_be_raise_or_drop():
    async def send(text: str) -> None:
        pass

    with pytest.raises(ValueError, match="after_close"):
        UserWebSocketEmitter("alice", "conn-1", send, after_close="ignore")  # type: ignore[arg-type]


def test_the_emitter_validates_ids_with_the_policy_it_is_given():
    async def send(text: str) -> None:
        pass

    strict = IdPolicy(placeholders=DEFAULT_PLACEHOLDERS | {"anonymous"})
    with pytest.raises(InvalidContextError, match="placeholder"):
        UserWebSocketEmitter("anonymous", "conn-1", send, id_policy=strict)
    roomy = IdPolicy(max_length=400)
    long_run = "r" * 300
    emitter = UserWebSocketEmitter("alice", "conn-1", send, id_policy=roomy)
    assert emitter.bind(thread_id="t", run_id=long_run).run_id == long_run
