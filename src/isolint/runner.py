"""Running a check or a fix over many files: cache, processes, ordering.

discover -> project index (workers: read, hash, stdlib-ast facts) -> cache by
stat -> (workers: read, prefilter, parse once, visit) -> per-file-ignores ->
deterministic order.
"""

from __future__ import annotations

import heapq
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click
import pathspec

from . import timing
from .cache import Cache, content_hash, stat_signature
from .config import Settings, matches_any
from .discovery import Discovery, SourceFile, discover
from .findings import SAFE, Finding
from .index import EMPTY, Fact, NameMatcher, ProjectIndex, index_file, module_name_for
from .plan import Plan, check_bytes, unparsable
from .source import SourceError, StaleFileError, decode, located, read_bytes, resolved, write_atomic
from .transaction import FALLBACK, fallback_marker
from .verify import ModuleSource, Vocabulary

if TYPE_CHECKING:
    from .rules.base import Rule
    from .transaction import ComputedFix, Refusal
    from .verify import ContractChange

INLINE_LIMIT = 24  # below this many files to work on, forking workers costs more than it saves
PROGRESS_MIN_FILES = 200
SLOWEST_FILES = 5


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


@dataclass
class CheckResult:
    findings: list[Finding]
    stats: Stats
    warnings: list[str]
    files: list[SourceFile]
    plan: Plan
    # Report mode only: shown path -> target-form counts per family (progress.py)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class FileFix:
    path: str
    applied: int
    diff: str = ""
    error: str | None = None


@dataclass
class FixResult:
    findings: list[Finding]  # what remains after fixing
    fixed_files: list[FileFix]
    stats: Stats
    warnings: list[str]
    refusals: list[Refusal] = field(default_factory=list)  # fix groups the verification gate refused
    contracts: list[ContractChange] = field(default_factory=list)  # signatures changed, with their call sites
    # Files the fixes make import isolint.runtime, in a project that does not declare isolint.
    undeclared_runtime: list[str] = field(default_factory=list)
    checked_paths: list[Path] = field(default_factory=list)  # real paths of the files checked, for baselines

    @property
    def applied(self) -> int:
        return sum(f.applied for f in self.fixed_files)


