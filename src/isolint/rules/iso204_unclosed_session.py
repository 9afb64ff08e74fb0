"""ISO204 unclosed-session: a session created in a function and never closed."""

from __future__ import annotations

import re
from typing import Any

from .._lazy import cst
from ..findings import SAFE, UNSAFE
from ..traversal import walk
from . import _sessions as sessions
from ._helpers import (
    alternation,
    dotted_name,
    glob_to_bytes_regex,
    matches_patterns,
    unanchored_alternatives,
)
from .base import FixSpec, Rule

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


FACTORIES_ONLY: dict[str, list[str]] = {"names": [], "exclude-names": [], "session-types": [], "not-db-types": []}


class UnclosedSession(Rule):
    code = "ISO204"
    name = "unclosed-session"
    family = "sessions"
    summary = "A session created in a function is never closed, so its connection and transaction outlive the request"
    fix_safety = UNSAFE  # safe when nothing computed from the session leaves the block
    prefilter = re.compile(rb"(?!)")  # built from the factories by compile_prefilter
    options = (sessions.SESSION_FACTORIES,)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A call of a configured factory or of any module-level maker binding.
        factories = [glob_to_bytes_regex(glob) for glob in settings.options_for(cls)["session-factories"]]
        makers = rb"sessionmaker\s*\("  # `async_sessionmaker(` too
        return re.compile(alternation(unanchored_alternatives([*factories, makers])))

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        # Only factory calls count here, whatever name holds the session.
        self.evidence = sessions.SessionEvidence(file.module, {**FACTORIES_ONLY, **options})

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        function = self.file.enclosing(cst.FunctionDef)
        call = node.value.expression if isinstance(node.value, cst.Await) else node.value
        if function is None or not isinstance(call, cst.Call):
            return
        callee = dotted_name(call.func)
        if (
            callee is None
            or sessions.call_evidence(
                callee, self.evidence.qualify(callee), self.evidence.makers, self.evidence.options
            ).verdict
            != sessions.SESSION
        ):
            return
        name = node.targets[0].target.value
        if matches_patterns(name, FACTORY_NAMES) or _is_released(function, name):
            return  # named as a factory: calling it makes the session (a `with` on it would raise TypeError)
        self.report(
            call,
            f"the session `{name}` from `{callee}()` is not closed on every path; its connection and open "
            "transaction outlive the request (and leak when it fails)",
            fix=self._fix(node, function, name, callee),
            manual=f"Open it with `async with {callee}() as {name}:` (or `with` for a sync session), or close it in a `finally`.",
        )

    def _fix(self, node: cst.Assign, function: cst.FunctionDef, name: str, callee: str) -> FixSpec | None:
        """`with`/`async with` around the statements that use the session, when they are all in its block."""
        if isinstance(node.value, cst.Await) or len(self.file.ancestors) < 2:
            return None
        line, block = self.file.ancestors[-1], self.file.ancestors[-2]
        if not (
            isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1 and isinstance(block, cst.IndentedBlock)
        ):
            return None
        statements = list(block.body)
        start = statements.index(line)
        # The block runs to the last use of the session or of anything computed while it was open
        # (ORM objects loaded from it expire once it closes).
        tracked, end = {name}, start
        while True:
            users = [
                i
                for i, statement in enumerate(statements)
                if i > start and any(_mentions(statement, n) for n in tracked)
            ]
            end = users[-1] if users else start
            derived = tracked | {n for statement in statements[start + 1 : end + 1] for n in _bound_names(statement)}
            if derived == tracked:
                break
            tracked = derived
        region = [line, *statements[start + 1 : end + 1]]
        if any(_mentions_count(function, n) != sum(_mentions_count(s, n) for s in region) for n in tracked):
            return None  # used outside the block, or before it
        moved = statements[start + 1 : end + 1]
        if any(_rebinds(statement, name) or _nested_use(statement, name) for statement in moved):
            return None
        asynchronous = self._is_async(callee, function, moved, name)
        if asynchronous is None:
            return None
        if moved and _is_close_call(moved[-1], name):
            moved = moved[:-1]
        with_statement = cst.With(
            items=[cst.WithItem(node.value, asname=cst.AsName(cst.Name(name)))],
            body=cst.IndentedBlock(
                body=moved or [cst.SimpleStatementLine([cst.Pass()])], header=line.trailing_whitespace
            ),
            asynchronous=cst.Asynchronous() if asynchronous else None,
            leading_lines=line.leading_lines,
        )
        new_body = [*statements[:start], with_statement, *statements[end + 1 :]]
        keyword = "async with" if asynchronous else "with"
        # A value returned or yielded from inside the block outlives the session:
        # an ORM object's lazy attributes then fail to load (DetachedInstanceError).
        escapes = any(
            isinstance(n, (cst.Return, cst.Yield)) and n.value is not None and not _is_constant(n.value)
            for statement in moved
            for n in walk(statement)
        )
        return FixSpec(
            f"Open the session with `{keyword} {callee}() as {name}:`",
            UNSAFE if escapes else SAFE,
            replace={block: block.with_changes(body=new_body)},
        )

    def _is_async(self, callee: str, function: cst.FunctionDef, moved: list[Any], name: str) -> bool | None:
        """Whether the session is async (`async with`); None when it cannot be told."""
        kind = self.evidence.makers.get(callee)
        if kind is None and "async" in callee.lower():
            kind = "async"
        if kind is None and any(isinstance(n, cst.Await) and _mentions(n, name) for s in moved for n in walk(s)):
            kind = "async"
        if kind is None and function.asynchronous is None:
            kind = "sync"
        if kind == "async" and function.asynchronous is None:
            return None
        return None if kind is None else kind == "async"


