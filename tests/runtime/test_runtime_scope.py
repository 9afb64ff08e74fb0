"""user_execution_scope: resources, LIFO cleanup, error precedence, ownership, metrics."""

from __future__ import annotations

import asyncio
import sys

import pytest
from runtime_support import RecordingAgent, RecordingSession, make_factory, run

from isolint.runtime import (
    CleanupTimeoutError,
    InvalidContextError,
    NoActiveContextError,
    ScopeCleanupError,
    UserWebSocketEmitter,
    current_context,
)


def recording_factory(log: list[str], *, session_fails_on: str | None = None, **options):
    agents = {
        "first": lambda ctx: RecordingAgent(log, "first"),
        "second": lambda ctx: RecordingAgent(log, "second"),
        "failing": lambda ctx: RecordingAgent(log, "failing", fail=True),
    }
    return make_factory(
        agents,
        session_factory=lambda: RecordingSession(log, fail_on=session_fails_on),
        **options,
    )


def test_cleanups_run_in_lifo_order_and_the_session_commits_on_success(log):
    factory = recording_factory(log)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            factory.create_agent_instance("first", ctx)
            factory.create_agent_instance("second", ctx)

    run(scenario())
    assert log == ["second.aclose", "first.aclose", "session.commit", "session.close"]


def test_a_failing_body_rolls_back_and_stays_the_primary_error(log):
    factory = recording_factory(log)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            factory.create_agent_instance("failing", ctx)
            factory.create_agent_instance("first", ctx)
            raise KeyError("body")

    with pytest.raises(KeyError) as caught:
        run(scenario())
    assert log == [
        "first.aclose",
        "failing.aclose",
        "session.rollback",
        "session.close",
    ]
    notes = getattr(caught.value, "__notes__", [])
    assert len(notes) == 1 and "cleanup \"agent 'failing'\" also failed" in notes[0]


def test_cleanup_only_failures_raise_a_group_and_every_cleanup_still_runs(log):
    factory = recording_factory(log, session_fails_on="close")

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            factory.create_agent_instance("first", ctx)
            factory.create_agent_instance("failing", ctx)

    with pytest.raises(ScopeCleanupError) as caught:
        run(scenario())
    group = caught.value
    if sys.version_info >= (3, 11):
        assert isinstance(group, ExceptionGroup)  # noqa: F821
    assert [str(error) for error in group.exceptions] == [
        "failing cleanup failed",
        "session close failed",
    ]
    # The failed agent cleanup turned the commit into a rollback.
    assert log == [
        "failing.aclose",
        "first.aclose",
        "session.rollback",
        "session.close",
    ]
    assert factory.metrics().cleanup_errors == 2
    assert factory.metrics().open_sessions == 1  # its close failed: reported as still open


def test_a_failing_commit_is_reported_and_the_session_is_still_closed(log):
    factory = recording_factory(log, session_fails_on="commit")

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1"):
            pass

    with pytest.raises(ScopeCleanupError) as caught:
        run(scenario())
    assert [str(e) for e in caught.value.exceptions] == ["session commit failed"]
    assert log == ["session.commit", "session.close"]
    assert factory.metrics().open_sessions == 0


def test_commit_on_success_can_be_turned_off(log):
    factory = recording_factory(log, commit_on_success=False)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1"):
            pass

    run(scenario())
    assert log == ["session.close"]


def test_a_session_passed_in_stays_owned_by_the_caller(log):
    factory = recording_factory(log)
    mine = RecordingSession(log, "mine")

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1", db_session=mine) as ctx:
            assert ctx.db_session is mine
            raise RuntimeError("body")

    with pytest.raises(RuntimeError):
        run(scenario())
    assert log == []
    assert factory.metrics().sessions_opened == 0


