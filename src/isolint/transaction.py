"""Fixes as transactions: computed for every file, verified as one program,
refused group by group, and nothing lost from the report.

A file's fixes for one rule are a group. After every file's fixes are
computed (nothing written yet), the verification gate (verify/) compares
the project before and after. Each violation names the files whose changes
caused it; in each such file the riskiest rule that fixed something is
refused, that file is fixed again without it, and the project is verified
again, until nothing is violated. A refused group leaves its findings in the
report as manual work, with the reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .findings import Finding
from .linediff import matching_blocks
from .semantic import ModuleModel
from .source import DecodedSource, split_lines
from .verify import (
    BuildMany,
    ContractChange,
    ModelCache,
    ModuleSource,
    ReadOthers,
    Verdict,
    Violation,
    Vocabulary,
    text_model,
    verify,
)

if TYPE_CHECKING:
    from .engine import FixOutcome  # the engine imports LibCST; the gate needs none of it

# The order in which a file's fixes are refused when it is blamed: fixes that
# change contracts (signatures, attributes, identities, types) first.
RISK_ORDER = (
    "ISO405",
    "ISO201",
    "ISO304",
    "ISO101",
    "ISO102",
    "ISO105",
    "ISO104",
    "ISO103",
    "ISO403",
    "ISO404",
    "ISO402",
    "ISO406",
    "ISO205",
    "ISO302",
    "ISO303",
    "ISO204",
)
MAX_ROUNDS = 24


NOT_SETTLED = "fixes did not settle; left what parsed and stopped"

# In a file's refused codes, `<code>~fallback`: the rule's own fixes are refused
# there and its fallback (a compatible form of the same fix, Rule.fallback) runs instead.
FALLBACK = "~fallback"


def fallback_marker(code: str) -> str:
    return code + FALLBACK


@dataclass(frozen=True)
class FirstLint:
    """A file's first lint in a computation of its fixes (fix_text's first
    pass): a later computation of the same bytes, with the same fallbacks,
    starts from it instead of linting again (the gate refuses rules, which
    changes what is applied, not what the first lint finds)."""

    raw: bytes
    fallbacks: frozenset[str]  # the fallback markers the computation ran with
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class ComputedFix:
    """One file's fixes, computed and not yet written."""

    path: str  # as shown
    module: str
    is_package: bool
    raw: bytes
    source: DecodedSource
    text: str  # after the fixes
    applied: int
    codes: frozenset[str]
    findings: tuple[Finding, ...]  # what remains in the file after them
    error: str | None = None
    first: FirstLint | None = None
    # The gate's models of the text before and after the fixes, built with
    # them in a worker process (`with_models`); None: not built there. A
    # way to hand them over, not part of what the fixes are.
    models: TextModels | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        outcome: FixOutcome,
        path: str,
        module: str,
        is_package: bool,
        raw: bytes,
        source: DecodedSource,
        fallbacks: frozenset[str] = frozenset(),
    ) -> ComputedFix:
        """The fixes `engine.fix_text` computed for the file, computed with `fallbacks`."""
        return cls(
            path,
            module,
            is_package,
            raw,
            source,
            outcome.text,
            outcome.applied,
            outcome.codes,
            tuple(outcome.findings),
            None if outcome.converged else NOT_SETTLED,
            FirstLint(raw, fallbacks, tuple(outcome.first)),
        )

    @property
    def changed(self) -> bool:
        return self.applied > 0 and self.text != self.source.text

    @property
    def module_source(self) -> ModuleSource:
        """The file as it is, as the verification gate reads it."""
        return ModuleSource(self.path, self.module, self.is_package, self.source.text)

    def with_models(self, before: TextModel | None) -> ComputedFix:
        """These fixes with the gate's models of the text after them, and of
        the text before (`before`, when it was built), when they change the
        file: the gate would otherwise build them one by one in the main process."""
        if not self.changed:
            return self
        return replace(self, models=TextModels(before, text_model(self.module_source, self.text)))


@dataclass(frozen=True)
class TextModel:
    model: ModuleModel | None  # None: the text does not parse


@dataclass(frozen=True)
class TextModels:
    before: TextModel | None  # None: not built with the fixes
    after: ModuleModel | None


@dataclass(frozen=True)
class Refusal:
    path: str
    code: str
    violation: Violation
    # The rule's fallback fixes went in instead (a widened signature that
    # keeps the old callers working rather than a changed one).
    fallback: bool = False

    def describe(self) -> str:
        if self.fallback:
            return (
                f"{self.path}: {self.code} kept the old call shape working instead (transitional form) where it could: "
                f"{self.violation.describe()}"
            )
        return f"{self.path}: {self.code} fixes refused: {self.violation.describe()}"


Recompute = Callable[[Mapping[str, frozenset[str]]], Mapping[str, ComputedFix]]


