"""Checking one parsed file: one batched visit for all rules, findings, fixes.

This module imports LibCST; `plan.check_bytes` imports it only once some file
has passed a prefilter.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import os
import signal
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import ast_visit
from .config import Settings
from .findings import SAFE, Finding, Fix, Location
from .fixes import FixedText, apply_fixes, diff_edits
from .hygiene import suppression_audit
from .index import EMPTY, ProjectIndex
from .newer_syntax import parse_module
from .plan import UNPARSABLE, Plan, unparsable
from .rules import Rule
from .rules.ast_context import AstFile, AstRule, parses_with_libcst
from .rules.base import FileContext, FixSpec, Report
from .scopes import remembering_children
from .source import DecodedSource
from .suppressions import apply_suppressions
from .timing import phase
from .traversal import children, replace_nodes

# LibCST is imported where it parses a file: for a rule written on it, or to
# build edits. A check of `ast` rules that builds none never loads it (about
# 0.2 s and 9 MB a process).
if TYPE_CHECKING:
    import libcst as cst

    from .cst_view import CstView

MAX_FIX_PASSES = 10

# Whether a finding, as it is without edits, gets its fix's edits built.
EditFilter = Callable[[Finding], bool]


def lint_text(
    text: str,
    path: str,
    rules: Sequence[type[Rule]],
    settings: Settings,
    *,
    module_name: str = "",
    is_package: bool = False,
    project: ProjectIndex = EMPTY,
    observers: Sequence[Callable[[AstFile], object]] = (),
    build_edits: bool = True,
    wanted: EditFilter | None = None,
) -> list[Finding]:
    """Findings of `rules` in `text`. Each of `observers`, called with the
    file's context, makes an object the same visit calls beside the rules
    (report mode counts target-form sites so, see progress.TargetFormTally).
    Without `build_edits`, a fixable finding's fix carries its applicability
    and message but no edits (`Fix.edits` is None); so does the fix of a
    finding that `wanted` (given the finding as it is without edits) does not
    want built.

    A file that takes longer than the per-file time limit, or is nested too
    deeply for LibCST's recursive passes (positions, code generation), is
    reported as ISO000 and skipped; the run goes on. LibCST's limits apply
    only when LibCST will parse the file: for its rules or for edits."""
    needs_libcst = parses_with_libcst(rules, build_edits)
    if needs_libcst:
        with phase("import"):  # once per process: the first file that needs LibCST pays for it
            import libcst  # noqa: F401
    with phase("parse"):
        tree = _parse_gate(text, path, libcst=needs_libcst)
    if isinstance(tree, Finding):
        return [tree]
    try:
        with _time_limit(FILE_TIME_LIMIT), remembering_children():
            return _lint_parsed(
                text, tree, path, rules, settings, module_name, is_package, project, observers, build_edits, wanted
            )
    except Exception as exc:
        rejected = _rejected_by_libcst(exc, path) if needs_libcst else None
        if rejected is not None:
            return [rejected]
        # The time limit and deep recursion can surface in disguise: LibCST's
        # position recorder, interrupted mid-module, raises a KeyError of its own.
        if _caused_by(exc, _FileTimeout):
            return [
                unparsable(
                    path,
                    f"file skipped: too complex (took longer than {FILE_TIME_LIMIT:g} s; set ISOLINT_FILE_TIME_LIMIT to allow more)",
                )
            ]
        if not _caused_by(exc, RecursionError):
            raise
        return [unparsable(path, "file skipped: too complex (nested too deeply to analyse)")]


def _rejected_by_libcst(exc: Exception, path: str) -> Finding | None:
    """ISO000 for a file CPython's parser accepted and LibCST's did not."""
    import libcst

    if not isinstance(exc, libcst.ParserSyntaxError):
        return None
    return unparsable(path, f"cannot parse: {exc.message}", exc.raw_line, exc.raw_column + 1)


def _lint_parsed(
    text: str,
    tree: ast.Module,
    path: str,
    rules: Sequence[type[Rule]],
    settings: Settings,
    module_name: str,
    is_package: bool,
    project: ProjectIndex,
    observers: Sequence[Callable[[AstFile], object]],
    build_edits: bool,
    wanted: EditFilter | None,
) -> list[Finding]:
    ast_rules = [rule for rule in rules if issubclass(rule, AstRule)]
    cst_rules = [rule for rule in rules if not issubclass(rule, AstRule)]
    ast_file = None
    if ast_rules or observers:
        ast_file = AstFile(path, text, tree, settings, module_name=module_name, is_package=is_package, project=project)
        with phase("analyse"):
            ast_visit.visit(ast_file, ast_rules, observers=[observe(ast_file) for observe in observers])
    file = None
    if cst_rules:
        import libcst

        with phase("parse"):
            module = libcst.parse_module(text)
        file = FileContext(
            path, text, module, settings, module_name=module_name, is_package=is_package, project=project
        )
        with phase("analyse"):
            _visit(file, cst_rules)
    audit = suppression_audit(rules, settings)  # ISO001/ISO002 judge the directives even where nothing was found
    if not (file and file.reports) and not (ast_file and ast_file.reports) and audit is None:
        return []
    with phase("findings"):
        builds = _builds(build_edits, wanted)
        findings = _to_findings(file, _positions(file, tree), builds) if file and file.reports else []
        if ast_file and ast_file.reports:
            findings += _ast_findings(ast_file, builds, file.module if file else None)
        return apply_suppressions(text, findings, audit=audit, path=path)


FILE_TIME_LIMIT = float(os.environ.get("ISOLINT_FILE_TIME_LIMIT", "20"))


class _FileTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the current file after `seconds` (SIGALRM; main thread only,
    which is where the CLI and its worker processes run files)."""
    if seconds <= 0 or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise _FileTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _parse_gate(text: str, path: str, *, libcst: bool = True) -> ast.Module | Finding:
    """CPython's own parser is the gate: what it rejects we skip, and it is
    fast. When LibCST is to parse the file too (`libcst`), it also keeps
    LibCST's native parser away from inputs nested deeply enough to overflow
    its stack. Its tree gives the statements' lines."""
    try:
        tree = parse_module(text, path)  # Python 3.12 f-strings included, see newer_syntax.py
    except SyntaxError as exc:
        row = exc.lineno or 1
        column = exc.offset or 1
        return unparsable(path, f"cannot parse: {exc.msg}", row, max(column, 1))
    except (RecursionError, MemoryError):
        return unparsable(path, "file skipped: too complex (nested too deeply to parse safely)")
    too_complex = native_parse_hazard(text, tree) if libcst else None
    return unparsable(path, f"file skipped: too complex ({too_complex})") if too_complex else tree


