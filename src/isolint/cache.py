"""The results cache: unchanged files are never read twice, let alone parsed.

One JSON file per (isolint version, effective settings) under
`.isolint_cache/` (or `$ISOLINT_CACHE_DIR`). It maps each file's real path to
its stat signature and content hash, and each content hash to its findings
(without paths) and, once a report has asked for them, its target-form counts
(progress.py). A file whose mtime and size match is a hit without being
read; one whose stat changed is read and hashed, and still hits if its
content did not change (a fresh clone, a `touch`).

Writes go through a temporary file and `os.replace`, merged with whatever
another process wrote meanwhile, so concurrent runs never corrupt it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .findings import Finding
from .rules import ENTRY_BY_CODE
from .source import read_regular, resolved

CACHE_DIR_ENV = "ISOLINT_CACHE_DIR"
# 4: files no rule needs are still checked for syntax errors; 5: a fix's edits may be unbuilt (null);
# 6: findings are rows (Finding.to_row) whose strings are indexes into one table; 7: a file's
# results and facts are keyed by its module too (`index.module_key`); 8: the index's fingerprint
# is remembered by where its facts come from (`Cache.index_fingerprint`).
_FORMAT = 8


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def facts_key(digest: str, module: str, real_path: Path | str) -> str:
    """Where the cache holds a file's index facts: they depend on its content,
    its module (the qualified names of what it defines) and its path."""
    return f"{digest}:{module}:{real_path}"


def stat_signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass
class Cache:
    file: Path | None  # None: caching disabled
    # real path -> [mtime_ns, size, content hash, result key, index fingerprint, module key]
    files: dict[str, list[Any]] = field(default_factory=dict)
    results: dict[str, list[list[Any]]] = field(default_factory=dict)  # result key -> findings, as rows
    # real path -> [mtime_ns, size, content hash, module key]; facts_key(...) -> index facts
    indexed: dict[str, list[Any]] = field(default_factory=dict)
    facts: dict[str, list[list[Any]]] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # result key -> target-form counts
    # "git blob id:index fingerprint" -> result key: `report --history` reads no blob twice
    blobs: dict[str, str] = field(default_factory=dict)
    blob_facts: dict[str, list[list[Any]]] = field(default_factory=dict)  # "blob id:path:module" -> index facts
    # the digest of where a project index's facts come from -> that index's fingerprint
    fingerprints: dict[str, str] = field(default_factory=dict)
    # Blob entries this run looked up or stored: a history run keeps only those,
    # so the blob sections stay as large as one history window.
    _blobs_used: set[str] = field(default_factory=set)
    _fingerprints_used: set[str] = field(default_factory=set)  # likewise, the index fingerprints
    _dirty: bool = False
    # The cache file as this run read it: a save re-reads it only if another
    # run replaced it since (re-reading a large project's cache costs as much
    # as loading it).
    _read_as: tuple[int, ...] | None = None
    warning: str | None = None  # why the cache file on disk was discarded, if it was

    @classmethod
    def open(cls, root: Path, settings_fingerprint: str, *, enabled: bool) -> Cache:
        if not enabled:
            return cls(None)
        chosen = os.environ.get(CACHE_DIR_ENV)
        directory = Path(chosen or root / ".isolint_cache")
        if not chosen and _leads_elsewhere(directory, root):
            # The tree is not necessarily trusted: its cache directory must
            # not lead to files outside it, which a save would write and prune.
            return cls(None, warning=f"cache {directory}: is a symlink or leads outside {root}; not used")
        file = directory / __version__ / f"{settings_fingerprint}.json"
        cache = cls(file, _read_as=_identity(file))
        sections, cache.warning = _load_checked(cache.file)
        (
            cache.files,
            cache.results,
            cache.indexed,
            cache.facts,
            cache.counts,
            cache.blobs,
            cache.blob_facts,
            cache.fingerprints,
        ) = sections
        return cache

    @property
    def enabled(self) -> bool:
        """Whether results are read and stored at all (not `--no-cache`, not a refused directory)."""
        return self.file is not None

    def lookup_by_stat(
        self,
        real_path: Path,
        signature: tuple[int, int] | None,
        index_fingerprint: str,
        module: str,
        *,
        with_counts: bool = False,
        with_edits: bool = False,
    ) -> str | None:
        """The result key of an unchanged file with cached results (and counts,
        and fixes' edits, if asked), without reading it. `module` is the file's
        module key now: an `__init__.py` added or removed beside an unchanged
        file changes what its imports and definitions are named."""
        entry = self.files.get(str(real_path))
        if entry is None or signature is None or entry[3] not in self.results:
            return None
        if (with_counts and entry[3] not in self.counts) or (with_edits and _lacks_edits(self.results[entry[3]])):
            return None
        unchanged = (entry[0], entry[1]) == signature and entry[4] == index_fingerprint and entry[5] == module
        return entry[3] if unchanged else None

    def results_for(self, key: str, path: str) -> list[Finding] | None:
        cached = self.results.get(key)
        return None if cached is None else [Finding.from_row(row, path) for row in cached]

    def known_keys(self, *, with_counts: bool = False, with_edits: bool = False) -> frozenset[str]:
        """Result keys whose work is done: findings, counts when a report needs
        them, and fixes' edits when the run shows or applies them."""
        keys = self.counts.keys() & self.results.keys() if with_counts else self.results.keys()
        return frozenset(key for key in keys if not (with_edits and _lacks_edits(self.results[key])))

    def store(
        self,
        real_path: Path | None,
        digest: str,
        key: str,
        index_fingerprint: str,
        module: str,
        findings: list[Finding],
        counts: dict[str, int] | None = None,
    ) -> None:
        """Cache a file's findings (and counts); `real_path` None stores by content only (git blobs)."""
        if self.file is None:
            return
        signature = stat_signature(real_path) if real_path is not None else None
        if real_path is not None and signature is not None:
            self.files[str(real_path)] = [*signature, digest, key, index_fingerprint, module]
        self.results[key] = [f.to_row() for f in findings]
        if counts is not None:
            self.counts[key] = counts
        self._dirty = True

    def copy_results(self, key: str, to: str) -> None:
        """Store `key`'s findings and counts under `to` too (results known equal), if `key` has any."""
        if self.file is None or key not in self.results:
            return
        self.results[to] = self.results[key]
        if key in self.counts:
            self.counts[to] = self.counts[key]
        self._dirty = True

    def blob_key(self, blob: str, scope: str) -> str | None:
        """The result key of a git blob checked before in the same scope (the
        caller's: project index, path, exact or line-free key)."""
        name = f"{blob}:{scope}"
        self._blobs_used.add(name)
        key = self.blobs.get(name)
        return key if key in self.results else None

    def store_blob(self, blob: str, scope: str, key: str) -> None:
        if self.file is None:
            return
        name = f"{blob}:{scope}"
        self._blobs_used.add(name)
        self.blobs[name] = key
        self._dirty = True

    def facts_of_blob(self, blob: str, path: str, module: str) -> list[list[Any]] | None:
        name = f"{blob}:{path}:{module}"
        self._blobs_used.add(name)
        return self.blob_facts.get(name)

    def store_blob_facts(self, blob: str, path: str, module: str, facts: list[list[Any]]) -> None:
        if self.file is None:
            return
        name = f"{blob}:{path}:{module}"
        self._blobs_used.add(name)
        self.blob_facts[name] = facts
        self._dirty = True

    def facts_by_stat(
        self, real_path: Path, signature: tuple[int, int] | None, module: str
    ) -> tuple[str, list[list[Any]]] | None:
        """The content hash and facts of an unchanged file, without reading it;
        `module` is its module key now."""
        entry = self.indexed.get(str(real_path))
        if entry is None or signature is None or (entry[0], entry[1], entry[3]) != (*signature, module):
            return None
        facts = self.facts.get(facts_key(entry[2], module, real_path))
        return None if facts is None else (entry[2], facts)

    def facts_for(self, digest: str, module: str, real_path: Path) -> list[list[Any]] | None:
        return self.facts.get(facts_key(digest, module, real_path))

    def store_facts(
        self, real_path: Path, signature: tuple[int, int] | None, digest: str, module: str, facts: list[list[Any]]
    ) -> None:
        if self.file is None or signature is None:
            return
        self.indexed[str(real_path)] = [*signature, digest, module]
        self.facts[facts_key(digest, module, real_path)] = facts
        self._dirty = True

    def index_fingerprint(self, sources: str) -> str | None:
        """The fingerprint of the project index whose facts came from `sources`
        (see `indexing._project_index`), when a run computed it before."""
        self._fingerprints_used.add(sources)
        return self.fingerprints.get(sources)

    def store_index_fingerprint(self, sources: str, fingerprint: str) -> None:
        if self.file is None:
            return
        self._fingerprints_used.add(sources)
        self.fingerprints[sources] = fingerprint
        self._dirty = True

    def save(self) -> None:
        if self.file is None or not self._dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            _mark_cache_root(self.file.parent.parent)
            # Keep what a concurrent run added, if one saved since this run read the file.
            replaced = self._read_as is None or _identity(self.file) != self._read_as
            files, results, indexed, facts, counts, blobs, blob_facts, fingerprints = _load(
                self.file if replaced else None
            )
            files.update(self.files)
            results.update(self.results)
            indexed.update(self.indexed)
            facts.update(self.facts)
            counts.update(self.counts)
            if self._blobs_used:
                blobs = {k: v for k, v in {**blobs, **self.blobs}.items() if k in self._blobs_used}
                blob_facts = {k: v for k, v in {**blob_facts, **self.blob_facts}.items() if k in self._blobs_used}
            if self._fingerprints_used:  # the project as this run found it: older states are gone
                fingerprints = {
                    k: v for k, v in {**fingerprints, **self.fingerprints}.items() if k in self._fingerprints_used
                }
            live_keys = {entry[3] for entry in files.values()} | set(blobs.values())
            live_facts = {facts_key(entry[2], entry[3], path) for path, entry in indexed.items()}
            strings, live_results = _with_string_table(
                {key: found for key, found in results.items() if key in live_keys}
            )
            data = {
                "format": _FORMAT,
                "files": files,
                "strings": strings,
                "results": live_results,
                "indexed": indexed,
                "facts": {key: found for key, found in facts.items() if key in live_facts},
                "counts": {key: found for key, found in counts.items() if key in live_keys},
                "blobs": blobs,
                "blob_facts": blob_facts,
                "fingerprints": fingerprints,
            }
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, suffix=TEMP_SUFFIX)
            text = json.dumps(data, separators=(",", ":"))  # `json.dump` encodes in Python, four times slower
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.file)
            _prune(self.file)
        except OSError:
            pass  # a read-only checkout still gets its results, just no cache


