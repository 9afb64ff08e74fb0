"""Checking one parsed file: one batched visit for all rules, findings, fixes.

This module imports LibCST; `plan.check_bytes` imports it only once some file
has passed a prefilter.
"""

from __future__ import annotations

import ast
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import libcst as cst
import libcst.metadata as cst_metadata

from .config import Settings
from .findings import SAFE, Finding, Fix, Location
from .fixes import apply_fixes, diff_edits
from .index import EMPTY, ProjectIndex
from .plan import UNPARSABLE, Plan, unparsable
from .rules import Rule
from .rules.base import FileContext, FixSpec, Report
from .source import DecodedSource
from .suppressions import apply_suppressions

MAX_FIX_PASSES = 10


def lint_text(
    text: str,
    path: str,
    rules: Sequence[type[Rule]],
    settings: Settings,
    *,
    module_name: str = "",
    is_package: bool = False,
    project: ProjectIndex = EMPTY,
) -> list[Finding]:
    problem = _syntax_problem(text, path)
    if problem is not None:
        return [problem]
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        return [unparsable(path, f"cannot parse: {exc.message}", exc.raw_line, exc.raw_column + 1)]
    file = FileContext(path, text, module, settings, {}, module_name=module_name, is_package=is_package, project=project)
    reports, positions = _visit(file, rules)
    if not reports:
        return []
    findings = _to_findings(module, text, path, reports, positions)
    return apply_suppressions(text, findings)


def _syntax_problem(text: str, path: str) -> Finding | None:
    """CPython's own parser is the gate: what it rejects we skip, and it is
    fast. It also keeps LibCST's native parser away from inputs nested deeply
    enough to overflow its stack."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not our business
            ast.parse(text, filename=path)
    except SyntaxError as exc:
        row = exc.lineno or 1
        column = exc.offset or 1
        return unparsable(path, f"cannot parse: {exc.msg}", row, max(column, 1))
    except (RecursionError, MemoryError):
        return unparsable(path, "file skipped: too complex (nested too deeply to parse safely)")
    return None


class _Dispatcher(cst.CSTVisitor):
    """Calls every rule's visit_<Node>/leave_<Node> during one traversal."""

    _tables: dict[type[Rule], tuple[tuple[str, str], ...]] = {}

    def __init__(self, rules: Iterable[Rule], ancestors: list[cst.CSTNode]) -> None:
        super().__init__()
        self._visit: dict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self._leave: dict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self._ancestors = ancestors
        for rule in rules:
            for kind, node_name, method in self._methods(type(rule)):
                table = self._visit if kind == "visit" else self._leave
                table[node_name].append(getattr(rule, method))

    @classmethod
    def _methods(cls, rule_type: type[Rule]) -> tuple[tuple[str, str], ...]:
        table = cls._tables.get(rule_type)
        if table is None:
            table = tuple(
                (name.partition("_")[0], name.partition("_")[2], name)
                for name in dir(rule_type)
                if name.startswith(("visit_", "leave_")) and name.count("_") == 1
            )
            cls._tables[rule_type] = table
        return table

    def on_visit(self, node: cst.CSTNode) -> bool:
        for method in self._visit.get(type(node).__name__, ()):
            method(node)
        self._ancestors.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._ancestors.pop()
        for method in self._leave.get(type(original_node).__name__, ()):
            method(original_node)

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        pass  # no rule uses per-attribute hooks; skip LibCST's lookups

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        pass


def _visit(file: FileContext, rules: Sequence[type[Rule]]) -> tuple[list[Report], Any]:
    module = file.module
    wrapper = cst_metadata.MetadataWrapper(module, unsafe_skip_copy=True)
    wanted = sorted({name for rule in rules for name in rule.metadata})
    if wanted:  # resolve_many([]) would still walk the whole tree
        resolved = wrapper.resolve_many([getattr(cst_metadata, name) for name in wanted])
        file.set_metadata({name: resolved[getattr(cst_metadata, name)] for name in wanted})
    instances = [rule(file, file.settings.options_for(rule)) for rule in rules]
    module.visit(_Dispatcher(instances, file.ancestors))
    if not file.reports:
        return [], None
    # Positions cost a code-generation pass: pay it only for files with findings.
    return file.reports, wrapper.resolve(cst_metadata.PositionProvider)


def _to_findings(module: cst.Module, text: str, path: str, reports: list[Report], positions: Any) -> list[Finding]:
    findings = []
    for report in reports:
        code_range = positions[report.node]
        snippet = " ".join(module.code_for_node(report.node).split())[:500]
        findings.append(
            Finding(
                code=report.rule.code,
                name=report.rule.name,
                family=report.rule.family,
                message=report.message,
                path=path,
                location=Location(code_range.start.line, code_range.start.column + 1),
                end_location=Location(code_range.end.line, code_range.end.column + 1),
                fix=_build_fix(module, text, path, report.fix) if report.fix else None,
                manual=report.manual,
                snippet=snippet,
            )
        )
    return findings


def _build_fix(module: cst.Module, text: str, path: str, spec: FixSpec) -> Fix | None:
    """Turn a rule's FixSpec into text edits; None if it changes nothing or would break the file."""
    new_module = module
    if spec.replace:
        new_module = new_module.visit(_Replacer(spec.replace))
    if spec.transform is not None:
        new_module = spec.transform(new_module)
    new_text = new_module.code
    if new_text == text or _syntax_problem(new_text, path) is not None:
        return None
    return Fix(spec.applicability, spec.message, diff_edits(text, new_text), spec.isolation)


class _Replacer(cst.CSTTransformer):
    def __init__(self, replacements: Any) -> None:
        super().__init__()
        self._replacements = replacements

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode) -> Any:
        return self._replacements.get(original_node, updated_node)


# --- fixing -----------------------------------------------------------------

@dataclass
class FixOutcome:
    text: str
    applied: int
    findings: list[Finding]
    converged: bool = True


def fix_text(source: DecodedSource, path: str, plan: Plan, *, unsafe: bool, module_name: str = "", is_package: bool = False) -> FixOutcome:
    """Apply fixes until none applies (at most MAX_FIX_PASSES rounds).

    Each round re-parses the result, so every accepted round parses; the last
    round's findings are what remains.
    """
    def lint(text: str) -> list[Finding]:
        rules = plan.candidates(text.encode("utf-8", "surrogatepass"))
        return lint_text(text, path, rules, plan.settings, module_name=module_name, is_package=is_package, project=plan.project)

    text = source.text
    applied = 0
    findings = lint(text)
    for _ in range(MAX_FIX_PASSES):
        fixes = [f.fix for f in findings if f.fix and (unsafe or f.fix.applicability == SAFE)]
        if not fixes:
            return FixOutcome(text, applied, findings)
        new_text, count = apply_fixes(text, fixes)
        new_findings = lint(new_text)
        if any(f.code == UNPARSABLE.code for f in new_findings):
            return FixOutcome(text, applied, findings, converged=False)  # never write a broken file
        text, findings, applied = new_text, new_findings, applied + count
    return FixOutcome(text, applied, findings, converged=False)
