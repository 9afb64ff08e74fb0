"""ISO204 unclosed-session: a session created in a function and never closed."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import SAFE, UNSAFE
from ...scopes import FUNCTIONS, walk
from .._helpers import alternation, glob_to_bytes_regex, matches_patterns, unanchored_alternatives
from ..ast_helpers import dotted_name
from ..base import CstEdit, FixSpec
from .evidence import Function, SessionRule, alone_on_its_lines, block_of
from .family import NOT_DB_TYPES, SESSION, SESSION_FACTORIES, SESSION_TYPES, SessionsConfig

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView
    from ...index import ProjectIndex

# Names an author gives a session *factory*, not a session.
FACTORY_NAMES = ("*factory", "*Factory", "*maker", "*Maker")

# Calls that take ownership of what they are given (contextlib.ExitStack and friends).
OWNING_CALLS = (
    "enter_context",
    "enter_async_context",
    "push_async_callback",
    "callback",
    "push",
    "closing",
    "aclosing",
)

# Statements LibCST holds on one line (`a = f(); b = g(a)`): the unit the fix moves.
Line = list[ast.stmt]


class UnclosedSession(SessionRule):
    code = "ISO204"
    name = "unclosed-session"
    family = "sessions"
    summary = "A session created in a function is never closed, so its connection and transaction outlive the request"
    fix_safety = UNSAFE  # safe when nothing computed from the session leaves the block
    prefilter = re.compile(rb"(?!)")  # built from the factories by compile_prefilter
    options = (SESSION_FACTORIES, SESSION_TYPES, NOT_DB_TYPES)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # A call of a configured factory or of any module-level maker binding.
        factories = [glob_to_bytes_regex(glob) for glob in settings.options_for(cls)["session-factories"]]
        makers = rb"sessionmaker\s*\("  # `async_sessionmaker(` too
        return re.compile(alternation(unanchored_alternatives([*factories, makers])))

    @classmethod
    def config_of(cls, options: Mapping[str, Any]) -> SessionsConfig:
        # Only factory calls count here, whatever name holds the session.
        return SessionsConfig.of_factories(options["session-factories"])

    @classmethod
    def return_types_of(cls, options: Mapping[str, Any]) -> SessionsConfig:
        # A factory of this module declared to return some other type (an HTTP
        # client session) makes no DB session, whatever its name.
        return SessionsConfig.from_options({**options, "names": (), "exclude-names": ()})

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return
        function = self.file.enclosing(*FUNCTIONS)
        call = node.value.value if isinstance(node.value, ast.Await) else node.value
        if not isinstance(function, FUNCTIONS) or not isinstance(call, ast.Call):
            return
        callee = dotted_name(call.func)
        if callee is None or self.evidence.call_evidence(callee).verdict != SESSION:
            return
        name = node.targets[0].id
        if matches_patterns(name, FACTORY_NAMES) or _is_released(function, name):
            return  # named as a factory: calling it makes the session (a `with` on it would raise TypeError)
        self.report(
            call,
            f"the session `{name}` from `{callee}()` is not closed on every path; its connection and open "
            "transaction outlive the request (and leak when it fails)",
            fix=self._fix(node, function, name, callee),
            manual=f"Open it with `async with {callee}() as {name}:` (or `with` for a sync session), or close it in a `finally`.",
        )

    def _fix(self, node: ast.Assign, function: Function, name: str, callee: str) -> FixSpec | None:
        """`with`/`async with` around the statements that use the session, when they are all in its block."""
        block = block_of(self.file, node)
        if isinstance(node.value, ast.Await) or block is None or not alone_on_its_lines(node, block, self.file.lines):
            return None
        lines = _lines(block)
        start = next(i for i, line in enumerate(lines) if line[0] is node)
        # The block runs to the last use of the session or of anything computed while it was open
        # (ORM objects loaded from it expire once it closes).
        tracked, end = {name}, start
        while True:
            users = [i for i, line in enumerate(lines) if i > start and any(_mentions(line, n) for n in tracked)]
            end = users[-1] if users else start
            derived = tracked | {n for line in lines[start + 1 : end + 1] for n in _bound_names(line)}
            if derived == tracked:
                break
            tracked = derived
        region = lines[start : end + 1]
        if any(_mention_count([function], n) != _mention_count(_flat(region), n) for n in tracked):
            return None  # used outside the block, or before it
        moved = lines[start + 1 : end + 1]
        if any(_rebinds(line, name) or _nested_use(line, name) for line in moved):
            return None
        asynchronous = self._is_async(callee, function, moved, name)
        if asynchronous is None:
            return None
        closes_last = bool(moved) and _is_close_call(moved[-1], name)
        if closes_last:
            moved = moved[:-1]
        keyword = "async with" if asynchronous else "with"
        # A value returned or yielded from inside the block outlives the session:
        # an ORM object's lazy attributes then fail to load (DetachedInstanceError).
        escapes = any(
            isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) and n.value is not None and not _is_constant(n.value)
            for statement in _flat(moved)
            for n in walk(statement)
        )
        return FixSpec(
            f"Open the session with `{keyword} {callee}() as {name}:`",
            UNSAFE if escapes else SAFE,
            build=partial(_build_with, node, name, start, end, closes_last, asynchronous),
        )

    def _is_async(self, callee: str, function: Function, moved: list[Line], name: str) -> bool | None:
        """Whether the session is async (`async with`); None when it cannot be told."""
        kind = self.evidence.makers.get(callee)
        if kind is None and "async" in callee.lower():
            kind = "async"
        if kind is None and any(
            isinstance(n, ast.Await) and _mentions([n], name) for s in _flat(moved) for n in ast.walk(s)
        ):
            kind = "async"
        synchronous_function = not isinstance(function, ast.AsyncFunctionDef)
        if kind is None and synchronous_function:
            kind = "sync"
        if kind == "async" and synchronous_function:
            return None
        return None if kind is None else kind == "async"


def _build_with(
    node: ast.Assign, name: str, start: int, end: int, closes_last: bool, asynchronous: bool, view: CstView
) -> CstEdit:
    """The block with its lines `start`..`end` (the assignment and the session's
    uses) replaced by a `with` statement holding the uses."""
    assignment = view.node(node, cst.Assign)
    line = view.parents[id(assignment)]
    block = view.parents[id(line)]
    if not isinstance(block, cst.IndentedBlock) or not isinstance(line, cst.SimpleStatementLine):
        raise LookupError(f"line {node.lineno}: not a statement line of an indented block")
    statements = list(block.body)
    if start >= len(statements) or statements[start] is not line:
        raise LookupError(f"line {node.lineno}: the block's statements do not pair up with ast's")
    moved = statements[start + 1 : end + 1]
    if closes_last:
        moved = moved[:-1]
    with_statement = cst.With(
        items=[cst.WithItem(assignment.value, asname=cst.AsName(cst.Name(name)))],
        body=cst.IndentedBlock(body=moved or [cst.SimpleStatementLine([cst.Pass()])], header=line.trailing_whitespace),
        asynchronous=cst.Asynchronous() if asynchronous else None,
        leading_lines=line.leading_lines,
    )
    new_body = [*statements[:start], with_statement, *statements[end + 1 :]]
    return CstEdit(replace={block: block.with_changes(body=new_body)})


def _lines(block: Sequence[ast.stmt]) -> list[Line]:
    """The block's statements grouped as LibCST holds them: one group per line of `;`-joined statements."""
    lines: list[Line] = []
    for statement in block:
        if lines and statement.lineno <= (lines[-1][-1].end_lineno or lines[-1][-1].lineno):
            lines[-1].append(statement)
        else:
            lines.append([statement])
    return lines


