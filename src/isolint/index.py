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

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from .newer_syntax import parse_module
from .scopes import remembering_children, resolve_relative

if TYPE_CHECKING:
    from .prefilters import TextFilter


@dataclass(frozen=True, slots=True)
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

    def without_lines(self) -> list[Any]:
        """`to_json` without line numbers (the fact's own and any `line` in its
        data): rules put lines only in messages, so this is all that decides
        whether a finding exists."""
        return [self.kind, self.qualname, self.path, _without_lines(self.data)]


def _without_lines(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_lines(item) for key, item in value.items() if key != "line"}
    if isinstance(value, (list, tuple)):
        return [_without_lines(item) for item in value]
    return value


# Fact kind -> the short names of the facts one of its facts builds on (a
# class's bases, an alias's target). Registered next to each indexer, with
# `links`; a file's cached results depend on those facts too (relevant_facts).
_LINKS: dict[str, Callable[[Fact], Iterable[str]]] = {}
T = TypeVar("T")


def links(*kinds: str) -> Callable[[Callable[[Fact], Iterable[str]]], Callable[[Fact], Iterable[str]]]:
    """Register the function naming what facts of `kinds` build on."""

    def register(function: Callable[[Fact], Iterable[str]]) -> Callable[[Fact], Iterable[str]]:
        for kind in kinds:
            _LINKS[kind] = function
        return function

    return register


_RelevantKey = tuple[frozenset[str], tuple[int, ...]]  # the names a file mentions, the ids of its own linked facts


