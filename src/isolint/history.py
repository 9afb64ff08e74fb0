"""`isolint report --history`: the report's totals for each commit, from git.

Nothing is checked out. Each sampled commit's tree is listed with
`git ls-tree`, its Python blobs are read through one `git cat-file --batch`
process, and each distinct blob is checked once: blobs are content-addressed,
so a file unchanged across commits costs nothing after the first, and the
results cache remembers blob -> result key so a repeated run reads no blob
it has seen before. The blobs that remain are checked in worker processes
like a normal run: the same pipeline (pipeline.py), over a source of blobs.

Cross-file rules see each commit's own project index (built from that
commit's blobs), so their findings are what a checkout would report. A blob
is checked again under another commit's index only when a fact it depends on
changed in substance (_Mentions): the commits before HEAD show totals, which
line numbers never decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec

from .cache import Cache, content_hash
from .config import ConfigError, Settings
from .findings import Finding
from .git import Commit, list_commits, read_blobs, repository_root, tree_files
from .ignores import PerFileIgnores
from .index import Fact, NameMatcher, ProjectIndex, digest_of, index_source, module_key
from .indexing import Indexer, IndexState, indexers_for
from .pipeline import Stats, Unit, check_source
from .plan import Plan
from .progress import add_counts
from .report import model
from .workers import installed, parallel_map


@dataclass
class CommitResult:
    commit: Commit
    findings: list[Finding]
    paths: list[str]  # the Python files of the commit that were checked
    counts: dict[str, int]
    project: ProjectIndex


@dataclass
class History:
    root: Path
    results: list[CommitResult] = field(default_factory=list)  # oldest first
    blobs_read: int = 0
    blobs_checked: int = 0

    def rows(self, enabled: Sequence[Any]) -> list[dict[str, Any]]:
        return [model.commit_row(r.commit.to_json(), r.findings, len(r.paths), r.counts, enabled) for r in self.results]


# --- selecting files like discovery would ------------------------------------------


class _Selection:
    """Which tree paths a checkout run over PATHS would check (exclude patterns and PATHS)."""

    def __init__(self, root: Path, paths: Sequence[Path], settings: Settings) -> None:
        self.root = root
        self.settings_root = settings.root
        self.exclude = pathspec.GitIgnoreSpec.from_lines([*settings.exclude, *settings.extend_exclude])
        prefixes = []
        for given in paths:
            resolved = Path(given).resolve()
            try:
                prefixes.append(resolved.relative_to(root).as_posix())
            except ValueError:
                raise ConfigError(f"--history: {given} is outside the repository at {root}") from None
        self.prefixes = [p for p in prefixes if p != "."]
        self.whole = not self.prefixes or len(self.prefixes) < len(prefixes)
        self._indexed: dict[str, bool] = {}  # most paths recur in every commit

    def __call__(self, path: str) -> bool:
        if not self.whole and not any(path == p or path.startswith(p + "/") for p in self.prefixes):
            return False
        return self.indexed(path)

    def indexed(self, path: str) -> bool:
        """Part of the project (the index covers it even outside PATHS)."""
        known = self._indexed.get(path)
        if known is None:
            known = self._indexed[path] = self._not_excluded(path)
        return known

    def _not_excluded(self, path: str) -> bool:
        try:
            relative = (self.root / path).relative_to(self.settings_root).as_posix()
        except ValueError:
            relative = path
        return not self.exclude.match_file(relative)


def module_names(paths: Sequence[str]) -> dict[str, tuple[str, bool]]:
    """path -> (dotted module name, is a package's __init__) from the tree's own packages."""
    packages = {str(PurePosixPath(p).parent) for p in paths if PurePosixPath(p).name == "__init__.py"}
    names = {}
    for path in paths:
        pure = PurePosixPath(path)
        parts: list[str] = []
        directory = pure.parent
        while str(directory) in packages and str(directory) != ".":
            parts.insert(0, directory.name)
            directory = directory.parent
        is_package = pure.stem == "__init__"
        names[path] = (".".join(parts if is_package else [*parts, pure.stem]), is_package)
    return names


# --- the walk -----------------------------------------------------------------

# A blob at a path under a commit's plan: (blob id, path, the plan's index fingerprint, exact key?).
# (blob, path, plan's index fingerprint, exact key, module key): a blob's result depends on each.
_Pair = tuple[str, str, str, bool, str]
_Results = dict[str, tuple[list[Finding], dict[str, int]]]  # result key -> (findings, target-form counts)


def run_history(
    paths: Sequence[Path],
    settings: Settings,
    *,
    commits: int | None,
    since: str | None,
    every: int,
    jobs: int,
    use_cache: bool = True,
) -> History:
    root = repository_root(Path(paths[0]) if paths else Path.cwd())
    selected = list_commits(root, commits=commits, since=since, every=every)
    if not selected:
        raise ConfigError("--history: no commits to report on")
    walk = _Walk(root, selected, _Selection(root, paths or [root], settings), settings, use_cache)
    commit_plan = walk.plans(jobs)
    # A plan's index fingerprint digests all its facts: computed once per commit, not per file.
    fingerprint_of = {sha: plan.index_fingerprint for sha, plan in commit_plan.items()}
    plans = {fingerprint_of[sha]: plan for sha, plan in commit_plan.items()}
    pairs = walk.pairs(fingerprint_of)
    keys = walk.result_keys(pairs, plans)
    results = walk.check(pairs, keys, plans, fingerprint_of[walk.head], jobs)
    walk.history.results = walk.commit_results(commit_plan, fingerprint_of, keys, results)
    return walk.history


class _Walk:
    """One `report --history` run: the sampled commits' trees, the blobs read so far, the cache."""

    def __init__(
        self, root: Path, selected: list[Commit], wanted: _Selection, settings: Settings, use_cache: bool
    ) -> None:
        self.root = root
        self.selected = selected
        self.head = selected[-1].sha
        self.settings = settings
        # Each commit's project (what the index covers) and, within it, the files PATHS select.
        self.project_trees = {
            c.sha: [(path, blob) for path, blob in tree_files(root, c.sha) if wanted.indexed(path)] for c in selected
        }
        self.trees = {
            sha: [(path, blob) for path, blob in tree if wanted(path)] for sha, tree in self.project_trees.items()
        }
        self.modules = _tree_modules(self.project_trees)
        self.cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
        self.contents: dict[str, bytes] = {}  # blob id -> bytes, of the blobs read so far
        self.history = History(root)

    def read(self, blobs: set[str]) -> None:
        missing = sorted(blobs - self.contents.keys())
        self.history.blobs_read += len(missing)
        self.contents.update(read_blobs(self.root, missing))

    def plans(self, jobs: int) -> dict[str, Plan]:
        """Each commit's plan (by sha), with the project index of its own blobs."""
        indexers = indexers_for(self.settings)
        facts_of = self._facts(indexers, jobs) if indexers else {}
        by_shape: dict[str, Plan] = {}  # line-free digest -> a plan: prefilters never read lines
        by_fingerprint: dict[str, Plan] = {}
        commit_plan = {}
        for commit in self.selected:
            modules = self.modules[commit.sha]
            project = ProjectIndex(
                fact
                for path, blob in self.project_trees[commit.sha]
                for fact in facts_of.get(_BlobAtPath(blob, path, modules[path][0]), ())
            )
            shape = digest_of(project.facts, with_lines=False)
            plan = (
                by_shape[shape].for_project(project)
                if shape in by_shape
                else Plan.from_settings(self.settings, project, count_progress=True, build_edits=False)
            )
            by_shape.setdefault(shape, plan)
            commit_plan[commit.sha] = by_fingerprint.setdefault(plan.index_fingerprint, plan)
        return commit_plan

    def _facts(self, indexers: list[Indexer], jobs: int) -> dict[_BlobAtPath, list[Fact]]:
        """The facts of each blob at each path (and module) of the commits'
        projects: from the cache, else indexed in `jobs` worker processes."""
        facts_of: dict[_BlobAtPath, list[Fact]] = {}
        unindexed: dict[_BlobAtPath, None] = {}  # in the order first met
        for commit in self.selected:
            for path, blob in self.project_trees[commit.sha]:
                at = _BlobAtPath(blob, path, self.modules[commit.sha][path][0])
                if at in facts_of or at in unindexed:
                    continue
                cached = self.cache.facts_of_blob(at.blob, at.path, at.module)
                if cached is None:
                    unindexed[at] = None
                else:
                    facts_of[at] = [Fact.from_json(raw) for raw in cached]
        self.read({at.blob for at in unindexed})
        work = [_BlobIndexJob(at, self.contents[at.blob]) for at in unindexed]
        indexed = parallel_map(_blob_index_worker, work, jobs, IndexState(indexers, self.settings), _blob_index_crashed)
        for job, facts in zip(work, indexed, strict=True):
            facts_of[job.at] = [Fact.from_json(raw) for raw in facts]
            self.cache.store_blob_facts(job.at.blob, job.at.path, job.at.module, facts)
        return facts_of

    def pairs(self, fingerprint_of: dict[str, str]) -> dict[_Pair, str]:
        """Each blob at each path under each commit's plan, with the last commit
        that has it (whose packages name its module).

        HEAD, whose findings the report shows, needs exact keys; the commits
        before it show totals only, so their keys leave lines out (see
        _Mentions). HEAD's blobs get both: its exact results serve its
        line-free keys too, so a blob unchanged up to HEAD is checked once."""
        pairs: dict[_Pair, str] = {
            self.pair(c.sha, blob, path, fingerprint_of, exact=False): c.sha
            for c in self.selected
            for path, blob in self.trees[c.sha]
        }
        pairs.update(
            {
                self.pair(self.head, blob, path, fingerprint_of, exact=True): self.head
                for path, blob in self.trees[self.head]
            }
        )
        return pairs

    def pair(self, sha: str, blob: str, path: str, fingerprint_of: dict[str, str], *, exact: bool) -> _Pair:
        """The pair of a blob at a path of commit `sha`'s tree."""
        return (blob, path, fingerprint_of[sha], exact, module_key(self.modules[sha][path]))

    def result_keys(self, pairs: dict[_Pair, str], plans: dict[str, Plan]) -> dict[_Pair, str]:
        """Each pair's result key: remembered by the cache, else from the blob's bytes."""
        keys: dict[_Pair, str] = {}
        for pair in pairs:
            key = self.cache.blob_key(pair[0], _memo_scope(pair))
            if key is not None and key in self.cache.counts:
                keys[pair] = key
        unknown = pairs.keys() - keys.keys()
        self.read({pair[0] for pair in unknown})
        mentioned = _Mentions(plans.values())
        digests: dict[str, str] = {}
        for pair in unknown:
            blob, path, fp, exact, module = pair
            digest = digests.get(blob) or digests.setdefault(blob, content_hash(self.contents[blob]))
            keys[pair] = mentioned.result_key(plans[fp], blob, digest, self.contents[blob], path, module, exact=exact)
        return keys

    def check(
        self, pairs: dict[_Pair, str], keys: dict[_Pair, str], plans: dict[str, Plan], head: str, jobs: int
    ) -> _Results:
        """The results the cache does not hold, each key checked once, in one
        pool for every commit's blobs (the workers hold all the plans, usually
        one per commit); what the cache needs to skip them next time, saved."""
        known = self.cache.known_keys(with_counts=True)
        same_as: dict[str, str] = {}  # a HEAD blob's line-free key -> its exact key
        for path, blob in self.trees[self.head]:
            module = module_key(self.modules[self.head][path])
            same_as.setdefault(keys[(blob, path, head, False, module)], keys[(blob, path, head, True, module)])
        source = _BlobsToCheck(pairs, keys, self.contents, self.modules, known, same_as)
        results: _Results = {}
        for unit, result in check_source(source, plans, self.cache, jobs=jobs, stats=Stats()):
            assert unit.key is not None  # a blob's result key is known before its check
            self.history.blobs_checked += 1
            results[unit.key] = (result.findings, result.counts or {})
        self.contents.clear()
        for loose, exact_key in same_as.items():
            if loose not in results and loose not in known:
                if exact_key in results:
                    results[loose] = results[exact_key]
                self.cache.copy_results(exact_key, loose)
        for pair, key in keys.items():
            self.cache.store_blob(pair[0], _memo_scope(pair), key)  # keeps this window's blobs, and only those
        self.cache.save()
        return results

    def commit_results(
        self, commit_plan: dict[str, Plan], fingerprint_of: dict[str, str], keys: dict[_Pair, str], results: _Results
    ) -> list[CommitResult]:
        """Each commit's findings (after per-file-ignores) and target-form totals, oldest first."""
        ignores = PerFileIgnores(self.settings)
        shown: dict[tuple[str, str], tuple[list[Finding], dict[str, int]]] = {}  # most files recur in every commit
        commit_results = []
        for commit in self.selected:
            plan = commit_plan[commit.sha]
            exact = commit.sha == self.head
            findings: list[Finding] = []
            totals: dict[str, int] = {}
            for path, blob in self.trees[commit.sha]:
                key = keys[self.pair(commit.sha, blob, path, fingerprint_of, exact=exact)]
                if (key, path) not in shown:
                    found, counts = results.get(key) or (
                        self.cache.results_for(key, path) or [],
                        self.cache.counts.get(key, {}),
                    )
                    shown[(key, path)] = (
                        ignores.filter(self.root / path, [f.with_path(path) for f in found]) if found else [],
                        counts,
                    )
                found, counts = shown[(key, path)]
                findings.extend(found)
                add_counts(totals, counts)
            findings.sort(key=lambda f: f.sort_key)
            paths = [path for path, _ in self.trees[commit.sha]]
            commit_results.append(CommitResult(commit, findings, paths, totals, plan.project))
        return commit_results


def _memo_scope(pair: _Pair) -> str:
    """The cache's blob -> key memo: exact and line-free keys never share one."""
    _, path, fp, exact, module = pair
    return f"{fp if exact else fp + '~'}:{path}:{module}"


def _tree_modules(trees: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, tuple[str, bool]]]:
    """commit -> path -> (module, is a package's __init__), from each tree's own packages."""
    by_paths: dict[tuple[str, ...], dict[str, tuple[str, bool]]] = {}  # consecutive trees mostly share their paths
    modules = {}
    for sha, tree in trees.items():
        paths = tuple(path for path, _ in tree)
        if paths not in by_paths:
            by_paths[paths] = module_names(paths)
        modules[sha] = by_paths[paths]
    return modules