def _flat(lines: Iterable[Line]) -> list[ast.stmt]:
    return [statement for line in lines for statement in line]


def _is_constant(node: ast.expr) -> bool:
    """What LibCST calls a constant: a number, a string, None, True or False."""
    return isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, (bool, int, float, str, bytes))
    )


def _mentions_in(node: ast.AST, name: str) -> Iterator[ast.AST]:
    """Where `node` writes the identifier `name` as a variable: names, and the
    identifiers of definitions, parameters, imports, `except ... as`, `case`
    captures and `global` (not `x.name` attributes or `f(name=...)` keywords);
    what LibCST holds as a `Name` node, which the fix's safety checks count."""
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            written = [child.id]
        elif isinstance(child, ast.arg):
            written = [child.arg]
        elif isinstance(child, (*FUNCTIONS, ast.ClassDef)):
            written = [child.name]
        elif isinstance(child, ast.ExceptHandler):
            written = [child.name] if child.name else []
        elif isinstance(child, (ast.Global, ast.Nonlocal)):
            written = list(child.names)
        elif isinstance(child, ast.alias):
            written = [child.name.partition(".")[0], *([child.asname] if child.asname else [])]
        elif isinstance(child, ast.ImportFrom):
            written = [child.module.partition(".")[0]] if child.module else []
        elif isinstance(child, (ast.MatchAs, ast.MatchStar)):
            written = [child.name] if child.name else []
        else:
            continue
        for identifier in written:
            if identifier == name:
                yield child