class ProjectIndex:
    """All facts of a project, queried by kind and qualified name."""

    def __init__(self, facts: Iterable[Fact] = (), *, fingerprint: str | None = None) -> None:
        """`fingerprint`, when given, is these facts' own (as a run over the
        same files computed it before): digesting every fact costs a warm run
        of a large project more than its cached findings do."""
        self._facts = tuple(sorted(set_of(facts), key=lambda f: (f.kind, f.qualname, f.path, f.line)))
        self._fingerprint = fingerprint
        self._by_key = {(f.kind, f.qualname): f for f in self._facts}
        self._matcher: NameMatcher | None = None  # the facts' short names, for relevant_fingerprint
        self._graph: _LinkGraph | None = None
        # Memos of what a file's names and own facts give, both bounded: a
        # worker sees thousands of files, and at millions of lines one file's
        # relevant facts run to thousands.
        self._relevant: dict[_RelevantKey, tuple[Fact, ...]] = {}
        self._relevant_held = 0  # facts referenced from _relevant, all entries together
        self._fingerprints: dict[_RelevantKey, str] = {}
        # Rules ask the same questions of every file they check: answered once per index.
        self._of_kind: dict[tuple[str, ...], tuple[Fact, ...]] = {}
        self._names: dict[tuple[str, ...], frozenset[str]] = {}
        self._named: dict[tuple[str, str], tuple[Fact, ...]] | None = None
        self._containers: frozenset[str] | None = None  # every dotted prefix of a fact's qualified name
        self._derived: dict[Callable[[ProjectIndex], object], object] = {}
        self._fact_digests: dict[int, bytes] = {}  # id of one of these facts -> its own digest

    def __len__(self) -> int:
        return len(self._facts)

    def __reduce__(self) -> tuple[Any, ...]:  # workers receive the index pickled
        return (_unpickled_index, (self._facts, self._fingerprint))

    @property
    def facts(self) -> tuple[Fact, ...]:
        return self._facts

    def restricted(self, kinds: set[str]) -> ProjectIndex:
        """The facts of these kinds only."""
        if all(fact.kind in kinds for fact in self._facts):
            return self
        return ProjectIndex(fact for fact in self._facts if fact.kind in kinds)

    def get(self, kind: str, qualname: str) -> Fact | None:
        return self._by_key.get((kind, qualname))

    def of_kind(self, *kinds: str) -> tuple[Fact, ...]:
        found = self._of_kind.get(kinds)
        if found is None:
            found = self._of_kind[kinds] = tuple(f for f in self._facts if f.kind in kinds)
        return found

    def named(self, kind: str, name: str) -> tuple[Fact, ...]:
        """The facts of `kind` whose short name (the last part of the qualified name) is `name`."""
        if self._named is None:
            named: dict[tuple[str, str], list[Fact]] = {}
            for fact in self._facts:
                named.setdefault((fact.kind, fact.name), []).append(fact)
            self._named = {key: tuple(facts) for key, facts in named.items()}
        return self._named.get((kind, name), ())

    def exported(self, qualname: str, *kinds: str) -> Fact | None:
        """The fact of one of `kinds` for `qualname`; or else the one a
        package re-exports under that name (`in_package`); or else, when an
        import renamed what `qualname` names (a `RENAME` fact, in a package's
        `__init__` or any module), the fact of the name it renames, followed
        through as many renames as there are. A loop, not a call per rename:
        a chain of them can be longer than the recursion limit allows, and a
        cycle of them names nothing."""
        seen: set[str] = set()
        while qualname not in seen:
            seen.add(qualname)
            exact = next((fact for kind in sorted(kinds) if (fact := self.get(kind, qualname)) is not None), None)
            found = exact if exact is not None else self.in_package(qualname, *kinds)
            if found is not None or RENAME in kinds:  # a rename asked for is the fact itself
                return found
            rename = self.get(RENAME, qualname) or self.in_package(qualname, RENAME)
            renamed = renamed_name(rename) if rename is not None else None
            if renamed is None:
                return None
            qualname = renamed
        return None

    def in_package(self, qualname: str, *kinds: str) -> Fact | None:
        """When `qualname` is `pkg.Name` and exactly one module inside the
        package `pkg` has a fact of `kinds` for a module-level `Name`, that
        fact: a package re-exports its modules' names (`from .mod import
        Name` in `pkg/__init__.py`), and the index does not read an
        `__init__` for its imports alone. A name nested in a class of `pkg`
        (`pkg.Cls.Name`) is not a re-export; nor is anything when `pkg.Name`
        holds facts itself: it is a module (or class) then, which is what
        `from pkg import Name` gives."""
        package, _, short = qualname.rpartition(".")
        if not package:
            return None
        if self._containers is None:
            self._containers = frozenset(fact.qualname[:dot] for fact in self._facts for dot in _dots(fact.qualname))
        if qualname in self._containers:
            return None
        inside = [
            fact
            for kind in sorted(kinds)  # as the index sorts its facts
            for fact in self.named(kind, short)
            if fact.qualname.startswith(package + ".") and _in_submodule(fact, package)
        ]
        # One name can have facts of several kinds (an accessor that is an alias too).
        return inside[0] if len({fact.qualname for fact in inside}) == 1 else None

    def renamed(self, resolves: Callable[[str], bool]) -> frozenset[str]:
        """Short names imports give to names `resolves` accepts (the `RENAME`
        facts whose renamed name it accepts; it may follow further renames
        with `exported`): what a family's prefilters and cheap name tests
        must know beside the names of its own facts."""
        return frozenset(
            fact.name
            for fact in self.of_kind(RENAME)
            if (renamed := renamed_name(fact)) is not None and resolves(renamed)
        )

    def derived(self, build: Callable[[ProjectIndex], T]) -> T:
        """`build(self)`, computed once per index: what a rule derives from
        the facts is the same for every file it checks, and deriving it per
        file made a check grow with the square of the project's size."""
        if build not in self._derived:
            self._derived[build] = build(self)
        return cast(T, self._derived[build])

    def names(self, *kinds: str) -> frozenset[str]:
        """Short names of the facts of these kinds (all kinds if none given), for prefilters."""
        found = self._names.get(kinds)
        if found is None:
            found = self._names[kinds] = frozenset(f.name for f in self._facts if not kinds or f.kind in kinds)
        return found

    @property
    def fingerprint(self) -> str:
        """A digest of every fact."""
        if self._fingerprint is None:
            self._fingerprint = _digest(f.to_json() for f in self._facts)
        return self._fingerprint

    def relevant_fingerprint(self, raw: bytes, path: str) -> str:
        """A digest of the facts the findings of the file at `path`, whose
        bytes are `raw`, can depend on (relevant_facts): its cached results
        stay valid while this does not change."""
        if not self._facts:
            return ""
        if self._matcher is None:
            self._matcher = NameMatcher(f.name for f in self._facts)
        names, own = self._matcher.found(raw), self._link_graph().built_upon_in(path)
        memo = (names, tuple(map(id, own)))  # files mentioning the same names share one
        digest = self._fingerprints.get(memo)
        if digest is None:
            if len(self._fingerprints) >= _FINGERPRINT_MEMO_SIZE:
                self._fingerprints.clear()
            # Only the digest is kept: holding each file's relevant facts made a
            # worker's memory grow with the project (tens of megabytes at 3M lines).
            digest = self._fingerprints[memo] = self.digest(self._link_graph().closure(names, own))
        return digest

    def digest(self, facts: Iterable[Fact]) -> str:
        """What a cache key holds of `facts`, facts of this index: a digest of
        their own digests, each computed once per index. A file's relevant
        facts grow with the project (about 5,900 a file at 3M dense lines),
        and serializing them all for every file cost more than checking it."""
        own = self._fact_digests
        parts = []
        for fact in facts:
            part = own.get(id(fact))
            if part is None:
                part = own[id(fact)] = hashlib.sha256(json.dumps(fact.to_json(), sort_keys=True).encode()).digest()
            parts.append(part)
        return hashlib.sha256(b"".join(parts)).hexdigest()[:16]

    def relevant_facts(self, names: frozenset[str], path: str) -> tuple[Fact, ...]:
        """The facts a file mentioning `names` can depend on: those it names
        and, transitively, the facts they build on (a base class's bases, the
        target of an alias of an alias); and those building on the file's own
        facts (its classes' subclasses elsewhere). `path` is the file's path
        as the index records it, or any path ending with that."""
        graph = self._link_graph()
        own = graph.built_upon_in(path)
        memo = (names, tuple(map(id, own)))
        found = self._relevant.get(memo)
        if found is None:
            found = graph.closure(names, own)
            if self._relevant_held + len(found) > _RELEVANT_MEMO_FACTS:
                self._relevant.clear()
                self._relevant_held = 0
            self._relevant[memo] = found
            self._relevant_held += len(found)
        return found

    def _link_graph(self) -> _LinkGraph:
        if self._graph is None:
            self._graph = _LinkGraph(self._facts)
        return self._graph


