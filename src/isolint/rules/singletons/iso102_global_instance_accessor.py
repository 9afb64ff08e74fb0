"""ISO102 global-instance-accessor: a function that lazily creates a module global and hands it out.

Index facts: "singletons:accessor" (see `_singletons`), read by ISO103, ISO106
and the WebSocket family (`data["returns"]` names the class handed out).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk
from .._helpers import last_name
from ..base import FixSpec, Rule
from . import _cst_legacy, per_call, uncache
from . import family as _family


class GlobalInstanceAccessor(Rule):
    code = "ISO102"
    name = "global-instance-accessor"
    family = "singletons"
    summary = "A function lazily creates a module global and returns it, so every request shares one object"
    fix_safety = UNSAFE
    prefilter = re.compile(rb"\bglobal\s")
    index_prefilter = _family.ACCESSOR_INDEX_PREFILTER

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return _family.accessor_facts(tree)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        declared = {
            item.name.value
            for child in walk(node.body)
            if isinstance(child, cst.Global)
            for item in child.names
            if isinstance(item.name, cst.Name)
        }
        if not declared:
            return
        lazy = self._lazy_global(node, declared)
        if lazy is not None:
            name, value = lazy
            self._report_accessor(node, name, value)
            return
        self._report_setters(node, declared)

    @staticmethod
    def _lazy_global(node: cst.FunctionDef, declared: set[str]) -> tuple[str, cst.BaseExpression] | None:
        """(global, the value it is lazily set to): `if _x is None: _x = X()` / `_x = _x or X()`, then `return _x`."""
        returned = {
            child.value.value
            for child in walk(node.body)
            if isinstance(child, cst.Return) and isinstance(child.value, cst.Name)
        }
        candidates = declared & returned
        for child in walk(node.body):
            if isinstance(child, cst.If):
                checked = _cst_legacy.none_checked(child.test)
                if isinstance(checked, cst.Name) and checked.value in candidates:
                    value = _assigned_value(child.body, checked.value)
                    if value is not None:
                        return checked.value, value
            if (
                isinstance(child, cst.Assign)
                and len(child.targets) == 1
                and isinstance(child.targets[0].target, cst.Name)
                and child.targets[0].target.value in candidates
                and isinstance(child.value, cst.BooleanOperation)
                and isinstance(child.value.operator, cst.Or)
                and isinstance(child.value.left, cst.Name)
                and child.value.left.value == child.targets[0].target.value
            ):
                return child.targets[0].target.value, child.value.right
        return None

    def _report_accessor(self, node: cst.FunctionDef, name: str, value: cst.BaseExpression) -> None:
        created = last_name(value.func) if isinstance(value, cst.Call) else None
        what = f"one `{created}`" if created else "one object"
        message = (
            f"`{node.name.value}()` lazily creates {what} in the module global `{name}` and returns it to every "
            "caller, so all requests share it and its state"
        )
        if not _cst_legacy.holds_per_request_state(
            created, self.settings, _cst_legacy.module_class(self.file.module, created)
        ):
            self.report(node.name, message, manual=_family.infrastructure_hint(created))
            return
        self.report(
            node.name,
            message,
            fix=self._fix(node, name),
            manual=(
                "If it holds no user state, create it once at startup and keep it in app state; otherwise create it "
                "per request through the factory (`AgentInstanceFactory` / the request context). The unsafe fix makes "
                "the accessor return a new object per call; callers that relied on sharing are listed by ISO106."
            ),
        )

    def _report_setters(self, node: cst.FunctionDef, declared: set[str]) -> None:
        origins = _per_call_names(node)
        for child in walk(node.body):
            if not isinstance(child, (cst.Assign, cst.AnnAssign)) or child.value is None:
                continue
            targets = [t.target for t in child.targets] if isinstance(child, cst.Assign) else [child.target]
            for name, value in (pair for target in targets for pair in _bound_pairs(target, child.value)):
                used = sorted({n.value for n in walk(value) if isinstance(n, cst.Name)} & set(origins))
                if name.value not in declared or not used:
                    continue
                shown = used[0] if origins[used[0]] == used[0] else f"{used[0]}`, from `{origins[used[0]]}"
                self.report(
                    name,
                    f"`{node.name.value}()` overwrites the module global `{name.value}` with per-call data "
                    f"(`{shown}`); concurrent requests read whichever request wrote last",
                    manual=(
                        "Carry the value on the request context (`context.run_id`, `context.metadata`) and pass "
                        "the context down; for log correlation a `contextvars.ContextVar` set per request works."
                    ),
                )

    def _fix(self, node: cst.FunctionDef, name: str) -> FixSpec | None:
        is_ref = lambda expression: isinstance(expression, cst.Name) and expression.value == name  # noqa: E731
        body = uncache.uncache_body(node.body.body, is_ref, name)
        if body is None or any(isinstance(c, cst.Global) for s in body for c in walk(s)):
            return None
        module = self.file.module
        body = uncache.with_comment(body, per_call.comment(self.code))  # ISO106 keeps listing its callers
        replace: dict[Any, Any] = {node: node.with_changes(body=node.body.with_changes(body=body))}
        declaration = _module_declaration(module, name)
        if declaration is not None and uncache.name_count(module, name, skip=[node, declaration]) == 0:
            replace[declaration] = cst.RemoveFromParent()
            following = module.body[module.body.index(declaration) + 1 :]
            if following:  # the next statement inherits the removed one's comments and blank lines
                after = replace.get(following[0], following[0])
                replace[following[0]] = after.with_changes(
                    leading_lines=_inherited_lines(declaration.leading_lines, after.leading_lines)
                )
        return FixSpec(f"Make `{node.name.value}()` return a new object per call", UNSAFE, replace=replace)


def _inherited_lines(removed: Sequence[cst.EmptyLine], own: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    """The lines before the statement that follows a removed one: the removed
    one's comments stay (a section comment like `# Utility functions` is not
    the global's to take away), and the blank lines between are as many as
    the larger of the two runs, never their sum."""
    commented = [index for index, line in enumerate(removed) if line.comment is not None]
    head = list(removed[: commented[-1] + 1]) if commented else []
    removed_blanks = len(removed) - len(head)
    own_blanks = next((index for index, line in enumerate(own) if line.comment is not None), len(own))
    if not head:
        own_blanks = sum(line.comment is None for line in own)
        return list(own) if own_blanks >= removed_blanks else [*removed, *own]
    return [*head, *(cst.EmptyLine() for _ in range(max(removed_blanks, own_blanks))), *own[own_blanks:]]


def _per_call_names(function: cst.FunctionDef) -> dict[str, str]:
    """Names holding per-call data -> the parameter it came from: the
    parameters, and locals assigned from an expression using one (`adapter =
    make_logger(run_id)`), however many assignments away."""
    params = function.params
    origins = {p.name.value: p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    assignments = [
        (target, child.value)
        for child in walk(function.body)
        if isinstance(child, (cst.Assign, cst.AnnAssign)) and child.value is not None
        for target in ([t.target for t in child.targets] if isinstance(child, cst.Assign) else [child.target])
    ]
    changed = True
    while changed:
        changed = False
        for target, value in assignments:
            source = next(
                (origins[n.value] for n in walk(value) if isinstance(n, cst.Name) and n.value in origins), None
            )
            for name in _assigned_names(target) if source else []:
                if name.value not in origins:
                    origins[name.value] = source
                    changed = True
    return origins


def _bound_pairs(target: cst.BaseExpression, value: cst.BaseExpression) -> list[tuple[cst.Name, cst.BaseExpression]]:
    """(name, the expression it gets) for an assignment: `a, b = x, y` pairs
    `a` with `x`; any other unpacking gives every name the whole value."""
    if (
        isinstance(target, (cst.Tuple, cst.List))
        and isinstance(value, (cst.Tuple, cst.List))
        and len(target.elements) == len(value.elements)
        and not any(isinstance(e, cst.StarredElement) for e in value.elements)
    ):
        return [
            pair
            for t, v in zip(target.elements, value.elements, strict=True)
            for pair in _bound_pairs(t.value, v.value)
        ]
    return [(name, value) for name in _assigned_names(target)]


def _assigned_names(target: cst.BaseExpression) -> list[cst.Name]:
    """The names an assignment target binds: `x`, and each of `x, y` / `[x, y]`."""
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in _assigned_names(element.value)]
    return []


def _assigned_value(block: cst.BaseSuite, name: str) -> cst.BaseExpression | None:
    for child in walk(block):
        if isinstance(child, (cst.Assign, cst.AnnAssign)) and child.value is not None:
            targets = [t.target for t in child.targets] if isinstance(child, cst.Assign) else [child.target]
            if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                return child.value
    return None


def _module_declaration(module: cst.Module, name: str) -> cst.SimpleStatementLine | None:
    """The module-level `_x = None` / `_x: T = None` line for `name`."""
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            continue
        small = statement.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
        elif isinstance(small, cst.AnnAssign):
            target = small.target
        else:
            continue
        if (
            isinstance(target, cst.Name)
            and target.value == name
            and isinstance(small.value, cst.Name)
            and small.value.value == "None"
        ):
            return statement
    return None
