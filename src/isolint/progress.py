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

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .rules import ALL_RULES
from .rules.ast_helpers import context_param

if TYPE_CHECKING:
    from .config import Settings
    from .findings import Finding
    from .rules.ast_context import AstFile

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

    def __call__(self, file: AstFile) -> TargetFormCounter:
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
    """Visited by the engine's `ast` dispatcher alongside the rules (visit_<Node> methods).

    The context class counts wherever its name is spelled, as an identifier
    or inside a string annotation; its own definition does not count."""

    def __init__(self, file: AstFile) -> None:
        self.file = file
        self.settings = file.settings
        self.counts: dict[str, int] = {}
        self._factory_methods = factory_methods(file.settings)

    def _add(self, family: str) -> None:
        self.counts[family] = self.counts.get(family, 0) + 1

    def _spelled(self, name: str | None) -> None:
        if name == self.settings.context_name:
            self._add("legacy-state")

    def visit_Name(self, node: ast.Name) -> None:
        self._spelled(node.id)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._spelled(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_arg(self, node: ast.arg) -> None:
        self._spelled(node.arg)

    def visit_keyword(self, node: ast.keyword) -> None:
        self._spelled(node.arg)

    def visit_alias(self, node: ast.alias) -> None:
        for part in node.name.split("."):
            self._spelled(part)
        self._spelled(node.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for part in (node.module or "").split("."):
            self._spelled(part)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._spelled(node.name)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._spelled(name)

    visit_Nonlocal = visit_Global

    def visit_Constant(self, node: ast.Constant) -> None:
        # Forward references ("UserExecutionContext", Optional["..."]) in annotations.
        value = node.value
        if not isinstance(value, str) or self.settings.context_name not in value or not self._in_annotation(node):
            return
        if re.search(rf"\b{re.escape(self.settings.context_name)}\b", value):
            self._add("legacy-state")

    def _in_annotation(self, node: ast.AST) -> bool:
        chain = [*self.file.ancestors, node]
        for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
            if isinstance(parent, ast.JoinedStr):
                return False  # a piece of an f-string, not a string literal
            if isinstance(parent, (ast.arg, ast.AnnAssign)) and parent.annotation is child:
                return True
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and parent.returns is child:
                return True
            if isinstance(parent, (ast.stmt, ast.arguments)):
                return False
        return False

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._spelled(node.attr)
        attribute = node.attr
        if attribute not in (SESSION_ATTRIBUTE, EMITTER_ATTRIBUTE) or not isinstance(node.value, ast.Name):
            return
        if self._is_context(node.value.id):
            self._add("sessions" if attribute == SESSION_ATTRIBUTE else "websockets")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in self._factory_methods:
            self._add("singletons")
            return
        # The arguments as written, positional and keyword alike (LibCST's `Call.args`).
        arguments: list[ast.expr | ast.keyword] = sorted(
            [*node.args, *node.keywords], key=lambda argument: (argument.lineno, argument.col_offset)
        )
        if name == "register" and isinstance(func, ast.Attribute) and len(arguments) >= 2:
            second = arguments[1]
            registered = second.value if isinstance(second, (ast.keyword, ast.Starred)) else second
            if isinstance(registered, ast.Lambda) or (isinstance(registered, ast.Name) and registered.id[:1].isupper()):
                self._add("singletons")

    def _is_context(self, name: str) -> bool:
        if name in self.settings.context_params:
            return True
        function = self.file.enclosing_function()
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