# LibCST's native parser nests one level per operand of `a and b and ...`
# (CPython keeps them flat): about 7,500 operands overflow an 8 MiB stack
# and kill the process. Every other shape CPython accepts stays far below.
MAX_NATIVE_DEPTH = 3000
# LibCST's parse costs about 20-30 microseconds per `ast` node on the 2-core
# reference machine, in native code the per-file time limit cannot interrupt:
# a file whose estimate exceeds the limit is skipped before the parse.
PARSE_SECONDS_PER_NODE = 30e-6
_COUNT_NODES_ABOVE_CHARS = 64 * 1024  # smaller files parse in well under a second


def native_parse_hazard(text: str, tree: ast.Module) -> str | None:
    """Why LibCST must not parse this file (it would crash, or run past the
    time limit where it cannot be stopped), or None."""
    if _may_nest_too_deeply(text) and (depth := _native_depth(tree)) > MAX_NATIVE_DEPTH:
        return f"a boolean expression nests {depth:,} levels deep in LibCST's parser; the limit is {MAX_NATIVE_DEPTH:,}"
    if _may_take_too_long(text):
        nodes = sum(1 for _ in ast.walk(tree))
        if nodes * PARSE_SECONDS_PER_NODE > FILE_TIME_LIMIT:
            return (
                f"{nodes:,} syntax nodes would take longer than {FILE_TIME_LIMIT:g} s to parse; "
                "set ISOLINT_FILE_TIME_LIMIT to allow more"
            )
    return None


def _may_nest_too_deeply(text: str) -> bool:
    """Enough boolean operators for a chain of them to overflow LibCST's parser (then the tree tells)."""
    return text.count(" and ") + text.count(" or ") >= MAX_NATIVE_DEPTH // 2


def _may_take_too_long(text: str) -> bool:
    """Large enough for LibCST's parse to run past the time limit (then the node count tells)."""
    return len(text) > _COUNT_NODES_ABOVE_CHARS and FILE_TIME_LIMIT > 0


def _native_depth(tree: ast.AST) -> int:
    """The deepest nesting LibCST builds: one level per node, and one per
    extra operand of a boolean operation."""
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.BoolOp):
            depth += len(node.values) - 1
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _parses(text: str, path: str) -> bool:
    return not isinstance(_parse_gate(text, path), Finding)


