"""ISO304 websocket-stored-on-instance: `self.<attr> = <shared WebSocket manager>`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from .._context import context_param
from .._helpers import alternation, first_param_name
from ..base import FixSpec, Rule
from ._cst_plumbing import (
    EMITTER_METHODS,
    WEBSOCKET_NAMES,
    Capture,
    IndexesPlumbing,
    Plumbing,
    fact_holds,
    parents_within,
    plumbing_alternatives,
    swap_receivers,
    without_statement,
)


@dataclass
class _Migration:
    """What moving one attribute's uses in one class onto the context emitter involves."""

    replacements: dict = field(default_factory=dict)
    uses: list = field(default_factory=list)  # every `self.<attr>` read, in source order
    remaining: list = field(default_factory=list)  # "method: why not" for uses the fix leaves


class WebSocketStoredOnInstance(IndexesPlumbing, Rule):
    code = "ISO304"
    name = "websocket-stored-on-instance"
    family = "websockets"
    summary = "An object keeps the process-wide WebSocket manager on `self`, so all its callers share it"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` and the index by compile_prefilter
    options = (WEBSOCKET_NAMES, EMITTER_METHODS)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A capture names plumbing; a subclass reads an indexed captured attribute.
        globs = settings.options_for(cls)["websocket-names"]
        captured = sorted({f.name for f in project.of_kind("websockets:attribute") if fact_holds(project, f, globs)})
        reads = [rb"\." + re.escape(name.encode()) + rb"\b" for name in captured]
        return re.compile(alternation(plumbing_alternatives(globs, project), reads))

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, options["websocket-names"])

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        methods = [m for m in node.body.body if isinstance(m, cst.FunctionDef) and first_param_name(m)]
        captures: dict[str, list[Capture]] = {}
        for method in methods:
            for capture in self.plumbing.captures(method):
                captures.setdefault(capture.target.attr.value, []).append(capture)
        for attr, found in captures.items():
            self._report_captures(node, attr, found, self._migrate(methods, attr))
        for attr, fact in self.plumbing.inherited_captures(node).items():
            if attr not in captures:
                self._report_inherited(attr, fact, self._migrate(methods, attr))

    def _migrate(self, methods: list[cst.FunctionDef], attr: str) -> _Migration:
        migration = _Migration()
        for method in methods:
            receiver = first_param_name(method)
            parents = parents_within(method)
            uses = [
                node
                for node in parents
                if isinstance(node, cst.Attribute)
                and node.attr.value == attr
                and isinstance(node.value, cst.Name)
                and node.value.value == receiver
                and not isinstance(parents[node], cst.AssignTarget)
            ]
            if not uses:
                continue
            migration.uses.extend(uses)
            context = context_param(method, self.settings)
            if context is None:
                migration.remaining.append(f"`{method.name.value}` takes no request context")
                continue
            replacements, problem = swap_receivers(uses, parents, context, self.option_values["emitter-methods"])
            if problem is None:
                migration.replacements.update(replacements)
            else:
                migration.remaining.append(f"`{method.name.value}`: {problem}")
        return migration

    def _read_by_subclasses(self, node: cst.ClassDef, attr: str) -> bool:
        return any(
            fact.name == attr and any(base.rpartition(".")[2] == node.name.value for base in fact.data.get("bases", ()))
            for fact in self.file.project.of_kind("websockets:inherited-read")
        )

    def _report_captures(self, node: cst.ClassDef, attr: str, captures: list[Capture], migration: _Migration) -> None:
        replacements = dict(migration.replacements)
        subclassed = self._read_by_subclasses(node, attr)
        if not migration.remaining and not subclassed:
            for capture in captures:
                replacements.update(without_statement(capture.assign, capture.parents))
        fix = None
        if replacements:
            message = "Emit through the context's `websocket_emitter` in methods that take the context"
            if len(replacements) > len(migration.replacements):
                message += f", and drop `self.{attr}`"
            fix = FixSpec(message, UNSAFE, replace=replacements)
        manual = self._manual(attr, migration, subclassed)
        for capture in captures:
            self.report(
                capture.target,
                f"`self.{attr}` keeps the process-wide WebSocket manager (`{capture.source}`) on the instance: "
                f"every request `{node.name.value}` serves emits through one shared object",
                fix=fix,
                manual=manual,
            )

    def _report_inherited(self, attr: str, fact: Any, migration: _Migration) -> None:
        if not migration.uses:
            return
        owner = fact.qualname.rpartition(".")[0].rpartition(".")[2]
        fix = (
            FixSpec("Emit through the context's `websocket_emitter`", UNSAFE, replace=migration.replacements)
            if migration.replacements
            else None
        )
        self.report(
            migration.uses[0],
            f"`self.{attr}` is the process-wide WebSocket manager that `{owner}.{fact.data.get('method')}` stores "
            f"({fact.path}:{fact.line}): every request this object serves emits through one shared object",
            fix=fix,
            manual=self._manual(attr, migration, subclassed=False),
        )

    @staticmethod
    def _manual(attr: str, migration: _Migration, subclassed: bool) -> str | None:
        if not migration.remaining and not subclassed:
            return None
        left = "; ".join(migration.remaining)
        blockers = [f"uses the fix leaves: {left}"] if left else []
        if subclassed:
            blockers.append("subclasses elsewhere read it (fix them, then run the fix again to drop it)")
        return (
            f"Give each method that emits the request context and call `context.websocket_emitter` instead of "
            f"`self.{attr}`; " + "; ".join(blockers) + "."
        )
