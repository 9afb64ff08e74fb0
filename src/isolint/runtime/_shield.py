"""Run a cleanup to completion even while the caller is being cancelled."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from .errors import CleanupTimeoutError

__all__ = [
    "ShieldedResult",
    "call_maybe_async",
    "run_shielded",
    "wait_absorbing_cancel",
]

# After a timed-out cleanup is cancelled, how long it may take to unwind before it is
# abandoned (capped by the cleanup's own timeout).
_UNWIND_GRACE = 1.0


async def call_maybe_async(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` and await its result if it is awaitable (sync and async cleanups alike)."""
    result = fn()
    if inspect.isawaitable(result):
        result = await result
    return result


@dataclass(frozen=True, slots=True)
class ShieldedResult:
    """How a shielded call ended.

    ``error`` is the call's exception (a :class:`CleanupTimeoutError` if it overran);
    ``caller_cancelled`` tells whether the caller was cancelled while waiting, in which
    case the caller must re-raise ``CancelledError`` once it has finished its own work.
    ``fatal`` is a ``KeyboardInterrupt``, ``SystemExit`` or stray ``CancelledError``
    the call raised: the caller finishes its other work, then re-raises it.
    ``still_running`` is True when the call overran and ignored its cancellation: it
    was abandoned while still using whatever it was working on.
    """

    error: Exception | None
    caller_cancelled: bool
    timed_out: bool
    fatal: BaseException | None = None
    still_running: bool = False


def _consume(task: asyncio.Future[Any]) -> None:
    # An abandoned task's outcome is reported elsewhere; retrieving it here keeps
    # asyncio from logging "exception was never retrieved".
    if not task.cancelled():
        task.exception()


async def wait_absorbing_cancel(tasks: AbstractSet[asyncio.Future[Any]], deadline: float | None) -> bool:
    """Wait until ``tasks`` are done or ``deadline`` (loop time) passes.

    Cancellation of the caller does not interrupt the wait; it is reported through the
    return value (True if the caller was cancelled) so the caller can re-raise it.
    """
    loop = asyncio.get_running_loop()
    cancelled = False
    pending = {task for task in tasks if not task.done()}
    while pending:
        timeout = None if deadline is None else deadline - loop.time()
        if timeout is not None and timeout <= 0:
            break
        try:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


async def run_shielded(fn: Callable[[], Any], *, timeout: float | None, label: str) -> ShieldedResult:
    """Run ``fn`` to completion even if the caller is cancelled meanwhile.

    A synchronous ``fn`` just runs. If it returns an awaitable, that runs in its own
    task, so cancelling the caller cannot interrupt it.

    The call is bounded by ``timeout`` seconds: past it, the task is cancelled, given
    a short grace to unwind, then abandoned, and a :class:`CleanupTimeoutError`
    naming ``label`` is returned. Exceptions, BaseExceptions included, are returned,
    never raised, so one bad cleanup cannot skip the cleanups after it.
    """
    try:
        result = fn()
    except Exception as exc:  # returned to the caller, never lost
        return ShieldedResult(exc, False, False)
    except BaseException as exc:  # re-raised by the caller once it is done
        return ShieldedResult(None, False, False, fatal=exc)
    if not inspect.isawaitable(result):
        return ShieldedResult(None, False, False)  # synchronous: nothing could interrupt it
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(result)
    deadline = None if timeout is None else loop.time() + timeout
    caller_cancelled = await wait_absorbing_cancel({task}, deadline)
    if not task.done():
        task.cancel()
        grace = _UNWIND_GRACE if timeout is None else min(timeout, _UNWIND_GRACE)
        caller_cancelled |= await wait_absorbing_cancel({task}, loop.time() + grace)
        still_running = not task.done()
        if still_running:
            task.add_done_callback(_consume)
        else:
            _consume(task)
        return ShieldedResult(
            CleanupTimeoutError(f"{label} did not finish within {timeout}s and was cancelled"),
            caller_cancelled,
            True,
            still_running=still_running,
        )
    if task.cancelled():
        # The cleanup cancelled itself (or was cancelled by someone holding its task).
        return ShieldedResult(
            RuntimeError(f"{label} was cancelled before it finished"),
            caller_cancelled,
            False,
        )
    error = task.exception()
    if error is not None and not isinstance(error, Exception):
        # KeyboardInterrupt / SystemExit: not ours to contain, but only re-raised
        # once the caller has run its other cleanups.
        return ShieldedResult(None, caller_cancelled, False, fatal=error)
    return ShieldedResult(error, caller_cancelled, False)