def test_a_hanging_cleanup_is_bounded_and_the_next_ones_still_run(log):
    class HangingAgent:
        async def aclose(self) -> None:
            log.append("hanging.aclose")
            await asyncio.Event().wait()

    factory = make_factory(
        {
            "hanging": lambda ctx: HangingAgent(),
            "first": lambda ctx: RecordingAgent(log, "first"),
        },
        session_factory=lambda: RecordingSession(log),
        cleanup_timeout=0.05,
    )

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            factory.create_agent_instance("first", ctx)
            factory.create_agent_instance("hanging", ctx)

    with pytest.raises(ScopeCleanupError) as caught:
        run(scenario())
    assert [type(e) for e in caught.value.exceptions] == [CleanupTimeoutError]
    assert log == [
        "hanging.aclose",
        "first.aclose",
        "session.rollback",
        "session.close",
    ]
    assert factory.metrics().cleanup_timeouts == 1


def test_a_cleanup_that_ignores_cancellation_is_abandoned_after_a_grace(log):
    release = None

    class StubbornAgent:
        async def aclose(self) -> None:
            while True:
                try:
                    await release.wait()
                    return
                except asyncio.CancelledError:
                    log.append("stubborn ignored a cancel")

    factory = make_factory({"stubborn": lambda ctx: StubbornAgent()}, cleanup_timeout=0.05)

    async def scenario() -> None:
        nonlocal release
        release = asyncio.Event()
        with pytest.raises(ScopeCleanupError):
            async with factory.user_execution_scope(user_id="user-1") as ctx:
                factory.create_agent_instance("stubborn", ctx)
        assert factory.metrics().active_scopes == 0
        release.set()  # let the abandoned cleanup end so the loop closes cleanly
        await asyncio.sleep(0.01)

    run(scenario())
    assert log == ["stubborn ignored a cancel"]


def test_sync_cleanups_and_registered_cleanups_join_the_lifo_order(log):
    class SyncAgent:
        def cleanup(self) -> None:
            log.append("sync.cleanup")

    factory = make_factory({"sync": lambda ctx: SyncAgent()}, session_factory=lambda: RecordingSession(log))

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            factory.create_agent_instance("sync", ctx)
            factory.register_cleanup(ctx, lambda: log.append("registered"), label="temp file")

    run(scenario())
    assert log == ["registered", "sync.cleanup", "session.commit", "session.close"]


def test_register_cleanup_needs_an_active_scope():
    factory = make_factory()

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            pass
        factory.register_cleanup(ctx, lambda: None)

    with pytest.raises(NoActiveContextError):
        run(scenario())


def test_sub_agents_created_from_child_contexts_are_cleaned_with_the_parent(log):
    factory = recording_factory(log)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            factory.create_agent_instance("first", ctx)
            grandchild = ctx.child("plan").child("search")
            factory.create_agent_instance("second", grandchild)

    run(scenario())
    assert log == ["second.aclose", "first.aclose", "session.commit", "session.close"]


def test_a_context_of_another_user_cannot_join_a_scope():
    factory = make_factory({"first": lambda ctx: RecordingAgent([], "first")})

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            forged = ctx.with_updates(user_id="user-2").child("steal")
            factory.create_agent_instance("first", forged.with_updates(parent_request_id=ctx.request_id))

    with pytest.raises(InvalidContextError, match=r"^user_id: does not match"):
        run(scenario())


def test_the_scope_binds_the_emitter_to_the_run_and_releases_it_on_exit():
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    factory = make_factory()

    async def scenario() -> None:
        emitter = UserWebSocketEmitter("user-1", "connection-1", send)
        async with factory.user_execution_scope(user_id="user-1", run_id="run-1", websocket_emitter=emitter) as ctx:
            bound = ctx.websocket_emitter
            assert (bound.user_id, bound.run_id) == ("user-1", "run-1")
            bound.notify_agent_started("triage")
        assert bound.closed and not emitter.closed  # the run ended, the connection did not
        await emitter.aclose()

    run(scenario())
    assert len(sent) == 1 and '"run_id":"run-1"' in sent[0]


def test_an_emitter_of_another_user_is_refused_before_anything_opens(log):
    factory = recording_factory(log)

    async def send(text: str) -> None:
        pass

    async def scenario() -> None:
        other = UserWebSocketEmitter("user-2", "connection-2", send)
        async with factory.user_execution_scope(user_id="user-1", websocket_emitter=other):
            pytest.fail("the body must not run")

    with pytest.raises(InvalidContextError, match=r"^websocket_emitter: "):
        run(scenario())
    assert log == []


