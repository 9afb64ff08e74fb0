"""Containment guarantees: bounded calls, outcomes that agree with the database.

A handler may swallow its cancellation, block the event loop or still be committing
when its timeout fires; ``run_isolated`` must still return within its bound and
report what the database actually did.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from runtime_support import RecordingSession, make_factory, run

from isolint.runtime import Job, UserExecutionContext, run_isolated, run_many

CLEANUP = 0.05


class Stubborn:
    """A handler that swallows every CancelledError until ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.swallowed = 0

    async def __call__(self, context: UserExecutionContext) -> str:
        while not self.release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.swallowed += 1
        return "finished late"


def test_a_handler_that_swallows_cancellation_is_abandoned_within_a_bound(log):
    factory = make_factory(session_factory=lambda: RecordingSession(log), cleanup_timeout=CLEANUP)

    async def scenario() -> tuple[Any, float, Stubborn]:
        handler = Stubborn()
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcome = await run_isolated(handler, factory=factory, timeout=0.05, user_id="alice")
        elapsed = loop.time() - start
        assert factory.metrics().active_scopes == 1  # still running, not hidden
        handler.release.set()
        while factory.metrics().active_scopes:
            await asyncio.sleep(0.01)
        return outcome, elapsed, handler

    outcome, elapsed, handler = run(scenario())
    assert outcome.status == "abandoned"
    assert isinstance(outcome.exception, TimeoutError)
    assert elapsed < 0.05 + CLEANUP * 6
    assert handler.swallowed >= 2
    assert factory.metrics().abandoned_requests == 1
    # It returned normally in the end, but it was reported as not done: no commit.
    assert log == ["session.rollback", "session.close"]


def test_the_caller_s_own_cancel_is_honoured_even_when_the_handler_swallows_it():
    factory = make_factory(cleanup_timeout=CLEANUP)

    async def scenario() -> float:
        handler = Stubborn()
        caller = asyncio.create_task(run_isolated(handler, factory=factory, timeout=60, user_id="alice"))
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        elapsed = loop.time() - start
        handler.release.set()
        await asyncio.sleep(0.05)
        return elapsed

    assert run(scenario()) < CLEANUP * 6


def test_run_many_abandons_only_the_stubborn_job():
    factory = make_factory(cleanup_timeout=CLEANUP)

    async def polite(context: UserExecutionContext) -> str:
        return context.user_id

    async def scenario() -> list[Any]:
        stubborn = Stubborn()
        jobs = [
            Job(handler=polite, user_id="alice"),
            Job(handler=stubborn, user_id="bob", timeout=0.05),
            Job(handler=polite, user_id="carol"),
        ]
        outcomes = await run_many(jobs, factory=factory, concurrency=3)
        stubborn.release.set()
        await asyncio.sleep(0.05)
        return outcomes

    outcomes = run(scenario())
    assert [o.status for o in outcomes] == ["ok", "abandoned", "ok"]


def test_run_many_of_no_jobs_returns_no_outcomes():
    factory = make_factory()
    assert run(run_many([], factory=factory, concurrency=4)) == []


class SlowCommitSession(RecordingSession):
    """A session whose COMMIT takes ``commit_seconds`` (and may ignore cancellation)."""

    def __init__(self, log: list[str], commit_seconds: float, *, stubborn: bool = False) -> None:
        super().__init__(log)
        self.commit_seconds = commit_seconds
        self.stubborn = stubborn
        self.finish = asyncio.Event()

    async def commit(self) -> None:
        self.log.append("session.commit started")
        if self.stubborn:
            while not self.finish.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.01)
        else:
            await asyncio.sleep(self.commit_seconds)
        self.log.append("session.commit")

    def invalidate(self) -> None:
        self.log.append("session.invalidate")


async def quick(context: UserExecutionContext) -> str:
    return "saved"


def test_a_timeout_during_commit_reports_the_commit_that_happened(log):
    factory = make_factory(session_factory=lambda: SlowCommitSession(log, 0.2), cleanup_timeout=1.0)

    async def scenario() -> Any:
        async def slow_then_quick(context: UserExecutionContext) -> str:
            await asyncio.sleep(0.05)
            return "saved"

        return await run_isolated(slow_then_quick, factory=factory, timeout=0.1, user_id="alice")

    outcome = run(scenario())
    assert log == ["session.commit started", "session.commit", "session.close"]
    assert (outcome.status, outcome.result, outcome.transaction) == (
        "ok",
        "saved",
        "committed",
    )


