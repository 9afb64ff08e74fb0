"""Mapping a function over items in worker processes, each holding one typed state.

A worker's per-process state (a plan, the result keys already known, ...)
is one object, installed once per process and read back by the worker
function with the type it expects, so no worker looks anything up by a
string. The process pool itself (pool.py) is imported only when a run forks:
with everything cached, none starts.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TextIO, TypeVar

import click

INLINE_LIMIT = 24  # below this many items to work on, forking workers costs more than it saves
PROGRESS_MIN_FILES = 200

State = TypeVar("State")
Item = TypeVar("Item")
Result = TypeVar("Result")

_installed: object = None  # this process's worker state


def collect_garbage_less_often() -> None:
    """A run holds many objects until it ends (the cache's entries, the
    index, findings), and each file's tree and model sit in reference
    cycles that only the collector frees. With the default thresholds
    (700, 10, 10) it walks the long-lived objects again and again. With
    these, measured on the dense corpora: a cold check of 3M lines 103 -> 76
    s, a warm check of 1M lines about 10% faster, for about 25 MB more peak
    memory at 3M lines (cyclic garbage waits a little longer)."""
    gc.set_threshold(10_000, 10, 10)


def install(state: object) -> None:
    global _installed
    _installed = state


def _install_in_worker(state: object) -> None:
    collect_garbage_less_often()  # a spawned worker does not inherit its parent's thresholds
    install(state)


def installed(kind: type[State]) -> State:
    """This process's worker state, as `parallel_map` installed it; `kind` is the type the worker expects."""
    if not isinstance(_installed, kind):
        raise RuntimeError(f"no {kind.__name__} installed in this process (found {type(_installed).__name__})")
    return _installed


def workers_for(jobs: int, items: int) -> int:
    """How many processes `parallel_map` uses: 1 means inline, in this process."""
    return 1 if jobs <= 1 or items < INLINE_LIMIT else jobs


def parallel_map(
    fn: Callable[[Item], Result],
    items: Sequence[Item],
    jobs: int,
    state: object,
    on_crash: Callable[[Item], Result],
) -> Iterator[Result]:
    """`map(fn, items)` in `jobs` forked processes holding `state`, in order;
    inline when it would not pay. A worker that dies on an item costs that
    item only (`on_crash(item)` stands in for its result), never the run."""
    if workers_for(jobs, len(items)) == 1:
        install(state)
        yield from map(fn, items)
        return
    from .pool import resilient_map

    chunksize = max(1, min(16, len(items) // (jobs * 32)))
    yield from resilient_map(fn, items, jobs, chunksize, _install_in_worker, (state,), on_crash)


def with_progress_bar(
    items: Iterable[Result], sizes: Sequence[int], label: str, stream: TextIO | None = None
) -> Iterator[Result]:
    """`items` (one per file, in the order of `sizes`, the files' byte sizes),
    with a progress bar on a terminal. The bar advances by bytes, not files:
    files differ in size by orders of magnitude, and the biggest go first, so
    counting files made the first ETA absurd."""
    stream = stream or sys.stderr
    if len(sizes) <= PROGRESS_MIN_FILES or not stream.isatty():
        yield from items
        return
    with click.progressbar(
        length=max(1, sum(sizes)), label=f"{label} {len(sizes):,} files", file=stream, show_pos=False
    ) as bar:
        for item, size in zip(items, sizes, strict=True):
            yield item
            bar.update(size)