TEMP_SUFFIX = ".tmp"
STALE_TEMP_SECONDS = 3600  # no run takes an hour to write its cache: older temp files are a killed run's
UNUSED_CACHE_SECONDS = (
    30 * 24 * 3600
)  # a cache file not written for 30 days is for settings or a version no longer used


def _leads_elsewhere(directory: Path, root: Path) -> bool:
    for path in (directory, directory / __version__):
        if path.is_symlink():
            return True
    return directory.exists() and not resolved(directory).is_relative_to(resolved(root))


def _prune(current: Path) -> None:
    """Remove killed runs' temporary files and cache files (other settings,
    other isolint versions) that no run has written for a long time."""
    now = time.time()
    cache_root = current.parent.parent
    for version_dir in [
        current.parent,
        *(d for d in _entries(cache_root) if d.is_dir() and d != current.parent and not d.is_symlink()),
    ]:
        for entry in _entries(version_dir):
            if entry == current or entry.is_symlink() or not entry.is_file():
                continue
            age = now - entry.stat().st_mtime
            stale = entry.name.endswith(TEMP_SUFFIX) and age > STALE_TEMP_SECONDS
            unused = entry.name.endswith(".json") and age > UNUSED_CACHE_SECONDS
            if stale or unused:
                entry.unlink(missing_ok=True)
        if version_dir != current.parent and not any(_entries(version_dir)):
            version_dir.rmdir()


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError:
        return []


