"""Containment: one request's failure, hang or cancellation never reaches another's."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import (
    Any,
    Generic,
    Literal,
    TypeVar,
)

from ._compat import add_note
from ._loopwatch import watch_loop_blocking
from ._shield import wait_absorbing_cancel
from .context import UserExecutionContext
from .factory import AgentInstanceFactory
from .scope import Transaction, UserExecutionScope

__all__ = [
    "MAX_RECANCELS",
    "Job",
    "OutcomeStatus",
    "RequestOutcome",
    "run_isolated",
    "run_many",
]

T = TypeVar("T")
#: A handler takes the request's context. ``async def`` handlers (and lambdas, which
#: usually just build a coroutine) run on the event loop; other plain functions run
#: in a worker thread of the loop's default executor, so ``time.sleep`` or a
#: blocking client in one request does not stall everybody else's.
Handler = Callable[[UserExecutionContext], "Awaitable[T] | T"]
OutcomeStatus = Literal["ok", "error", "timeout", "cancelled", "abandoned"]

# How many times a body that swallows CancelledError is cancelled again (one
# cleanup_timeout apart) before run_isolated gives up on it and returns.
MAX_RECANCELS = 3


@dataclass(frozen=True, slots=True)
class RequestOutcome(Generic[T]):
    """How one request ended.

    - ``ok``: ``result`` holds the handler's return value (also when the timeout
      fired while the request's COMMIT was in flight and the commit then landed);
    - ``error``: ``exception`` is the handler's exception, or a ``ScopeCleanupError``
      when only cleanups failed, or an ``InvalidContextError`` for bad ids;
    - ``timeout``: the request overran its timeout and was cancelled and cleaned up;
      ``exception`` is a ``TimeoutError``;
    - ``cancelled``: the request cancelled itself (nobody cancelled the caller);
    - ``abandoned``: the handler kept swallowing its cancellation; after
      ``MAX_RECANCELS`` attempts it was left running. Its scope stays open (and
      counted in ``active_scopes``) until the handler finally returns, and it then
      rolls back.

    ``transaction`` is what happened to the session the scope opened: ``"none"``,
    ``"committed"``, ``"rolled_back"`` or ``"unknown"`` (a COMMIT that did not
    answer in time: do not blindly retry a write). ``cleanup_errors`` lists cleanup
    failures whatever the status.
    """

    status: OutcomeStatus
    user_id: str | None
    request_id: str | None
    result: T | None = None
    exception: BaseException | None = field(default=None, compare=False)
    cleanup_errors: tuple[Exception, ...] = field(default=(), compare=False)
    duration: float = field(default=0.0, compare=False)
    transaction: Transaction = "none"

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
    services: Mapping[str, Any] | None = None


class _Entered:
    """Lets the child task hand its scope and the body's result back to run_isolated."""

    __slots__ = ("result", "returned", "scope")

    def __init__(self) -> None:
        self.scope: UserExecutionScope | None = None
        self.returned = False
        self.result: Any = None


def _runs_on_the_loop(fn: Callable[..., Any]) -> bool:
    # Coroutine functions (partials of them included) and lambdas run on the loop: a
    # lambda is an expression, typically `lambda ctx: handler(ctx, extra)` building a
    # coroutine. Any other plain function may block, so it goes to a worker thread.
    return inspect.iscoroutinefunction(fn) or getattr(fn, "__name__", "") == "<lambda>"


async def _call_handler(fn: Handler[T], context: UserExecutionContext, factory: AgentInstanceFactory) -> T:
    if _runs_on_the_loop(fn):
        awaitable: Any = fn(context)
    else:
        # The worker thread sees the request's context variables. If the function
        # returns an awaitable after all, that runs here, on the loop.
        awaitable = await asyncio.to_thread(fn, context)
    result: T  # the handler's declared result, once any awaitable it returned is awaited
    if not inspect.isawaitable(awaitable):
        result = awaitable
    elif inspect.iscoroutine(awaitable):
        result = await watch_loop_blocking(awaitable, factory)
    else:
        result = await awaitable
    return result


async def _run_in_scope(
    fn: Handler[T],
    factory: AgentInstanceFactory,
    entered: _Entered,
    scope_kwargs: dict[str, Any],
) -> T:
    scope = factory.user_execution_scope(**scope_kwargs)
    entered.scope = scope
    async with scope as context:
        result = await _call_handler(fn, context, factory)
        entered.returned, entered.result = True, result
        return result


def _retrieve(task: asyncio.Task[Any]) -> None:
    # An abandoned request's late end is reflected in the metrics; retrieving it
    # keeps asyncio from logging "exception was never retrieved".
    if not task.cancelled():
        task.exception()


