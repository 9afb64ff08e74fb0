"""Where a worker's time goes: a process-global accumulator of named phases.

    from .timing import phase

    with phase("parse"):
        module = cst.parse_module(text)

Each phase adds its wall time (`time.perf_counter`) to a per-process total.
A phase entered inside another counts only once: the outer phase keeps its
own time, without the inner one's, so the totals of one file add up to at
most the time spent on it. The runner calls `reset()` before each file and
`snapshot()` after it, and sums the files' snapshots into `Stats.worker`.

The phase names the runner reports (`PHASES`) are fixed; any other name is
accumulated too and shown after them. The cost is two `perf_counter` calls
and a few dictionary operations per phase, so phases belong around a file's
big steps, never inside a per-node loop.
"""

from __future__ import annotations

from time import perf_counter
from types import TracebackType

# In pipeline order: what `check --timings` lists, even when a phase never ran.
PHASES = ("read", "prefilter", "parse", "analyse", "findings")

_totals: dict[str, float] = {}
_stack: list[_Phase] = []


class _Phase:
    __slots__ = ("inner", "name", "start")

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = 0.0
        self.inner = 0.0  # time spent in phases nested inside this one

    def __enter__(self) -> _Phase:
        self.inner = 0.0
        _stack.append(self)
        self.start = perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        elapsed = perf_counter() - self.start
        if _stack and _stack[-1] is self:
            _stack.pop()
        if _stack:
            _stack[-1].inner += elapsed
        _totals[self.name] = _totals.get(self.name, 0.0) + elapsed - self.inner


def phase(name: str) -> _Phase:
    """A context manager that adds the time spent in its block to `name`."""
    return _Phase(name)


def snapshot() -> dict[str, float]:
    """The totals so far, by phase name (seconds)."""
    return dict(_totals)


def reset() -> None:
    _totals.clear()
    _stack.clear()


def add(into: dict[str, float], totals: dict[str, float]) -> None:
    """Sum one snapshot into another (the runner's per-run totals)."""
    for name, seconds in totals.items():
        into[name] = into.get(name, 0.0) + seconds