# A module-level statement that binds a name to another one (data
# {"module": "M" ("" for the same module), "level": relative-import level,
# "name": "N"}): `from M import N as L`, `L = N`, `L = m.N`. ISO401's indexer
# records one in every module that has one, whatever else the module names,
# and `ProjectIndex.exported` follows the imports among them for every
# family. The kind keeps the name of the family that first read it.
RENAME = "legacy-state:reexport"


def renamed_name(fact: Fact) -> str | None:
    """The absolute name a `RENAME` fact's import renames (`pkg.state.hub` for
    `from .state import hub as manager` in `pkg/__init__.py`); None for an
    assignment (`L = N`, `L = m.N`), which the fact does not say enough
    about to follow: the name may be the module's own or an attribute's."""
    module, level, name = fact.data.get("module", ""), fact.data.get("level", 0), fact.data.get("name", "")
    if not name or (not module and not level):
        return None
    importer = fact.qualname.rpartition(".")[0]
    absolute = resolve_relative(importer, fact.path.endswith("__init__.py"), level, module or None)
    return f"{absolute}.{name}" if absolute else name


def _dots(qualname: str) -> Iterator[int]:
    """Where each dot of `qualname` is."""
    dot = qualname.find(".")
    while dot != -1:
        yield dot
        dot = qualname.find(".", dot + 1)


