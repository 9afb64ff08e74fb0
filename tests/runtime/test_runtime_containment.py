"""run_isolated and run_many: a request's failure stays that request's."""

from __future__ import annotations

import asyncio

import pytest
from runtime_support import RecordingAgent, RecordingSession, make_factory, run

from isolint.runtime import (
    InvalidContextError,
    Job,
    ScopeCleanupError,
    run_isolated,
    run_many,
)


async def succeed(ctx):
    await asyncio.sleep(0)
    return f"done for {ctx.user_id}"


async def fail(ctx):
    await asyncio.sleep(0)
    raise ValueError(f"failed for {ctx.user_id}")


async def hang(ctx):
    await asyncio.Event().wait()


async def cancel_itself(ctx):
    asyncio.current_task().cancel()
    await asyncio.sleep(0)


def test_each_way_a_request_can_end_is_an_outcome():
    factory = make_factory(default_timeout=0.05)

    async def scenario():
        return [
            await run_isolated(handler, factory=factory, user_id="user-1", request_id=f"req-{index}")
            for index, handler in enumerate((succeed, fail, hang, cancel_itself))
        ]

    ok, error, timeout, cancelled = run(scenario())
    assert (ok.status, ok.result, ok.request_id) == ("ok", "done for user-1", "req-0")
    assert error.status == "error" and str(error.exception) == "failed for user-1"
    assert timeout.status == "timeout" and isinstance(timeout.exception, TimeoutError)
    assert cancelled.status == "cancelled" and isinstance(cancelled.exception, asyncio.CancelledError)
    assert [o.ok for o in (ok, error, timeout, cancelled)] == [
        True,
        False,
        False,
        False,
    ]
    assert factory.metrics().active_scopes == 0


def test_invalid_ids_are_the_request_s_failure_not_the_caller_s():
    factory = make_factory()
    outcome = run(run_isolated(succeed, factory=factory, user_id="undefined"))
    assert outcome.status == "error"
    assert isinstance(outcome.exception, InvalidContextError)
    assert outcome.user_id == "undefined"


def test_cleanup_failures_show_on_the_outcome(log):
    factory = make_factory({"failing": lambda ctx: RecordingAgent(log, "failing", fail=True)})

    async def uses_agent(ctx):
        factory.create_agent_instance("failing", ctx)
        return "result"

    outcome = run(run_isolated(uses_agent, factory=factory, user_id="user-1"))
    assert outcome.status == "error"
    assert isinstance(outcome.exception, ScopeCleanupError)
    assert [str(e) for e in outcome.cleanup_errors] == ["failing cleanup failed"]


def test_a_failing_or_hanging_job_never_cancels_its_siblings(log):
    factory = make_factory(session_factory=lambda: RecordingSession(log), default_timeout=5.0)
    handlers = [succeed, fail, hang, cancel_itself] * 25
    # Only the hanging jobs get a short budget: debug mode slows every job down.
    jobs = [Job(handler=h, user_id=f"user-{i}", timeout=0.05 if h is hang else None) for i, h in enumerate(handlers)]

    outcomes = run(run_many(jobs, factory=factory, concurrency=100), debug=True)
    expected = {
        succeed: "ok",
        fail: "error",
        hang: "timeout",
        cancel_itself: "cancelled",
    }
    assert [o.status for o in outcomes] == [expected[h] for h in handlers]
    assert [o.user_id for o in outcomes] == [f"user-{i}" for i in range(100)]
    assert [o.result for o in outcomes[::4]] == [f"done for user-{i}" for i in range(0, 100, 4)]
    metrics = factory.metrics()
    assert (metrics.active_scopes, metrics.open_sessions, metrics.sessions_closed) == (
        0,
        0,
        100,
    )
    assert log.count("session.commit") == 25


def test_run_many_respects_its_concurrency_limit():
    factory = make_factory()
    running = peak = 0

    async def track(ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1

    outcomes = run(
        run_many(
            [Job(handler=track, user_id=f"u{i}") for i in range(40)],
            factory=factory,
            concurrency=7,
        )
    )
    assert all(o.ok for o in outcomes) and peak == 7


def test_per_job_timeouts_override_the_run_many_default():
    factory = make_factory()
    jobs = [
        Job(handler=hang, user_id="u1", timeout=0.02),
        Job(handler=succeed, user_id="u2"),
    ]
    outcomes = run(run_many(jobs, factory=factory, concurrency=2, timeout=5.0))
    assert [o.status for o in outcomes] == ["timeout", "ok"]


def test_cancelling_run_many_cancels_and_cleans_up_every_job(log):
    factory = make_factory(
        {"agent": lambda ctx: RecordingAgent(log, f"agent-{ctx.user_id}")},
        session_factory=lambda: RecordingSession(log),
    )
    started = 0

    async def slow(ctx):
        nonlocal started
        factory.create_agent_instance("agent", ctx)
        started += 1
        await asyncio.Event().wait()

    async def scenario():
        task = asyncio.get_running_loop().create_task(
            run_many(
                [Job(handler=slow, user_id=f"u{i}") for i in range(30)],
                factory=factory,
                concurrency=10,
            )
        )
        while started < 10:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert asyncio.all_tasks() == {asyncio.current_task()}

    run(scenario(), debug=True)
    assert started == 10  # queued jobs never start
    assert sorted(entry for entry in log if entry.startswith("agent-")) == sorted(
        f"agent-u{i}.aclose" for i in range(10)
    )
    assert log.count("session.rollback") == 10 and log.count("session.close") == 10
    assert log.count("session.commit") == 0
    assert factory.metrics().active_scopes == 0


def test_run_many_rejects_a_zero_concurrency():
    with pytest.raises(ValueError):
        run(run_many([], factory=make_factory(), concurrency=0))
