"""Cancellation at every await point of setup, body and each cleanup.

Every fake resource awaits a named checkpoint; each test cancels the request at one
checkpoint and checks that what was acquired is released in LIFO order, that the
session is never committed, and that ``CancelledError`` reaches the caller.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from runtime_support import make_factory, run

from isolint.runtime import AgentInstanceFactory, UserWebSocketEmitter, run_isolated

# Every await point of one request, in the order a full run reaches them. The
# emitter closes last: a slow client must not decide commit or rollback.
CHECKPOINTS = [
    "setup: open session",
    "setup: open emitter",
    "body: start",
    "body: end",
    "cleanup: agent b",
    "cleanup: agent a",
    "cleanup: session commit",
    "cleanup: session rollback",
    "cleanup: session close",
    "cleanup: emitter",
]

FULL_CLEANUP = ["agent b", "agent a", "session rollback", "session close", "emitter"]
COMMITTED = ["agent b", "agent a", "session commit", "session close", "emitter"]

# Cancel point -> the cleanups that must run, in order.
EXPECTED_CLEANUPS = {
    "setup: open session": [],
    "setup: open emitter": ["session rollback", "session close"],
    "body: start": ["session rollback", "session close", "emitter"],
    "body: end": FULL_CLEANUP,
    "cleanup: agent b": FULL_CLEANUP,
    "cleanup: agent a": FULL_CLEANUP,
    # Cancelled while committing: the shielded commit completes, then the close.
    "cleanup: session commit": COMMITTED,
    "cleanup: session close": COMMITTED,
    # Cancelled after the transaction ended: nothing left to decide.
    "cleanup: emitter": COMMITTED,
}


class Probe:
    """Records checkpoints and cleanups; cancels ``victim`` at checkpoint ``cancel_at``."""

    def __init__(self, cancel_at: str | None = None) -> None:
        self.cancel_at = cancel_at
        self.visited: list[str] = []
        self.cleanups: list[str] = []
        self.victim: asyncio.Task[Any] | None = None

    async def checkpoint(self, label: str) -> None:
        self.visited.append(label)
        if label == self.cancel_at:
            assert self.victim is not None
            self.victim.cancel()
        await asyncio.sleep(0)


class ProbeSession:
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def in_transaction(self) -> bool:
        return True

    async def _step(self, step: str) -> None:
        await self.probe.checkpoint(f"cleanup: session {step}")
        self.probe.cleanups.append(f"session {step}")

    async def commit(self) -> None:
        await self._step("commit")

    async def rollback(self) -> None:
        await self._step("rollback")

    async def close(self) -> None:
        await self._step("close")


class ProbeEmitter(UserWebSocketEmitter):
    probe: Probe

    async def aclose(self, timeout: float | None = None) -> None:
        await self.probe.checkpoint("cleanup: emitter")
        self.probe.cleanups.append("emitter")
        await super().aclose(timeout)


class ProbeAgent:
    def __init__(self, probe: Probe, name: str) -> None:
        self.probe = probe
        self.name = name

    async def aclose(self) -> None:
        await self.probe.checkpoint(f"cleanup: {self.name}")
        self.probe.cleanups.append(self.name)


def probe_factory(probe: Probe, **options: Any) -> AgentInstanceFactory:
    async def open_session() -> ProbeSession:
        await probe.checkpoint("setup: open session")
        return ProbeSession(probe)

    async def open_emitter(*, user_id: str, thread_id: str, run_id: str) -> ProbeEmitter:
        await probe.checkpoint("setup: open emitter")

        async def send(text: str) -> None:
            pass

        emitter = ProbeEmitter(user_id, "connection-1", send)
        emitter.probe = probe
        return emitter

    return make_factory(
        {
            "a": lambda ctx: ProbeAgent(probe, "agent a"),
            "b": lambda ctx: ProbeAgent(probe, "agent b"),
        },
        session_factory=open_session,
        emitter_factory=open_emitter,
        **options,
    )


async def request_body(factory: AgentInstanceFactory, probe: Probe, *, hang: bool = False) -> None:
    async with factory.user_execution_scope(user_id="user-1") as ctx:
        await probe.checkpoint("body: start")
        factory.create_agent_instance("a", ctx)
        factory.create_agent_instance("b", ctx)
        if hang:
            await asyncio.Event().wait()
        await probe.checkpoint("body: end")


async def run_request(probe: Probe) -> tuple[bool, AgentInstanceFactory]:
    factory = probe_factory(probe)
    task = asyncio.get_running_loop().create_task(request_body(factory, probe))
    probe.victim = task
    await asyncio.wait({task})
    if not task.cancelled():
        task.result()
    return task.cancelled(), factory


def test_the_probe_reaches_every_checkpoint_of_a_successful_request():
    probe = Probe()
    cancelled, factory = run(run_request(probe))
    assert not cancelled
    assert probe.visited == [c for c in CHECKPOINTS if c != "cleanup: session rollback"]
    assert probe.cleanups == COMMITTED
    assert set(EXPECTED_CLEANUPS) == set(probe.visited)
    assert (factory.metrics().sessions_closed, factory.metrics().open_sessions) == (
        1,
        0,
    )


@pytest.mark.parametrize("cancel_at", list(EXPECTED_CLEANUPS))
def test_cancelling_at_any_await_point_releases_everything_and_propagates(cancel_at):
    probe = Probe(cancel_at)
    cancelled, factory = run(run_request(probe), debug=True)
    assert cancelled, "CancelledError must reach the caller"
    assert probe.cleanups == EXPECTED_CLEANUPS[cancel_at]
    metrics = factory.metrics()
    assert metrics.active_scopes == 0
    assert metrics.open_sessions == 0
    assert metrics.cleanup_errors == 0


# After a timeout the session rolls back, so these are the cleanup await points.
@pytest.mark.parametrize("cancel_at", [f"cleanup: {step}" for step in FULL_CLEANUP])
def test_a_timeout_followed_by_an_external_cancel_still_cleans_up_and_propagates(
    cancel_at,
):
    probe = Probe(cancel_at)

    async def scenario() -> bool:
        factory = probe_factory(probe)
        outer = asyncio.get_running_loop().create_task(
            run_isolated(
                lambda ctx: request_body_in(factory, probe, ctx),
                factory=factory,
                timeout=0.05,
                user_id="user-1",
            )
        )
        probe.victim = outer  # the external cancel hits run_isolated while it cleans up
        await asyncio.wait({outer})
        assert factory.metrics().active_scopes == 0
        return outer.cancelled()

    assert run(scenario(), debug=True), "the external cancel must win over the timeout outcome"
    assert probe.cleanups == FULL_CLEANUP
    assert "body: end" not in probe.visited  # the body hung until the timeout


async def request_body_in(factory: AgentInstanceFactory, probe: Probe, ctx: Any) -> None:
    await probe.checkpoint("body: start")
    factory.create_agent_instance("a", ctx)
    factory.create_agent_instance("b", ctx)
    await asyncio.Event().wait()


def test_a_timeout_alone_is_an_outcome_not_an_exception():
    probe = Probe()

    async def scenario():
        factory = probe_factory(probe)
        outcome = await run_isolated(
            lambda ctx: request_body_in(factory, probe, ctx),
            factory=factory,
            timeout=0.05,
            user_id="user-1",
        )
        return outcome, factory.metrics()

    outcome, metrics = run(scenario(), debug=True)
    assert outcome.status == "timeout"
    assert isinstance(outcome.exception, TimeoutError)
    assert probe.cleanups == FULL_CLEANUP
    assert metrics.active_scopes == 0 and metrics.open_sessions == 0
