"""Small LibCST helpers shared by rules."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Iterable, Iterator

from .._lazy import cst


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`node` and all its descendants, depth first, without building a visitor."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def last_name(node: cst.BaseExpression) -> str | None:
    """The final identifier of a Name or Attribute (`WebSocketManager` in `ws.WebSocketManager`)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


def glob_to_bytes_regex(glob: str) -> bytes:
    """An unanchored regex fragment for an identifier glob (`*` and `?`), for prefilters."""
    return re.escape(glob.encode()).replace(rb"\*", rb"\w*").replace(rb"\?", rb"\w")


def matches_patterns(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def assignment_targets(statement: cst.BaseSmallStatement) -> list[cst.BaseExpression]:
    """The targets of `a = b = value` or `a: T = value`; [] for anything else."""
    if isinstance(statement, cst.Assign):
        return [target.target for target in statement.targets]
    if isinstance(statement, cst.AnnAssign) and statement.value is not None:
        return [statement.target]
    return []


def first_param_name(function: cst.FunctionDef) -> str | None:
    params = function.params.posonly_params or function.params.params
    return params[0].name.value if params else None


def decorator_names(function: cst.FunctionDef | cst.ClassDef) -> set[str]:
    names = set()
    for decorator in function.decorators:
        expr = decorator.decorator
        if isinstance(expr, cst.Call):
            expr = expr.func
        name = last_name(expr)
        if name:
            names.add(name)
    return names


def is_module_level(ancestors: list[cst.CSTNode]) -> bool:
    """True when no function or class encloses the current node."""
    return not any(isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) for node in ancestors)