class _PerFileIgnores:
    """`per-file-ignores`, plus `[legacy-state] allow-in`, which is one for ISO4."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.root
        patterns = [*settings.per_file_ignores, *((p, ("ISO4",)) for p in settings.legacy_state["allow-in"])]
        self.rules = [(pathspec.GitIgnoreSpec.from_lines([pattern]), selectors) for pattern, selectors in patterns]

    def filter(self, real_path: Path, findings: list[Finding]) -> list[Finding]:
        if not self.rules or not findings:
            return findings
        try:
            rel = real_path.relative_to(self.root).as_posix()
        except ValueError:
            rel = real_path.as_posix().lstrip("/")
        ignored = [selectors for spec, selectors in self.rules if spec.match_file(rel)]
        if not ignored:
            return findings
        return [f for f in findings if f.code == "ISO000" or not any(matches_any(s, f.code) for s in ignored)]


# --- workers ----------------------------------------------------------------

_worker_state: dict[str, Any] = {}


def _init_worker(plan: Plan, known_digests: frozenset[str]) -> None:
    _worker_state["plan"] = plan
    _worker_state["known"] = known_digests


def _module_of(real: Path) -> tuple[str, bool]:
    return module_name_for(real), real.name == "__init__.py"


CheckedFile = tuple[
    int, "str | None", "str | None", "list[Finding] | None", bool, "dict[str, int] | None", "dict[str, float]", float
]


def _check_worker(item: tuple[int, str, str]) -> CheckedFile:
    """(index, content hash, result key, findings or None when the key is cached,
    parsed?, target-form counts in report mode, seconds per phase, seconds in all)."""
    timing.reset()
    start = time.perf_counter()
    checked = _check_one(item)
    phases = timing.snapshot()
    # The file's own time: importing LibCST (the first parsed file of an inline run) is not the file's doing.
    return (*checked, phases, time.perf_counter() - start - phases.get("import", 0.0))


def _check_one(
    item: tuple[int, str, str],
) -> tuple[int, str | None, str | None, list[Finding] | None, bool, dict[str, int] | None]:
    index, shown, real = item
    plan: Plan = _worker_state["plan"]
    try:
        with timing.phase("read"):
            raw = read_bytes(Path(real))
            digest = content_hash(raw)
    except SourceError as exc:
        return index, None, None, [unparsable(shown, str(exc))], False, None
    with timing.phase("prefilter"):  # the cache key scans the bytes for indexed names
        key = plan.result_key(digest, raw, Path(real).as_posix())
    if key in _worker_state["known"]:
        return index, digest, key, None, False, None
    module_name, is_package = _module_of(Path(real))
    return (index, digest, key, *check_counted(raw, shown, plan, module_name, is_package))


def check_counted(
    raw: bytes, shown: str, plan: Plan, module_name: str, is_package: bool
) -> tuple[list[Finding], bool, dict[str, int] | None]:
    """check_bytes, plus the target-form counts when the plan is in report mode."""
    counts: dict[str, int] | None = {} if plan.progress is not None else None
    findings, parsed = check_bytes(raw, shown, plan, module_name=module_name, is_package=is_package, counts=counts)
    return findings, parsed, counts


FixJob = tuple[int, str, str, bool, frozenset[str]]  # (index, shown path, real path, unsafe?, refused codes)


# (index, the file's fixes computed but not written, or None when it cannot be
# read, the findings for a file that could not be fixed, and why not).
FixedFile = tuple[int, "ComputedFix | None", list[Finding], "str | None"]


def _fix_worker(item: FixJob) -> FixedFile:
    index, shown, real, unsafe, refused = item
    from .engine import fix_text
    from .transaction import ComputedFix

    plan: Plan = _worker_state["plan"]
    fixing = plan
    if refused:
        fixing = replace(plan, rules=tuple(_refusing(plan.rules, refused)))
    path = Path(real)
    try:
        raw = read_bytes(path)
        source = decode(raw)
    except SourceError as exc:
        return index, None, [unparsable(shown, str(exc))], None
    module_name, is_package = _module_of(path)
    outcome = fix_text(source, shown, fixing, unsafe=unsafe, module_name=module_name, is_package=is_package)
    findings = outcome.findings
    if (
        refused
    ):  # the refused rules' findings remain: lint the result with every rule (a fallback says why it fixed nothing)
        linting = replace(
            plan, rules=tuple(_refusing(plan.rules, frozenset(c for c in refused if c.endswith(FALLBACK))))
        )
        findings, _ = check_bytes(
            source.encode(outcome.text), shown, linting, module_name=module_name, is_package=is_package
        )
    error = None if outcome.converged else "fixes did not settle; left what parsed and stopped"
    computed = ComputedFix(
        shown,
        module_name,
        is_package,
        raw,
        source,
        outcome.text,
        outcome.applied,
        outcome.codes,
        tuple(findings),
        error,
    )
    return index, computed, [], None


def _refusing(rules: Iterable[tuple[type[Rule], Any]], refused: frozenset[str]) -> Iterator[tuple[type[Rule], Any]]:
    """`rules` without the refused ones, and with their fallbacks where those run instead."""
    for rule, prefilter in rules:
        if rule.code in refused:
            continue
        if rule.fallback is not None and fallback_marker(rule.code) in refused:
            rule = rule.fallback
        yield rule, prefilter


def _workers(jobs: int, items: int) -> int:
    """How many processes `_pool_map` uses: 1 means inline, in this process."""
    return 1 if jobs <= 1 or items < INLINE_LIMIT else jobs


def _pool_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    jobs: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    on_crash: Callable[[Any], Any] | None = None,
) -> Iterator[Any]:
    """`map(fn, items)` in `jobs` forked processes, in order; inline when it
    would not pay. A worker that dies on an item costs that item only
    (`on_crash(item)` stands in for its result), never the run."""
    if _workers(jobs, len(items)) == 1:
        initializer(*initargs)
        yield from map(fn, items)
        return
    from .pool import resilient_map  # with everything cached no pool starts: keep the import off that path

    chunksize = max(1, min(16, len(items) // (jobs * 32)))
    yield from resilient_map(fn, items, jobs, chunksize, initializer, initargs, on_crash)


def _map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    plan: Plan,
    known: frozenset[str],
    jobs: int,
    on_crash: Callable[[Any], Any] | None = None,
) -> Iterator[Any]:
    if _workers(jobs, len(items)) > 1:
        from . import engine  # noqa: F401  - import LibCST once, before forking, so workers inherit it
    yield from _pool_map(fn, items, jobs, _init_worker, (plan, known), on_crash)


WORKER_CRASHED = "the parser crashed on this file (its worker process died); it was not checked"


def _check_crashed(item: tuple[int, str, str]) -> CheckedFile:
    index, shown, _ = item
    return index, None, None, [unparsable(shown, WORKER_CRASHED)], False, None, {}, 0.0


def _fix_crashed(item: FixJob) -> FixedFile:
    index, shown = item[0], item[1]
    return index, None, [unparsable(shown, WORKER_CRASHED)], "not fixed: its worker process died"


def _index_crashed(item: tuple[int, str, str, str]) -> tuple[int, str | None, list[list[Any]] | None, bool]:
    return item[0], None, None, False  # the check pass reports the file


def _progress(items: Iterable[Any], sizes: Sequence[int], label: str, stream: TextIO | None = None) -> Iterator[Any]:
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


# --- check ------------------------------------------------------------------


def _discover(paths: Sequence[Path], settings: Settings, force_exclude: bool, stats: Stats) -> Discovery:
    start = time.perf_counter()
    found = discover(paths, settings, force_exclude=force_exclude)
    stats.files = len(found.files)
    stats.timings["discover"] = time.perf_counter() - start
    return found


def _unreadable_findings(found: Discovery) -> list[Finding]:
    return [unparsable(str(directory), f"directory skipped: {reason}") for directory, reason in found.unreadable]


def run_check(
    paths: Sequence[Path],
    settings: Settings,
    *,
    jobs: int,
    use_cache: bool = True,
    force_exclude: bool = False,
    count_progress: bool = False,
    build_edits: bool = True,
) -> CheckResult:
    """Check `paths`. `count_progress` (reports) also counts target-form sites
    per file in the same parse, into `CheckResult.counts`. Without
    `build_edits`, fixes carry no edits (what a check prints needs none)."""
    stats = Stats()
    found = _discover(paths, settings, force_exclude, stats)
    return _check(
        found,
        settings,
        stats,
        jobs=jobs,
        use_cache=use_cache,
        paths=paths,
        count_progress=count_progress,
        build_edits=build_edits,
    )


def _check(
    found: Discovery,
    settings: Settings,
    stats: Stats,
    *,
    jobs: int,
    use_cache: bool,
    paths: Sequence[Path] = (),
    count_progress: bool = False,
    build_edits: bool = True,
) -> CheckResult:
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
    if cache.warning:
        found.warnings.append(cache.warning)
    start = time.perf_counter()
    project = build_index(paths, found, settings, cache, jobs=jobs, stats=stats)
    stats.timings["index"] = time.perf_counter() - start
    plan = Plan.from_settings(settings, project, count_progress=count_progress, build_edits=build_edits)
    index_fingerprint = plan.project.fingerprint if plan.uses_index else ""
    ignores = _PerFileIgnores(settings)

    start = time.perf_counter()
    per_file: dict[int, list[Finding]] = {}
    counts: dict[str, dict[str, int]] = {}
    todo: list[tuple[int, str, str]] = []
    sizes: dict[int, int] = {}
    for index, source_file in enumerate(found.files):
        signature = stat_signature(source_file.real_path)
        key = cache.lookup_by_stat(
            source_file.real_path, signature, index_fingerprint, with_counts=count_progress, with_edits=build_edits
        )
        cached = cache.results_for(key, str(source_file.path)) if key else None
        if cached is not None:
            per_file[index] = cached
            if count_progress and key is not None and cache.counts[key]:
                counts[str(source_file.path)] = cache.counts[key]
            stats.cached += 1
        else:
            todo.append((index, str(source_file.path), str(source_file.real_path)))
            sizes[index] = signature[1] if signature else 0
    # Largest first, so no worker is left with a run of big files at the end.
    todo.sort(key=lambda item: -sizes[item[0]])
    stats.timings["cache"] = time.perf_counter() - start

    start = time.perf_counter()
    stats.workers = _workers(jobs, len(todo))
    slowest: list[tuple[float, int]] = []  # a min-heap of the SLOWEST_FILES slowest
    results = _map(
        _check_worker,
        todo,
        plan,
        cache.known_keys(with_counts=count_progress, with_edits=build_edits),
        jobs,
        _check_crashed,
    )
    for index, digest, key, findings, parsed, file_counts, phases, seconds in _progress(
        results, [sizes[i] for i, _, _ in todo], "Checking"
    ):
        source_file = found.files[index]
        timing.add(stats.worker, phases)
        stats.worker_total += seconds + phases.get("import", 0.0)
        heapq.heappush(slowest, (seconds, -index))
        if len(slowest) > SLOWEST_FILES:
            heapq.heappop(slowest)
        if findings is None:  # content unchanged since it was cached
            findings = cache.results_for(key, str(source_file.path)) or []
            file_counts = cache.counts.get(key or "") if count_progress else None
            stats.cached += 1
        else:
            stats.parsed += parsed
            stats.prefiltered += not parsed and digest is not None
            stats.unreadable += digest is None
        if digest is not None and key is not None:
            cache.store(source_file.real_path, digest, key, index_fingerprint, findings, file_counts)
        if file_counts:
            counts[str(source_file.path)] = file_counts
        per_file[index] = findings
    stats.slowest = [(seconds, str(found.files[-negated].path)) for seconds, negated in sorted(slowest, reverse=True)]
    stats.timings["check"] = time.perf_counter() - start

    cache.save()
    findings = _unreadable_findings(found)
    for index, source_file in enumerate(found.files):
        findings.extend(ignores.filter(source_file.real_path, per_file.get(index, [])))
    findings.sort(key=lambda f: f.sort_key)
    return CheckResult(findings, stats, found.warnings, found.files, plan, counts)


# --- the project index --------------------------------------------------------


def index_root(paths: Sequence[Path], settings: Settings) -> Path:
    """The project the index covers: the configuration's directory, else the
    enclosing git repository, else the paths' common ancestor."""
    if settings.config_file is not None:
        return settings.root
    resolved_paths = [located(p) if not p.is_dir() else resolved(p) for p in paths] or [Path.cwd().resolve()]
    common = Path(os.path.commonpath([str(p) for p in resolved_paths]))
    start = common if common.is_dir() else common.parent
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def indexers_for(settings: Settings) -> list[tuple[Any, Any]]:
    """(rule, compiled index prefilter) of every indexing rule, when an enabled rule reads the index."""
    if not any(rule.reads_facts for rule in settings.enabled_rules()):
        return []
    from .rules import ALL_RULES

    return [
        (rule, prefilter) for rule in ALL_RULES if (prefilter := rule.compile_index_prefilter(settings)) is not None
    ]