def _visit(file: FileContext, rules: Sequence[type[Rule]]) -> None:
    """Run every rule over the file in one traversal; reports go to `file.reports`."""
    instances = [rule(file, file.settings.options_for(rule)) for rule in rules]
    ast_visit.Dispatcher(instances, file, children).walk(file.module)


def _positions(file: FileContext, tree: ast.Module) -> Mapping[Any, Any]:
    """Positions of the reported nodes. LibCST's PositionProvider generates
    the code of the whole module; here only the top-level statements holding
    a finding are generated, each as a module of its own, and placed at the
    line CPython's parser gave it. When a reported node is not inside the
    statement it was reported from, or the statements do not line up with
    CPython's, the whole module is generated after all."""
    from .cst_view import module_positions, pair_statements, statement_positions

    paired = pair_statements(file.module, tree)
    statements = {id(r.statement): r.statement for r in file.reports if r.statement is not None}
    if paired is None or len(statements) * 2 > len(file.module.body):
        return module_positions(file.module)
    lines: dict[int, int] = {}
    for statement, ast_statement in zip(paired, tree.body, strict=True):
        lines.setdefault(id(statement), ast_statement.lineno)
    positions: dict[Any, Any] = {}
    for statement in statements.values():
        positions.update(statement_positions(file.module, statement, lines[id(statement)]))
    if any(r.node not in positions for r in file.reports):
        return module_positions(file.module)
    return positions


def _builds(build_edits: bool, wanted: EditFilter | None) -> EditFilter:
    """Whether a finding (as it is without edits) gets its fix's edits built."""
    if not build_edits:
        return lambda finding: False
    return wanted or (lambda finding: True)


def _to_findings(file: FileContext, positions: Any, builds: EditFilter) -> list[Finding]:
    findings = []
    for report in file.reports:
        code_range = positions[report.node]
        start = (code_range.start.line, code_range.start.column)
        end = (code_range.end.line, code_range.end.column)
        snippet = " ".join(file.module.code_for_node(report.node).split())[:500]
        fix = _unbuilt_fix(report.fix) if report.fix else None
        finding = _finding(report, file.path, start, end, fix, snippet)
        if report.fix is not None and builds(finding):
            finding = dataclasses.replace(finding, fix=_build_fix(file, report.fix))
        findings.append(finding)
    return findings


def _ast_findings(file: AstFile, builds: EditFilter, module: cst.Module | None) -> list[Finding]:
    """Findings of `AstRule`s: spans from `ast`, edits from a LibCST view
    parsed only when some fix's edits are built (`module`: the file's LibCST
    module when the CST rules already parsed it)."""
    view: CstView | None = None
    findings = []
    for report in file.reports:
        start, end = file.span(report.node)
        fix = _unbuilt_fix(report.fix) if report.fix is not None else None
        finding = _finding(report, file.path, start, end, fix, file.snippet(report.node))
        if report.fix is not None and builds(finding):
            if view is None:
                from .cst_view import CstView

                view = CstView(file, module)
            finding = dataclasses.replace(finding, fix=_build_lazy_fix(view, report.fix))
        findings.append(finding)
    return findings


def _finding(
    report: Report, path: str, start: tuple[int, int], end: tuple[int, int], fix: Fix | None, snippet: str
) -> Finding:
    """`report` as a finding; `start` and `end` are (line, 0-based column)."""
    return Finding(
        code=report.rule.code,
        name=report.rule.name,
        family=report.rule.family,
        message=report.message,
        path=path,
        location=Location(start[0], start[1] + 1),
        end_location=Location(end[0], end[1] + 1),
        fix=fix,
        manual=report.manual,
        snippet=snippet,
    )


def _build_lazy_fix(view: CstView, spec: FixSpec) -> Fix | None:
    """An `AstRule`'s fix: its edit built from the view, then as any other; None
    when the view lacks a node it needs."""
    if spec.build is None:
        raise AssertionError(f"an AstRule's fix must build its edit from a CstView ({spec.message!r})")
    try:
        edit = spec.build(view)
    except LookupError:
        return None
    return _build_fix(view, dataclasses.replace(spec, replace=edit.replace, transform=edit.transform, build=None))


def _unbuilt_fix(spec: FixSpec) -> Fix:
    """What a check without edits records of a fix: that the rule offers one,
    and how safe it is."""
    return Fix(spec.applicability, spec.message, None, spec.isolation)