def _mention_count(nodes: Iterable[ast.AST], name: str) -> int:
    return sum(1 for node in nodes for _ in _mentions_in(node, name))


def _mentions(nodes: Iterable[ast.AST], name: str) -> bool:
    return any(True for node in nodes for _ in _mentions_in(node, name))


def _is_released(function: Function, name: str) -> bool:
    """Entered as a context manager, closed in a `finally`, returned, yielded, stored or handed to an owner."""
    for statement in function.body:
        for node in walk(statement):
            if _releases(node, name):
                return True
    return False


def _releases(node: ast.AST, name: str) -> bool:
    if isinstance(node, ast.withitem):
        item = node.context_expr
        return _is_name(item, name) or (isinstance(item, ast.Call) and _mentions(_arguments(item), name))
    if isinstance(node, ast.Try) and node.finalbody:
        return any(_is_close_of(n, name) for s in node.finalbody for n in walk(s))
    if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)) and node.value is not None:
        return _mentions([node.value], name)
    if isinstance(node, ast.Assign) and _mentions([node.value], name):
        return any(isinstance(target, (ast.Attribute, ast.Subscript)) for target in node.targets)
    if isinstance(node, ast.Call) and (dotted_name(node.func) or "").rpartition(".")[2] in OWNING_CALLS:
        return _mentions(_arguments(node), name)
    return False


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(keyword.value for keyword in call.keywords)]


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_close_of(node: ast.AST, name: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "close"
        and _is_name(node.func.value, name)
    )


def _is_close_call(line: Line, name: str) -> bool:
    """`name.close()` or `await name.close()` alone on its line."""
    if len(line) != 1 or not isinstance(line[0], ast.Expr):
        return False
    value = line[0].value
    value = value.value if isinstance(value, ast.Await) else value
    return _is_close_of(value, name)


def _bound_names(line: Line) -> set[str]:
    """Variables a line assigns (`x = ...`, `for x in ...`, `with ... as x`, `except ... as x`, `import ... as x`)."""
    bound: set[str] = set()
    for statement in line:
        for node in walk(statement):
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets = [node.optional_vars]
            else:
                if isinstance(node, ast.ExceptHandler) and node.name:
                    bound.add(node.name)
                elif isinstance(node, ast.alias) and node.asname:
                    bound.add(node.asname)
                continue
            for target in targets:
                bound.update(_target_names(target))
    return bound


def _target_names(target: ast.expr) -> set[str]:
    """Names a target binds: `x`, `a, *b` (not `x.attr` or `x[i]`)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(element) for element in target.elts))
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


def _rebinds(line: Line, name: str) -> bool:
    for statement in line:
        for node in walk(statement):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                return True
            if isinstance(node, ast.Assign):
                targets: list[ast.AST] = list(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets = [node.optional_vars]
            elif isinstance(node, ast.ExceptHandler):
                if node.name == name:
                    return True
                continue
            elif isinstance(node, ast.alias):
                if node.asname == name:
                    return True
                continue
            else:
                continue
            if _mentions(targets, name):
                return True
    return False


def _nested_use(line: Line, name: str) -> bool:
    """A use inside a nested function or lambda, which may run after the block."""
    return any(
        isinstance(n, (*FUNCTIONS, ast.Lambda, ast.ClassDef)) and _mentions([n], name)
        for statement in line
        for n in walk(statement)
    )