def build_index(
    paths: Sequence[Path],
    found: Discovery,
    settings: Settings,
    cache: Cache,
    *,
    jobs: int = 1,
    stats: Stats | None = None,
) -> ProjectIndex:
    """Facts from every file of the project, not only the checked ones: a
    pre-commit run over ten files still knows about singletons elsewhere.

    The cache is read and written here; the files it does not cover are read,
    hashed and indexed by `jobs` worker processes (stdlib `ast` only: they
    never import LibCST)."""
    indexers = indexers_for(settings)
    if not indexers:
        return EMPTY
    stats = stats if stats is not None else Stats()
    root = index_root(paths, settings)
    # The usual run names the project itself: its discovery is the one already done.
    same_tree = [resolved(Path(p)) for p in paths] == [root]
    files = {f.real_path: f for f in (found.files if same_tree else discover([root], settings).files)}
    files.update({f.real_path: f for f in found.files})
    ordered = sorted(files)
    facts_of: list[list[list[Any]] | None] = [None] * len(ordered)
    signatures: list[tuple[int, int] | None] = [None] * len(ordered)
    todo: list[tuple[int, str, str, str]] = []  # (position, real path, shown path, module)
    for position, real_path in enumerate(ordered):
        signature = signatures[position] = stat_signature(real_path)
        cached = cache.facts_by_stat(real_path, signature)
        if cached is not None:
            facts_of[position] = cached
            stats.index_cached += 1
        else:
            todo.append((position, str(real_path), _relative(real_path, root), module_name_for(real_path)))
    if todo:
        # Largest first, so no worker is left with a run of big files at the end.
        todo.sort(key=lambda item: -(signatures[item[0]] or (0, 0))[1])
        known = frozenset(cache.facts)  # "content hash:real path", as Cache.facts_for looks them up
        indexed = _pool_map(_index_worker, todo, jobs, _init_index_worker, (indexers, settings, known), _index_crashed)
        for position, digest, facts, parsed in _progress(
            indexed, [(signatures[item[0]] or (0, 0))[1] for item in todo], "Indexing"
        ):
            if digest is None:  # unreadable: the check pass reports it
                continue
            real_path = ordered[position]
            if facts is None:  # touched, but its content was indexed before
                facts = cache.facts_for(digest, real_path) or []
                stats.index_cached += 1
            stats.indexed += parsed
            cache.store_facts(real_path, signatures[position], digest, facts)
            facts_of[position] = facts
    return ProjectIndex(Fact.from_json(raw_fact) for cached in facts_of if cached for raw_fact in cached)


