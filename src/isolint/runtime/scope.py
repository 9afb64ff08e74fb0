"""``UserExecutionScope``: one request's resources, and a cleanup that always finishes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from contextvars import Token
from functools import partial
from time import monotonic, perf_counter_ns
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ._compat import add_note
from ._lease import GuardedSession, ScopeLease
from ._shield import ShieldedResult, call_maybe_async, run_shielded
from .context import UserExecutionContext, _current
from .errors import InvalidContextError, ScopeCleanupError

if TYPE_CHECKING:
    from .factory import AgentInstanceFactory

__all__ = ["Transaction", "UserExecutionScope"]

# A cleanup receives whether the request has failed so far (body or earlier cleanup).
_Cleanup = Callable[[bool], Any]

_NEW, _ACTIVE, _EXITING, _CLOSED = 0, 1, 2, 3

#: What the scope knows about its own session's transaction once it has exited.
#: ``unknown``: a COMMIT was sent and did not answer in time; it may have landed.
Transaction = Literal["none", "committed", "rolled_back", "unknown"]


def _or_new(value: str | None) -> str:
    return str(uuid.uuid4()) if value is None else value


class _ExitState:
    """What the cleanups of one exit have done so far."""

    __slots__ = ("cancelled", "failed", "failures", "fatal", "timeouts")

    def __init__(self, failed: bool) -> None:
        self.failed = failed
        self.cancelled = False
        self.timeouts = 0
        self.failures: list[tuple[str, Exception]] = []
        self.fatal: BaseException | None = None

    def record(self, label: str, result: ShieldedResult) -> None:
        self.cancelled |= result.caller_cancelled
        self.timeouts += result.timed_out
        # A cancelled request must not commit: later cleanups see it as failed.
        self.failed = self.failed or result.caller_cancelled
        if result.error is not None:
            self.failed = True
            self.failures.append((label, result.error))
        if result.fatal is not None:
            self.failed = True
            self.fatal = self.fatal or result.fatal


class UserExecutionScope:
    """The async context manager returned by ``AgentInstanceFactory.user_execution_scope``.

    After exit, ``context`` is the context it built, ``cleanup_errors`` the cleanup
    failures in the order the cleanups ran, ``transaction`` what happened to the
    transaction of the session the scope opened (``"none"``, ``"committed"``,
    ``"rolled_back"`` or ``"unknown"``), and ``transport_errors`` the failures of
    closing the emitter it opened, which never decide the request's outcome.
    """

    __slots__ = (
        "_cleanups",
        "_commit_refused",
        "_db_session",
        "_enter_ns",
        "_factory",
        "_lease",
        "_metadata",
        "_owned_emitter",
        "_owned_session",
        "_parent_request_id",
        "_request_id",
        "_run_id",
        "_services",
        "_state",
        "_thread_id",
        "_token",
        "_user_id",
        "_websocket_emitter",
        "cleanup_errors",
        "context",
        "entered_at",
        "transaction",
        "transport_errors",
    )

    def __init__(
        self,
        factory: AgentInstanceFactory,
        *,
        user_id: str,
        thread_id: str | None,
        run_id: str | None,
        request_id: str | None,
        parent_request_id: str | None,
        db_session: Any,
        websocket_emitter: Any,
        metadata: Mapping[str, Any] | None,
        services: Mapping[str, Any],
    ) -> None:
        self._factory = factory
        self._services = services
        self._user_id = user_id
        self._thread_id = thread_id
        self._run_id = run_id
        self._request_id = request_id
        self._parent_request_id = parent_request_id
        self._db_session = db_session
        self._websocket_emitter = websocket_emitter
        self._metadata = metadata
        self._cleanups: list[tuple[str, _Cleanup]] = []
        self._token: Token[UserExecutionContext | None] | None = None
        self._lease: ScopeLease | None = None
        self._owned_session: Any = None
        self._owned_emitter: Any = None
        self._commit_refused = False
        self._state = _NEW
        self._enter_ns = 0
        self.entered_at = 0.0  # time.monotonic() on entry, for the scope's age
        self.context: UserExecutionContext | None = None
        self.cleanup_errors: tuple[Exception, ...] = ()
        self.transport_errors: tuple[Exception, ...] = ()
        self.transaction: Transaction = "none"

    @property
    def exiting(self) -> bool:
        """True while the exit's cleanups run (each bounded by ``cleanup_timeout``)."""
        return self._state == _EXITING

    def push_cleanup(self, label: str, cleanup: _Cleanup) -> None:
        """Run ``cleanup(failed)`` on exit, before everything pushed earlier (LIFO)."""
        if self._state == _CLOSED:
            raise RuntimeError(f"cannot add cleanup {label!r}: the scope has already exited")
        self._cleanups.append((label, cleanup))

    def refuse_commit(self) -> None:
        """Roll back on exit even if the body returns normally.

        ``run_isolated`` calls this when it gives up on a request (timeout or
        cancellation): a body that swallows its cancellation and returns must not
        commit work that was already reported as not done. A commit already sent
        is not affected; ``transaction`` then tells what happened.
        """
        self._commit_refused = True

    async def __aenter__(self) -> UserExecutionContext:
        start = perf_counter_ns()
        if self._state != _NEW:
            raise RuntimeError("a user_execution_scope can be entered only once")
        self._state = _ACTIVE
        factory = self._factory
        policy = factory.id_policy
        # Validate before acquiring anything: a bad request must cost nothing.
        user_id = policy.validate("user_id", self._user_id)
        thread_id = policy.validate("thread_id", _or_new(self._thread_id))
        run_id = policy.validate("run_id", _or_new(self._run_id))
        request_id = policy.validate("request_id", _or_new(self._request_id))
        emitter = self._websocket_emitter
        if emitter is not None and getattr(emitter, "user_id", None) != user_id:
            raise InvalidContextError("websocket_emitter", "is bound to a different user than this scope")
        factory._take_user_slot(user_id)  # may refuse: still nothing acquired
        metrics = factory._metrics
        metrics.scopes_created += 1
        metrics.active_scopes += 1
        self.entered_at = monotonic()
        factory._active.add(self)
        lease = self._lease = ScopeLease(self)
        try:
            session = await self._open_session(lease)
            emitter = await self._bind_emitter(emitter, user_id, thread_id, run_id)
            context = UserExecutionContext(
                user_id=user_id,
                thread_id=thread_id,
                run_id=run_id,
                request_id=request_id,
                db_session=session,
                websocket_emitter=emitter,
                metadata={} if self._metadata is None else self._metadata,
                parent_request_id=self._parent_request_id,
                id_policy=policy,
                services=self._services,
                _lease=lease,
            )
        except BaseException as exc:
            metrics.creation_errors += 1
            to_raise = await self._close(exc)
            if to_raise is None or to_raise is exc:  # None never comes with an exception; typed so
                raise
            raise to_raise from exc  # a CancelledError that arrived while cleaning up after exc
        self.context = context
        self._token = _current.set(context)
        self._enter_ns = perf_counter_ns() - start
        return context

    async def _open_session(self, lease: ScopeLease) -> Any:
        factory = self._factory
        if self._db_session is not None or factory._session_factory is None:
            return self._db_session  # a caller's session stays the caller's
        session = await call_maybe_async(factory._session_factory)
        self._owned_session = session
        factory._metrics.sessions_opened += 1
        return GuardedSession(session, lease)

    async def _bind_emitter(self, emitter: Any, user_id: str, thread_id: str, run_id: str) -> Any:
        factory = self._factory
        if emitter is None and factory._emitter_factory is not None:
            make = partial(
                factory._emitter_factory,
                user_id=user_id,
                thread_id=thread_id,
                run_id=run_id,
            )
            emitter = await call_maybe_async(make)
            if emitter is None:
                return None
            # Owned from now on: closed on exit even if the check below fails.
            self._owned_emitter = emitter
            if getattr(emitter, "user_id", None) != user_id:
                raise InvalidContextError(
                    "websocket_emitter",
                    "emitter_factory returned an emitter of another user",
                )
        if emitter is None:
            return None
        if not callable(getattr(emitter, "bind", None)):
            return emitter  # a duck-typed emitter: used as it is
        view = emitter.bind(
            thread_id=thread_id,
            run_id=run_id,
            on_cross_user=factory._metrics.count_cross_user_attempt,
        )
        if self._owned_emitter is None:
            # The caller owns the connection; the scope only ends this run's view.
            self.push_cleanup("websocket emitter", lambda failed: view._release())
        return view

    def check_may_join(self, context: UserExecutionContext) -> None:
        """Raise unless ``context`` may join this scope (same user)."""
        owner = self.context
        if owner is not None and owner.user_id != context.user_id:
            raise InvalidContextError("user_id", "does not match the user of the scope that owns this request")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:  # never swallows the body's exception
        start = perf_counter_ns()
        to_raise = await self._close(exc)
        self._factory._metrics.record_overhead(self._enter_ns, perf_counter_ns() - start)
        if to_raise is None or to_raise is exc:
            return False
        raise to_raise

    async def _close(self, exc: BaseException | None) -> BaseException | None:
        """Run every cleanup, restore state and return the exception to raise, if any.

        Order: agents and registered cleanups (LIFO), then the session the scope
        opened (commit or rollback, then close), then the emitter it opened. The
        emitter comes last and has no say: a slow or gone client cannot roll back a
        request that succeeded.
        """
        state = _ExitState(failed=exc is not None or self._commit_refused)
        self._state = _EXITING
        try:
            timeout = self._factory.cleanup_timeout
            while self._cleanups:
                label, cleanup = self._cleanups.pop()
                result = await run_shielded(partial(cleanup, state.failed), timeout=timeout, label=label)
                state.record(label, result)
            if self._owned_session is not None:
                await self._finish_session(state)
            if self._owned_emitter is not None:
                await self._close_owned_emitter(state)
        finally:
            self._finish_bookkeeping(state)
        return self._exception_to_raise(exc, state)

    async def _end_transaction(self, session: Any, failed: bool) -> None:
        in_transaction = getattr(session, "in_transaction", None)
        if callable(in_transaction) and not in_transaction():
            return  # nothing to commit or roll back: skip the round trip
        # The flag is read again here: run_isolated may give up on the request after
        # the body returned, while earlier cleanups were running.
        if failed or self._commit_refused:
            self.transaction = "rolled_back"  # a rollback never commits, even if it fails
            await call_maybe_async(session.rollback)
            return
        if not self._factory._commit_on_success:
            return
        self.transaction = "unknown"  # until COMMIT answers
        try:
            await call_maybe_async(session.commit)
        except Exception:
            self.transaction = "rolled_back"  # the database refused the commit
            raise
        self.transaction = "committed"

    async def _finish_session(self, state: _ExitState) -> None:
        metrics = self._factory._metrics
        session = self._owned_session
        timeout = self._factory.cleanup_timeout
        label = "db session commit/rollback"
        ended = await run_shielded(
            partial(self._end_transaction, session, state.failed),
            timeout=timeout,
            label=label,
        )
        state.record(label, ended)
        if ended.still_running:
            # The abandoned commit/rollback still uses the connection: closing would
            # hand it back to the pool mid-statement. Invalidate it instead.
            invalidate = getattr(session, "invalidate", None)
            if not callable(invalidate):
                state.failures.append(
                    (
                        "db session close",
                        RuntimeError(
                            "the session was left open: its commit/rollback is still "
                            "running and the session has no invalidate()"
                        ),
                    )
                )
                return
            closed = await run_shielded(invalidate, timeout=timeout, label="db session invalidate")
            metrics.sessions_invalidated += 1
        else:
            closed = await run_shielded(session.close, timeout=timeout, label="db session close")
        state.record("db session close", closed)
        if closed.error is None and closed.fatal is None:
            metrics.sessions_closed += 1

    async def _close_owned_emitter(self, state: _ExitState) -> None:
        emitter = self._owned_emitter
        timeout = self._factory.cleanup_timeout
        # Half the bound to flush, the other half for the writer to unwind.
        result = await run_shielded(
            lambda: emitter.aclose(timeout=timeout / 2),
            timeout=timeout,
            label="websocket emitter",
        )
        state.cancelled |= result.caller_cancelled
        state.fatal = state.fatal or result.fatal
        if result.error is not None:
            add_note(
                result.error,
                "isolint: closing the request's emitter failed after the request ended",
            )
            self.transport_errors = (*self.transport_errors, result.error)
            self._factory._metrics.transport_close_errors += 1

    def _finish_bookkeeping(self, state: _ExitState) -> None:
        """Restore the caller's context and the counters, whatever the cleanups did."""
        if self._lease is not None:
            self._lease.end()
        token = self._token
        self._token = None
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:
                # Exited in another contextvars.Context (some fixture and dependency
                # runners do that): restore the previous value in this one instead.
                if _current.get() is self.context:
                    previous = token.old_value
                    _current.set(None if previous is Token.MISSING else previous)
        self._state = _CLOSED
        factory = self._factory
        factory._active.discard(self)
        factory._release_user_slot(self._user_id)
        metrics = factory._metrics
        metrics.active_scopes -= 1
        metrics.scopes_cleaned += 1
        metrics.cleanup_errors += len(state.failures)
        metrics.cleanup_timeouts += state.timeouts
        self.cleanup_errors = tuple(error for _, error in state.failures)
        for label, error in state.failures:
            add_note(
                error,
                f"isolint: raised by the cleanup {label!r} of user_execution_scope",
            )

    def _exception_to_raise(self, exc: BaseException | None, state: _ExitState) -> BaseException | None:
        if state.fatal is not None:
            if exc is not None and state.fatal is not exc:
                add_note(state.fatal, f"isolint: the request had failed with {exc!r}")
            return state.fatal  # raised only now, once every other cleanup has run
        if exc is not None:
            for label, error in state.failures:
                add_note(exc, f"isolint: cleanup {label!r} also failed: {error!r}")
            if state.cancelled and not isinstance(exc, asyncio.CancelledError):
                return asyncio.CancelledError()  # never swallow the caller's cancellation
            return exc
        group = None
        if state.failures:
            count = len(state.failures)
            group = ScopeCleanupError(
                f"{count} cleanup{'s' if count != 1 else ''} failed in user_execution_scope",
                list(self.cleanup_errors),
            )
        if state.cancelled:
            cancel = asyncio.CancelledError()
            cancel.__cause__ = group
            return cancel
        return group
