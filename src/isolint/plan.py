"""The cheap front of the pipeline: prefilter the bytes, then hand over to the engine.

Nothing here imports LibCST, so a run whose files all fail the prefilters
never pays for it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .config import Settings
from .findings import Finding, Location
from .index import EMPTY, ProjectIndex
from .newer_syntax import parse_module, remembering_trees
from .prefilters import TextFilter
from .rules import ENTRY_BY_CODE, Rule, RuleEntry
from .source import SourceError, decode
from .timing import phase

UNPARSABLE = ENTRY_BY_CODE["ISO000"]


class Prefilter:
    """A rule's prefilter for a plan's settings and project index, compiled on
    first use. A run the cache answers by stat searches no file: on a large
    project, compiling every prefilter (alternations of the indexed names)
    would cost more than the rest of such a run."""

    __slots__ = ("_pattern", "_project", "_rule", "_settings")

    def __init__(self, rule: type[Rule], settings: Settings, project: ProjectIndex) -> None:
        self._rule = rule
        self._settings = settings
        self._project = project
        self._pattern: TextFilter | None = None

    def compile(self) -> TextFilter:
        if self._pattern is None:
            self._pattern = self._rule.compile_prefilter(self._settings, self._project)
        return self._pattern

    def search(self, raw: bytes) -> object | None:
        return self.compile().search(raw)


@dataclass(frozen=True)
class Plan:
    """What a worker needs to check files: the settings, the project index,
    and the enabled rules with their prefilters compiled for both."""

    settings: Settings
    enabled: tuple[RuleEntry, ...]  # what the cache key needs: no rule module imported
    project: ProjectIndex = EMPTY  # only the facts of the kinds the rules read
    # Report mode: the target-form counter's prefilter (progress.py); None for a plain check.
    progress: re.Pattern[bytes] | None = None
    # Whether findings carry their fixes' edits; without, a fix is only its
    # applicability and message (see `findings.Fix.edits`).
    build_edits: bool = True
    # `rules`, once a file needed them (or as a fix pass chose them).
    loaded: tuple[tuple[type[Rule], Prefilter], ...] | None = None
    # Content hashes of files CPython's parser accepted in this run (the
    # index pass parsed them): a file no rule needs is not parsed again only
    # to look for a syntax error.
    parses: frozenset[str] = frozenset()
    # Applicabilities (SAFE, UNSAFE) whose fixes a check builds the edits of
    # without `build_edits`: a `fix` run's check, whose lint of a file is then
    # its fixes' first (fixing.py), edits included.
    edits_for: frozenset[str] = frozenset()

    @property
    def rules(self) -> tuple[tuple[type[Rule], Prefilter], ...]:
        """The enabled rule classes with their prefilters, imported on first
        use: a run the cache answers by stat needs neither."""
        if self.loaded is None:
            rules = [entry.load() for entry in self.enabled]
            # Frozen, but what it derives from its own fields may be kept.
            object.__setattr__(
                self, "loaded", tuple((rule, Prefilter(rule, self.settings, self.project)) for rule in rules)
            )
        assert self.loaded is not None
        return self.loaded

    def _metadata(self) -> Iterable[type[Rule] | RuleEntry]:
        return (rule for rule, _ in self.loaded) if self.loaded is not None else self.enabled

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        project: ProjectIndex = EMPTY,
        *,
        count_progress: bool = False,
        build_edits: bool = True,
        parses: frozenset[str] = frozenset(),
        edits_for: frozenset[str] = frozenset(),
    ) -> Plan:
        enabled = tuple(r for r in settings.enabled() if r is not UNPARSABLE)
        project = project.restricted(_fact_kinds(enabled))
        progress = None
        if count_progress:
            from .progress import compile_prefilter

            progress = compile_prefilter(settings)
        return cls(settings, enabled, project, progress, build_edits, parses=parses, edits_for=edits_for)

    def for_project(self, project: ProjectIndex) -> Plan:
        """This plan for an index whose facts differ from its own in line
        numbers only: no prefilter reads a line, so none is compiled again."""
        return replace(self, project=project.restricted(_fact_kinds(self._metadata())))

    def compile(self) -> None:
        """Compile every prefilter now: before forking workers, so that they inherit them compiled."""
        for _, prefilter in self.rules:
            prefilter.compile()

    @property
    def parses_with_libcst(self) -> bool:
        """Whether a file's check may parse it with LibCST: to build edits, or
        for a rule written on LibCST. `ast` rules alone never need it."""
        from .rules.ast_context import parses_with_libcst

        return parses_with_libcst((rule for rule, _ in self.rules), self.build_edits or bool(self.edits_for))

    def builds(self, finding: Finding) -> bool:
        """Whether a check builds the edits of `finding`'s fix."""
        return self.build_edits or (finding.fix is not None and finding.fix.applicability in self.edits_for)

    @property
    def uses_index(self) -> bool:
        return any(rule.reads_facts for rule in self._metadata())

    @property
    def index_fingerprint(self) -> str:
        """What a file's cached results depend on besides its content: the
        project index, when a rule reads it. A digest of every fact: worth
        computing once per plan, not once per file."""
        return self.project.fingerprint if self.uses_index else ""

    def result_key(self, digest: str, raw: bytes, path: str, module: str) -> str:
        """What a file's cached findings are keyed by: its content and its
        module key (`index.module_key`), plus the indexed facts it can depend
        on when a cross-file rule is enabled."""
        own = f"{digest}:{module}"
        return f"{own}:{self.project.relevant_fingerprint(raw, path)}" if self.uses_index else own

    def candidates(self, raw: bytes) -> list[type[Rule]]:
        """The rules whose prefilter matches; none means the file is never parsed."""
        # Rules of a family often share one prefilter. Keyed by identity: a
        # compiled pattern hashes its whole compiled code on every lookup, and
        # the patterns built from a large project's indexed names run to
        # hundreds of kilobytes (at 3M lines that hashing cost more than the scans).
        matched: dict[int, bool] = {}
        found = []
        for rule, prefilter in self.rules:
            pattern = prefilter.compile()
            hit = matched.get(id(pattern))
            if hit is None:
                hit = matched[id(pattern)] = pattern.search(raw) is not None
            if hit:
                found.append(rule)
        return found


