"""The project index: cross-file facts, built cheaply before the per-file visit.

Some rules need to know what other files define: a call to
`get_agent_registry()` is a finding only if some module defines that
accessor as a singleton. Before the LibCST pass, every file whose bytes match
an indexing rule's `index_prefilter` is parsed with the standard library's
`ast` (several times faster than LibCST) and each indexing rule lists its
facts. Facts are cached with the file cache, keyed by content and module
name, so an unchanged project is indexed without reading a file.

Facts carry qualified names (`chatapp.registry.get_agent_registry`) so two
modules defining the same short name never get confused.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Fact:
    kind: str  # e.g. "singleton-accessor"; each indexing rule documents its kinds
    qualname: str  # module.Name or module.Class.method
    path: str  # where it is defined, as shown to the user
    line: int
    data: Mapping[str, Any] = field(default_factory=dict)  # JSON-safe extras

    @property
    def name(self) -> str:
        return self.qualname.rpartition(".")[2]

    def to_json(self) -> list[Any]:
        return [self.kind, self.qualname, self.path, self.line, dict(self.data)]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> Fact:
        return cls(raw[0], raw[1], raw[2], raw[3], raw[4])


class ProjectIndex:
    """All facts of a project, queried by kind and qualified name."""

    def __init__(self, facts: Iterable[Fact] = ()) -> None:
        self._facts = tuple(sorted(set_of(facts), key=lambda f: (f.kind, f.qualname, f.path, f.line)))
        self._by_key = {(f.kind, f.qualname): f for f in self._facts}
        self._words: frozenset[bytes] | None = None  # the facts' short names, for relevant_fingerprint
        self._names_pattern: re.Pattern[bytes] | None = None  # those that are not ASCII words

    def __len__(self) -> int:
        return len(self._facts)

    def __reduce__(self) -> tuple[Any, ...]:  # workers receive the index pickled
        return (ProjectIndex, (self._facts,))

    @property
    def facts(self) -> tuple[Fact, ...]:
        return self._facts

    def get(self, kind: str, qualname: str) -> Fact | None:
        return self._by_key.get((kind, qualname))

    def of_kind(self, *kinds: str) -> tuple[Fact, ...]:
        return tuple(f for f in self._facts if f.kind in kinds)

    def names(self, *kinds: str) -> frozenset[str]:
        """Short names of the facts of these kinds (all kinds if none given), for prefilters."""
        return frozenset(f.name for f in self._facts if not kinds or f.kind in kinds)

    @property
    def fingerprint(self) -> str:
        return _digest(f.to_json() for f in self._facts)

    def relevant_fingerprint(self, raw: bytes) -> str:
        """A digest of the facts whose short name occurs in `raw`: a file's
        cached results stay valid while this does not change."""
        if not self._facts:
            return ""
        present = self._mentioned(raw)
        return _digest(f.to_json() for f in self._facts if f.name in present)

    def _mentioned(self, raw: bytes) -> set[str]:
        """The facts' short names that occur in `raw` as whole words.

        A set intersection with the words of the file: one regex alternation of
        hundreds of names costs ten times as much (`re` tries every name at
        every word). Names that are not ASCII words, which `\\w+` on bytes
        would split, go through such an alternation, whole-word as well."""
        if self._words is None:
            names = {f.name for f in self._facts}
            ascii_words = {name for name in names if _ASCII_WORD.fullmatch(name)}
            self._words = frozenset(name.encode() for name in ascii_words)
            others = sorted(names - ascii_words, key=len, reverse=True)
            if others:
                self._names_pattern = re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in others) + rb")\b")
        present = {word.decode() for word in self._words.intersection(_WORD.findall(raw))}
        if self._names_pattern is not None:
            present.update(m.group().decode() for m in self._names_pattern.finditer(raw))
        return present


_WORD = re.compile(rb"\w+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+")


def set_of(facts: Iterable[Fact]) -> list[Fact]:
    seen: dict[tuple[str, str, str, int], Fact] = {}
    for fact in facts:
        seen.setdefault((fact.kind, fact.qualname, fact.path, fact.line), fact)
    return list(seen.values())


def _digest(items: Iterable[Any]) -> str:
    return hashlib.sha256(json.dumps(list(items), sort_keys=True).encode()).hexdigest()[:16]


EMPTY = ProjectIndex()


@lru_cache(maxsize=4096)
def _package_of(directory: Path) -> tuple[str, ...]:
    if not (directory / "__init__.py").is_file() or directory.parent == directory:
        return ()
    return (*_package_of(directory.parent), directory.name)


def module_name_for(path: Path) -> str:
    """The dotted module name of a file, from the packages (`__init__.py`) around it."""
    stem = path.stem if path.suffix in (".py", ".pyi") else path.name
    parts = _package_of(path.parent)
    if stem == "__init__":
        return ".".join(parts)
    return ".".join((*parts, stem))


def index_source(raw: bytes, path: str, module: str, indexers: Sequence[tuple[Any, re.Pattern[bytes]]], settings: Any) -> list[Fact]:
    """Facts of one file from the indexing rules whose prefilter matches it."""
    return index_file(raw, path, module, indexers, settings)[0]


def index_file(
    raw: bytes, path: str, module: str, indexers: Sequence[tuple[Any, re.Pattern[bytes]]], settings: Any
) -> tuple[list[Fact], bool]:
    """index_source, and whether the file had to be parsed (some indexing
    rule's prefilter matched it)."""
    wanted = [rule for rule, prefilter in indexers if prefilter.search(raw)]
    if not wanted:
        return [], False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(raw, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [], True  # the check pass reports it as ISO000
    facts = []
    for rule in wanted:
        for kind, name, line, data in rule.index(tree, settings):
            facts.append(Fact(kind, f"{module}.{name}" if module else name, path, line, data))
    return facts, True
