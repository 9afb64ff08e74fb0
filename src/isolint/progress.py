"""Migration progress: how many sites are already in the target form.

Findings count what is left to migrate; this module counts what has been
migrated, per family, in the same single parse as the rules: a report-mode
plan hands the engine a `TargetFormTally`, which adds a `TargetFormCounter`
to its batched visit, and the run reports each file's counts to the
`TargetFormTotals` attached to it. Counted sites:

- legacy-state: references to the context class (`UserExecutionContext`,
  or whatever `context-class` names), including string annotations;
- sessions: `<ctx>.db_session` uses, where `<ctx>` carries the request context;
- websockets: `<ctx>.websocket_emitter` uses;
- singletons: factory registrations (`register_factory(...)`, or the name any
  rule's `factory-method` option gives) and class or lambda registrations
  (`registry.register("name", SomeAgent)`).

Files already fully migrated match no rule's prefilter, so the counter has its
own (`prefilter`): in report mode such files are parsed and counted too; a
plain `check` never runs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._lazy import cst
from .rules import ALL_RULES

if TYPE_CHECKING:
    from .config import Settings
    from .findings import Finding
    from .rules.base import FileContext

DEFAULT_FACTORY_METHOD = "register_factory"
SESSION_ATTRIBUTE = "db_session"
EMITTER_ATTRIBUTE = "websocket_emitter"


@dataclass(frozen=True)
class Track:
    """One family's migration: legacy sites (findings) against target-form sites (counted)."""

    family: str
    legacy_label: str
    target_label: str
    # Rules whose findings are the legacy sites; empty: every rule of the family.
    legacy_rules: tuple[str, ...] = ()


TRACKS = (
    Track("singletons", "instance registrations", "factory and class registrations", ("ISO104",)),
    Track(
        "sessions",
        "sessions stored on instances (`self.<session>`)",
        "request-scoped `<ctx>.db_session` uses",
        ("ISO201",),
    ),
    Track("websockets", "global WebSocket accessor calls", "`<ctx>.websocket_emitter` uses", ("ISO302",)),
    Track("legacy-state", "legacy state references", "context-class references"),
)
TRACK_BY_FAMILY = {track.family: track for track in TRACKS}


def factory_methods(settings: Settings) -> frozenset[str]:
    """`register_factory`, plus any rule's configured `factory-method`."""
    names = {DEFAULT_FACTORY_METHOD}
    for rule in ALL_RULES:
        configured = settings.options_for(rule).get("factory-method")
        if isinstance(configured, str) and configured:
            names.add(configured)
    return frozenset(names)


def compile_prefilter(settings: Settings) -> re.Pattern[bytes]:
    """A necessary condition for any target-form site in a file's bytes."""
    words = [settings.context_name, *factory_methods(settings)]
    # A context parameter not named in `context-params` is annotated with the class, which the first alternative finds.
    params = b"|".join(re.escape(name.encode()) for name in settings.context_params) or b"(?!)"
    alternatives = [
        rb"\b(?:" + b"|".join(re.escape(word.encode()) for word in sorted(words)) + rb")\b",
        rb"\b(?:"
        + params
        + rb")\s*\.\s*(?:"
        + SESSION_ATTRIBUTE.encode()
        + b"|"
        + EMITTER_ATTRIBUTE.encode()
        + rb")\b",
        rb"\.\s*register\s*\(",
    ]
    return re.compile(b"|".join(alternatives))


class TargetFormTally:
    """One file's counting, as the engine's observer: called with the file's
    context, it makes the file's counter and keeps its counts."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, file: FileContext) -> TargetFormCounter:
        counter = TargetFormCounter(file)
        self.counts = counter.counts  # the same dict: the visit fills it in
        return counter


class TargetFormTotals:
    """Attached to a run that reports: the target-form counts of each file it checked."""

    def __init__(self) -> None:
        self.by_file: dict[str, dict[str, int]] = {}  # shown path -> counts per family, files with any

    def add(self, shown: str, counts: Mapping[str, int] | None) -> None:
        if counts:
            self.by_file[shown] = dict(counts)

    def total(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for counts in self.by_file.values():
            add_counts(totals, counts)
        return totals


class TargetFormCounter:
    """Visited by the engine's dispatcher alongside the rules (visit_<Node> methods)."""

    def __init__(self, file: FileContext) -> None:
        self.file = file
        self.settings = file.settings
        self.counts: dict[str, int] = {}
        self._factory_methods = factory_methods(file.settings)
        self._skip: set[int] = set()  # ids of Name nodes that define the context class itself

    def _add(self, family: str) -> None:
        self.counts[family] = self.counts.get(family, 0) + 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._skip.add(id(node.name))

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.settings.context_name and id(node) not in self._skip:
            self._add("legacy-state")

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        # Forward references ("UserExecutionContext", Optional["..."]) in annotations.
        if self.settings.context_name not in node.value or self.file.enclosing(cst.Annotation) is None:
            return
        value = node.evaluated_value
        if isinstance(value, str) and re.search(rf"\b{re.escape(self.settings.context_name)}\b", value):
            self._add("legacy-state")

    def visit_Attribute(self, node: cst.Attribute) -> None:
        attribute = node.attr.value
        if attribute not in (SESSION_ATTRIBUTE, EMITTER_ATTRIBUTE) or not isinstance(node.value, cst.Name):
            return
        if self._is_context(node.value.value):
            self._add("sessions" if attribute == SESSION_ATTRIBUTE else "websockets")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = (
            func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        )
        if name in self._factory_methods:
            self._add("singletons")
        elif name == "register" and isinstance(func, cst.Attribute) and len(node.args) >= 2:
            registered = node.args[1].value
            if isinstance(registered, cst.Lambda) or (
                isinstance(registered, cst.Name) and registered.value[:1].isupper()
            ):
                self._add("singletons")

    def _is_context(self, name: str) -> bool:
        if name in self.settings.context_params:
            return True
        from .rules._context import context_param

        function = self.file.enclosing(cst.FunctionDef)
        return function is not None and context_param(function, self.settings) == name


# --- turning findings and counts into per-family progress ----------------------


def family_progress(
    findings: Sequence[Finding], counts: Mapping[str, int], enabled_rules: Sequence[Any]
) -> list[dict[str, Any]]:
    """One row per track: legacy sites left, target-form sites, percent migrated.

    The legacy sites are the findings of the track's own rules; when none of
    them is enabled (or registered yet), every finding of the family."""
    enabled = {rule.code for rule in enabled_rules}
    families = {rule.family for rule in enabled_rules}
    rows = []
    for track in (t for t in TRACKS if t.family in families):
        codes = tuple(code for code in track.legacy_rules if code in enabled)
        if codes:
            legacy = sum(1 for f in findings if f.code in codes)
            label = track.legacy_label
        else:
            legacy = sum(1 for f in findings if f.family == track.family)
            label = track.legacy_label if not track.legacy_rules else f"{track.family} findings"
        target = counts.get(track.family, 0)
        total = legacy + target
        rows.append(
            {
                "family": track.family,
                "legacy": legacy,
                "legacy_label": label,
                "legacy_rules": list(codes),
                "target": target,
                "target_label": track.target_label,
                "migrated_percent": round(100 * target / total, 1) if total else None,
            }
        )
    return rows


def add_counts(total: dict[str, int], counts: Mapping[str, int]) -> None:
    for family, count in counts.items():
        total[family] = total.get(family, 0) + count