def test_an_emitter_factory_gives_each_scope_an_emitter_it_owns_and_closes():
    made: list[UserWebSocketEmitter] = []

    async def send(text: str) -> None:
        pass

    async def emitter_factory(*, user_id: str, thread_id: str, run_id: str) -> UserWebSocketEmitter:
        emitter = UserWebSocketEmitter(user_id, f"conn-{run_id}", send)
        made.append(emitter)
        return emitter

    factory = make_factory(emitter_factory=emitter_factory)

    async def scenario() -> None:
        for user in ("user-1", "user-2"):
            async with factory.user_execution_scope(user_id=user) as ctx:
                ctx.websocket_emitter.notify_agent_started("a")

    run(scenario())
    assert [e.user_id for e in made] == ["user-1", "user-2"]
    assert all(e.closed and e.stats().sent == 1 for e in made)


def test_a_failing_setup_releases_what_was_already_acquired(log):
    async def broken_emitter_factory(**ids: str) -> UserWebSocketEmitter:
        raise ConnectionError("no emitter today")

    factory = recording_factory(log, emitter_factory=broken_emitter_factory)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1"):
            pytest.fail("the body must not run")

    with pytest.raises(ConnectionError):
        run(scenario())
    assert log == ["session.rollback", "session.close"]
    assert factory.metrics().active_scopes == 0


def test_a_scope_cannot_be_entered_twice():
    factory = make_factory()

    async def scenario() -> None:
        scope = factory.user_execution_scope(user_id="user-1")
        async with scope:
            pass
        async with scope:
            pass

    with pytest.raises(RuntimeError, match="only once"):
        run(scenario())


def test_concurrent_scopes_see_only_their_own_context():
    factory = make_factory()

    async def one(user_id: str) -> list[str]:
        seen = []
        async with factory.user_execution_scope(user_id=user_id):
            for _ in range(5):
                seen.append(current_context().user_id)
                await asyncio.sleep(0)
        return seen

    async def scenario() -> list[list[str]]:
        return await asyncio.gather(*(one(f"user-{i}") for i in range(50)))

    for index, seen in enumerate(run(scenario())):
        assert seen == [f"user-{index}"] * 5


def test_metrics_count_scopes_and_overhead_without_any_user_data(log):
    factory = recording_factory(log)

    async def scenario() -> None:
        for index in range(20):
            async with factory.user_execution_scope(user_id=f"secret-user-{index}") as ctx:
                factory.create_agent_instance("first", ctx)

    run(scenario())
    metrics = factory.metrics()
    assert (metrics.active_scopes, metrics.scopes_created, metrics.scopes_cleaned) == (
        0,
        20,
        20,
    )
    assert (
        metrics.agents_created,
        metrics.sessions_opened,
        metrics.sessions_closed,
    ) == (20, 20, 20)
    assert metrics.cleanup_errors == metrics.cross_user_emit_attempts == 0
    assert metrics.overhead_samples == 20
    assert 0 < metrics.overhead_p50_us <= metrics.overhead_p95_us
    assert "secret-user" not in repr(metrics)
    counters = vars_of(metrics)
    # Handler names that blocked the loop are code names; here there are none.
    assert counters.pop("loop_blockers") == {}
    assert all(isinstance(value, (int, float)) for value in counters.values())


def vars_of(metrics) -> dict[str, object]:
    return {name: getattr(metrics, name) for name in metrics.__dataclass_fields__}


def test_an_emitter_factory_returning_another_user_s_emitter_is_refused_and_closed(log):
    made: list[UserWebSocketEmitter] = []

    async def send(text: str) -> None:
        pass

    def wrong_user_emitters(*, user_id: str, thread_id: str, run_id: str) -> UserWebSocketEmitter:
        made.append(UserWebSocketEmitter("someone-else", "conn-x", send))
        return made[-1]

    factory = recording_factory(log, emitter_factory=wrong_user_emitters)

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="user-1"):
            pytest.fail("the body must not run")

    with pytest.raises(InvalidContextError, match=r"^websocket_emitter: emitter_factory"):
        run(scenario())
    assert made[0].closed
    assert log == ["session.rollback", "session.close"]
