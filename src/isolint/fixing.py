"""Computing files' fixes in worker processes, written nowhere yet.

`fix` computes every fixable file's fixes here, and again for the files the
verification gate sends back with rules refused (transaction.py); the
caller decides what is written. The gate's view of the project (what it
knows of the context, and the files the fixes left alone) is here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import content_hash, stat_signature
from .config import Settings
from .findings import SAFE, Finding
from .ignores import PerFileIgnores
from .index import NameMatcher, module_of
from .newer_syntax import remembering_trees
from .pipeline import WORKER_CRASHED
from .plan import Plan, Prefilter, unparsable
from .source import DecodedSource, SourceError, decode, read_bytes
from .transaction import FALLBACK, FirstLint, fallback_marker
from .verify import BuildMany, ModuleSource, Vocabulary, text_model
from .workers import installed, parallel_map, with_progress_bar

if TYPE_CHECKING:
    from .discovery import SourceFile
    from .rules.base import Rule
    from .semantic import ModuleModel
    from .transaction import ComputedFix


@dataclass(frozen=True)
class CheckedLint:
    """A file's lint by the run's check (a plan with `edits_for`), of the bytes whose content hash is `digest`."""

    digest: str
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class FixUnit:
    """One file to fix, as a worker receives it."""

    shown: str
    real: Path
    refused: frozenset[str]  # codes whose fixes the gate refused here (and fallback markers)
    earlier: FirstLint | None = None  # the first lint of the file's previous computation
    checked: CheckedLint | None = None  # the check's lint of the file, when it can be the first


@dataclass(frozen=True)
class Unfixed:
    """A file that could not be fixed: its findings, and why not (None: it says so in a finding)."""

    findings: list[Finding]
    error: str | None = None


@dataclass(frozen=True)
class FixState:
    """A fix worker's per-process state."""

    plan: Plan
    unsafe: bool  # unsafe fixes too
    ignores: PerFileIgnores  # a rule a file ignores runs there, but its fixes are held back


@dataclass
class Fixes:
    computed: dict[str, ComputedFix]  # shown path -> the file's fixes, computed but not written
    unfixed: dict[str, Unfixed]  # shown path -> a file that could not be fixed


def compute_fixes(
    files: Sequence[SourceFile],
    refused: Mapping[str, frozenset[str]],
    state: FixState,
    jobs: int,
    earlier: Mapping[str, ComputedFix] | None = None,
    checked: Mapping[str, CheckedLint] | None = None,
) -> Fixes:
    """The fixes of the files named in `refused` (shown path -> refused codes),
    in `jobs` processes; a file in `earlier` starts from its first lint
    there, and one in `checked` from the check's lint where that can stand
    for it."""
    real_of = {str(file.path): file.real_path for file in files}
    before, lints = earlier or {}, checked or {}
    units = [
        FixUnit(shown, real_of[shown], codes, before[shown].first if shown in before else None, lints.get(shown))
        for shown, codes in refused.items()
    ]
    sizes = [(stat_signature(unit.real) or (0, 0))[1] for unit in units]
    # Largest first, so that no worker is left with a big file at the end;
    # the results are kept in the order asked for, which the gate's rounds follow.
    order = sorted(range(len(units)), key=lambda position: -sizes[position])
    results = parallel_map(_fix_worker, [units[position] for position in order], jobs, state, _fix_crashed)
    by_position = dict(zip(order, with_progress_bar(results, [sizes[p] for p in order], "Fixing"), strict=True))
    fixes = Fixes({}, {})
    for position, unit in enumerate(units):
        result = by_position[position]
        if isinstance(result, Unfixed):
            fixes.unfixed[unit.shown] = result
        else:
            fixes.computed[result.path] = result
    return fixes


