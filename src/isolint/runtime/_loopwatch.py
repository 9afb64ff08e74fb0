"""Measure how long each step of a handler holds the event loop."""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .factory import AgentInstanceFactory

__all__ = ["watch_loop_blocking"]

T = TypeVar("T")


@types.coroutine
def _timed_steps(coroutine: Coroutine[Any, Any, T], threshold: float, on_block: Any) -> Generator[Any, Any, T]:
    """Drive ``coroutine`` step by step, reporting steps longer than ``threshold``.

    Between two awaits a coroutine holds the loop alone; a step longer than the
    threshold (``time.sleep``, a blocking client, a long computation) delays every
    other request. What the coroutine awaits passes through untouched, and
    cancellation is thrown into it as usual.
    """
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        start = perf_counter()
        try:
            awaited = coroutine.send(to_send) if to_throw is None else coroutine.throw(to_throw)
        except StopIteration as stop:
            result: T = stop.value  # what the coroutine returned: its declared T
            return result
        finally:
            if perf_counter() - start >= threshold:
                on_block()
        to_send, to_throw = None, None
        try:
            to_send = yield awaited
        except GeneratorExit:
            coroutine.close()
            raise
        except BaseException as exc:  # thrown into the coroutine, as a Task would
            to_throw = exc


async def watch_loop_blocking(coroutine: Coroutine[Any, Any, T], factory: AgentInstanceFactory) -> T:
    """Await ``coroutine``, counting in the factory's metrics each step that blocked the loop."""
    name = getattr(coroutine, "__qualname__", type(coroutine).__name__)
    metrics = factory._metrics
    return await _timed_steps(
        coroutine,
        factory.loop_block_threshold,
        lambda: metrics.record_loop_block(name),
    )
