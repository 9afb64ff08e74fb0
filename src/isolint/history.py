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

import os
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec

from .cache import Cache, content_hash
from .config import ConfigError, Settings
from .discovery import PYTHON_SUFFIXES
from .findings import Finding
from .ignores import PerFileIgnores
from .index import EMPTY, Fact, NameMatcher, ProjectIndex, digest_of, index_source
from .indexing import IndexState, indexers_for
from .pipeline import Stats, Unit, check_source
from .plan import Plan
from .progress import add_counts
from .report import model
from .workers import installed, parallel_map

SUBMODULE_MODE = "160000"
SYMLINK_MODE = "120000"
_Pair = tuple[
    str, str, str, bool
]  # a blob at a path under a commit's index: (blob, path, index fingerprint, exact key?)


@dataclass(frozen=True)
class Commit:
    sha: str
    timestamp: int
    subject: str

    def to_json(self) -> dict[str, Any]:
        date = datetime.fromtimestamp(self.timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"commit": self.sha, "short": self.sha[:10], "date": date, "subject": self.subject}


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


# --- git plumbing --------------------------------------------------------------

# The repository being reported on may be untrusted (a PR branch, an unpacked
# archive): its config must not make git run a program. These override what
# the repository (and the user) configured, for every git command we run.
GIT_SAFETY = (
    "--no-pager",
    "-c",
    "core.pager=cat",
    "-c",
    "log.showSignature=false",  # else `git log` runs gpg.program for each signed commit
    "-c",
    "gpg.program=false",
    "-c",
    "gpg.ssh.program=false",
    "-c",
    "gpg.x509.program=false",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "diff.external=",
    "-c",
    "core.sshCommand=false",
    "-c",
    "credential.helper=",
)
_GIT_ENV_DROPPED = (
    "GIT_PAGER",
    "PAGER",
    "GIT_EXTERNAL_DIFF",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
)


def git_command(root: Path, *args: str) -> list[str]:
    return ["git", *GIT_SAFETY, "-C", str(root), *args]


def git_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _GIT_ENV_DROPPED}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