def test_a_caller_cancelled_during_commit_is_told_the_commit_happened(log):
    factory = make_factory(session_factory=lambda: SlowCommitSession(log, 0.2), cleanup_timeout=1.0)

    async def scenario() -> asyncio.CancelledError:
        caller = asyncio.create_task(run_isolated(quick, factory=factory, timeout=5, user_id="alice"))
        while "session.commit started" not in log:
            await asyncio.sleep(0.01)
        caller.cancel()
        try:
            await caller
        except asyncio.CancelledError as cancelled:
            return cancelled
        raise AssertionError("the caller's cancellation was swallowed")

    cancelled = run(scenario())
    assert log == ["session.commit started", "session.commit", "session.close"]
    assert any("committed" in note for note in getattr(cancelled, "__notes__", []))


def test_a_body_that_returns_after_its_timeout_is_rolled_back(log):
    factory = make_factory(session_factory=lambda: RecordingSession(log), cleanup_timeout=1.0)

    async def swallows_once(context: UserExecutionContext) -> str:
        # Swallows the cancellation and returns normally: the result must not be committed.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)
        return "too late"

    outcome = run(run_isolated(swallows_once, factory=factory, timeout=0.05, user_id="alice"))
    assert (outcome.status, outcome.transaction) == ("timeout", "rolled_back")
    assert log == ["session.rollback", "session.close"]


def test_a_commit_that_never_answers_is_unknown_and_its_connection_invalidated(log):
    sessions: list[SlowCommitSession] = []

    def open_session() -> SlowCommitSession:
        sessions.append(SlowCommitSession(log, 0, stubborn=True))
        return sessions[-1]

    factory = make_factory(session_factory=open_session, cleanup_timeout=CLEANUP)

    async def scenario() -> Any:
        outcome = await run_isolated(quick, factory=factory, user_id="alice")
        sessions[0].finish.set()
        await asyncio.sleep(0.05)
        return outcome

    outcome = run(scenario())
    assert (outcome.status, outcome.transaction) == ("error", "unknown")
    # Never closed while the commit still ran on it.
    assert "session.close" not in log
    assert log[:2] == ["session.commit started", "session.invalidate"]
    assert factory.metrics().sessions_invalidated == 1


def test_a_plain_function_handler_runs_in_a_thread_and_blocks_nobody():
    factory = make_factory()

    def blocking(context: UserExecutionContext) -> str:
        time.sleep(0.3)
        return context.user_id

    async def quick_answer(context: UserExecutionContext) -> str:
        await asyncio.sleep(0.01)
        return context.user_id

    async def scenario() -> list[Any]:
        return await asyncio.gather(
            run_isolated(blocking, factory=factory, user_id="alice"),
            run_isolated(quick_answer, factory=factory, timeout=0.2, user_id="bob"),
        )

    alice, bob = run(scenario())
    assert (alice.status, alice.result) == ("ok", "alice")
    assert (bob.status, bob.result) == ("ok", "bob")


async def blocks_the_loop(context: UserExecutionContext) -> None:
    time.sleep(0.15)  # blocks the event loop: the bug this test detects


def test_a_coroutine_that_blocks_the_loop_is_reported_by_name():
    factory = make_factory(loop_block_threshold=0.1)

    async def scenario() -> None:
        await run_isolated(blocks_the_loop, factory=factory, user_id="alice")
        await run_isolated(quick, factory=factory, user_id="bob")

    run(scenario())
    metrics = factory.metrics()
    assert metrics.loop_blocks == 1
    assert dict(metrics.loop_blockers) == {"blocks_the_loop": 1}


def test_a_lambda_building_a_coroutine_runs_on_the_loop_thread():
    """No thread hop (and no executor slot) just to build a coroutine."""
    import threading

    factory = make_factory()
    called_in: list[int] = []

    async def answer(context: UserExecutionContext, label: str) -> str:
        return label

    def build(context: UserExecutionContext) -> Any:
        called_in.append(threading.get_ident())
        return answer(context, "extra")

    async def scenario() -> Any:
        outcome = await run_isolated(lambda context: build(context), factory=factory, user_id="alice")
        return outcome.result

    assert run(scenario()) == "extra"
    assert called_in == [threading.get_ident()]  # asyncio.run drives the loop here