def _init_index_worker(indexers: list[tuple[Any, Any]], settings: Settings, known: frozenset[str]) -> None:
    _worker_state["indexers"] = indexers
    _worker_state["index_settings"] = settings
    _worker_state["known_facts"] = known


def _index_worker(item: tuple[int, str, str, str]) -> tuple[int, str | None, list[list[Any]] | None, bool]:
    """(position, content hash or None if unreadable, facts as JSON or None
    when the cache has this content's facts, parsed?)."""
    position, real, shown, module = item
    try:
        raw = read_bytes(Path(real))
    except SourceError:
        return position, None, None, False
    digest = content_hash(raw)
    if f"{digest}:{real}" in _worker_state["known_facts"]:
        return position, digest, None, False
    facts, parsed = index_file(raw, shown, module, _worker_state["indexers"], _worker_state["index_settings"])
    return position, digest, [fact.to_json() for fact in facts], parsed


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# --- fix --------------------------------------------------------------------


def run_fix(
    paths: Sequence[Path],
    settings: Settings,
    *,
    jobs: int,
    unsafe: bool,
    mode: str = "write",  # "write", "diff" (print, write nothing) or "check" (report, write nothing)
    use_cache: bool = True,
    force_exclude: bool = False,
    build_edits: bool = True,
) -> FixResult:
    """Compute every file's fixes, verify the project as a whole and refuse the
    groups that would break it (transaction.py), then write, diff or count.
    The fixes applied are always built; `build_edits` is for the findings
    that remain, whose edits only some output formats show."""
    from .transaction import carried_over, mark_refused, settle

    checked = run_check(
        paths, settings, jobs=jobs, use_cache=use_cache, force_exclude=force_exclude, build_edits=build_edits
    )
    files = checked.files
    # A symlink out of the given paths is checked, never written (discovery warned).
    read_only = {str(f.path) for f in files if not f.writable} if mode == "write" else set()
    fixable_paths = {
        f.path
        for f in checked.findings
        if f.fix is not None and (unsafe or f.fix.applicability == SAFE) and f.path not in read_only
    }
    by_shown = {str(f.path): index for index, f in enumerate(files)}
    plan = checked.plan
    ignores = _PerFileIgnores(settings)

    def compute(refused: Mapping[str, frozenset[str]]) -> dict[str, ComputedFix]:
        work = [
            (by_shown[shown], shown, str(files[by_shown[shown]].real_path), unsafe, codes)
            for shown, codes in refused.items()
        ]
        done: dict[str, ComputedFix] = {}
        sizes = [(stat_signature(files[item[0]].real_path) or (0, 0))[1] for item in work]
        for index, computed, unfixed, error in _progress(
            _map(_fix_worker, work, plan, frozenset(), jobs, _fix_crashed), sizes, "Fixing"
        ):
            if computed is None:
                failed[str(files[index].path)] = (unfixed, error)
            else:
                done[computed.path] = computed
        return done

    failed: dict[str, tuple[list[Finding], str | None]] = {}
    start = time.perf_counter()
    computed = compute({shown: frozenset() for shown in sorted(fixable_paths)})
    checked.stats.timings["fix"] = time.perf_counter() - start
    start = time.perf_counter()
    with_fallback = frozenset(rule.code for rule, _ in plan.rules if rule.fallback is not None)
    refusals, contracts = settle(
        computed, compute, _project_reader(files, computed), _vocabulary(settings), with_fallback
    )
    checked.stats.timings["verify"] = time.perf_counter() - start

    fixed_files = []
    after: list[Finding] = [f for f in checked.findings if f.path not in fixable_paths]
    for shown, (unfixed, error) in sorted(failed.items()):
        after.extend(unfixed)
        if error is not None:
            fixed_files.append(FileFix(shown, 0, error=error))
    texts: dict[str, tuple[str, str]] = {}
    for shown, fix in sorted(computed.items()):
        result = FileFix(shown, fix.applied if fix.changed else 0, error=fix.error)
        findings = list(fix.findings)
        if fix.changed:
            texts[shown] = (fix.source.text, fix.text)
            if mode == "diff":
                from .fixes import unified_diff

                result.diff = unified_diff(shown, fix.source.text, fix.text)
            elif mode == "write":
                try:
                    write_atomic(files[by_shown[shown]].real_path, fix.source.encode(fix.text), expected=fix.raw)
                except (StaleFileError, OSError) as exc:
                    result.error, result.applied = str(exc), 0
                    del texts[shown]
                    findings, _ = check_bytes(fix.raw, shown, plan, module_name=fix.module, is_package=fix.is_package)
        after.extend(ignores.filter(files[by_shown[shown]].real_path, findings))
        if result.applied or result.error:
            fixed_files.append(result)
    rechecked: CheckResult | None = None
    if mode == "write" and texts:
        # What the fixes wrote can change other files' findings (a singleton
        # removed, a signature rewritten), so what remains comes from a check
        # against the new project index; unchanged files are cache hits.
        start = time.perf_counter()
        rechecked = run_check(
            paths, settings, jobs=jobs, use_cache=use_cache, force_exclude=force_exclude, build_edits=build_edits
        )
        checked.stats.timings["recheck"] = time.perf_counter() - start
        after = rechecked.findings
    remaining = mark_refused(after, refusals)

    def fixed(finding: Finding) -> bool:
        fix = computed.get(finding.path)
        eligible = finding.fix is not None and (unsafe or finding.fix.applicability == SAFE)
        return eligible and finding.path in texts and fix is not None and finding.code in fix.codes

    remaining += carried_over(checked.findings, remaining, texts, fixed)
    remaining.sort(key=lambda f: f.sort_key)
    fixed_files.sort(key=lambda f: f.path)
    checked_paths = [f.real_path for f in (rechecked.files if rechecked is not None else files)]
    importers = sorted(
        shown for shown, (old, new) in texts.items() if RUNTIME_MODULE in new and RUNTIME_MODULE not in old
    )
    return FixResult(
        remaining,
        fixed_files,
        checked.stats,
        checked.warnings,
        refusals=refusals,
        contracts=contracts,
        checked_paths=checked_paths,
        undeclared_runtime=importers if importers and not declares_isolint(settings.root) else [],
    )


