"""``AgentInstanceFactory``: per-request agents, each request inside a ``UserExecutionScope``."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Awaitable, Callable, Mapping
from time import monotonic
from typing import Any

from ._ids import DEFAULT_ID_POLICY, IdPolicy
from .context import UserExecutionContext, _current
from .errors import (
    NoActiveContextError,
    SharedAgentInstanceError,
    UserConcurrencyLimitError,
)
from .metrics import RuntimeMetrics, _MetricsRecorder
from .registry import AgentClassRegistry
from .scope import UserExecutionScope

__all__ = ["AgentInstanceFactory", "UserExecutionScope"]

#: ``session_factory()`` returns a session (or an awaitable of one), e.g. an
#: ``async_sessionmaker``. The session needs ``commit``, ``rollback`` and ``close``.
SessionFactory = Callable[[], Any]
#: ``emitter_factory(user_id=..., thread_id=..., run_id=...)`` returns an emitter (or
#: an awaitable of one) that the scope owns and closes.
EmitterFactory = Callable[..., Any]


def _closer_of(agent: Any) -> Callable[[], Any] | None:
    for attribute in ("aclose", "cleanup"):
        method: Callable[[], Any] | None = getattr(agent, attribute, None)
        if callable(method):
            return method
    return None


class AgentInstanceFactory:
    """Builds per-request agents and runs each request inside an isolating scope.

    ``session_factory`` (e.g. an ``async_sessionmaker``) gives every scope its own
    database session, committed on success (if ``commit_on_success``), rolled back on
    failure and always closed. ``emitter_factory`` gives every scope its own emitter.
    Cleanups are shielded from cancellation and bounded by ``cleanup_timeout``
    seconds each. ``default_timeout`` is what ``run_isolated`` / ``run_many`` use
    when no timeout is given (``None``: no limit). A handler step run by them that
    holds the event loop longer than ``loop_block_threshold`` seconds is counted in
    :meth:`metrics` under the handler's name. ``services`` are live dependencies
    (an LLM client, a tool dispatcher) every context carries in
    ``context.services``, shared and never copied. ``max_scopes_per_user`` caps the
    scopes one user may have open at once (one user with many tabs must not take
    the whole pool); over it, entering raises :class:`UserConcurrencyLimitError`
    before anything is opened. ``id_policy`` validates every id
    of every scope; emitters and connection registries built by
    :mod:`isolint.runtime.asgi` use it too.
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
        loop_block_threshold: float = 0.1,
        services: Mapping[str, Any] | None = None,
        max_scopes_per_user: int | None = None,
    ) -> None:
        if not isinstance(registry, AgentClassRegistry):
            raise TypeError("registry must be an AgentClassRegistry")
        if default_timeout is not None and default_timeout <= 0:
            raise ValueError("default_timeout must be positive or None")
        if cleanup_timeout <= 0:
            raise ValueError("cleanup_timeout must be positive")
        if loop_block_threshold <= 0:
            raise ValueError("loop_block_threshold must be positive")
        if max_scopes_per_user is not None and max_scopes_per_user < 1:
            raise ValueError("max_scopes_per_user must be at least 1 or None")
        self._registry = registry
        self._session_factory = session_factory
        self._emitter_factory = emitter_factory
        self._default_timeout = default_timeout
        self._cleanup_timeout = cleanup_timeout
        self._commit_on_success = commit_on_success
        self._id_policy = id_policy
        self._loop_block_threshold = loop_block_threshold
        self._services: Mapping[str, Any] = dict(services or {})
        self._max_scopes_per_user = max_scopes_per_user
        self._scopes_per_user: dict[str, int] = {}
        self._active: set[UserExecutionScope] = set()
        self._metrics = _MetricsRecorder()
        # id(agent) -> agent while it lives: catches factories that hand out one instance twice.
        self._issued: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()

    @property
    def registry(self) -> AgentClassRegistry:
        return self._registry

    @property
    def default_timeout(self) -> float | None:
        return self._default_timeout

    @property
    def cleanup_timeout(self) -> float:
        return self._cleanup_timeout

    @property
    def id_policy(self) -> IdPolicy:
        return self._id_policy

    @property
    def loop_block_threshold(self) -> float:
        """Seconds one step of a handler may hold the event loop before it is reported."""
        return self._loop_block_threshold

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
        services: Mapping[str, Any] | None = None,
    ) -> UserExecutionScope:
        """Return an async context manager running one request of ``user_id``.

        On entry it validates the ids (generating missing thread/run/request ids),
        opens a session if a ``session_factory`` is configured and ``db_session`` is
        None, binds the emitter to the run, and sets :func:`current_context`. On exit
        it runs the cleanups — agents' ``aclose``/``cleanup`` and registered cleanups
        in LIFO order, then the owned session (rollback if the body, a cleanup or a
        cancellation failed the request, else commit; close always), then the owned
        emitter — each shielded from cancellation and bounded by ``cleanup_timeout``.
        Closing the emitter comes last and never decides commit or rollback.

        The body's exception stays primary, with cleanup failures attached as notes.
        If only cleanups failed, :class:`ScopeCleanupError` (an ``ExceptionGroup``) is
        raised. ``CancelledError`` is always re-raised, and so is a ``BaseException``
        a cleanup raised, once every other cleanup has run. A session or emitter
        passed in stays owned by the caller (the emitter's run view is released).

        ``request_id`` may come from the client (``X-Request-ID``): scopes are never
        looked up by it, so two requests sending the same id stay apart. Contexts of
        the scope, children included, are refused by :meth:`create_agent_instance`
        once it has ended, and so is the session they carry.
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
            services={**self._services, **(services or {})},
        )

    def active_scope_ages(self) -> list[float]:
        """Seconds each open scope has been open, oldest first (no ids: no user data)."""
        now = monotonic()
        return sorted((now - scope.entered_at for scope in self._active), reverse=True)

    def _take_user_slot(self, user_id: str) -> None:
        count = self._scopes_per_user.get(user_id, 0)
        limit = self._max_scopes_per_user
        if limit is not None and count >= limit:
            self._metrics.scopes_refused_by_user_limit += 1
            raise UserConcurrencyLimitError(f"this user already has {count} requests running; the limit is {limit}")
        self._scopes_per_user[user_id] = count + 1

    def _release_user_slot(self, user_id: str) -> None:
        count = self._scopes_per_user.get(user_id, 0) - 1
        if count > 0:
            self._scopes_per_user[user_id] = count
        else:
            self._scopes_per_user.pop(user_id, None)  # no entry per user ever seen

    def create_agent_instance(self, name: str, context: UserExecutionContext) -> Any:
        """Build a new agent ``name`` for ``context``.

        If ``context`` (or its parent) belongs to an active scope, the agent's
        ``aclose()`` or ``cleanup()`` runs when that scope exits, and the scope drops
        its reference so the agent can be collected. A context whose scope has ended
        raises :class:`StaleContextError` (its agent would never be closed). A
        factory that returns an instance it already returned raises
        :class:`SharedAgentInstanceError`.
        """
        if not isinstance(context, UserExecutionContext):
            raise TypeError(f"create_agent_instance needs a UserExecutionContext, got {type(context).__name__}")
        scope = self._scope_for(context)
        spec = self._registry.get(name)
        try:
            agent = spec.build(context)
        except Exception:
            self._metrics.creation_errors += 1
            raise
        if agent is None:
            raise TypeError(f"the factory of agent {name!r} returned None")
        self._check_fresh(name, agent)
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
            raise NoActiveContextError("no active user_execution_scope owns this context")
        scope.push_cleanup(label, lambda failed: cleanup())

    def metrics(self) -> RuntimeMetrics:
        """Counters and p50/p95 scope overhead; they hold no per-user data."""
        return self._metrics.snapshot()

    def _scope_for(self, context: UserExecutionContext) -> UserExecutionScope | None:
        lease = context._lease
        if lease is not None:
            lease.check("create_agent_instance")
            scope = lease.scope
        else:
            scope = self._joined_scope(context)
        if scope is not None:
            scope.check_may_join(context)
        return scope

    @staticmethod
    def _joined_scope(context: UserExecutionContext) -> UserExecutionScope | None:
        # A sub-agent context built by hand (UserExecutionContext.create with a
        # parent_request_id) joins the scope the caller runs in, if that scope runs
        # the same user, thread and run. Nothing is looked up by a request id.
        current = _current.get()
        if (
            current is None
            or current._lease is None
            or context.parent_request_id is None
            or (current.user_id, current.thread_id, current.run_id)
            != (context.user_id, context.thread_id, context.run_id)
        ):
            return None
        return current._lease.scope

    def _check_fresh(self, name: str, agent: Any) -> None:
        if self._issued.get(id(agent)) is agent:
            raise SharedAgentInstanceError(
                f"the factory of agent {name!r} returned an instance it already returned; "
                "it must build a new agent on every call"
            )
        with contextlib.suppress(TypeError):  # not weak-referenceable: cannot be tracked, and that is all
            self._issued[id(agent)] = agent

    def __repr__(self) -> str:
        return f"<AgentInstanceFactory agents={len(self._registry)} active_scopes={self._metrics.active_scopes}>"
