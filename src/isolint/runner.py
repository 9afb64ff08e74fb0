"""Running a check or a fix over the files on disk.

discover -> project index (indexing.py) -> the pipeline over the discovered
files (pipeline.py: cache by stat, workers that read, prefilter, parse once
and visit) -> per-file-ignores -> deterministic order. A fix computes every
file's fixes in workers (fixing.py), verifies them as a whole, writes, and
re-lints what it changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache, content_hash, stat_signature
from .config import RUNTIME_MODULE, Settings
from .discovery import Discovery, SourceFile, discover
from .findings import SAFE, UNSAFE, Finding
from .ignores import PerFileIgnores
from .index import Fact, ProjectIndex, index_source, module_key, module_of
from .indexing import build_index, index_root, indexers_for, project_files, relative
from .pipeline import Stats, Unit, check_source
from .plan import Plan, check_bytes, unparsable
from .source import SourceError, StaleFileError, decode, read_bytes, write_atomic

if TYPE_CHECKING:
    from .progress import TargetFormTotals
    from .transaction import ComputedFix, Refusal
    from .verify import ContractChange


@dataclass
class CheckResult:
    findings: list[Finding]
    stats: Stats
    warnings: list[str]
    files: list[SourceFile]
    plan: Plan
    # With a plan's `edits_for` (a fix's check): shown path -> (content hash,
    # findings before per-file-ignores) of each file the check read.
    lints: dict[str, tuple[str, list[Finding]]] = field(default_factory=dict)
    # With `edits_for` too: every file of the project the paths are in
    # (indexing.project_files), where the verification gate looks for callers.
    project_files: list[SourceFile] = field(default_factory=list)


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


# --- check ------------------------------------------------------------------


class DiscoveredFiles:
    """The filesystem as a pipeline source: the files discovery found, checked under one plan."""

    def __init__(self, files: Sequence[SourceFile], plan_id: str) -> None:
        self.files = files
        self.plan_id = plan_id

    def units(self) -> Iterator[Unit]:
        for index, file in enumerate(self.files):
            yield Unit(index, str(file.path), self.plan_id, file.real_path, signature=stat_signature(file.real_path))


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
    target_forms: TargetFormTotals | None = None,
    build_edits: bool = True,
    edits_for: frozenset[str] = frozenset(),
) -> CheckResult:
    """Check `paths`. With `target_forms` attached (reports), the same parse
    also counts each file's target-form sites, and the run adds them to it.
    Without `build_edits`, fixes carry no edits (what a check prints needs
    none), except those of the applicabilities in `edits_for`: a fix's check
    lints each file as its fixes' first lint would (`CheckResult.lints`)."""
    stats = Stats()
    found = _discover(paths, settings, force_exclude, stats)
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
    if cache.warning:
        found.warnings.append(cache.warning)
    start = time.perf_counter()
    parses: set[str] = set()
    # Discovered once for the index and the verification gate of a fix alike.
    everything = project_files(paths, found.files, settings) if edits_for else None
    project = build_index(paths, found, settings, cache, jobs=jobs, stats=stats, parses=parses, project=everything)
    stats.timings["index"] = time.perf_counter() - start
    plan = Plan.from_settings(
        settings,
        project,
        count_progress=target_forms is not None,
        build_edits=build_edits,
        parses=frozenset(parses),
        edits_for=edits_for,
    )
    lints: dict[str, tuple[str, list[Finding]]] = {}
    findings = _unreadable_findings(found)
    findings += _check_files(
        found.files, plan, cache, jobs=jobs, stats=stats, target_forms=target_forms, lints=lints if edits_for else None
    )
    findings.sort(key=lambda f: f.sort_key)
    return CheckResult(findings, stats, found.warnings, found.files, plan, lints, everything or [])