RUNTIME_MODULE = "isolint.runtime"
# Where a project declares what it depends on.
DEPENDENCY_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "Pipfile", "environment.yml")


def declares_isolint(root: Path) -> bool:
    """Whether the project at `root` names isolint among its dependency files."""
    candidates = (
        [root / name for name in DEPENDENCY_FILES]
        + sorted(root.glob("requirements*.txt"))
        + sorted(root.glob("requirements/*.txt"))
    )
    for path in candidates:
        try:
            if path.is_file() and re.search(
                r"(?<![\w.-])isolint(?![\w-])", path.read_text(encoding="utf-8", errors="replace")
            ):
                return True
        except OSError:
            continue
    return False


def _vocabulary(settings: Settings) -> Vocabulary:
    from .rules import BY_CODE

    attribute_rule = BY_CODE["ISO404"]
    defaults = {option.name: option.default for option in attribute_rule.options}
    options = {**defaults, **settings.options_for(attribute_rule)}
    return Vocabulary(
        settings.context_name,
        frozenset(settings.legacy_state["classes"]),
        frozenset(settings.context_params),
        frozenset({*options["context-fields"], *options["context-methods"]}),
    )


def _project_reader(
    files: Sequence[SourceFile], computed: Mapping[str, ComputedFix]
) -> Callable[[frozenset[str], frozenset[str]], Iterator[ModuleSource]]:
    """The verifier's view of the files the fixes did not change: those whose
    text mentions one of `names`, or defines a function or class named in `definitions`."""

    texts: dict[str, ModuleSource | None] = {}  # read once for all the rounds of the gate
    raws: dict[str, bytes | None] = {}

    def read(names: frozenset[str], definitions: frozenset[str]) -> Iterator[ModuleSource]:
        matcher = NameMatcher(names)
        defined = b"|".join(re.escape(n.encode()) for n in sorted(definitions))
        defines = re.compile(rb"\b(?:def|class)\s+(?:" + defined + rb")\s*[(:]") if definitions else None
        for file in files:
            shown = str(file.path)
            fix = computed.get(shown)
            if fix is not None and fix.changed:
                continue
            if shown not in raws:
                try:
                    raws[shown] = read_bytes(file.real_path)
                except SourceError:
                    raws[shown] = None
            raw = raws[shown]
            if raw is None or not (matcher.found(raw) or (defines is not None and defines.search(raw))):
                continue
            if shown not in texts:
                try:
                    module, is_package = _module_of(file.real_path)
                    texts[shown] = ModuleSource(shown, module, is_package, decode(raw).text)
                except SourceError:
                    texts[shown] = None
            source = texts[shown]
            if source is not None:
                yield source

    return read


