"""``AgentInstanceFactory`` and ``user_execution_scope``: one request, its resources, its cleanup."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from time import perf_counter_ns
from types import TracebackType
from typing import Any

from ._compat import add_note
from ._ids import DEFAULT_ID_POLICY, IdPolicy
from ._shield import call_maybe_async, run_shielded
from .context import UserExecutionContext, _current
from .errors import (
    InvalidContextError,
    NoActiveContextError,
    ScopeCleanupError,
    SharedAgentInstanceError,
)
from .metrics import RuntimeMetrics, _MetricsRecorder
from .registry import AgentClassRegistry

__all__ = ["AgentInstanceFactory", "UserExecutionScope"]

#: ``session_factory()`` returns a session (or an awaitable of one), e.g. an
#: ``async_sessionmaker``. The session needs ``commit``, ``rollback`` and ``close``.
SessionFactory = Callable[[], Any]
#: ``emitter_factory(user_id=..., thread_id=..., run_id=...)`` returns an emitter (or
#: an awaitable of one) that the scope owns and closes.
EmitterFactory = Callable[..., Any]
# A cleanup receives whether the request has failed so far (body or earlier cleanup).
_Cleanup = Callable[[bool], Any]

_NEW, _ACTIVE, _CLOSED = 0, 1, 2


def _end_transaction(session: Any, commit: bool, failed: bool) -> Any:
    in_transaction = getattr(session, "in_transaction", None)
    if callable(in_transaction) and not in_transaction():
        return None  # nothing to commit or roll back: skip the round trip
    if failed:
        return session.rollback()
    return session.commit() if commit else None


async def _close_session(session: Any, metrics: _MetricsRecorder, failed: bool) -> None:
    await call_maybe_async(session.close)
    metrics.sessions_closed += 1


def _closer_of(agent: Any) -> Callable[[], Any] | None:
    for attribute in ("aclose", "cleanup"):
        method = getattr(agent, attribute, None)
        if callable(method):
            return method
    return None


class UserExecutionScope:
    """The async context manager returned by ``AgentInstanceFactory.user_execution_scope``.

    After exit, ``context`` is the context it built and ``cleanup_errors`` the
    cleanup failures, in the order the cleanups ran.
    """

    __slots__ = (
        "_cleanups",
        "_db_session",
        "_enter_ns",
        "_factory",
        "_metadata",
        "_parent_request_id",
        "_request_id",
        "_request_ids",
        "_run_id",
        "_state",
        "_thread_id",
        "_token",
        "_user_id",
        "_websocket_emitter",
        "cleanup_errors",
        "context",
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
    ) -> None:
        self._factory = factory
        self._user_id = user_id
        self._thread_id = thread_id
        self._run_id = run_id
        self._request_id = request_id
        self._parent_request_id = parent_request_id
        self._db_session = db_session
        self._websocket_emitter = websocket_emitter
        self._metadata = metadata
        self._cleanups: list[tuple[str, _Cleanup]] = []
        self._token: Any = None
        self._request_ids: list[str] = []
        self._state = _NEW
        self._enter_ns = 0
        self.context: UserExecutionContext | None = None
        self.cleanup_errors: tuple[Exception, ...] = ()

    def push_cleanup(self, label: str, cleanup: _Cleanup) -> None:
        """Run ``cleanup(failed)`` on exit, before everything pushed earlier (LIFO)."""
        if self._state == _CLOSED:
            raise RuntimeError(
                f"cannot add cleanup {label!r}: the scope has already exited"
            )
        self._cleanups.append((label, cleanup))

    async def __aenter__(self) -> UserExecutionContext:
        start = perf_counter_ns()
        if self._state != _NEW:
            raise RuntimeError("a user_execution_scope can be entered only once")
        self._state = _ACTIVE
        factory = self._factory
        policy = factory._id_policy
        # Validate before acquiring anything: a bad request must cost nothing.
        user_id = policy.validate("user_id", self._user_id)
        thread_id = policy.validate("thread_id", _or_new(self._thread_id))
        run_id = policy.validate("run_id", _or_new(self._run_id))
        request_id = policy.validate("request_id", _or_new(self._request_id))
        emitter = self._websocket_emitter
        if emitter is not None and getattr(emitter, "user_id", None) != user_id:
            raise InvalidContextError(
                "websocket_emitter", "is bound to a different user than this scope"
            )
        metrics = factory._metrics
        metrics.scopes_created += 1
        metrics.active_scopes += 1
        try:
            session = await self._open_session()
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
            )
        except BaseException as exc:
            to_raise = await self._close(exc)
            if to_raise is exc:
                raise
            raise to_raise  # a CancelledError that arrived while cleaning up
        self.context = context
        self._token = _current.set(context)
        factory._scopes[request_id] = self
        self._request_ids.append(request_id)
        self._enter_ns = perf_counter_ns() - start
        return context

    async def _open_session(self) -> Any:
        factory = self._factory
        if self._db_session is not None or factory._session_factory is None:
            return self._db_session  # a caller's session stays the caller's
        session = await call_maybe_async(factory._session_factory)
        metrics = factory._metrics
        metrics.sessions_opened += 1
        # Two cleanups, so the close runs even if the commit/rollback fails or overruns.
        self.push_cleanup("db session close", partial(_close_session, session, metrics))
        self.push_cleanup(
            "db session commit/rollback",
            partial(_end_transaction, session, factory._commit_on_success),
        )
        return session

    async def _bind_emitter(
        self, emitter: Any, user_id: str, thread_id: str, run_id: str
    ) -> Any:
        factory = self._factory
        owned: Any = None
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
            owned = emitter
            # Owned from now on: closed on exit even if the checks below fail.
            timeout = factory._cleanup_timeout
            self.push_cleanup(
                "websocket emitter", lambda failed: owned.aclose(timeout=timeout)
            )
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
        if owned is None:
            # The caller owns the connection; the scope only ends this run's view.
            self.push_cleanup("websocket emitter", lambda failed: view._release())
        return view

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        start = perf_counter_ns()
        to_raise = await self._close(exc)
        self._factory._metrics.record_overhead(
            self._enter_ns + perf_counter_ns() - start
        )
        if to_raise is None or to_raise is exc:
            return False
        raise to_raise

    async def _close(self, exc: BaseException | None) -> BaseException | None:
        """Run every cleanup, restore state and return the exception to raise, if any."""
        factory = self._factory
        failures: list[tuple[str, Exception]] = []
        failed = exc is not None
        cancelled = False
        timeouts = 0
        while self._cleanups:
            label, cleanup = self._cleanups.pop()
            result = await run_shielded(
                partial(cleanup, failed), timeout=factory._cleanup_timeout, label=label
            )
            cancelled |= result.caller_cancelled
            timeouts += result.timed_out
            # A cancelled request must not commit: later cleanups see it as failed.
            failed = failed or result.caller_cancelled
            if result.error is not None:
                failed = True
                failures.append((label, result.error))
        for request_id in self._request_ids:
            factory._scopes.pop(request_id, None)
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        self._state = _CLOSED
        metrics = factory._metrics
        metrics.active_scopes -= 1
        metrics.scopes_cleaned += 1
        metrics.cleanup_errors += len(failures)
        metrics.cleanup_timeouts += timeouts
        self.cleanup_errors = tuple(error for _, error in failures)
        for label, error in failures:
            add_note(
                error,
                f"isolint: raised by the cleanup {label!r} of user_execution_scope",
            )

        if exc is not None:
            for label, error in failures:
                add_note(exc, f"isolint: cleanup {label!r} also failed: {error!r}")
            if cancelled and not isinstance(exc, asyncio.CancelledError):
                return (
                    asyncio.CancelledError()
                )  # never swallow the caller's cancellation
            return exc
        group = None
        if failures:
            count = len(failures)
            group = ScopeCleanupError(
                f"{count} cleanup{'s' if count != 1 else ''} failed in user_execution_scope",
                list(self.cleanup_errors),
            )
        if cancelled:
            cancel = asyncio.CancelledError()
            cancel.__cause__ = group
            return cancel
        return group


def _or_new(value: str | None) -> str:
    return str(uuid.uuid4()) if value is None else value


class AgentInstanceFactory:
    """Builds per-request agents and runs each request inside an isolating scope.

    ``session_factory`` (e.g. an ``async_sessionmaker``) gives every scope its own
    database session, committed on success (if ``commit_on_success``), rolled back on
    failure and always closed. ``emitter_factory`` gives every scope its own emitter.
    Cleanups are shielded from cancellation and bounded by ``cleanup_timeout``
    seconds each. ``default_timeout`` is what ``run_isolated`` / ``run_many`` use
    when no timeout is given (``None``: no limit).
    """

    def __init__(
        self,
        registry: AgentClassRegistry,
        *,
        session_factory: SessionFactory | None = None,
        emitter_factory: EmitterFactory | None = None,
        default_timeout: float | None = 30.0,
        cleanup_timeout: float = 5.0,
        commit_on_success: bool = True,
        id_policy: IdPolicy = DEFAULT_ID_POLICY,
    ) -> None:
        if not isinstance(registry, AgentClassRegistry):
            raise TypeError("registry must be an AgentClassRegistry")
        if default_timeout is not None and default_timeout <= 0:
            raise ValueError("default_timeout must be positive or None")
        if cleanup_timeout <= 0:
            raise ValueError("cleanup_timeout must be positive")
        self._registry = registry
        self._session_factory = session_factory
        self._emitter_factory = emitter_factory
        self._default_timeout = default_timeout
        self._cleanup_timeout = cleanup_timeout
        self._commit_on_success = commit_on_success
        self._id_policy = id_policy
        self._metrics = _MetricsRecorder()
        self._scopes: dict[str, UserExecutionScope] = {}
        # id(agent) -> agent while it lives: catches factories that hand out one instance twice.
        self._issued: weakref.WeakValueDictionary[int, Any] = (
            weakref.WeakValueDictionary()
        )

    @property
    def registry(self) -> AgentClassRegistry:
        return self._registry

    @property
    def default_timeout(self) -> float | None:
        return self._default_timeout

    @property
    def cleanup_timeout(self) -> float:
        return self._cleanup_timeout

    def user_execution_scope(
        self,
        *,
        user_id: str,
        thread_id: str | None = None,
        run_id: str | None = None,
        request_id: str | None = None,
        parent_request_id: str | None = None,
        db_session: Any = None,
        websocket_emitter: Any = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> UserExecutionScope:
        """Return an async context manager running one request of ``user_id``.

        On entry it validates the ids (generating missing thread/run/request ids),
        opens a session if a ``session_factory`` is configured and ``db_session`` is
        None, binds the emitter to the run, and sets :func:`current_context`. On exit
        it runs the cleanups in LIFO order — agents' ``aclose``/``cleanup``, the
        emitter, then the owned session (rollback if the body, a cleanup or a
        cancellation failed the request, else commit; close always) — each shielded
        from cancellation and bounded by ``cleanup_timeout``.

        The body's exception stays primary, with cleanup failures attached as notes.
        If only cleanups failed, :class:`ScopeCleanupError` (an ``ExceptionGroup``) is
        raised. ``CancelledError`` is always re-raised. A session or emitter passed
        in stays owned by the caller (the emitter's run view is released).
        """
        return UserExecutionScope(
            self,
            user_id=user_id,
            thread_id=thread_id,
            run_id=run_id,
            request_id=request_id,
            parent_request_id=parent_request_id,
            db_session=db_session,
            websocket_emitter=websocket_emitter,
            metadata=metadata,
        )

    def create_agent_instance(self, name: str, context: UserExecutionContext) -> Any:
        """Build a new agent ``name`` for ``context``.

        If ``context`` (or its parent) belongs to an active scope, the agent's
        ``aclose()`` or ``cleanup()`` runs when that scope exits, and the scope drops
        its reference so the agent can be collected. A factory that returns an
        instance it already returned raises :class:`SharedAgentInstanceError`.
        """
        if not isinstance(context, UserExecutionContext):
            raise TypeError(
                f"create_agent_instance needs a UserExecutionContext, got {type(context).__name__}"
            )
        agent = self._registry.get(name).build(context)
        if agent is None:
            raise TypeError(f"the factory of agent {name!r} returned None")
        self._check_fresh(name, agent)
        scope = self._scope_for(context)
        if scope is not None:
            closer = _closer_of(agent)
            if closer is not None:
                scope.push_cleanup(f"agent {name!r}", lambda failed: closer())
        self._metrics.agents_created += 1
        return agent

    create_agent = create_agent_instance

    def register_cleanup(
        self,
        context: UserExecutionContext,
        cleanup: Callable[[], Awaitable[Any] | Any],
        *,
        label: str = "registered cleanup",
    ) -> None:
        """Run ``cleanup()`` when the scope owning ``context`` exits (LIFO with the rest).

        Raises :class:`NoActiveContextError` if no active scope owns ``context``.
        """
        scope = self._scope_for(context)
        if scope is None:
            raise NoActiveContextError(
                "no active user_execution_scope owns this context"
            )
        scope.push_cleanup(label, lambda failed: cleanup())

    def metrics(self) -> RuntimeMetrics:
        """Counters and p50/p95 scope overhead; they hold no per-user data."""
        return self._metrics.snapshot()

    def _scope_for(self, context: UserExecutionContext) -> UserExecutionScope | None:
        scope = self._scopes.get(context.request_id)
        if scope is None:
            scope = self._parent_scope(context)
            if scope is not None:
                # Sub-agent contexts join their parent's scope, and so do their children.
                self._scopes[context.request_id] = scope
                scope._request_ids.append(context.request_id)
        owner = scope.context if scope is not None else None
        if owner is not None and owner.user_id != context.user_id:
            raise InvalidContextError(
                "user_id", "does not match the user of the scope that owns this request"
            )
        return scope

    def _parent_scope(self, context: UserExecutionContext) -> UserExecutionScope | None:
        if context.parent_request_id is not None:
            scope = self._scopes.get(context.parent_request_id)
            if scope is not None:
                return scope
        # A grandchild whose parent never reached the factory: it still belongs to the
        # scope the caller runs in, if that scope is running the same thread and run.
        current = _current.get()
        if (
            current is not None
            and context.parent_request_id is not None
            and (current.user_id, current.thread_id, current.run_id)
            == (context.user_id, context.thread_id, context.run_id)
        ):
            return self._scopes.get(current.request_id)
        return None

    def _check_fresh(self, name: str, agent: Any) -> None:
        if self._issued.get(id(agent)) is agent:
            raise SharedAgentInstanceError(
                f"the factory of agent {name!r} returned an instance it already returned; "
                "it must build a new agent on every call"
            )
        try:
            self._issued[id(agent)] = agent
        except TypeError:
            pass  # not weak-referenceable: cannot be tracked, and that is all

    def __repr__(self) -> str:
        return f"<AgentInstanceFactory agents={len(self._registry)} active_scopes={self._metrics.active_scopes}>"
