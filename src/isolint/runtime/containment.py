"""Containment: one request's failure, hang or cancellation never reaches another's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import (
    Any,
    Generic,
    Literal,
    TypeVar,
)

from ._shield import wait_absorbing_cancel
from .context import UserExecutionContext
from .factory import AgentInstanceFactory, UserExecutionScope

__all__ = ["Job", "OutcomeStatus", "RequestOutcome", "run_isolated", "run_many"]

T = TypeVar("T")
Handler = Callable[[UserExecutionContext], Awaitable[T]]
OutcomeStatus = Literal["ok", "error", "timeout", "cancelled"]


@dataclass(frozen=True, slots=True)
class RequestOutcome(Generic[T]):
    """How one request ended.

    - ``ok``: ``result`` holds the handler's return value;
    - ``error``: ``exception`` is the handler's exception, or a ``ScopeCleanupError``
      when only cleanups failed, or an ``InvalidContextError`` for bad ids;
    - ``timeout``: the request overran its timeout and was cancelled and cleaned up;
      ``exception`` is a ``TimeoutError``;
    - ``cancelled``: the request cancelled itself (nobody cancelled the caller).

    ``cleanup_errors`` lists cleanup failures whatever the status.
    """

    status: OutcomeStatus
    user_id: str | None
    request_id: str | None
    result: T | None = None
    exception: BaseException | None = field(default=None, compare=False)
    cleanup_errors: tuple[Exception, ...] = field(default=(), compare=False)
    duration: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job(Generic[T]):
    """One request for :func:`run_many`: a handler and the scope arguments to run it with."""

    handler: Handler[T]
    user_id: str
    thread_id: str | None = None
    run_id: str | None = None
    request_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    db_session: Any = None
    websocket_emitter: Any = None
    timeout: float | None = None


class _Entered:
    """Lets the child task hand its scope back to run_isolated."""

    __slots__ = ("scope",)

    def __init__(self) -> None:
        self.scope: UserExecutionScope | None = None


async def _run_in_scope(
    fn: Handler[T],
    factory: AgentInstanceFactory,
    entered: _Entered,
    scope_kwargs: dict[str, Any],
) -> T:
    scope = factory.user_execution_scope(**scope_kwargs)
    entered.scope = scope
    async with scope as context:
        return await fn(context)


async def run_isolated(
    fn: Handler[T],
    *,
    factory: AgentInstanceFactory,
    timeout: float | None = None,
    user_id: str,
    thread_id: str | None = None,
    run_id: str | None = None,
    request_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    db_session: Any = None,
    websocket_emitter: Any = None,
) -> RequestOutcome[T]:
    """Run ``fn(context)`` in its own task and ``user_execution_scope``; never raise for it.

    The request's own failure, timeout (``timeout`` seconds, default
    ``factory.default_timeout``) or self-cancellation becomes a
    :class:`RequestOutcome`. Cancelling the caller cancels the request, waits for its
    cleanups, then re-raises ``CancelledError`` — even if a timeout had already fired.
    """
    loop = asyncio.get_running_loop()
    limit = factory.default_timeout if timeout is None else timeout
    entered = _Entered()
    scope_kwargs = {
        "user_id": user_id,
        "thread_id": thread_id,
        "run_id": run_id,
        "request_id": request_id,
        "metadata": metadata,
        "db_session": db_session,
        "websocket_emitter": websocket_emitter,
    }
    started = perf_counter()
    # A separate task tells our timeout apart from the caller's cancellation on every
    # Python version, and keeps the request's context variables to itself.
    child = loop.create_task(_run_in_scope(fn, factory, entered, scope_kwargs))
    timed_out = caller_cancelled = False
    try:
        await asyncio.wait({child}, timeout=limit)
    except asyncio.CancelledError:
        caller_cancelled = True
    if not child.done():
        timed_out = not caller_cancelled
        child.cancel()
        # Wait for the request's cleanups (each bounded by cleanup_timeout). A body that
        # swallows its cancellation is cancelled again every cleanup_timeout.
        while not child.done():
            window = loop.time() + factory.cleanup_timeout
            caller_cancelled |= await wait_absorbing_cancel({child}, window)
            if not child.done():
                child.cancel()
    duration = perf_counter() - started
    exception = (
        None if child.cancelled() else child.exception()
    )  # also marks it retrieved
    if caller_cancelled:
        raise asyncio.CancelledError
    if exception is not None and not isinstance(exception, Exception):
        raise exception  # KeyboardInterrupt / SystemExit are not the request's to keep

    scope = entered.scope
    context = scope.context if scope is not None else None
    outcome_user = user_id if isinstance(user_id, str) else None
    outcome_request = context.request_id if context is not None else request_id
    cleanup_errors = scope.cleanup_errors if scope is not None else ()
    if timed_out:
        error = TimeoutError(f"the request did not finish within {limit}s")
        error.__cause__ = exception
        return RequestOutcome(
            "timeout",
            outcome_user,
            outcome_request,
            None,
            error,
            cleanup_errors,
            duration,
        )
    if child.cancelled():
        return RequestOutcome(
            "cancelled",
            outcome_user,
            outcome_request,
            None,
            asyncio.CancelledError(),
            cleanup_errors,
            duration,
        )
    if exception is not None:
        return RequestOutcome(
            "error",
            outcome_user,
            outcome_request,
            None,
            exception,
            cleanup_errors,
            duration,
        )
    return RequestOutcome(
        "ok",
        outcome_user,
        outcome_request,
        child.result(),
        None,
        cleanup_errors,
        duration,
    )


async def run_many(
    jobs: Iterable[Job[Any]],
    *,
    factory: AgentInstanceFactory,
    concurrency: int,
    timeout: float | None = None,
) -> list[RequestOutcome[Any]]:
    """Run ``jobs`` with at most ``concurrency`` at a time; return outcomes in job order.

    Each job runs through :func:`run_isolated`, so a failing or timed-out job never
    cancels its siblings. ``timeout`` applies to jobs without their own. Cancelling
    ``run_many`` cancels every running job, waits until each is cleaned up, then
    re-raises ``CancelledError``; jobs not started yet never start.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    pending = list(jobs)
    outcomes: list[RequestOutcome[Any] | None] = [None] * len(pending)
    queue = iter(enumerate(pending))

    async def worker() -> None:
        for index, job in queue:
            outcomes[index] = await run_isolated(
                job.handler,
                factory=factory,
                timeout=job.timeout if job.timeout is not None else timeout,
                user_id=job.user_id,
                thread_id=job.thread_id,
                run_id=job.run_id,
                request_id=job.request_id,
                metadata=job.metadata,
                db_session=job.db_session,
                websocket_emitter=job.websocket_emitter,
            )

    loop = asyncio.get_running_loop()
    workers = {
        loop.create_task(worker()) for _ in range(min(concurrency, len(pending)))
    }
    try:
        await asyncio.wait(workers)
    except asyncio.CancelledError:
        for task in workers:
            task.cancel()
        # Every running job must finish its cleanups before we give up control.
        await wait_absorbing_cancel(workers, None)
        for task in workers:
            if not task.cancelled():
                task.exception()
        raise
    for task in workers:
        error = task.exception()
        if error is not None:
            raise error  # a bug in the runtime itself, not a request's failure
    return [outcome for outcome in outcomes if outcome is not None]