def _build_fix(file: EditTarget, spec: FixSpec) -> Fix | None:
    """Turn a rule's FixSpec into text edits; None if it changes nothing or would break the file."""
    text, path = file.source, file.path
    fixed = _fixed(file, spec)
    if fixed.text == text or not _still_parses(fixed, path, lambda: file.node_count):
        return None
    return Fix(spec.applicability, spec.message, diff_edits(text, fixed.text, fixed.regions), spec.isolation)


def _fixed(file: EditTarget, spec: FixSpec) -> FixedText:
    """The file's text with `spec` applied: each top-level statement the fix
    kept (the same node) keeps its own text, and only the statements it
    rebuilt are generated; the whole module only where its pieces do not add
    up to its text."""
    new_module = replace_nodes(file.module, spec.replace, file.parents) if spec.replace else file.module
    if spec.transform is not None:
        new_module = spec.transform(new_module)
    spliced = _spliced(file, new_module)
    if spliced is not None:
        text = keep_final_line_break(file.source, spliced.text)
        return FixedText(text, spliced.generated, spliced.regions if text == spliced.text else None)
    return FixedText(keep_final_line_break(file.source, new_module.code))


def _still_parses(fixed: FixedText, path: str, nodes_before: Callable[[], int | None] = lambda: None) -> bool:
    """Whether the fixed text parses (and LibCST may parse it). CPython's
    grammar sees no context above a top-level statement (nor, for a class's
    member, above its class): when the fix generated some whole pieces,
    each ending its line, and kept the file's text (which parsed, and
    LibCST parsed) for the rest, the file parses if each of them does. A
    file nested near LibCST's limits is parsed whole. So is a file whose
    syntax nodes may be too many for LibCST to parse in time, unless the
    nodes of the text before the fix (`nodes_before()`, counted only for
    such a file) and of the pieces it generated, which bound those after
    it, are few enough: parsing a big file whole for each of its fixes made
    fixing it quadratic."""
    text, generated = fixed.text, fixed.generated
    if (
        generated is None
        or not all(code.endswith(("\n", "\r")) for code in generated if code)
        or _may_nest_too_deeply(text)
        or (_may_take_too_long(text) and not _within_node_budget(nodes_before(), generated, path))
    ):
        return _parses(text, path)
    return all(_parses(code, path) for code in generated if code)


def _within_node_budget(nodes_before: int | None, generated: Sequence[str], path: str) -> bool:
    """Whether a file of at most `nodes_before` syntax nodes plus those of
    the `generated` pieces parses within LibCST's time budget (see
    `native_parse_hazard`)."""
    if nodes_before is None:
        return False
    nodes = nodes_before
    for code in generated:
        tree = _parse_gate(code, path, libcst=False)
        if isinstance(tree, Finding):
            return False
        nodes += sum(1 for _ in ast.walk(tree))
    return nodes * PARSE_SECONDS_PER_NODE <= FILE_TIME_LIMIT


def _spliced(file: EditTarget, new_module: cst.Module) -> FixedText | None:
    """`new_module`'s code, built from the file's text for the top-level
    statements it shares with the file's module and generated for the
    others; None when the file's pieces do not add up to its text, or the
    two modules differ outside their statements. A `CstView` finds its
    statements (and the members of a class) by the lines `ast` gives them
    (splice.py); otherwise, or when those lines do not hold, the code of
    every top-level statement is generated to find them."""
    from .cst_view import CstView
    from .splice import same_frame, spliced

    if isinstance(file, CstView):  # statements found by the lines `ast` gives them, not by generating them all
        by_lines = spliced(file, new_module)
        if by_lines is not None:
            return by_lines
    old = file.module
    if not same_frame(old, new_module):
        return None
    spans = _statement_spans(file)
    if spans is None:
        return None
    index_of = {id(statement): index for index, statement in enumerate(old.body)}
    text = file.source
    pieces, generated = [text[: spans[0][0]]], []
    for statement in new_module.body:
        index = index_of.get(id(statement))
        if index is None:
            generated.append(new_module.code_for_node(statement))
            pieces.append(generated[-1])
        else:
            pieces.append(text[slice(*spans[index])])
    pieces.append(text[spans[-1][1] :])
    return FixedText("".join(pieces), tuple(generated))


class EditTarget(Protocol):
    """What building an edit reads of a file: a `FileContext`, or the
    `CstView` of an `AstFile`."""

    path: str
    source: str
    module: cst.Module

    @property
    def parents(self) -> dict[int, Any]: ...

    @property
    def node_count(self) -> int | None:
        """The syntax nodes of the file's `ast` tree, as `native_parse_hazard` counts them; None when not known."""