def _is_constant(node: cst.BaseExpression) -> bool:
    return isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)) or (
        isinstance(node, cst.Name) and node.value in ("None", "True", "False")
    )


def _names(node: cst.CSTNode, name: str) -> list[cst.Name]:
    """References to the variable `name` (not `x.name` attributes or `f(name=...)` keywords)."""
    not_variables = set()
    for child in walk(node):
        if isinstance(child, cst.Attribute):
            not_variables.add(id(child.attr))
        elif isinstance(child, cst.Arg) and child.keyword is not None:
            not_variables.add(id(child.keyword))
    return [n for n in walk(node) if isinstance(n, cst.Name) and n.value == name and id(n) not in not_variables]


def _mentions(node: cst.CSTNode, name: str) -> bool:
    return bool(_names(node, name))


def _mentions_count(node: cst.CSTNode, name: str) -> int:
    return len(_names(node, name))


def _is_released(function: cst.FunctionDef, name: str) -> bool:
    """Entered as a context manager, closed in a `finally`, returned, yielded, stored or handed to an owner."""
    for node in walk(function.body):
        if isinstance(node, cst.WithItem):
            item = node.item
            if _is_name(item, name) or (
                isinstance(item, cst.Call) and any(_mentions(a.value, name) for a in item.args)
            ):
                return True
        elif isinstance(node, cst.Try) and node.finalbody is not None:
            if any(_is_close_of(n, name) for n in walk(node.finalbody)):
                return True
        elif isinstance(node, (cst.Return, cst.Yield)) and node.value is not None and _mentions(node.value, name):
            return True
        elif isinstance(node, cst.Assign) and _mentions(node.value, name):
            if any(isinstance(t.target, (cst.Attribute, cst.Subscript)) for t in node.targets):
                return True
        elif (
            isinstance(node, cst.Call)
            and (dotted_name(node.func) or "").rpartition(".")[2] in OWNING_CALLS
            and any(_mentions(a.value, name) for a in node.args)
        ):
            return True
    return False


def _is_name(node: Any, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _is_close_of(node: Any, name: str) -> bool:
    return (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value == "close"
        and _is_name(node.func.value, name)
    )


def _is_close_call(statement: Any, name: str) -> bool:
    """`name.close()` or `await name.close()` as a whole statement."""
    if not (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
    ):
        return False
    value = statement.body[0].value
    value = value.expression if isinstance(value, cst.Await) else value
    return _is_close_of(value, name)


def _bound_names(statement: Any) -> set[str]:
    """Variables a statement assigns (`x = ...`, `for x in ...`, `with ... as x`)."""
    bound = set()
    for node in walk(statement):
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else []
        if isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For)):
            targets = [node.target]
        elif isinstance(node, cst.AsName):
            targets = [node.name]
        for target in targets:
            bound.update(_target_names(target))
    return bound


def _target_names(target: Any) -> set[str]:
    """Names a target binds: `x`, `a, *b` (not `x.attr` or `x[i]`)."""
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return set().union(*(_target_names(e.value) for e in target.elements))
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()


def _rebinds(statement: Any, name: str) -> bool:
    for node in walk(statement):
        if isinstance(node, cst.Assign) and any(_mentions(t.target, name) for t in node.targets):
            return True
        if isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For, cst.AsName)) and _mentions(
            node.target if not isinstance(node, cst.AsName) else node.name, name
        ):
            return True
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            return True
    return False


def _nested_use(statement: Any, name: str) -> bool:
    """A use inside a nested function or lambda, which may run after the block."""
    return any(
        isinstance(n, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and _mentions(n, name) for n in walk(statement)
    )
