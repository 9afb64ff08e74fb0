"""ISO102 global-instance-accessor: a function that lazily creates a module global and hands it out.

Index facts: "singletons:accessor" (see `family`), read by ISO103, ISO106
and the WebSocket family (`data["returns"]` names the class handed out).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk as cst_walk
from ..ast_context import AstRule
from ..base import CstEdit, FixSpec
from .evidence import (
    accessor_facts,
    can_uncache,
    created_class,
    file_immutables,
    lazy_global,
)
from .family import (
    ACCESSOR_INDEX_PREFILTER,
    Function,
    family_config,
    holds_per_request_state,
    infrastructure_hint,
    module_class,
    spelled_names,
    walk_body,
)
from .per_call import comment
from .uncache import name_count, uncache_body, with_comment

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView


class GlobalInstanceAccessor(AstRule):
    code = "ISO102"
    name = "global-instance-accessor"
    family = "singletons"
    summary = "A function lazily creates a module global and returns it, so every request shares one object"
    fix_safety = UNSAFE
    prefilter = re.compile(rb"global(?<!\wglobal)\s")  # the word check after the literal: `re` then skips ahead to it
    index_prefilter = ACCESSOR_INDEX_PREFILTER

    @classmethod
    def index(cls, tree: ast.Module, settings: Settings) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return accessor_facts(tree)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check(node)

    def _check(self, node: Function) -> None:
        declared = {name for child in walk_body(node.body) if isinstance(child, ast.Global) for name in child.names}
        if not declared:
            return
        lazy = lazy_global(node, self.file.shared(file_immutables))
        if lazy is not None:
            name, value = lazy
            self._report_accessor(node, name, value)
            return
        self._report_setters(node, declared)

    def _report_accessor(self, node: Function, name: str, value: ast.expr) -> None:
        created = created_class(value)
        what = f"one `{created}`" if created else "one object"
        message = (
            f"`{node.name}()` lazily creates {what} in the module global `{name}` and returns it to every "
            "caller, so all requests share it and its state"
        )
        config = family_config(self.settings)
        if not holds_per_request_state(created, config, module_class(self.file.tree, created)):
            self.report(self.file.definition_name(node), message, manual=infrastructure_hint(created))
            return
        self.report(
            self.file.definition_name(node),
            message,
            fix=self._fix(node, name),
            manual=(
                "If it holds no user state, create it once at startup and keep it in app state; otherwise create it "
                "per request through the factory (`AgentInstanceFactory` / the request context). The unsafe fix makes "
                "the accessor return a new object per call; callers that relied on sharing are listed by ISO106."
            ),
        )

    def _report_setters(self, node: Function, declared: set[str]) -> None:
        origins = _per_call_names(node)
        for child in walk_body(node.body):
            if not isinstance(child, (ast.Assign, ast.AnnAssign)) or child.value is None:
                continue
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            for name, value in (pair for target in targets for pair in _bound_pairs(target, child.value)):
                used = sorted(set(spelled_names(value)) & set(origins))
                if name.id not in declared or not used:
                    continue
                shown = used[0] if origins[used[0]] == used[0] else f"{used[0]}`, from `{origins[used[0]]}"
                self.report(
                    name,
                    f"`{node.name}()` overwrites the module global `{name.id}` with per-call data "
                    f"(`{shown}`); concurrent requests read whichever request wrote last",
                    manual=(
                        "Carry the value on the request context (`context.run_id`, `context.metadata`) and pass "
                        "the context down; for log correlation a `contextvars.ContextVar` set per request works."
                    ),
                )

    def _fix(self, node: Function, name: str) -> FixSpec | None:
        def is_ref(expression: ast.AST) -> bool:
            return isinstance(expression, ast.Name) and expression.id == name

        if not can_uncache(node.body, is_ref):
            return None
        if any(isinstance(g, ast.Global) and set(g.names) != {name} for g in walk_body(node.body)):
            return None  # a `global` of anything else would stay behind
        return FixSpec(
            f"Make `{node.name}()` return a new object per call", UNSAFE, build=_per_call_builder(node, name)
        )


def _per_call_builder(node: Function, name: str) -> Callable[[CstView], CstEdit]:
    def build(view: CstView) -> CstEdit:
        function = view.node(node, cst.FunctionDef)
        is_ref: Callable[[cst.CSTNode], bool] = lambda e: isinstance(e, cst.Name) and e.value == name  # noqa: E731
        body = uncache_body(function.body.body, is_ref, name)
        if body is None or any(isinstance(c, cst.Global) for s in body for c in cst_walk(s)):
            raise LookupError(f"the caching of `{name}` is not in a shape the edit can take apart")
        module = view.module
        body = with_comment(body, comment("ISO102"))  # ISO106 keeps listing its callers
        replace: dict[Any, Any] = {function: function.with_changes(body=function.body.with_changes(body=body))}
        declaration = _module_declaration(module, name)
        if declaration is not None and name_count(module, name, skip=[function, declaration]) == 0:
            replace[declaration] = cst.RemoveFromParent()
            following = module.body[module.body.index(declaration) + 1 :]
            if following:  # the next statement inherits the removed one's comments and blank lines
                after = replace.get(following[0], following[0])
                replace[following[0]] = after.with_changes(
                    leading_lines=_inherited_lines(declaration.leading_lines, after.leading_lines)
                )
        return CstEdit(replace=replace)

    return build


def _per_call_names(function: Function) -> dict[str, str]:
    """Names holding per-call data -> the parameter it came from: the
    parameters, and locals assigned from an expression using one (`adapter =
    make_logger(run_id)`), however many assignments away."""
    arguments = function.args
    origins = {a.arg: a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}
    assignments = [
        (target, child.value)
        for child in walk_body(function.body)
        if isinstance(child, (ast.Assign, ast.AnnAssign)) and child.value is not None
        for target in (child.targets if isinstance(child, ast.Assign) else [child.target])
    ]
    changed = True
    while changed:
        changed = False
        for target, value in assignments:
            source = next((origins[n] for n in spelled_names(value) if n in origins), None)
            if source is None:
                continue
            for name in _assigned_names(target):
                if name.id not in origins:
                    origins[name.id] = source
                    changed = True
    return origins


def _bound_pairs(target: ast.expr, value: ast.expr) -> list[tuple[ast.Name, ast.expr]]:
    """(name, the expression it gets) for an assignment: `a, b = x, y` pairs
    `a` with `x`; any other unpacking gives every name the whole value."""
    if (
        isinstance(target, (ast.Tuple, ast.List))
        and isinstance(value, (ast.Tuple, ast.List))
        and len(target.elts) == len(value.elts)
        and not any(isinstance(e, ast.Starred) for e in value.elts)
    ):
        return [
            pair
            for t, v in zip(target.elts, value.elts, strict=True)
            for pair in _bound_pairs(t.value if isinstance(t, ast.Starred) else t, v)
        ]
    return [(name, value) for name in _assigned_names(target)]


def _assigned_names(target: ast.expr) -> list[ast.Name]:
    """The names an assignment target binds: `x`, and each of `x, y` / `[x, *y]`."""
    if isinstance(target, ast.Name):
        return [target]
    if isinstance(target, ast.Starred):
        return _assigned_names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _assigned_names(element)]
    return []


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