_SECTIONS = ("files", "results", "indexed", "facts", "counts", "blobs", "blob_facts", "fingerprints")


def _identity(file: Path) -> tuple[int, ...] | None:
    """What changes when a run replaces the file (saves write a new file and rename it)."""
    try:
        st = file.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _load(file: Path | None) -> tuple[dict[str, Any], ...]:
    return _load_checked(file)[0]


def _load_checked(file: Path | None) -> tuple[tuple[dict[str, Any], ...], str | None]:
    """The cache's sections, and why the file was discarded (None if it was
    fine or missing). A cache restored in CI, or left by another version, is
    data we did not necessarily write: every entry is checked before use."""
    empty: tuple[dict[str, Any], ...] = tuple({} for _ in _SECTIONS)
    if file is None:
        return empty, None
    if not file.exists():
        return empty, None
    try:
        raw = read_regular(file, MAX_CACHE_BYTES, OSError)
    except OSError as exc:
        return empty, f"cache {file}: {exc}; ignored"
    try:
        data = json.loads(raw)
        problem = _shape_problem(data)
        if problem is None:
            problem = _decode_results(data)
    except (ValueError, RecursionError) as exc:
        problem = f"not valid JSON ({type(exc).__name__})"
    if problem is not None:
        return empty, f"cache {file}: {problem}; discarded and rebuilt"
    return tuple(data[key] for key in _SECTIONS), None


MAX_CACHE_BYTES = 1024 * 1024 * 1024


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return f"not an isolint cache of format {_FORMAT}"
    checks = {
        "files": lambda v: _row(v, (int, int, str, str, str, str)),
        "results": lambda v: type(v) is list,  # its rows: _decode_results
        "indexed": lambda v: _row(v, (int, int, str, str)),
        "facts": _facts,
        "counts": lambda v: isinstance(v, dict) and all(isinstance(k, str) and _is_int(n) for k, n in v.items()),
        "blobs": lambda v: isinstance(v, str),
        "blob_facts": _facts,
        "fingerprints": lambda v: isinstance(v, str),
    }
    for section, valid in checks.items():
        entries = data.get(section)
        if not isinstance(entries, dict):
            return f"section {section!r} is not an object"
        for key, value in entries.items():
            if not valid(value):
                return f"entry {key!r} of {section!r} has the wrong shape"
    return None