def _git(root: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            git_command(root, *args), capture_output=True, check=False, env=git_environment(), stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ConfigError("--history needs git, and no `git` executable was found") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        raise ConfigError(f"git {' '.join(args)}: {message or 'failed'}")
    return completed.stdout.decode("utf-8", "surrogateescape")


def head_commit(path: Path) -> str | None:
    """The commit checked out where `path` is, or None (not in git, no commit yet, no git)."""
    start = path if path.is_dir() else path.parent
    try:
        return _git(start, "rev-parse", "--verify", "--quiet", "HEAD").strip() or None
    except ConfigError:
        return None


def repository_root(path: Path) -> Path:
    start = path if path.is_dir() else path.parent
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel").strip()).resolve()
    except ConfigError:
        raise ConfigError(f"--history: {path} is not inside a git repository") from None


def list_commits(root: Path, *, commits: int | None, since: str | None, every: int) -> list[Commit]:
    """The commits to report on, oldest first: the last `commits` on the current
    branch (first parents), or those after `since` plus `since` itself; then every
    `every`-th counting back from HEAD, so HEAD is always included."""
    args = [
        "log",
        "--no-show-signature",
        "--no-ext-diff",
        "--no-textconv",
        "--first-parent",
        "--format=%H%x1f%ct%x1f%s",
    ]
    if since is not None and since.startswith("-"):
        raise ConfigError(f"--since {since!r}: expected a commit, not an option")
    if since is not None:
        start = _git(root, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}").strip()
        args.append(f"{start}..HEAD")
    else:
        args.append("HEAD")
    if commits is not None:
        args.append(f"--max-count={commits - 1 if since is not None else commits}")
    found = [_commit(line) for line in _git(root, *args).splitlines() if line]
    if since is not None and (commits is None or commits > len(found)):
        found += [_commit(_git(root, "log", "--no-show-signature", "-1", "--format=%H%x1f%ct%x1f%s", start).strip())]
    return list(reversed(found[::every]))


def _commit(line: str) -> Commit:
    sha, timestamp, subject = line.split("\x1f", 2)
    return Commit(sha, int(timestamp), subject)


def tree_files(root: Path, sha: str) -> list[tuple[str, str]]:
    """(path, blob id) of the Python files in a commit's tree."""
    out = []
    for record in _git(root, "ls-tree", "-r", "-z", "--full-tree", sha).split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, blob = meta.split(" ")
        if kind == "blob" and mode not in (SYMLINK_MODE, SUBMODULE_MODE) and path.endswith(PYTHON_SUFFIXES):
            out.append((path, blob))
    return out


def read_blobs(root: Path, blobs: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """(blob id, content) for each blob, through one `git cat-file --batch`."""
    if not blobs:
        return
    process = subprocess.Popen(
        git_command(root, "cat-file", "--batch"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=git_environment()
    )
    assert process.stdin is not None and process.stdout is not None
    requests = process.stdin

    def feed() -> None:  # a separate writer, so neither pipe fills up and blocks the other
        try:
            requests.write("".join(f"{blob}\n" for blob in blobs).encode())
        finally:
            requests.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for blob in blobs:
            header = process.stdout.readline().split()
            if len(header) != 3:
                raise ConfigError(f"git cat-file: cannot read blob {blob}")
            content = process.stdout.read(int(header[2]))
            process.stdout.read(1)  # the newline after each object
            yield blob, content
    finally:
        writer.join()
        process.stdout.close()
        process.wait()


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
    facts = index_source(job.raw, job.at.path, job.at.module, state.indexers, state.settings)
    return [fact.to_json() for fact in facts]


def _blob_index_crashed(job: _BlobIndexJob) -> list[list[Any]]:
    return []  # no facts; the check of the same blob reports it


@dataclass
class _BlobsToCheck:
    """The sampled commits' blobs as a pipeline source: each result key the
    cache does not hold, once, as a blob under a plan that has it. HEAD's
    exact keys come first, so that a line-free key its exact result answers
    (`same_as`) is never checked itself."""

    pairs: dict[_Pair, str]  # -> the commit it comes from
    keys: dict[_Pair, str]
    contents: dict[str, bytes]  # blob id -> bytes
    modules: dict[str, dict[str, tuple[str, bool]]]  # commit -> path -> (module, is a package)
    known: frozenset[str]
    same_as: dict[str, str]  # a HEAD blob's line-free key -> its exact key

    checked: list[str] = field(default_factory=list)  # the result key of each unit, by its index

    def units(self) -> Iterator[Unit]:
        taken: set[str] = set()
        for pair, sha in sorted(self.pairs.items(), key=lambda item: not item[0][3]):
            blob, path, fp, _ = pair
            key = self.keys[pair]
            exact_key = self.same_as.get(key)
            if key in self.known or key in taken or exact_key in self.known or exact_key in taken:
                continue
            taken.add(key)
            self.checked.append(key)
            module, is_package = self.modules[sha][path]
            yield Unit(len(self.checked) - 1, path, module, is_package, fp, self.contents[blob], key=key)


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
    wanted = _Selection(root, paths or [root], settings)
    project_trees = {
        c.sha: [(path, blob) for path, blob in tree_files(root, c.sha) if wanted.indexed(path)] for c in selected
    }
    trees = {sha: [(path, blob) for path, blob in tree if wanted(path)] for sha, tree in project_trees.items()}
    history = History(root)
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
    indexers = indexers_for(settings)

    contents: dict[str, bytes] = {}

    def need(blobs: set[str]) -> None:
        missing = sorted(blobs - contents.keys())
        history.blobs_read += len(missing)
        contents.update(read_blobs(root, missing))

    # Each commit's project index, from its own blobs (facts memoised per blob and module).
    plans: dict[str, Plan] = {}
    commit_plan: dict[str, Plan] = {}
    modules: dict[str, dict[str, tuple[str, bool]]] = {}
    facts_of: dict[tuple[str, str, str], list[Fact] | None] = {}
    by_paths: dict[tuple[str, ...], dict[str, tuple[str, bool]]] = {}  # trees of consecutive commits share their paths
    for commit in selected:
        paths_of_tree = tuple(path for path, _ in project_trees[commit.sha])
        if paths_of_tree not in by_paths:
            by_paths[paths_of_tree] = module_names(paths_of_tree)
        modules[commit.sha] = by_paths[paths_of_tree]
    if indexers:
        for commit in selected:
            for path, blob in project_trees[commit.sha]:
                memo = (blob, path, modules[commit.sha][path][0])
                if memo not in facts_of:
                    cached = cache.facts_of_blob(*memo)
                    facts_of[memo] = [Fact.from_json(raw) for raw in cached] if cached is not None else None
        unindexed = [memo for memo, facts in facts_of.items() if facts is None]
        need({blob for blob, _, _ in unindexed})
        index_jobs = [_BlobIndexJob(_BlobAtPath(*memo), contents[memo[0]]) for memo in unindexed]
        indexed = parallel_map(
            _blob_index_worker, index_jobs, jobs, IndexState(indexers, settings), _blob_index_crashed
        )
        for job, facts in zip(index_jobs, indexed, strict=True):
            facts_of[(job.at.blob, job.at.path, job.at.module)] = [Fact.from_json(raw) for raw in facts]
            cache.store_blob_facts(job.at.blob, job.at.path, job.at.module, facts)
    by_shape: dict[str, Plan] = {}  # line-free digest -> a plan: prefilters never read lines
    for commit in selected:
        project = EMPTY
        if indexers:
            project = ProjectIndex(
                fact
                for path, blob in project_trees[commit.sha]
                for fact in facts_of[(blob, path, modules[commit.sha][path][0])] or ()
            )
        shape = digest_of(project.facts, with_lines=False)
        plan = (
            by_shape[shape].for_project(project)
            if shape in by_shape
            else Plan.from_settings(settings, project, count_progress=True, build_edits=False)
        )
        by_shape.setdefault(shape, plan)
        commit_plan[commit.sha] = plans.setdefault(plan.index_fingerprint, plan)

    # Result keys. HEAD, whose findings the report shows, needs exact keys; the
    # commits before it show totals only, so their keys leave lines out (see
    # _Mentions). HEAD's blobs get both: its exact results serve its line-free
    # keys too, so a blob unchanged up to HEAD is checked once.
    head = selected[-1].sha
    fingerprint_of = {commit.sha: commit_plan[commit.sha].index_fingerprint for commit in selected}
    pairs: dict[_Pair, str] = {
        (blob, path, fingerprint_of[c.sha], False): c.sha for c in selected for path, blob in trees[c.sha]
    }
    pairs.update({(blob, path, fingerprint_of[head], True): head for path, blob in trees[head]})

    def memo_scope(pair: _Pair) -> str:  # the cache's blob -> key memo: exact and line-free keys never share one
        _, path, fp, exact = pair
        return f"{fp if exact else fp + '~'}:{path}"

    keys: dict[_Pair, str] = {}
    for pair in pairs:
        key = cache.blob_key(pair[0], memo_scope(pair))
        if key is not None and key in cache.counts:
            keys[pair] = key
    need({pair[0] for pair in pairs.keys() - keys.keys()})
    mentioned = _Mentions(plans.values())
    digests: dict[str, str] = {}
    for pair in pairs.keys() - keys.keys():
        blob, path, fp, exact = pair
        digest = digests.get(blob) or digests.setdefault(blob, content_hash(contents[blob]))
        keys[pair] = mentioned.result_key(plans[fp], blob, digest, contents[blob], path, exact=exact)

    # The work: each result key not known yet, checked once under a plan that has it.
    known = cache.known_keys(with_counts=True)
    same_as: dict[str, str] = {}  # a HEAD blob's line-free key -> its exact key
    for path, blob in trees[head]:
        same_as.setdefault(
            keys[(blob, path, fingerprint_of[head], False)], keys[(blob, path, fingerprint_of[head], True)]
        )
    source = _BlobsToCheck(pairs, keys, contents, modules, known, same_as)
    results: dict[str, tuple[list[Finding], dict[str, int]]] = {}
    # One pool for every commit's blobs: the workers receive all plans (usually one per commit).
    for unit, result in check_source(source, plans, cache, jobs=jobs, stats=Stats()):
        history.blobs_checked += 1
        results[source.checked[unit.index]] = (result.findings, result.counts or {})
    contents.clear()
    for loose, exact_key in same_as.items():
        if loose not in results and loose not in known:
            if exact_key in results:
                results[loose] = results[exact_key]
            cache.copy_results(exact_key, loose)
    for pair, key in keys.items():
        cache.store_blob(pair[0], memo_scope(pair), key)  # keeps this window's blobs, and only those
    cache.save()

    ignores = PerFileIgnores(settings)
    shown: dict[tuple[str, str], tuple[list[Finding], dict[str, int]]] = {}  # most files recur in every commit
    for commit in selected:
        plan = commit_plan[commit.sha]
        exact = commit.sha == head
        findings: list[Finding] = []
        totals: dict[str, int] = {}
        for path, blob in trees[commit.sha]:
            key = keys[(blob, path, fingerprint_of[commit.sha], exact)]
            if (key, path) not in shown:
                found, counts = results.get(key) or (cache.results_for(key, path) or [], cache.counts.get(key, {}))
                shown[(key, path)] = (
                    ignores.filter(root / path, [f.with_path(path) for f in found]) if found else [],
                    counts,
                )
            found, counts = shown[(key, path)]
            findings.extend(found)
            add_counts(totals, counts)
        findings.sort(key=lambda f: f.sort_key)
        history.results.append(
            CommitResult(commit, findings, [path for path, _ in trees[commit.sha]], totals, plan.project)
        )
    return history


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

    def result_key(self, plan: Plan, blob: str, digest: str, raw: bytes, path: str, *, exact: bool) -> str:
        if not plan.uses_index or not plan.project.facts:
            return plan.result_key(digest, raw, path)
        names = self._names.get(blob)
        if names is None:
            names = self._names[blob] = self._matcher.found(raw)
        facts = plan.project.relevant_facts(names, path)
        exact = exact or not facts
        memo = (exact, tuple(map(id, facts)))  # plans share the Fact objects of unchanged blobs
        fingerprint = self._fingerprints.get(memo)
        if fingerprint is None:
            fingerprint = self._fingerprints[memo] = (
                digest_of(facts) if exact else "~" + digest_of(facts, with_lines=False)
            )
        return f"{digest}:{fingerprint}"
