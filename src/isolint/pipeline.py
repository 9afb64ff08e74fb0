"""One pipeline for every run over many files, whatever their source.

A `Source` (the files discovery found on disk, or the blobs of git commits'
trees) lists its files as `Unit`s. Each unit the cache cannot answer by its
stat goes to a worker, through typed stages:

    Unit -> read (`Read`) -> prefilter and key (`Keyed`, or a cache hit)
         -> parse and analyse (`plan.check_bytes`) -> `FileResult`

and the driver stores each result in the cache and hands it back with its
unit. What the caller makes of the results (per-file-ignores, ordering,
per-commit totals) is its own.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from . import timing
from .cache import Cache, content_hash
from .findings import Finding
from .index import module_key, module_of
from .plan import Plan, check_bytes, unparsable
from .source import SourceError, read_bytes
from .workers import installed, parallel_map, with_progress_bar, workers_for

SLOWEST_FILES = 5
WORKER_CRASHED = "the parser crashed on this file (its worker process died); it was not checked"


@dataclass
class Stats:
    files: int = 0
    cached: int = 0
    prefiltered: int = 0  # read, but no rule's prefilter matched: never parsed
    parsed: int = 0
    unreadable: int = 0  # could not be read (reported as ISO000)
    indexed: int = 0  # parsed by the project-index pass
    index_cached: int = 0  # index facts from the cache, by stat or by content
    timings: dict[str, float] = field(default_factory=dict)  # driver phases, wall seconds
    # Worker phases (timing.PHASES, and any other phase name used), seconds summed over the worker processes.
    worker: dict[str, float] = field(default_factory=dict)
    worker_total: float = 0.0  # seconds the workers spent on files, in all (phases and the rest)
    workers: int = 1  # processes that checked files (1: inline)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # (seconds, shown path), slowest first


@dataclass(frozen=True)
class Unit:
    """One file of a source, as a worker receives it."""

    index: int  # the source's own numbering of its files
    shown: str  # the path findings carry
    plan: str  # which of the run's plans checks it, by index fingerprint
    origin: Path | bytes  # a file on disk, which the worker reads, or the bytes the source read (a git blob)
    signature: tuple[int, int] | None = None  # a file's (mtime_ns, size) when listed: for the cache's stat lookup
    key: str | None = None  # its result key, when the source computed it (history's line-free keys)
    # (dotted module name, is a package's __init__) when the source knows it
    # (a git tree's packages); else found from the directories on disk, and
    # only for a file that gets parsed: a cache hit never needs it.
    module: tuple[str, bool] | None = None

    @property
    def real(self) -> Path | None:
        """The file on disk, if the unit is one."""
        return self.origin if isinstance(self.origin, Path) else None

    def find_module(self) -> tuple[str, bool]:
        if self.module is not None:
            return self.module
        if not isinstance(self.origin, Path):
            raise ValueError(f"{self.shown}: a unit read by its source needs its module from the source")
        return module_of(self.origin)

    @property
    def size(self) -> int:
        if isinstance(self.origin, bytes):
            return len(self.origin)
        return self.signature[1] if self.signature else 0


class Source(Protocol):
    """Where a run's files come from."""

    def units(self) -> Iterable[Unit]: ...


@dataclass(frozen=True)
class FileResult:
    """What checking one unit gave."""

    digest: str | None  # content hash; None when not read (unreadable, or answered by its stat)
    key: str | None  # result key: the content, plus the index facts it can depend on
    findings: list[Finding]  # before per-file-ignores
    parsed: bool = False  # whether some prefilter let the file through to the parser
    counts: dict[str, int] | None = None  # report mode: target-form sites per family (progress.py)
    from_cache: bool = False  # answered by the cache: the findings (and counts) are the cached ones
    phases: dict[str, float] = field(default_factory=dict)  # worker seconds per phase
    seconds: float = 0.0  # worker seconds on the file, in all, without importing LibCST

    @property
    def prefiltered(self) -> bool:
        """Read, but passed by every prefilter: never parsed."""
        return self.digest is not None and not self.parsed and not self.from_cache


@dataclass(frozen=True)
class Read:
    unit: Unit
    raw: bytes
    digest: str


@dataclass(frozen=True)
class Keyed:
    read: Read
    plan: Plan
    key: str | None  # None: results are not cached in this run


@dataclass(frozen=True)
class CheckState:
    """A check worker's per-process state."""

    plans: Mapping[str, Plan]  # by index fingerprint: history's workers hold every commit's plan
    known: frozenset[str]  # result keys the cache holds: a worker that computes one stops there
    # Whether results are cached: a key scans the file for indexed names and
    # digests the facts they lead to, worth it only for a cache to hold.
    keyed: bool = True


# --- the stages, in a worker --------------------------------------------------


def read_unit(unit: Unit) -> Read | FileResult:
    try:
        with timing.phase("read"):
            raw = unit.origin if isinstance(unit.origin, bytes) else read_bytes(unit.origin)
            return Read(unit, raw, content_hash(raw))
    except SourceError as exc:
        return FileResult(None, None, [unparsable(unit.shown, str(exc))])