def _fact_kinds(rules: Iterable[type[Rule] | RuleEntry]) -> set[str]:
    """The kinds of index facts these rules read: all a plan keeps of the index."""
    return {kind for rule in rules for kind in rule.reads_facts}


def unparsable(path: str, message: str, row: int = 1, column: int = 1) -> Finding:
    return Finding(
        code=UNPARSABLE.code,
        name=UNPARSABLE.name,
        family=UNPARSABLE.family,
        message=message,
        path=path,
        location=Location(row, column),
        end_location=Location(row, column),
    )


def syntax_error(text: str, path: str) -> Finding | None:
    """ISO000 where CPython's parser rejects `text`, or None if it parses."""
    try:
        parse_module(text, path)  # Python 3.12 f-strings included, see newer_syntax.py
    except SyntaxError as exc:
        return unparsable(path, f"cannot parse: {exc.msg}", exc.lineno or 1, max(exc.offset or 1, 1))
    except (RecursionError, MemoryError):
        return unparsable(path, "file skipped: too complex (nested too deeply to parse safely)")
    return None


@dataclass(frozen=True)
class Checked:
    """One file's bytes, checked."""

    findings: list[Finding]  # after inline suppressions
    parsed: bool  # whether the file had to be parsed (some prefilter matched)
    # Report mode: the file's target-form sites per family (progress.py); None for a plain check.
    counts: dict[str, int] | None = None


def check_bytes(
    raw: bytes, path: str, plan: Plan, *, module_name: str = "", is_package: bool = False, digest: str | None = None
) -> Checked:
    """All findings for one file's bytes (whose content hash is `digest`,
    when the caller has it). With a report-mode plan, the target-form sites
    are counted in the same parse: the engine's visit carries a counter
    beside the rules."""
    counts: dict[str, int] | None = None if plan.progress is None else {}
    try:
        with phase("prefilter"):
            if b"\x00" in raw:
                decode(raw)  # raises the binary-file error
            rules = plan.candidates(raw)
            counting = plan.progress is not None and plan.progress.search(raw) is not None
        with phase("read"):  # bytes to text
            source = decode(raw)
    except SourceError as exc:
        return Checked([unparsable(path, str(exc))], False, counts)
    if not rules and not counting:
        # No rule needs the file, but a file that does not parse is reported
        # all the same (as ruff does): CPython's parser alone, no LibCST.
        if digest is not None and digest in plan.parses:
            return Checked([], False, counts)
        with phase("syntax"):
            error = syntax_error(source.text, path)
        return Checked([error] if error is not None else [], False, counts)
    with phase("import"):  # the engine, once per process: only the first parsed file pays it
        from .engine import lint_text
    tally = None
    if counting:
        from .progress import TargetFormTally

        tally = TargetFormTally()
    build_edits = plan.build_edits or bool(plan.edits_for)
    # Building a fix's edits parses the file's text again (to check what the
    # edits leave, and which imports they orphan): once is enough.
    with remembering_trees() if build_edits else contextlib.nullcontext():
        findings = lint_text(
            source.text,
            path,
            rules,
            plan.settings,
            module_name=module_name,
            is_package=is_package,
            project=plan.project,
            observers=(tally,) if tally is not None else (),
            build_edits=build_edits,
            wanted=plan.builds,
        )
    # Parsed only to count: report exactly what a plain check would (nothing).
    return Checked(findings if rules else [], True, tally.counts if tally is not None else counts)