# JSON decodes to exact types, so `type(x) is int` is "an int, not a bool";
# exact type tests keep validating a large cache (every finding of every
# file, on every run) a small part of a warm run.


def _is_int(value: Any) -> bool:
    return type(value) is int


def _row(value: Any, types: tuple[type, ...]) -> bool:
    return (
        type(value) is list
        and len(value) == len(types)
        and all(type(item) is kind for item, kind in zip(value, types, strict=True))
    )


# A finding row's strings are indexes into the cache's table of strings: a
# large project's findings repeat a few hundred strings (codes, messages,
# manual hints) tens of thousands of times, which the table decodes once and
# every finding then shares.
_ROW_LENGTH = 11
_TEXTS = (0, 1, 2, 3, 9)  # code, name, family, message, snippet
_MANUAL = 8
_FIX = 10
_EDIT = (str, int, int, int, int)


def _with_string_table(results: dict[str, list[list[Any]]]) -> tuple[list[str], dict[str, list[list[Any]]]]:
    """(the table, `results` with each string of a row replaced by its index in it)."""
    table: dict[str, int] = {}

    def index(text: str | None) -> int | None:
        return None if text is None else table.setdefault(text, len(table))

    encoded = {}
    for key, rows in results.items():
        out = []
        for row in rows:
            stored = [index(item) if place in _TEXTS or place == _MANUAL else item for place, item in enumerate(row)]
            fix = row[_FIX]
            if fix is not None:
                stored[_FIX] = [index(fix[0]), index(fix[1]), index(fix[2]), fix[3]]
            out.append(stored)
        encoded[key] = out
    return list(table), encoded


class _WrongShape(Exception):
    pass


def _decode_results(data: dict[str, Any]) -> str | None:
    """Replace each row's string indexes with the strings (in place), checking
    every row's shape; why the cache cannot be used, if it cannot."""
    table = data.get("strings")
    if type(table) is not list or not all(type(text) is str for text in table):
        return "its table of strings is not a list of strings"
    size = len(table)

    def text(index: Any) -> str:
        if type(index) is not int or not 0 <= index < size:
            raise _WrongShape
        found: str = table[index]
        return found

    known_codes: set[int] = set()  # live: plugins register their codes after import
    results = data["results"]
    for key, rows in results.items():
        try:
            results[key] = [_decoded_row(row, text, known_codes) for row in rows]
        except _WrongShape:
            return f"entry {key!r} of 'results' has the wrong shape"
    return None


def _decoded_row(row: Any, text: Callable[[Any], str], known_codes: set[int]) -> list[Any]:
    # Unpacked, not walked by position: a warm run decodes every cached row.
    if type(row) is not list or len(row) != _ROW_LENGTH:
        raise _WrongShape
    code, name, family, message, line, column, end_line, end_column, manual, snippet, fix = row
    if not (
        type(line) is int
        and type(column) is int
        and type(end_line) is int
        and type(end_column) is int
        and min(line, column, end_line, end_column) >= 1
    ):
        raise _WrongShape
    decoded_code = text(code)  # an int, once this returns: hashable
    if code not in known_codes:
        if decoded_code not in ENTRY_BY_CODE:
            raise _WrongShape
        known_codes.add(code)
    decoded = [
        decoded_code,
        text(name),
        text(family),
        text(message),
        line,
        column,
        end_line,
        end_column,
        None if manual is None else text(manual),
        text(snippet),
        fix,
    ]
    if fix is not None:
        if type(fix) is not list or len(fix) != 4:
            raise _WrongShape
        applicability, fix_message, isolation, edits = fix
        if not (edits is None or (type(edits) is list and all(_row(edit, _EDIT) for edit in edits))):
            raise _WrongShape
        decoded[_FIX] = [text(applicability), text(fix_message), None if isolation is None else text(isolation), edits]
    return decoded


def _lacks_edits(rows: list[list[Any]]) -> bool:
    """Whether a cached result holds a fix whose edits a plain check did not build."""
    return any(row[_FIX] is not None and row[_FIX][3] is None for row in rows)


def _facts(value: Any) -> bool:
    return isinstance(value, list) and all(_row(fact, (str, str, str, int, dict)) for fact in value)


def _mark_cache_root(directory: Path) -> None:
    for name, content in (
        (".gitignore", "# Automatically created by isolint.\n*\n"),
        ("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# This is an isolint cache directory.\n"),
    ):
        marker = directory / name
        if marker.is_symlink() or marker.exists():  # a dangling symlink would be followed out of the tree
            continue
        with open(marker, "x", encoding="utf-8") as handle:  # "x": never through a link created meanwhile
            handle.write(content)
