"""The LibCST edits shared by the fixes that make a singleton per call (ISO101, ISO102).

The family's analysis (on `ast`) decides that a fix exists (`evidence.can_uncache`);
these helpers build it on the LibCST nodes found at the same spans, keeping
comments and formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..._lazy import cst
from ...traversal import children, walk
from .._helpers import last_name


def mentions(node: cst.CSTNode, is_ref: Callable[[cst.CSTNode], bool]) -> bool:
    return any(is_ref(child) for child in walk(node))


def is_lock(expression: cst.BaseExpression) -> bool:
    name = last_name(expression)
    return name is not None and "lock" in name.lower()


def uncache_body(
    body: Sequence[cst.BaseStatement], is_ref: Callable[[cst.CSTNode], bool], local: str
) -> list[cst.BaseStatement] | None:
    """A function body with its caching taken out, or None if its shape is not understood.

    Guards that test the cache (`if cls._instance is None:`, `if key not in
    cls._instances:`) and the locks around them are unwrapped, `global`
    declarations of the cache dropped, and every use of the cache (`cls._instance`,
    `cls._instances[key]`, `_manager`) becomes the local `local`; a final
    `local = X(...)` + `return local` becomes `return X(...)`.
    """
    out: list[cst.BaseStatement] = []
    for statement in body:
        unwrapped = False
        inner: list[cst.BaseStatement] | None
        if not mentions(statement, is_ref):
            inner = [statement]
        elif (isinstance(statement, cst.If) and mentions(statement.test, is_ref) and statement.orelse is None) or (
            isinstance(statement, cst.With) and all(is_lock(item.item) for item in statement.items)
        ):
            inner, unwrapped = uncache_body(statement.body.body, is_ref, local), True
        elif isinstance(statement, cst.SimpleStatementLine) and all(
            isinstance(small, cst.Global) and all(is_ref(item.name) for item in small.names) for small in statement.body
        ):
            continue
        elif isinstance(statement, cst.SimpleStatementLine):
            inner = [_uncache_line(statement, is_ref, local)]
        else:
            return None  # a loop or try around the cache, or an if/else: leave it to a person
        if inner is None:
            return None
        if unwrapped and inner:  # comments above an unwrapped guard stay above its first statement
            inner[0] = inner[0].with_changes(leading_lines=[*statement.leading_lines, *inner[0].leading_lines])
        out.extend(inner)
    return _fold_final_return(out, local)


def _uncache_line(
    line: cst.SimpleStatementLine, is_ref: Callable[[cst.CSTNode], bool], local: str
) -> cst.SimpleStatementLine:
    smalls = []
    for small in line.body:
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and is_ref(small.targets[0].target)
            and isinstance(small.value, cst.BooleanOperation)
            and isinstance(small.value.operator, cst.Or)
            and is_ref(small.value.left)
        ):
            small = small.with_changes(value=small.value.right)  # `_x = _x or X()`
        if isinstance(small, cst.AnnAssign) and is_ref(small.target) and small.value is not None:
            small = cst.Assign(targets=[cst.AssignTarget(small.target)], value=small.value)
        smalls.append(replace_refs(small, is_ref, local))
    return line.with_changes(body=smalls)


def replace_refs(node: cst.CSTNode, is_ref: Callable[[cst.CSTNode], bool], local: str) -> cst.CSTNode:
    class _Refs(cst.CSTTransformer):
        def on_leave(self, original: Any, updated: Any) -> Any:
            if isinstance(original, cst.Subscript) and is_ref(original.value):
                return cst.Name(local)  # `cls._instances[key]` is the one instance now
            if isinstance(original, cst.Attribute) and not is_ref(original):
                return updated.with_changes(attr=original.attr)  # `obj._x`: not the global `_x`
            if isinstance(original, cst.BaseExpression) and is_ref(original):
                return cst.Name(local)
            return updated

    return node.visit(_Refs())


def _fold_final_return(body: list[cst.BaseStatement], local: str) -> list[cst.BaseStatement]:
    """`local = E` then `return local` -> `return E`."""
    if len(body) < 2:
        return body
    *rest, assign_line, return_line = body
    if not (isinstance(assign_line, cst.SimpleStatementLine) and isinstance(return_line, cst.SimpleStatementLine)):
        return body
    if len(assign_line.body) != 1 or len(return_line.body) != 1:
        return body
    assign, returned = assign_line.body[0], return_line.body[0]
    if (
        isinstance(assign, cst.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
        and assign.targets[0].target.value == local
        and isinstance(returned, cst.Return)
        and isinstance(returned.value, cst.Name)
        and returned.value.value == local
    ):
        folded = return_line.with_changes(
            body=[returned.with_changes(value=assign.value)], leading_lines=assign_line.leading_lines
        )
        return [*rest, folded]
    return body


def with_comment(body: list[cst.BaseStatement], comment: str) -> list[cst.BaseStatement]:
    """`body` with `# comment` above its first statement after any docstring."""
    from .._imports import is_docstring  # defines LibCST transformers: imported once edits are built

    position = 1 if body and is_docstring(body[0]) and len(body) > 1 else 0
    statement = body[position]
    line = cst.EmptyLine(indent=True, comment=cst.Comment(f"# {comment}"))
    body = list(body)
    body[position] = statement.with_changes(leading_lines=[*statement.leading_lines, line])
    return body


def name_count(module: cst.Module, name: str, *, skip: Iterable[cst.CSTNode] = ()) -> int:
    """How many `Name` / attribute-name nodes spell `name` in `module`, outside the `skip` subtrees."""
    skipped = set(map(id, skip))
    count = 0
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if id(node) in skipped:
            continue
        if isinstance(node, cst.Name) and node.value == name:
            count += 1
        stack.extend(children(node))
    return count