def add_ignores(
    paths: Sequence[Path], settings: Settings, *, jobs: int, force_exclude: bool
) -> tuple[int, list[Finding], list[str]]:
    """Stamp a suppression on every current finding. Returns (lines stamped, findings left, warnings)."""
    from .suppressions import HYGIENE_CODES
    from .suppressions import add_ignores as stamp

    checked = run_check(paths, settings, jobs=jobs, use_cache=False, force_exclude=force_exclude, build_edits=False)
    by_path: dict[str, list[Finding]] = {}
    # Unparsable files cannot take a comment; a suppression's own hygiene
    # finding is never stamped over (`fix` removes an unused one).
    unstampable = ("ISO000", *HYGIENE_CODES)
    for finding in checked.findings:
        if finding.code not in unstampable:
            by_path.setdefault(finding.path, []).append(finding)
    real_paths = {str(f.path): f.real_path for f in checked.files if f.writable}
    stamped, left, warnings = 0, [f for f in checked.findings if f.code in unstampable], list(checked.warnings)
    for shown, findings in sorted(by_path.items()):
        path = real_paths.get(shown)
        if path is None:  # a symlink out of the given paths: never written
            left.extend(findings)
            continue
        try:
            raw = read_bytes(path)
            source = decode(raw)
        except SourceError as exc:  # changed into something unreadable since the check
            warnings.append(f"{shown}: {exc}; not written")
            left.extend(findings)
            continue
        text, count, skipped = stamp(source.text, findings)
        left.extend(skipped)
        if count:
            try:
                write_atomic(path, source.encode(text), expected=raw)
                stamped += count
            except (StaleFileError, OSError) as exc:
                warnings.append(str(exc))
                left.extend(findings)
    return stamped, sorted(left, key=lambda f: f.sort_key), warnings