def _fix_worker(unit: FixUnit) -> ComputedFix | Unfixed:
    from .engine import fix_text
    from .transaction import ComputedFix, TextModel

    state = installed(FixState)
    plan = state.plan
    # A rule falling back runs as its fallback; a refused rule runs, its
    # fixes held back, so that its findings remain in what the fixes leave
    # (as does one the file's per-file-ignores name: the report drops those).
    fallbacks = frozenset(code for code in unit.refused if code.endswith(FALLBACK))
    fixing = replace(plan, loaded=tuple(_falling_back(plan.rules, fallbacks))) if fallbacks else plan
    try:
        raw = read_bytes(unit.real)
        source = decode(raw)
    except SourceError as exc:
        return Unfixed([unparsable(unit.shown, str(exc))])
    module, is_package = module_of(unit.real)
    earlier = unit.earlier
    built_before: tuple[Finding, ...] = ()
    if earlier is not None and earlier.raw == raw and earlier.fallbacks != fallbacks:
        # Run with other rules (a fallback instead of a rule): lint it again,
        # but take the edits the earlier lint built for the other rules' findings.
        swapped = {marker.removesuffix(FALLBACK) for marker in earlier.fallbacks ^ fallbacks}
        built_before = tuple(f for f in earlier.findings if f.code not in swapped)
    if earlier is not None and (earlier.raw != raw or earlier.fallbacks != fallbacks):
        earlier = None  # changed on disk since, or run with other rules: lint it again
    # The gate's models are built here, in parallel: of the text as it is
    # (unless an earlier computation of the file gave it already), whose
    # tree the first lint then reads, and of the text after the fixes, which
    # reads the last lint's tree.
    with remembering_trees():
        as_it_is = ModuleSource(unit.shown, module, is_package, source.text)
        before = None if unit.earlier is not None else TextModel(text_model(as_it_is, source.text))
        first = earlier.findings if earlier is not None else None
        if first is None and not fallbacks:  # the check ran the plan's own rules
            first = _checked_first(unit, raw, source, state.unsafe)
        outcome = fix_text(
            source,
            unit.shown,
            fixing,
            unsafe=state.unsafe,
            module_name=module,
            is_package=is_package,
            held=(unit.refused - fallbacks) | state.ignores.ignored(unit.real, (rule.code for rule, _ in plan.rules)),
            first=first,
            built_before=built_before,
        )
        return ComputedFix.of(outcome, unit.shown, module, is_package, raw, source, fallbacks).with_models(before)


def _checked_first(unit: FixUnit, raw: bytes, source: DecodedSource, unsafe: bool) -> tuple[Finding, ...] | None:
    """The check's lint of the file, where it is what the fixes' first lint
    would find (the check's plan is the fix's: called only where no fallback
    runs instead of a rule): of these bytes, which are the UTF-8 of the text
    the fix lints (whose prefilters read that), with the edits of every fix
    a pass may apply built."""
    checked = unit.checked
    if checked is None or checked.digest != content_hash(raw) or raw != source.text.encode("utf-8", "surrogatepass"):
        return None
    unbuilt = (
        f for f in checked.findings if f.fix is not None and not f.fix.built and (unsafe or f.fix.applicability == SAFE)
    )
    return None if any(unbuilt) else checked.findings


def _falling_back(
    rules: Iterable[tuple[type[Rule], Prefilter]], fallbacks: frozenset[str]
) -> Iterator[tuple[type[Rule], Prefilter]]:
    """`rules`, with their fallbacks where `fallbacks` marks them to run instead."""
    for rule, prefilter in rules:
        if rule.fallback is not None and fallback_marker(rule.code) in fallbacks:
            rule = rule.fallback
        yield rule, prefilter


def _fix_crashed(unit: FixUnit) -> Unfixed:
    return Unfixed([unparsable(unit.shown, WORKER_CRASHED)], "not fixed: its worker process died")


@dataclass(frozen=True)
class _Model:
    """A model built in a worker process (a worker that died gives None instead)."""

    model: ModuleModel | None


def unchanged_models(jobs: int) -> BuildMany:
    """What builds the gate's models of files the fixes left alone, in
    `jobs` processes: the gate's first round asks for hundreds at once (379,
    7.5 s, at 1M dense lines). A model a dead worker did not give is built here."""

    def build(sources: Sequence[ModuleSource]) -> list[ModuleModel | None]:
        built = parallel_map(_unchanged_model, sources, jobs, None, _model_crashed)
        return [
            done.model if done is not None else text_model(source, source.text, flow=False)
            for source, done in zip(sources, built, strict=True)
        ]

    return build


def _unchanged_model(source: ModuleSource) -> _Model:
    return _Model(text_model(source, source.text, flow=False))


def _model_crashed(source: ModuleSource) -> _Model | None:
    return None


def vocabulary(settings: Settings) -> Vocabulary:
    """What the verification gate knows of the context and the legacy state (verify/), from the settings."""
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


def project_reader(
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
                    module, is_package = module_of(file.real_path)
                    texts[shown] = ModuleSource(shown, module, is_package, decode(raw).text)
                except SourceError:
                    texts[shown] = None
            source = texts[shown]
            if source is not None:
                yield source

    return read
