"""The project index pass over the files on disk (see index.py for the facts).

Every file of the project is indexed, not only the checked ones, with the
cache: the files it does not cover are read, hashed and indexed by worker
processes with the standard library's `ast` (they never import LibCST).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import Cache, content_hash, facts_key, stat_signature
from .config import Settings
from .discovery import Discovery, discover
from .index import EMPTY, Fact, ProjectIndex, forget_packages, index_file, module_key, module_of
from .pipeline import Stats
from .source import SourceError, located, read_bytes, resolved
from .workers import installed, parallel_map, with_progress_bar

if TYPE_CHECKING:
    from .discovery import SourceFile
    from .prefilters import TextFilter
    from .rules.base import Rule

# An indexing rule with its index prefilter compiled for the settings.
Indexer = tuple["type[Rule]", "TextFilter"]


@dataclass(frozen=True)
class IndexState:
    """An index worker's per-process state."""

    indexers: Sequence[Indexer]
    settings: Settings
    known: frozenset[str] = frozenset()  # "content hash:real path" of the facts the cache holds


@dataclass(frozen=True)
class IndexJob:
    position: int  # in the driver's list of files
    real: Path
    shown: str  # the path the facts carry: relative to the index's root
    module: tuple[str, bool]  # index.module_of


@dataclass(frozen=True)
class Indexed:
    digest: str | None  # None: unreadable (the check pass reports it)
    facts: list[list[Any]] | None  # as JSON; None when the cache has this content's facts
    parsed: bool = False
    parses: bool = False  # parsed, and the parser accepted it


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


def reads_index(settings: Settings) -> bool:
    """Whether an enabled rule reads the project index (known without importing a rule)."""
    return any(rule.reads_facts for rule in settings.enabled())


def indexers_for(settings: Settings) -> list[Indexer]:
    """(rule, compiled index prefilter) of every indexing rule, when an enabled rule reads the index."""
    if not reads_index(settings):
        return []
    from .rules import ALL_RULES

    return [
        (rule, prefilter) for rule in ALL_RULES if (prefilter := rule.compile_index_prefilter(settings)) is not None
    ]


def project_files(paths: Sequence[Path], checked: Sequence[SourceFile], settings: Settings) -> list[SourceFile]:
    """Every file of the project `paths` are in (`index_root`), with the
    `checked` ones as discovery showed them, by real path: what the index
    covers, and where the verification gate looks for callers and readers."""
    root = index_root(paths, settings)
    # The usual run names the project itself: its discovery is the one already done.
    same_tree = [resolved(Path(p)) for p in paths] == [root]
    files = {f.real_path: f for f in (checked if same_tree else discover([root], settings).files)}
    files.update({f.real_path: f for f in checked})
    return [files[real_path] for real_path in sorted(files)]