def _in_submodule(fact: Fact, package: str) -> bool:
    """Whether `fact`, whose qualified name is under `package`, is defined in
    a module below the package (its first name after the package names a
    directory or file of the fact's path), not in a class of the package."""
    below = fact.qualname[len(package) + 1 :].partition(".")[0]
    return below in PurePosixPath(fact.path).with_suffix("").parts


_FINGERPRINT_MEMO_SIZE = 4096
_RELEVANT_MEMO_FACTS = 500_000  # references held by the relevant-facts memo: about 4 MB


class _LinkGraph:
    """The facts by short name, and the links between them (`links`)."""

    def __init__(self, facts: tuple[Fact, ...]) -> None:
        from .rules import load_fact_links  # the rule families register their links on import

        load_fact_links()
        self.order = {id(fact): position for position, fact in enumerate(facts)}
        self.named: dict[str, list[Fact]] = {}
        for fact in facts:
            self.named.setdefault(fact.name, []).append(fact)
        self.up: dict[int, list[Fact]] = {}
        self.down: dict[int, list[Fact]] = {}
        for fact in facts:
            link = _LINKS.get(fact.kind)
            for name in set(link(fact)) if link is not None else ():
                for target in self.named.get(name, ()):
                    if target is not fact:
                        self.up.setdefault(id(fact), []).append(target)
                        self.down.setdefault(id(target), []).append(fact)
        self._built_upon = [fact for fact in facts if id(fact) in self.down]
        self._own: dict[str, tuple[Fact, ...]] = {}

    def built_upon_in(self, path: str) -> tuple[Fact, ...]:
        """The facts of the file at `path` that others build on."""
        own = self._own.get(path)
        if own is None:
            own = self._own[path] = tuple(f for f in self._built_upon if path == f.path or path.endswith("/" + f.path))
        return own

    def closure(self, names: frozenset[str], own: tuple[Fact, ...]) -> tuple[Fact, ...]:
        found = {id(fact): fact for name in names for fact in self.named.get(name, ())}
        found.update((id(fact), fact) for fact in own)
        # Up from everything, down only from the file's own facts: a base
        # class's other subclasses are no dependency of a subclass.
        for edges, start in ((self.up, list(found.values())), (self.down, list(own))):
            seen = {id(fact) for fact in start}
            pending = start
            while pending:
                for linked in edges.get(id(pending.pop()), ()):
                    if id(linked) not in seen:
                        seen.add(id(linked))
                        found[id(linked)] = linked
                        pending.append(linked)
        return tuple(sorted(found.values(), key=lambda fact: self.order[id(fact)]))


class NameMatcher:
    """Which of many names occur in a file as whole words.

    A set intersection with the words of the file: one regex alternation of
    hundreds of names costs ten times as much (`re` tries every name at every
    word). Names that are not ASCII words, which `\\w+` on bytes would split,
    go through such an alternation, whole-word as well."""

    def __init__(self, names: Iterable[str]) -> None:
        unique = set(names)
        ascii_words = {name for name in unique if _ASCII_WORD.fullmatch(name)}
        self._words = frozenset(name.encode() for name in ascii_words)
        others = sorted(unique - ascii_words, key=len, reverse=True)
        self._others = (
            re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in others) + rb")\b") if others else None
        )

    def found(self, raw: bytes) -> frozenset[str]:
        present = {word.decode() for word in self._words.intersection(_WORD.findall(raw))}
        if self._others is not None:
            present.update(m.group().decode() for m in self._others.finditer(raw))
        return frozenset(present)


_WORD = re.compile(rb"\w+")
_ASCII_WORD = re.compile(r"[A-Za-z0-9_]+")


def set_of(facts: Iterable[Fact]) -> list[Fact]:
    seen: dict[tuple[str, str, str, int], Fact] = {}
    for fact in facts:
        seen.setdefault((fact.kind, fact.qualname, fact.path, fact.line), fact)
    return list(seen.values())


