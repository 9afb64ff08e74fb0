"""The results cache: unchanged files are never read twice, let alone parsed.

One JSON file per (isolint version, effective settings) under
`.isolint_cache/` (or `$ISOLINT_CACHE_DIR`). It maps each file's real path to
its stat signature and content hash, and each content hash to its findings
(without paths). A file whose mtime and size match is a hit without being
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .findings import Finding

CACHE_DIR_ENV = "ISOLINT_CACHE_DIR"
_FORMAT = 2


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def stat_signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass
class Cache:
    file: Path | None  # None: caching disabled
    # real path -> [mtime_ns, size, content hash, result key, index fingerprint]
    files: dict[str, list[Any]] = field(default_factory=dict)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # result key -> findings
    # real path -> [mtime_ns, size, content hash]; "hash:path" -> index facts
    indexed: dict[str, list[Any]] = field(default_factory=dict)
    facts: dict[str, list[list[Any]]] = field(default_factory=dict)
    _dirty: bool = False

    @classmethod
    def open(cls, root: Path, settings_fingerprint: str, *, enabled: bool) -> Cache:
        if not enabled:
            return cls(None)
        directory = Path(os.environ.get(CACHE_DIR_ENV) or root / ".isolint_cache")
        cache = cls(directory / __version__ / f"{settings_fingerprint}.json")
        cache.files, cache.results, cache.indexed, cache.facts = _load(cache.file)
        return cache

    def lookup_by_stat(self, real_path: Path, signature: tuple[int, int] | None, index_fingerprint: str) -> str | None:
        """The result key of an unchanged file with cached results, without reading it."""
        entry = self.files.get(str(real_path))
        if entry is None or signature is None or entry[3] not in self.results:
            return None
        return entry[3] if (entry[0], entry[1]) == signature and entry[4] == index_fingerprint else None

    def results_for(self, key: str, path: str) -> list[Finding] | None:
        cached = self.results.get(key)
        return None if cached is None else [Finding.from_cache(item, path) for item in cached]

    def store(self, real_path: Path, digest: str, key: str, index_fingerprint: str, findings: list[Finding]) -> None:
        if self.file is None:
            return
        signature = stat_signature(real_path)
        if signature is not None:
            self.files[str(real_path)] = [*signature, digest, key, index_fingerprint]
        self.results[key] = [f.to_cache() for f in findings]
        self._dirty = True

    def facts_by_stat(self, real_path: Path, signature: tuple[int, int] | None) -> list[list[Any]] | None:
        entry = self.indexed.get(str(real_path))
        if entry is None or signature is None or (entry[0], entry[1]) != signature:
            return None
        return self.facts.get(f"{entry[2]}:{real_path}")

    def facts_for(self, digest: str, real_path: Path) -> list[list[Any]] | None:
        return self.facts.get(f"{digest}:{real_path}")

    def store_facts(self, real_path: Path, signature: tuple[int, int] | None, digest: str, facts: list[list[Any]]) -> None:
        if self.file is None or signature is None:
            return
        self.indexed[str(real_path)] = [*signature, digest]
        self.facts[f"{digest}:{real_path}"] = facts
        self._dirty = True

    def save(self) -> None:
        if self.file is None or not self._dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            _mark_cache_root(self.file.parent.parent)
            files, results, indexed, facts = _load(self.file)  # keep what a concurrent run added
            files.update(self.files)
            results.update(self.results)
            indexed.update(self.indexed)
            facts.update(self.facts)
            live_keys = {entry[3] for entry in files.values()}
            live_facts = {f"{entry[2]}:{path}" for path, entry in indexed.items()}
            data = {
                "format": _FORMAT,
                "files": files,
                "results": {key: found for key, found in results.items() if key in live_keys},
                "indexed": indexed,
                "facts": {key: found for key, found in facts.items() if key in live_facts},
            }
            fd, tmp = tempfile.mkstemp(dir=self.file.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, separators=(",", ":"))
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only checkout still gets its results, just no cache


_SECTIONS = ("files", "results", "indexed", "facts")


def _load(file: Path | None) -> tuple[dict[str, Any], ...]:
    if file is not None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("format") == _FORMAT and all(isinstance(data.get(key), dict) for key in _SECTIONS):
                return tuple(data[key] for key in _SECTIONS)
        except (OSError, ValueError, AttributeError):
            pass  # missing or corrupt: start afresh
    return tuple({} for _ in _SECTIONS)


def _mark_cache_root(directory: Path) -> None:
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# Automatically created by isolint.\n*\n", encoding="utf-8")
    tag = directory / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# This is an isolint cache directory.\n", encoding="utf-8")