def key_unit(read: Read, state: CheckState) -> Keyed | FileResult:
    """The result key; a result the cache holds already is not computed again."""
    unit = read.unit
    plan = state.plans[unit.plan]
    key = unit.key
    if key is None and not state.keyed:
        return Keyed(read, plan, None)
    if key is None:
        with timing.phase("prefilter"):  # the key scans the bytes for indexed names
            path = unit.real.as_posix() if unit.real else unit.shown
            key = plan.result_key(read.digest, read.raw, path, module_key(unit.find_module()))
    if key in state.known:
        return FileResult(read.digest, key, [], from_cache=True)
    return Keyed(read, plan, key)


def analyse(keyed: Keyed) -> FileResult:
    """Prefilter, parse once and run every rule (plan.check_bytes)."""
    read, unit = keyed.read, keyed.read.unit
    module, is_package = unit.find_module()
    checked = check_bytes(
        read.raw, unit.shown, keyed.plan, module_name=module, is_package=is_package, digest=read.digest
    )
    return FileResult(read.digest, keyed.key, checked.findings, checked.parsed, checked.counts)


def check_unit(unit: Unit, state: CheckState) -> FileResult:
    """A unit through the stages; each may end it early (unreadable, or cached)."""
    read = read_unit(unit)
    if isinstance(read, FileResult):
        return read
    keyed = key_unit(read, state)
    if isinstance(keyed, FileResult):
        return keyed
    return analyse(keyed)


def _check_worker(unit: Unit) -> FileResult:
    timing.reset()
    start = time.perf_counter()
    result = check_unit(unit, installed(CheckState))
    phases = timing.snapshot()
    # The file's own time: importing LibCST (the first parsed file of an inline run) is not the file's doing.
    return replace(result, phases=phases, seconds=time.perf_counter() - start - phases.get("import", 0.0))


def _check_crashed(unit: Unit) -> FileResult:
    return FileResult(None, None, [unparsable(unit.shown, WORKER_CRASHED)])


# --- the driver -----------------------------------------------------------------


def check_source(
    source: Source, plans: Mapping[str, Plan], cache: Cache, *, jobs: int, stats: Stats
) -> Iterator[tuple[Unit, FileResult]]:
    """Every unit of `source` with its result: from the cache by stat where it
    can, else from `jobs` worker processes (largest files first), each result
    stored in the cache. Units come back in no particular order."""
    with_counts = any(plan.progress is not None for plan in plans.values())
    with_edits = any(plan.build_edits for plan in plans.values())
    start = time.perf_counter()
    todo = []
    for unit in source.units():
        cached = _by_stat(unit, cache, with_counts=with_counts, with_edits=with_edits)
        if cached is not None:
            stats.cached += 1
            yield unit, cached
        else:
            todo.append(unit)
    # Largest first, so no worker is left with a run of big files at the end.
    todo.sort(key=lambda unit: -unit.size)
    stats.timings["cache"] = time.perf_counter() - start

    start = time.perf_counter()
    stats.workers = workers_for(jobs, len(todo))
    if stats.workers > 1:
        from . import engine  # noqa: F401  - once, before forking, so that the workers inherit it

        for plan in plans.values():
            plan.compile()  # once, not once per worker
        if any(plan.parses_with_libcst for plan in plans.values()):
            import libcst  # noqa: F401  - likewise, when some file's check will parse with it
    state = CheckState(plans, cache.known_keys(with_counts=with_counts, with_edits=with_edits), cache.enabled)
    results = parallel_map(_check_worker, todo, jobs, state, _check_crashed)
    slowest: list[tuple[float, int, str]] = []  # a min-heap of the SLOWEST_FILES slowest
    for unit, result in zip(todo, with_progress_bar(results, [u.size for u in todo], "Checking"), strict=True):
        _account(stats, unit, result, slowest)
        if result.from_cache and result.key is not None:
            result = replace(
                result,
                findings=cache.results_for(result.key, unit.shown) or [],
                counts=cache.counts.get(result.key) if with_counts else None,
            )
        if result.digest is not None and result.key is not None:
            module = module_key(unit.find_module())
            cache.store(unit.real, result.digest, result.key, unit.plan, module, result.findings, result.counts)
        yield unit, result
    stats.slowest = [(seconds, shown) for seconds, _, shown in sorted(slowest, reverse=True)]
    stats.timings["check"] = time.perf_counter() - start


def _by_stat(unit: Unit, cache: Cache, *, with_counts: bool, with_edits: bool) -> FileResult | None:
    """The cached result of a file on disk whose stat has not changed, without reading it."""
    if unit.real is None:
        return None
    module = module_key(unit.find_module())
    key = cache.lookup_by_stat(
        unit.real, unit.signature, unit.plan, module, with_counts=with_counts, with_edits=with_edits
    )
    findings = cache.results_for(key, unit.shown) if key else None
    if key is None or findings is None:
        return None
    return FileResult(None, key, findings, counts=cache.counts[key] if with_counts else None, from_cache=True)


def _account(stats: Stats, unit: Unit, result: FileResult, slowest: list[tuple[float, int, str]]) -> None:
    timing.add(stats.worker, result.phases)
    stats.worker_total += result.seconds + result.phases.get("import", 0.0)
    heapq.heappush(slowest, (result.seconds, -unit.index, unit.shown))
    if len(slowest) > SLOWEST_FILES:
        heapq.heappop(slowest)
    if result.from_cache:
        stats.cached += 1
    else:
        stats.parsed += result.parsed
        stats.prefiltered += result.prefiltered
        stats.unreadable += result.digest is None
