"""Worker processes that survive a worker dying on one file.

LibCST's parser is native code: an input that overflows its stack kills the
process (SIGSEGV), and `ProcessPoolExecutor` then fails every pending item
with `BrokenProcessPool`. Here each worker records which item it is working
on; when the pool breaks, the results already computed are kept, the items
that were in flight are run again one at a time in a fresh process each (the
one that crashes alone is the culprit, and costs only itself), and the rest
go to a new pool.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any

IDLE = -1


class WorkerCrashError(Exception):
    """A worker process died on an item and the caller has no result for that."""


_tracker: dict[str, Any] = {}


def _init_tracked(in_flight: Any, counter: Any, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    with counter.get_lock():
        _tracker["slot"] = counter.value % len(in_flight)
        counter.value += 1
    _tracker["in_flight"] = in_flight
    initializer(*initargs)


def _run_chunk(fn: Callable[[Any], Any], chunk: Sequence[tuple[int, Any]]) -> list[Any]:
    in_flight, slot = _tracker["in_flight"], _tracker["slot"]
    results = []
    for position, item in chunk:
        in_flight[slot] = position
        results.append(fn(item))
    in_flight[slot] = IDLE
    return results


def resilient_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    jobs: int,
    chunksize: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    on_crash: Callable[[Any], Any] | None,
) -> Iterator[Any]:
    """`map(fn, items)` in `jobs` processes, in order. An item whose worker
    dies even when run alone yields `on_crash(item)`; without `on_crash`,
    that raises WorkerCrashError."""
    context = _context()
    results: dict[int, Any] = {}
    pending = list(range(len(items)))
    emitted = 0
    while pending:
        # Without a lock: each slot has one writer, its worker, and the
        # driver reads the table only once the pool broke. When the pool
        # breaks, the executor terminates the other workers wherever they are:
        # one killed while it held a lock would leave the driver waiting on
        # it forever.
        in_flight = context.Array("q", [IDLE] * jobs, lock=False)
        counter = context.Value("i", 0)
        chunks = [pending[start : start + chunksize] for start in range(0, len(pending), chunksize)]
        futures: list[tuple[list[int], Future[list[Any]]]] = []
        # What the driver holds now is never the workers' garbage: frozen,
        # their collections do not walk it, nor copy its pages on write
        # (the gc module's advice for fork without exec).
        gc.freeze()
        try:
            with ProcessPoolExecutor(
                max_workers=jobs,
                mp_context=context,
                initializer=_init_tracked,
                initargs=(in_flight, counter, initializer, initargs),
            ) as pool:
                runner = functools.partial(_run_chunk, fn)
                futures = [(chunk, pool.submit(runner, [(p, items[p]) for p in chunk])) for chunk in chunks]
                for chunk, future in futures:
                    results.update(zip(chunk, future.result(), strict=True))
                    while emitted in results:
                        yield results.pop(emitted)
                        emitted += 1
            pending = []
        except BrokenProcessPool:
            for chunk, future in futures:  # keep every chunk that finished before the crash
                if future.done() and not future.cancelled() and future.exception() is None:
                    results.update(zip(chunk, future.result(), strict=True))
            done = set(results) | set(range(emitted))
            suspects = sorted({p for p in in_flight[:] if p != IDLE and p not in done})
            if not suspects:  # died outside any item (the initializer): nothing to isolate
                suspects = [p for p in pending if p not in done]
            for position in suspects:
                results[position] = _run_alone(fn, items[position], context, initializer, initargs, on_crash)
            pending = [p for p in pending if p not in results and p >= emitted]
        finally:
            gc.unfreeze()
        while emitted in results:
            yield results.pop(emitted)
            emitted += 1


def _run_alone(
    fn: Callable[[Any], Any],
    item: Any,
    context: BaseContext,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    on_crash: Callable[[Any], Any] | None,
) -> Any:
    in_flight = context.Array("q", [IDLE], lock=False)
    counter = context.Value("i", 0)
    try:
        with ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_init_tracked,
            initargs=(in_flight, counter, initializer, initargs),
        ) as pool:
            return pool.submit(functools.partial(_run_chunk, fn), [(0, item)]).result()[0]
    except BrokenProcessPool:
        if on_crash is None:
            raise WorkerCrashError(f"a worker process died while working on {item!r}") from None
        return on_crash(item)


def _context() -> BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)