def settle(
    computed: dict[str, ComputedFix],
    recompute: Recompute,
    read_others: ReadOthers,
    vocabulary: Vocabulary,
    with_fallback: frozenset[str] = frozenset(),
    build_many: BuildMany | None = None,
) -> tuple[list[Refusal], list[ContractChange]]:
    """Refuse groups in `computed` (updated in place) until the project
    verifies; the refusals, and the contracts the remaining fixes change.
    A blamed rule in `with_fallback` first falls back in that file to its
    compatible fixes; only if those are blamed too is it refused there.
    `build_many` builds the models of the files the fixes left alone, several at once."""
    excluded: dict[str, set[str]] = defaultdict(set)
    refusals: list[Refusal] = []
    cache = ModelCache(build_many)
    for _ in range(MAX_ROUNDS):
        verdict = _verdict(computed, read_others, vocabulary, cache)
        if not verdict.violations:
            return _held(refusals, computed), verdict.contracts
        again: dict[str, frozenset[str]] = {}
        for violation in verdict.violations:
            for path in sorted(violation.responsible):
                fix = computed.get(path)
                if fix is None or not fix.changed or path in again:
                    continue
                code = next(
                    (
                        c
                        for c in (*violation.suspects, *_by_risk(fix.codes))
                        if c in fix.codes and c not in excluded[path]
                    ),
                    None,
                )
                if code is None:
                    continue
                if code in with_fallback and fallback_marker(code) not in excluded[path]:
                    excluded[path].add(fallback_marker(code))
                    refusals.append(Refusal(path, code, violation, fallback=True))
                else:
                    excluded[path].add(code)
                    # The fallback did not hold: the reason to give is still why the rule's own fixes were refused.
                    tried = next((r for r in refusals if (r.path, r.code) == (path, code)), None)
                    refusals = [r for r in refusals if r is not tried]
                    refusals.append(Refusal(path, code, tried.violation if tried is not None else violation))
                again[path] = frozenset(excluded[path])
        if not again:
            break
        computed.update(recompute(again))
    # Still violated with nothing left to refuse rule by rule: leave every blamed file as it was.
    for violation in _verdict(computed, read_others, vocabulary, cache).violations:
        for path in sorted(violation.responsible):
            fix = computed.get(path)
            if fix is not None and fix.changed:
                refusals = [r for r in refusals if r.path != path]
                refusals.extend(Refusal(path, code, violation) for code in sorted(fix.codes))
                computed[path] = replace(fix, text=fix.source.text, applied=0, codes=frozenset())
    return _held(refusals, computed), _verdict(computed, read_others, vocabulary, cache).contracts


def _held(refusals: list[Refusal], computed: Mapping[str, ComputedFix]) -> list[Refusal]:
    """A fallback that fixed nothing in its file (none of its fixes could be
    written there) is a plain refusal."""
    held = []
    for refusal in refusals:
        fix = computed.get(refusal.path)
        if refusal.fallback and (fix is None or not fix.changed or refusal.code not in fix.codes):
            refusal = replace(refusal, fallback=False)
        held.append(refusal)
    return held


def _by_risk(codes: Iterable[str]) -> list[str]:
    rank = {code: index for index, code in enumerate(RISK_ORDER)}
    return sorted(codes, key=lambda code: (rank.get(code, len(RISK_ORDER)), code))


def _verdict(
    computed: Mapping[str, ComputedFix], read_others: ReadOthers, vocabulary: Vocabulary, cache: ModelCache
) -> Verdict:
    changed = {path: (fix.module_source, fix.text) for path, fix in computed.items() if fix.changed}
    for fix in computed.values():
        if fix.changed and fix.models is not None:
            if fix.models.before is not None:
                cache.add(fix.module_source, fix.source.text, fix.models.before.model)
            cache.add(fix.module_source, fix.text, fix.models.after)
    if not changed:
        return Verdict([], [])
    return verify(changed, read_others, vocabulary, cache)


def mark_refused(findings: Iterable[Finding], refusals: Iterable[Refusal]) -> list[Finding]:
    """Findings whose fix was refused become manual work that says why."""
    reasons: dict[tuple[str, str], str] = {}
    for refusal in refusals:
        reasons.setdefault((refusal.path, refusal.code), refusal.violation.describe())
    marked = []
    for finding in findings:
        reason = reasons.get((finding.path, finding.code))
        if reason is not None and finding.fix is not None:
            hint = f"isolint fix refused this fix because it would break the program: {reason}."
            finding = replace(finding, fix=None, manual=f"{hint} {finding.manual}" if finding.manual else hint)
        marked.append(finding)
    return marked


def carried_over(
    before: Iterable[Finding],
    after: Iterable[Finding],
    texts: Mapping[str, tuple[str, str]],
    fixed: Callable[[Finding], bool],
) -> list[Finding]:
    """Findings from before the fixes that are gone afterwards although their
    code is still there, unchanged: a fix elsewhere made a rule stop seeing
    them (a singleton's accessor rewritten, a callee's signature changed), not
    a fix of their own. They stay in the report. `texts` holds each changed
    file's text before and after; a file not in it did not change. `fixed`
    tells whether a finding's own fix went in."""
    remaining = Counter((f.path, f.code, f.snippet) for f in after)
    kept_rows: dict[str, dict[int, int]] = {}
    kept = []
    for finding in sorted(before, key=lambda f: f.sort_key):
        if finding.code == "ISO000":
            continue
        key = (finding.path, finding.code, finding.snippet)
        if remaining[key] > 0:
            remaining[key] -= 1
            continue
        if fixed(finding):
            continue
        if finding.path in texts:
            if finding.path not in kept_rows:
                kept_rows[finding.path] = unchanged_rows(*texts[finding.path])
            rows = kept_rows[finding.path]
            span = range(finding.location.row, finding.end_location.row + 1)
            if not all(row in rows and rows[row] - row == rows[span[0]] - span[0] for row in span):
                continue  # its own code changed: a fix took it
            shift = rows[span[0]] - span[0]
            finding = replace(
                finding,
                location=replace(finding.location, row=finding.location.row + shift),
                end_location=replace(finding.end_location, row=finding.end_location.row + shift),
            )
        kept.append(
            replace(
                finding,
                fix=None,
                manual="Still to migrate: the fixes changed code this finding depends on elsewhere, not this code."
                + (f" {finding.manual}" if finding.manual else ""),
            )
        )
    return kept


def unchanged_rows(old: str, new: str) -> dict[int, int]:
    """The 1-based rows of `old` that `new` keeps as they were, and where they are in `new`."""
    blocks = matching_blocks(split_lines(old), split_lines(new))
    return {a + i + 1: b + i + 1 for a, b, size in blocks for i in range(size)}
