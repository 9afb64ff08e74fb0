"""Scope guarantees that must hold whatever callers, cleanups or transports do.

Each test names the failure it guards against: a duplicate client-sent request id,
a transport deciding the transaction, a cleanup raising a BaseException, an exit in
another contextvars Context, stale contexts and contexts re-addressed to another user.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from runtime_support import RecordingAgent, RecordingSession, make_factory, run

from isolint.runtime import (
    InvalidContextError,
    StaleContextError,
    UserWebSocketEmitter,
    current_context,
)


class Agent:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    async def aclose(self) -> None:
        self.log.append(f"{self.name}.aclose")


def test_two_users_sending_the_same_request_id_keep_separate_scopes(log):
    """A client-sent X-Request-ID must not let bob's scope take alice's place."""
    factory = make_factory({"agent": lambda context: Agent(log, context.user_id)})
    both_inside = asyncio.Event()
    inside = 0

    async def request(user: str) -> None:
        nonlocal inside
        async with factory.user_execution_scope(user_id=user, request_id="client-sent-id") as context:
            inside += 1
            if inside == 2:
                both_inside.set()
            await both_inside.wait()
            factory.create_agent_instance("agent", context)
            await asyncio.sleep(0)

    async def scenario() -> None:
        await asyncio.gather(request("alice"), request("bob"))

    run(scenario())
    assert sorted(log) == ["alice.aclose", "bob.aclose"]
    assert factory.metrics().active_scopes == 0


def test_the_same_user_may_reuse_a_request_id_in_two_tabs(log):
    factory = make_factory({"agent": lambda context: Agent(log, context.thread_id)})

    async def request(thread: str) -> None:
        async with factory.user_execution_scope(user_id="alice", thread_id=thread, request_id="same") as context:
            await asyncio.sleep(0)
            factory.create_agent_instance("agent", context.child("sub-step"))
            await asyncio.sleep(0)

    async def scenario() -> None:
        await asyncio.gather(request("tab-1"), request("tab-2"))

    run(scenario())
    assert sorted(log) == ["tab-1.aclose", "tab-2.aclose"]


class SlowTransport:
    """A client that stopped reading: every send blocks until the test ends."""

    def __init__(self) -> None:
        self.stalled = asyncio.Event()

    async def send(self, text: str) -> None:
        await self.stalled.wait()


def test_a_stalled_client_never_rolls_back_a_successful_request(log):
    session = RecordingSession(log)
    emitters: list[UserWebSocketEmitter] = []

    def emitter_factory(*, user_id: str, thread_id: str, run_id: str) -> Any:
        emitters.append(UserWebSocketEmitter(user_id, "conn-1", SlowTransport().send))
        return emitters[-1]

    factory = make_factory(
        session_factory=lambda: session,
        emitter_factory=emitter_factory,
        cleanup_timeout=0.2,
    )

    async def scenario() -> Any:
        scope = factory.user_execution_scope(user_id="alice")
        async with scope as context:
            context.websocket_emitter.emit("agent_completed", {"answer": 42})
        return scope

    scope = run(scenario())
    assert log == ["session.commit", "session.close"]
    assert scope.transaction == "committed"
    assert scope.cleanup_errors == ()
    # The frame the client never read is counted, not turned into a failure.
    assert emitters[0].stats().dropped == 1
    assert factory.metrics().cleanup_timeouts == 0


def test_the_owned_emitter_closes_after_the_session_is_committed_and_closed(log):
    session = RecordingSession(log)

    async def send(text: str) -> None:
        log.append("frame sent")

    class LoggingEmitter(UserWebSocketEmitter):
        __slots__ = ()

        async def aclose(self, timeout: float | None = None) -> None:
            log.append("emitter.aclose")
            await super().aclose(timeout)

    factory = make_factory(
        session_factory=lambda: session,
        emitter_factory=lambda **ids: LoggingEmitter(ids["user_id"], "conn-1", send),
    )

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            context.websocket_emitter.emit("agent_completed")

    run(scenario())
    assert log.index("session.close") < log.index("emitter.aclose")


@pytest.mark.parametrize("fatal", [KeyboardInterrupt, SystemExit, asyncio.CancelledError])
def test_a_cleanup_raising_a_base_exception_does_not_skip_the_others(log, fatal):
    session = RecordingSession(log)
    factory = make_factory(session_factory=lambda: session)
    seen_after: list[object] = []

    def bad_cleanup() -> None:
        raise fatal()

    async def scenario() -> None:
        try:
            async with factory.user_execution_scope(user_id="alice") as context:
                factory.register_cleanup(context, bad_cleanup, label="bad")
                factory.register_cleanup(context, lambda: log.append("later cleanup"))
        finally:
            seen_after.append(_current_or_none())

    with pytest.raises(fatal):
        run(scenario())
    # The cleanup pushed last runs first; the bad one must not stop the rest.
    assert log == ["later cleanup", "session.rollback", "session.close"]
    assert seen_after == [None]
    assert factory.metrics().active_scopes == 0
    assert factory.metrics().open_sessions == 0


def _current_or_none() -> object:
    try:
        return current_context()
    except Exception:  # "no context" is the expected answer here
        return None


def test_exiting_in_another_context_finishes_the_bookkeeping_and_keeps_the_error(log):
    """Some fixture runners enter a scope in one task and exit it in another."""
    factory = make_factory(session_factory=lambda: RecordingSession(log))

    async def scenario() -> None:
        scope = factory.user_execution_scope(user_id="alice")
        await asyncio.create_task(scope.__aenter__())
        failure = ValueError("the body failed")
        # create_task(context=...) is 3.11+; Context.run works on 3.10 as well.
        exit_in_other_task = contextvars.Context().run(asyncio.create_task, scope.__aexit__(ValueError, failure, None))
        assert await exit_in_other_task is False

    run(scenario())
    assert log == ["session.rollback", "session.close"]
    assert factory.metrics().active_scopes == 0


def test_a_stale_context_cannot_create_agents(log):
    factory = make_factory({"agent": lambda context: RecordingAgent(log, "agent")})

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            pass
        with pytest.raises(StaleContextError, match="scope of this context has ended"):
            factory.create_agent_instance("agent", context)
        with pytest.raises(StaleContextError):
            factory.create_agent_instance("agent", context.child("late sub-agent"))

    run(scenario())
    assert factory.metrics().agents_created == 0


def test_a_stale_context_cannot_reopen_its_session(log):
    class Session(RecordingSession):
        def execute(self, statement: str) -> None:
            log.append(f"execute {statement}")

    factory = make_factory(session_factory=lambda: Session(log))

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            context.db_session.execute("inside")
            assert isinstance(context.db_session, Session)
        with pytest.raises(StaleContextError, match="session"):
            context.db_session.execute("after the scope")

    run(scenario())
    assert log == ["execute inside", "session.commit", "session.close"]


def test_a_caller_owned_session_stays_the_callers_after_the_scope(log):
    session = RecordingSession(log)
    factory = make_factory()

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice", db_session=session) as context:
            pass
        assert context.db_session is session

    run(scenario())


def test_readdressing_a_context_to_another_user_is_refused_while_it_holds_resources(
    log,
):
    factory = make_factory(session_factory=lambda: RecordingSession(log))

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            with pytest.raises(InvalidContextError, match="user_id"):
                context.with_updates(user_id="bob")
            detached = context.with_updates(user_id="bob", db_session=None)
            assert detached.db_session is None
            assert context.with_updates(thread_id="t-2").db_session is not None

    run(scenario())


def test_the_guarded_session_keeps_membership_and_iteration(log):
    class Session(RecordingSession):
        def __init__(self, log: list[str]) -> None:
            super().__init__(log)
            self.objects = ["note"]

        def __contains__(self, instance: object) -> bool:
            return instance in self.objects

        def __iter__(self) -> Any:
            return iter(self.objects)

    factory = make_factory(session_factory=lambda: Session(log))

    async def scenario() -> None:
        async with factory.user_execution_scope(user_id="alice") as context:
            assert "note" in context.db_session
            assert list(context.db_session) == ["note"]
        with pytest.raises(StaleContextError):
            "note" in context.db_session  # noqa: B015 - the check is the point

    run(scenario())


def test_an_emitter_that_fails_to_close_is_recorded_not_raised(log):
    session = RecordingSession(log)

    class BrokenClose(UserWebSocketEmitter):
        __slots__ = ()

        async def aclose(self, timeout: float | None = None) -> None:
            raise ConnectionResetError("the transport is gone")

    async def send(text: str) -> None:
        pass

    factory = make_factory(
        session_factory=lambda: session,
        emitter_factory=lambda **ids: BrokenClose(ids["user_id"], "conn-1", send),
    )

    async def scenario() -> Any:
        scope = factory.user_execution_scope(user_id="alice")
        async with scope:
            pass
        return scope

    scope = run(scenario())
    assert log == ["session.commit", "session.close"]
    assert scope.transaction == "committed" and scope.cleanup_errors == ()
    assert [type(error) for error in scope.transport_errors] == [ConnectionResetError]
    assert factory.metrics().transport_close_errors == 1