async def _stop(child: asyncio.Task[Any], entered: _Entered, factory: AgentInstanceFactory) -> tuple[bool, bool]:
    """Cancel ``child`` and wait for its cleanups; return (caller_cancelled, abandoned).

    Cleanups are shielded and each bounded by ``cleanup_timeout``, so a child that
    is cleaning up is simply waited for. A child whose body swallows the
    cancellation is cancelled again every ``cleanup_timeout``, at most
    ``MAX_RECANCELS`` times, then abandoned.
    """
    loop = asyncio.get_running_loop()
    if entered.scope is not None:
        entered.scope.refuse_commit()
    child.cancel()
    caller_cancelled = False
    recancels = 0
    while not child.done():
        window = loop.time() + factory.cleanup_timeout
        caller_cancelled |= await wait_absorbing_cancel({child}, window)
        if child.done():
            break
        scope = entered.scope
        if scope is not None and scope.exiting:
            continue  # bounded cleanups are running: they finish on their own
        recancels += 1
        if recancels > MAX_RECANCELS:
            child.add_done_callback(_retrieve)
            factory._metrics.abandoned_requests += 1
            return caller_cancelled, True
        child.cancel()
    return caller_cancelled, False


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
    services: Mapping[str, Any] | None = None,
) -> RequestOutcome[T]:
    """Run ``fn(context)`` in its own task and ``user_execution_scope``; never raise for it.

    The request's own failure, timeout (``timeout`` seconds, default
    ``factory.default_timeout``) or self-cancellation becomes a
    :class:`RequestOutcome`. Cancelling the caller cancels the request, waits for its
    cleanups, then re-raises ``CancelledError`` — even if a timeout had already fired;
    if the request's COMMIT had already been sent and landed, the ``CancelledError``
    carries a note saying so.

    The call returns within ``timeout`` plus the cleanups (each bounded by
    ``cleanup_timeout``) plus at most ``MAX_RECANCELS + 1`` cleanup timeouts for a
    handler that swallows its cancellation, which is then ``abandoned``.
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
        "services": services,
    }
    started = perf_counter()
    # A separate task tells our timeout apart from the caller's cancellation on every
    # Python version, and keeps the request's context variables to itself.
    child = loop.create_task(_run_in_scope(fn, factory, entered, scope_kwargs))
    timed_out = caller_cancelled = abandoned = False
    try:
        await asyncio.wait({child}, timeout=limit)
    except asyncio.CancelledError:
        caller_cancelled = True
    if not child.done():
        timed_out = not caller_cancelled
        cancelled_meanwhile, abandoned = await _stop(child, entered, factory)
        caller_cancelled |= cancelled_meanwhile
    duration = perf_counter() - started
    scope = entered.scope
    transaction = scope.transaction if scope is not None else "none"
    exception = None
    if not abandoned:
        exception = None if child.cancelled() else child.exception()
    if caller_cancelled:
        cancel = asyncio.CancelledError()
        if transaction in ("committed", "unknown"):
            add_note(
                cancel,
                f"isolint: the request's transaction was {transaction} before the cancellation took effect",
            )
        if abandoned:
            add_note(
                cancel,
                "isolint: the request ignored its cancellation and was abandoned",
            )
        raise cancel
    if exception is not None and not isinstance(exception, Exception):
        raise exception  # KeyboardInterrupt / SystemExit are not the request's to keep

    context = scope.context if scope is not None else None
    outcome_user = user_id if isinstance(user_id, str) else None
    outcome_request = context.request_id if context is not None else request_id
    cleanup_errors = scope.cleanup_errors if scope is not None else ()

    def outcome(status: OutcomeStatus, result: Any = None, error: BaseException | None = None) -> RequestOutcome[T]:
        return RequestOutcome(
            status,
            outcome_user,
            outcome_request,
            result,
            error,
            cleanup_errors,
            duration,
            transaction,
        )

    if transaction == "committed" and entered.returned and exception is None:
        # The timeout fired while COMMIT was in flight: the commit landed, so the
        # request is done, and saying otherwise would invite a duplicate retry.
        return outcome("ok", entered.result)
    if abandoned or timed_out:
        error = TimeoutError(f"the request did not finish within {limit}s")
        error.__cause__ = exception
        return outcome("abandoned" if abandoned else "timeout", error=error)
    if child.cancelled():
        return outcome("cancelled", error=asyncio.CancelledError())
    if exception is not None:
        return outcome("error", error=exception)
    return outcome("ok", child.result())


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
    if not pending:
        return []
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
                services=job.services,
            )

    loop = asyncio.get_running_loop()
    workers = {loop.create_task(worker()) for _ in range(min(concurrency, len(pending)))}
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