def _statement_spans(file: EditTarget) -> list[tuple[int, int]] | None:
    """Where each top-level statement's code is in the file's text, computed
    once per file; None when the pieces do not add up to the text."""
    if file not in _SPANS:
        module = file.module
        pieces = [module.code_for_node(line) for line in module.header]
        spans, offset = [], sum(map(len, pieces))
        for statement in module.body:
            pieces.append(module.code_for_node(statement))
            spans.append((offset, offset + len(pieces[-1])))
            offset += len(pieces[-1])
        pieces += [module.code_for_node(line) for line in module.footer]
        rebuilt = "".join(pieces)
        # Without a final line break the module drops the last statement's,
        # which is never spliced: the offsets before it hold all the same.
        round_trips = rebuilt == file.source or (
            not module.has_trailing_newline and rebuilt == file.source + module.default_newline
        )
        _SPANS[file] = spans if module.body and round_trips else None
    return _SPANS[file]


_SPANS: weakref.WeakKeyDictionary[EditTarget, list[tuple[int, int]] | None] = weakref.WeakKeyDictionary()


# --- fixing -----------------------------------------------------------------


def _same_fix(finding: Finding) -> tuple[object, ...]:
    """What a finding and its fix (built or not) are, but for the fix's edits."""
    fix = finding.fix
    return (
        finding.code,
        finding.message,
        finding.location,
        finding.end_location,
        finding.snippet,
        None if fix is None else (fix.applicability, fix.message, fix.isolation),
    )


def keep_final_line_break(original: str, generated: str) -> str:
    """LibCST's code generation drops the last line break of a file whose
    lines end in a bare \r (old Mac style); put it back, so a fix changes
    only what it rewrote."""
    if original.endswith("\r") and not generated.endswith(("\r", "\n")):
        return generated + "\r"
    return generated


@dataclass
class FixOutcome:
    text: str
    applied: int
    findings: list[Finding]
    converged: bool = True
    codes: frozenset[str] = frozenset()  # the rules whose fixes went in
    first: list[Finding] = dataclasses.field(default_factory=list)  # the first lint, of the source's own text


def _held_back(finding: Finding) -> Finding:
    """`finding` as a lint that builds no edits for its rule gives it."""
    fix = finding.fix
    if fix is None or not fix.built:
        return finding
    return dataclasses.replace(finding, fix=dataclasses.replace(fix, edits=None))


def _tidy(
    original: str, fixed: str, findings: list[Finding], lint: Callable[[str], list[Finding]], settings: Settings
) -> tuple[str, list[Finding]]:
    """Drop the imports the fixes left unused (a fix rewrites one use of an
    accessor, and the import stays for the others), unless that breaks the file."""
    from .rules._imports import without_orphaned_imports  # LibCST's: a fix has it loaded already

    tidied = keep_final_line_break(fixed, without_orphaned_imports(original, fixed, settings))
    if tidied == fixed:
        return fixed, findings
    tidied_findings = lint(tidied)
    if any(f.code == UNPARSABLE.code for f in tidied_findings):
        return fixed, findings
    return tidied, tidied_findings