def _check_files(
    files: Sequence[SourceFile],
    plan: Plan,
    cache: Cache,
    *,
    jobs: int,
    stats: Stats,
    target_forms: TargetFormTotals | None = None,
    lints: dict[str, tuple[str, list[Finding]]] | None = None,
) -> list[Finding]:
    """The findings of `files` after per-file-ignores, in no particular order;
    the cache saved. Each file's own, with its content hash, go into `lints`
    when it was read."""
    plan_id = plan.index_fingerprint
    ignores = PerFileIgnores(plan.settings)
    findings: list[Finding] = []
    for unit, result in check_source(DiscoveredFiles(files, plan_id), {plan_id: plan}, cache, jobs=jobs, stats=stats):
        findings += ignores.filter(files[unit.index].real_path, result.findings)
        if lints is not None and result.digest is not None:
            lints[unit.shown] = (result.digest, result.findings)
        if target_forms is not None:
            target_forms.add(unit.shown, result.counts)
    cache.save()
    return findings


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
    # The fix machinery (and the verifier, and LibCST's edits) is imported by a fix alone.
    from .fixing import CheckedLint, FixState, Unfixed, compute_fixes, project_reader, unchanged_models, vocabulary
    from .transaction import carried_over, mark_refused, settle

    checked = run_check(
        paths,
        settings,
        jobs=jobs,
        use_cache=use_cache,
        force_exclude=force_exclude,
        build_edits=build_edits,
        edits_for=frozenset({SAFE, UNSAFE} if unsafe else {SAFE}),
    )
    files = checked.files
    # A symlink out of the given paths is checked, never written (discovery warned).
    read_only = {str(f.path) for f in files if not f.writable} if mode == "write" else set()
    fixable_paths = {
        f.path
        for f in checked.findings
        if f.fix is not None and (unsafe or f.fix.applicability == SAFE) and f.path not in read_only
    }
    by_shown = {str(f.path): f for f in files}
    plan = checked.plan
    ignores = PerFileIgnores(settings)
    state = FixState(plan, unsafe, ignores)
    unfixed: dict[str, Unfixed] = {}
    computed: dict[str, ComputedFix] = {}  # settle() updates it as it refuses

    def compute(
        refused: Mapping[str, frozenset[str]], checked_lints: Mapping[str, CheckedLint] | None = None
    ) -> dict[str, ComputedFix]:
        fixes = compute_fixes(files, refused, state, jobs, earlier=computed, checked=checked_lints)
        unfixed.update(fixes.unfixed)
        return fixes.computed

    start = time.perf_counter()
    lints = {
        shown: CheckedLint(digest, tuple(findings))
        for shown, (digest, findings) in checked.lints.items()
        if shown in fixable_paths
    }
    computed.update(compute({shown: frozenset() for shown in sorted(fixable_paths)}, lints))
    checked.stats.timings["fix"] = time.perf_counter() - start
    start = time.perf_counter()
    with_fallback = frozenset(rule.code for rule, _ in plan.rules if rule.fallback is not None)
    refusals, contracts = settle(
        computed,
        compute,
        # Callers and readers outside the given paths count too (a pre-commit run names a few files).
        project_reader(checked.project_files, computed),
        vocabulary(settings),
        with_fallback,
        unchanged_models(jobs),
    )
    checked.stats.timings["verify"] = time.perf_counter() - start

    fixed_files = []
    after: list[Finding] = [f for f in checked.findings if f.path not in fixable_paths]
    for shown, failed in sorted(unfixed.items()):
        after.extend(failed.findings)
        if failed.error is not None:
            fixed_files.append(FileFix(shown, 0, error=failed.error))
    texts: dict[str, tuple[str, str]] = {}
    written: list[SourceFile] = []  # the files a write was attempted on, whether it succeeded or not
    for shown, fix in sorted(computed.items()):
        result = FileFix(shown, fix.applied if fix.changed else 0, error=fix.error)
        findings = list(fix.findings)
        if fix.changed:
            texts[shown] = (fix.source.text, fix.text)
            if mode == "diff":
                from .fixes import unified_diff

                result.diff = unified_diff(shown, fix.source.text, fix.text)
            elif mode == "write":
                written.append(by_shown[shown])
                try:
                    write_atomic(by_shown[shown].real_path, fix.source.encode(fix.text), expected=fix.raw)
                except (StaleFileError, OSError) as exc:
                    result.error, result.applied = str(exc), 0
                    del texts[shown]
                    findings = check_bytes(
                        fix.raw, shown, plan, module_name=fix.module, is_package=fix.is_package
                    ).findings
        after.extend(ignores.filter(by_shown[shown].real_path, findings))
        if result.applied or result.error:
            fixed_files.append(result)
    checked_paths = [f.real_path for f in files]
    if mode == "write" and texts:
        # What the fixes wrote changes other files' findings only through the
        # project index (a singleton removed, a signature rewritten): unless
        # the written files' facts changed, they alone are linted again. If
        # they did, every file is checked against the new index, and the
        # cache answers each whose relevant facts (its result key) did not change.
        start = time.perf_counter()
        relinted = _relint_written(paths, written, plan, settings, jobs=jobs, use_cache=use_cache)
        if relinted is None:
            again = run_check(
                paths, settings, jobs=jobs, use_cache=use_cache, force_exclude=force_exclude, build_edits=build_edits
            )
            after = again.findings
            checked_paths = [f.real_path for f in again.files]
        else:
            relinted_paths = {str(f.path) for f in written}
            after = [f for f in checked.findings if f.path not in relinted_paths] + relinted
        checked.stats.timings["recheck"] = time.perf_counter() - start
    remaining = mark_refused(after, refusals)

    def fixed(finding: Finding) -> bool:
        fix = computed.get(finding.path)
        eligible = finding.fix is not None and (unsafe or finding.fix.applicability == SAFE)
        return eligible and finding.path in texts and fix is not None and finding.code in fix.codes

    remaining += carried_over(checked.findings, remaining, texts, fixed)
    remaining.sort(key=lambda f: f.sort_key)
    fixed_files.sort(key=lambda f: f.path)
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