@dataclass(frozen=True)
class _BlobAtPath:
    """A blob at a path of a commit's tree, with the module that makes it there: what its facts depend on."""

    blob: str
    path: str
    module: str


@dataclass(frozen=True)
class _BlobIndexJob:
    at: _BlobAtPath
    raw: bytes


def _blob_index_worker(job: _BlobIndexJob) -> list[list[Any]]:
    """The facts (as JSON) of one blob at one path: the project index's pass, in a worker."""
    state = installed(IndexState)
    is_package = job.at.path.rpartition("/")[2] == "__init__.py"
    facts = index_source(job.raw, job.at.path, job.at.module, state.indexers, state.settings, is_package=is_package)
    return [fact.to_json() for fact in facts]


def _blob_index_crashed(job: _BlobIndexJob) -> list[list[Any]]:
    return []  # no facts; the check of the same blob reports it


@dataclass
class _BlobsToCheck:
    """The sampled commits' blobs as a pipeline source: each result key the
    cache does not hold, once, as a blob under a plan that has it. HEAD's
    exact keys come first, so that a line-free key its exact result answers
    (`same_as`) is never checked itself."""

    pairs: dict[_Pair, str]  # -> the commit whose packages name the blob's module
    keys: dict[_Pair, str]
    contents: dict[str, bytes]  # blob id -> bytes
    modules: dict[str, dict[str, tuple[str, bool]]]  # commit -> path -> (module, is a package's __init__)
    known: frozenset[str]
    same_as: dict[str, str]  # a HEAD blob's line-free key -> its exact key

    def units(self) -> Iterator[Unit]:
        taken: set[str] = set()
        for pair, sha in sorted(self.pairs.items(), key=lambda item: not item[0][3]):
            blob, path, fp, _, _ = pair
            key = self.keys[pair]
            exact_key = self.same_as.get(key)
            if key in self.known or key in taken or exact_key in self.known or exact_key in taken:
                continue
            taken.add(key)
            yield Unit(len(taken), path, fp, self.contents[blob], key=key, module=self.modules[sha][path])