def fix_text(
    source: DecodedSource,
    path: str,
    plan: Plan,
    *,
    unsafe: bool,
    module_name: str = "",
    is_package: bool = False,
    held: frozenset[str] = frozenset(),
    first: Sequence[Finding] | None = None,
    built_before: Sequence[Finding] = (),
) -> FixOutcome:
    """Apply fixes until none applies (at most MAX_FIX_PASSES rounds). The
    rules in `held` run, but their fixes are never applied (the verification
    gate refused them here): their findings remain in the last round's.
    `first` is the source's first lint from an earlier computation of its
    fixes with the same rules: it stands in for linting the source again.
    `built_before` is such a lint with other rules (a fallback ran instead of
    a rule): the fixes it built for the same findings of the same source are
    taken from it rather than built again (a rule's edits for a finding do
    not depend on which other rules run).

    Each round re-parses the result, so every accepted round parses; the last
    round's findings are what remains. A fix from this run is never evidence
    for another: a rule that trusts context annotations gets a fix applied in
    a later round only for a finding the first round already offered one for
    (an overlapping edit held it back), so a parameter annotated with the
    context in round one is not taken as proof that its value is a context.

    After each round, the file is linted with the edits of only the fixes the
    next round may apply: LibCST parses it again only when some fix is left
    to apply, and for what remains only when `plan.build_edits` asks to show
    their edits.
    """

    def lint(
        text: str, *, build_edits: bool = True, every_edit: bool = False, wanted: EditFilter | None = None
    ) -> list[Finding]:
        """The findings of `text`, with the edits built of the fixes a pass
        may apply (all of them when `every_edit`, for the report; those
        `wanted` when given)."""
        rules = plan.candidates(text.encode("utf-8", "surrogatepass"))
        return lint_text(
            text,
            path,
            rules,
            plan.settings,
            module_name=module_name,
            is_package=is_package,
            project=plan.project,
            build_edits=build_edits,
            wanted=None if every_edit else wanted or applicable,
        )

    def first_lint_of_source() -> list[Finding]:
        if not built_before:
            return lint(source.text)
        donors: dict[tuple[object, ...], list[Fix]] = defaultdict(list)
        for finding in built_before:
            if finding.fix is not None and finding.fix.built:
                donors[_same_fix(finding)].append(finding.fix)
        found = lint(source.text, wanted=lambda f: applicable(f) and not donors.get(_same_fix(f)))
        return [
            dataclasses.replace(f, fix=donors[_same_fix(f)].pop(0))
            if f.fix is not None and not f.fix.built and applicable(f) and donors.get(_same_fix(f))
            else f
            for f in found
        ]

    def lint_unbuilt(text: str) -> list[Finding]:
        return lint(text, build_edits=False)

    def eligible(finding: Finding) -> bool:
        return finding.fix is not None and (unsafe or finding.fix.applicability == SAFE) and finding.code not in held

    def offered_first(finding: Finding) -> bool:
        return not trusting[finding.code] or offered is None or offered[(finding.code, finding.snippet)] > 0

    def applicable(finding: Finding) -> bool:
        """Whether a pass may apply the finding's fix: no other has its edits built."""
        return eligible(finding) and offered_first(finding)

    def outcome(text: str, findings: list[Finding], *, converged: bool = True) -> FixOutcome:
        if plan.build_edits and any(f.fix is not None and not f.fix.built for f in findings):
            findings = lint(text, every_edit=True)
        return FixOutcome(text, applied, findings, converged=converged, codes=frozenset(codes), first=first_lint)

    text = source.text
    applied = 0
    codes: set[str] = set()
    trusting = defaultdict(bool, {rule.code: rule.trusts_context_annotations for rule, _ in plan.rules})
    offered: Counter[tuple[str, str]] | None = None  # the first lint's eligible fixes, once it is done
    findings = first_lint = (
        first_lint_of_source() if first is None else [_held_back(f) if f.code in held else f for f in first]
    )
    offered = Counter((f.code, f.snippet) for f in findings if eligible(f))
    for _ in range(MAX_FIX_PASSES):
        chosen = [f for f in findings if applicable(f)]
        if chosen and not all(f.fix is not None and f.fix.built for f in chosen):
            # The last lint only said which fixes exist; build them now (some may not build).
            built = lint(text)
            if any(f.code == UNPARSABLE.code for f in built):
                return outcome(text, findings, converged=False)
            findings = built
            chosen = [f for f in findings if applicable(f)]
        if not chosen:
            if applied:
                text, findings = _tidy(source.text, text, findings, lint_unbuilt, plan.settings)
            return outcome(text, findings)
        offered_fixes = [f.fix for f in chosen if f.fix is not None]
        new_text, accepted = apply_fixes(text, offered_fixes)
        went = {id(fix) for fix in accepted}  # by identity: comparing fixes by value made a pass quadratic
        went_in = [finding for finding in chosen if id(finding.fix) in went]
        offered.subtract((f.code, f.snippet) for f in went_in)
        # The fixes the next pass may apply (one held back by an overlapping
        # fix, or a finding the applied ones revealed) get their edits in this
        # lint rather than in a second one; LibCST parses only if there are any.
        new_findings = lint(new_text)
        if any(f.code == UNPARSABLE.code for f in new_findings):
            new_findings = lint_unbuilt(new_text)  # LibCST's parser alone may reject what CPython's accepts
        if any(f.code == UNPARSABLE.code for f in new_findings):
            return outcome(text, findings, converged=False)  # never write a broken file
        codes.update(f.code for f in went_in)
        text, findings, applied = new_text, new_findings, applied + len(accepted)
    return outcome(text, findings, converged=False)