def build_index(
    paths: Sequence[Path],
    found: Discovery,
    settings: Settings,
    cache: Cache,
    *,
    jobs: int = 1,
    stats: Stats | None = None,
    parses: set[str] | None = None,
    project: Sequence[SourceFile] | None = None,
) -> ProjectIndex:
    """Facts from every file of the project (`project`, when the caller has
    its `project_files` already), not only the checked ones: a pre-commit
    run over ten files still knows about singletons elsewhere.

    The cache is read and written here; the files it does not cover are read,
    hashed and indexed by `jobs` worker processes (stdlib `ast` only: they
    never import LibCST). The content hash of each file they parsed without
    a syntax error goes into `parses`: the check pass need not parse such a
    file again only to look for one."""
    forget_packages()  # every run builds its index first, before it names any file's module
    if not reads_index(settings):
        return EMPTY
    stats = stats if stats is not None else Stats()
    root = index_root(paths, settings)
    files = project if project is not None else project_files(paths, found.files, settings)
    ordered = [file.real_path for file in files]
    facts_of: list[list[list[Any]] | None] = [None] * len(ordered)
    signatures: list[tuple[int, int] | None] = [None] * len(ordered)
    sources: list[str | None] = [None] * len(ordered)  # `_source` of each file that has facts
    todo: list[IndexJob] = []
    for position, real_path in enumerate(ordered):
        signature = signatures[position] = stat_signature(real_path)
        module = module_of(real_path)
        cached = cache.facts_by_stat(real_path, signature, module_key(module))
        if cached is not None:
            digest, held = cached
            if held:
                shown = relative(real_path, root)
                facts_of[position] = _placed(held, shown)
                sources[position] = _source(digest, module, real_path, shown)
            stats.index_cached += 1
        else:
            todo.append(IndexJob(position, real_path, relative(real_path, root), module))
    if todo:
        # Largest first, so no worker is left with a run of big files at the end.
        todo.sort(key=lambda job: -(signatures[job.position] or (0, 0))[1])
        known = frozenset(cache.facts)  # cache.facts_key of each file whose facts the cache holds
        # The indexing rules, imported only now: facts the cache holds need none.
        state = IndexState(indexers_for(settings), settings, known)
        indexed = parallel_map(_index_worker, todo, jobs, state, _index_crashed)
        sizes = [(signatures[job.position] or (0, 0))[1] for job in todo]
        for job, result in zip(todo, with_progress_bar(indexed, sizes, "Indexing"), strict=True):
            if result.digest is None:  # unreadable: the check pass reports it
                continue
            facts = result.facts
            if facts is None:  # touched, but its content was indexed before
                facts = _placed(cache.facts_for(result.digest, module_key(job.module), job.real) or [], job.shown)
                stats.index_cached += 1
            stats.indexed += result.parsed
            if result.parses and parses is not None:
                parses.add(result.digest)
            cache.store_facts(job.real, signatures[job.position], result.digest, module_key(job.module), facts)
            facts_of[job.position] = facts
            if facts:
                sources[job.position] = _source(result.digest, job.module, job.real, job.shown)
    return _project_index(facts_of, sources, cache)


def _source(digest: str, module: tuple[str, bool], real_path: Path, shown: str) -> str:
    """Where a file's facts come from: its cache.facts_key, and the path they are placed at."""
    return f"{facts_key(digest, module_key(module), real_path)}\0{shown}"


def _project_index(facts_of: list[list[list[Any]] | None], sources: list[str | None], cache: Cache) -> ProjectIndex:
    """The index of every file's facts. A file's facts follow from its content,
    module and path (the settings chose the cache file): the same `sources`
    give the same index, whose fingerprint a run over them computed before."""
    every_fact = (Fact.from_json(raw_fact) for cached in facts_of if cached for raw_fact in cached)
    if not cache.enabled:
        return ProjectIndex(every_fact)
    # surrogatepass: a path that is not UTF-8 holds surrogates (os.fsdecode)
    origin = hashlib.sha256("\n".join(s for s in sources if s).encode("utf-8", "surrogatepass")).hexdigest()
    fingerprint = cache.index_fingerprint(origin)
    project = ProjectIndex(every_fact, fingerprint=fingerprint)
    if fingerprint is None:
        cache.store_index_fingerprint(origin, project.fingerprint)
    return project


def _index_worker(job: IndexJob) -> Indexed:
    try:
        raw = read_bytes(job.real)
    except SourceError:
        return Indexed(None, None)
    digest = content_hash(raw)
    state = installed(IndexState)
    if facts_key(digest, module_key(job.module), job.real) in state.known:
        return Indexed(digest, None)
    module, is_package = job.module
    indexing = index_file(raw, job.shown, module, state.indexers, state.settings, is_package=is_package)
    return Indexed(digest, [fact.to_json() for fact in indexing.facts], indexing.parsed, indexing.parses)


def _placed(facts: list[list[Any]], shown: str) -> list[list[Any]]:
    """A file's cached facts, at the path this run's index records for it.
    The cache holds them by content and real path, but a fact's path is
    relative to the index's root, which (without a configuration or a git
    repository) depends on the paths a run names: a pre-commit run over one
    directory must not leave its paths to the next run over the project."""
    return [fact if fact[2] == shown else [fact[0], fact[1], shown, *fact[3:]] for fact in facts]


def _index_crashed(job: IndexJob) -> Indexed:
    return Indexed(None, None)  # the check pass reports the file


def relative(path: Path, root: Path) -> str:
    """`path` as the index records it: relative to the index's root where it is under it."""
    text, base = str(path), str(root)
    prefix = base if base.endswith(os.sep) else base + os.sep
    if os.sep == "/" and text.startswith(prefix):  # what relative_to gives, without parsing either path
        return text[len(prefix) :]
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