class _Mentions:
    """Result keys for many (blob, plan) pairs without rescanning each blob.

    A key covers the indexed facts a file can depend on (relevant_facts).
    Facts carry line numbers, so an edit that shifts lines in one file gives
    most commits an index of their own, and every file mentioning a common
    name (`execute`) a new exact key. A line never decides whether a finding
    exists, only what its message says, so the line-free keys (marked `~`,
    never mixed with exact ones) hash the facts without their lines. The names
    a blob mentions are found once per blob, and each set of relevant facts is
    hashed once, whichever plans share it."""

    def __init__(self, plans: Iterable[Plan]) -> None:
        self._matcher = NameMatcher({name for plan in plans for name in plan.project.names()})
        self._names: dict[str, frozenset[str]] = {}
        self._fingerprints: dict[tuple[bool, tuple[int, ...]], str] = {}

    def result_key(self, plan: Plan, blob: str, digest: str, raw: bytes, path: str, module: str, *, exact: bool) -> str:
        if not plan.uses_index or not plan.project.facts:
            return plan.result_key(digest, raw, path, module)
        names = self._names.get(blob)
        if names is None:
            names = self._names[blob] = self._matcher.found(raw)
        facts = plan.project.relevant_facts(names, path)
        exact = exact or not facts
        memo = (exact, tuple(map(id, facts)))  # plans share the Fact objects of unchanged blobs
        fingerprint = self._fingerprints.get(memo)
        if fingerprint is None:
            fingerprint = self._fingerprints[memo] = (
                plan.project.digest(facts) if exact else "~" + digest_of(facts, with_lines=False)
            )
        return f"{digest}:{module}:{fingerprint}"