def _relint_written(
    paths: Sequence[Path], written: Sequence[SourceFile], plan: Plan, settings: Settings, *, jobs: int, use_cache: bool
) -> list[Finding] | None:
    """The findings of the files the fixes wrote, linted again, when what they
    tell the project index is what they told it before: no other file's
    findings can have changed then. None when their facts changed, and the
    other files need checking against the new index."""
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)  # as the check saved it
    if plan.uses_index and _facts_changed(paths, written, plan, settings, cache):
        cache.save()  # the written files' facts, which the check against the new index reads
        return None
    # As a plain check lints: nothing is fixed after this.
    return _check_files(written, replace(plan, edits_for=frozenset()), cache, jobs=jobs, stats=Stats())


def _facts_changed(
    paths: Sequence[Path], written: Sequence[SourceFile], plan: Plan, settings: Settings, cache: Cache
) -> bool:
    """Whether the project index, with the written files indexed again, differs from `plan`'s.
    Their new facts go to the cache, so the next run's index does not read them again."""
    root = index_root(paths, settings)
    indexers = indexers_for(settings)
    indexed_as: set[str] = set()  # the written files' paths, as the index records them
    facts: list[Fact] = []
    for file in written:
        path = relative(file.real_path, root)
        indexed_as.add(path)
        try:
            raw = read_bytes(file.real_path)
        except SourceError:
            return True  # gone or unreadable since the write: only a whole check tells what that changes
        module = module_of(file.real_path)
        found = index_source(raw, path, module[0], indexers, settings, is_package=module[1])
        cache.store_facts(
            file.real_path,
            stat_signature(file.real_path),
            content_hash(raw),
            module_key(module),
            [f.to_json() for f in found],
        )
        facts += found
    unchanged = [fact for fact in plan.project.facts if fact.path not in indexed_as]
    return plan.for_project(ProjectIndex([*unchanged, *facts])).project.fingerprint != plan.project.fingerprint


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