def digest_of(facts: Iterable[Fact], *, with_lines: bool = True) -> str:
    """What cache keys hold of these facts (see Fact.without_lines)."""
    return _digest(f.to_json() if with_lines else f.without_lines() for f in facts)


def _digest(items: Iterable[Any]) -> str:
    return hashlib.sha256(json.dumps(list(items), sort_keys=True).encode()).hexdigest()[:16]


EMPTY = ProjectIndex()


def _unpickled_index(facts: tuple[Fact, ...], fingerprint: str | None) -> ProjectIndex:
    return ProjectIndex(facts, fingerprint=fingerprint)


def forget_packages() -> None:
    """Look at the directories' `__init__.py` files again: each run's modules
    are named from the tree as it is when the run starts (a language server
    outlives many)."""
    _packages.clear()


# directory -> the dotted package it is (empty when it is none), for this run.
# Strings, not paths: a warm run names every file's module, and pathlib's
# parsing and hashing cost more than the lookups.
_packages: dict[str, tuple[str, ...]] = {}


def _package_of(directory: str) -> tuple[str, ...]:
    found = _packages.get(directory)
    if found is None:
        parent, name = os.path.split(directory)
        if parent == directory or not os.path.isfile(os.path.join(directory, "__init__.py")):
            found = ()
        else:
            found = (*_package_of(parent), name)
        _packages[directory] = found
    return found


def module_name_for(path: Path) -> str:
    """The dotted module name of a file, from the packages (`__init__.py`) around it."""
    directory, name = os.path.split(path)
    stem, suffix = os.path.splitext(name)  # as pathlib's: `.py` alone is a name, not a suffix
    parts = _package_of(directory)
    if suffix not in (".py", ".pyi"):
        stem = name
    if stem == "__init__":
        return ".".join(parts)
    return ".".join((*parts, stem))


def module_of(path: Path) -> tuple[str, bool]:
    """A file's dotted module name, and whether it is a package's __init__."""
    return module_name_for(path), os.path.basename(path) == "__init__.py"


def module_key(module: tuple[str, bool]) -> str:
    """A file's module (`module_of`) as cache keys hold it. A file's findings
    and facts depend on it as well as on its content: adding an `__init__.py`
    renames the modules beside it, whose text does not change."""
    name, is_package = module
    return f"{name}/__init__" if is_package else name


def index_source(
    raw: bytes,
    path: str,
    module: str,
    indexers: Sequence[tuple[Any, TextFilter]],
    settings: Any,
    *,
    is_package: bool = False,
) -> list[Fact]:
    """Facts of one file from the indexing rules whose prefilter matches it."""
    return index_file(raw, path, module, indexers, settings, is_package=is_package).facts


class Indexing(NamedTuple):
    """What indexing one file gave."""

    facts: list[Fact]
    parsed: bool  # some indexing rule's prefilter matched it, so the parser ran
    parses: bool = False  # and accepted it: the check pass need not parse it only to look for a syntax error


def index_file(
    raw: bytes,
    path: str,
    module: str,
    indexers: Sequence[tuple[Any, TextFilter]],
    settings: Any,
    *,
    is_package: bool = False,
) -> Indexing:
    """index_source, and whether the file had to be parsed, and parsed."""
    wanted = [rule for rule, prefilter in indexers if prefilter.search(raw)]
    if not wanted:
        return Indexing([], False)
    try:
        tree = parse_module(raw, path)  # Python 3.12 f-strings included, see newer_syntax.py
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Indexing([], True)  # the check pass reports it as ISO000
    facts = []
    with remembering_children():
        for rule in wanted:
            for kind, name, line, data in rule.index_module(tree, raw, settings, module, is_package):
                facts.append(Fact(kind, f"{module}.{name}" if module else name, path, line, data))
    return Indexing(facts, True, True)
