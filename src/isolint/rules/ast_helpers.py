"""Small stdlib-`ast` helpers shared by `AstRule`s (the LibCST ones are in `_helpers`)."""

from __future__ import annotations

import ast

from ..scopes import FUNCTIONS
from ._helpers import ast_dotted_name as dotted_name

__all__ = [
    "assignment_targets",
    "decorator_names",
    "dotted_name",
    "first_param_name",
    "is_module_level",
    "last_name",
    "parameters",
]


def last_name(node: ast.AST) -> str | None:
    """The final identifier of a Name or Attribute (`WebSocketManager` in `ws.WebSocketManager`)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def assignment_targets(statement: ast.AST) -> list[ast.expr]:
    """The targets of `a = b = value` or `a: T = value`; [] for anything else."""
    if isinstance(statement, ast.Assign):
        return list(statement.targets)
    if isinstance(statement, ast.AnnAssign) and statement.value is not None:
        return [statement.target]
    return []


def parameters(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[ast.arg]:
    """Every parameter, in the order the signature writes them."""
    arguments = function.args
    stars = [star for star in (arguments.vararg,) if star is not None]
    kwargs = [star for star in (arguments.kwarg,) if star is not None]
    return [*arguments.posonlyargs, *arguments.args, *stars, *arguments.kwonlyargs, *kwargs]


def first_param_name(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    positional = function.args.posonlyargs or function.args.args
    return positional[0].arg if positional else None


def decorator_names(definition: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    names = set()
    for decorator in definition.decorator_list:
        expr = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = last_name(expr)
        if name:
            names.add(name)
    return names


def is_module_level(ancestors: list[ast.AST]) -> bool:
    """True when no function, class or lambda encloses the current node."""
    return not any(isinstance(node, (*FUNCTIONS, ast.ClassDef, ast.Lambda)) for node in ancestors)
