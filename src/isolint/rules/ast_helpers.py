"""Small stdlib-`ast` helpers shared by `AstRule`s (the LibCST ones the edits use are in `_helpers`)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ..scopes import FUNCTIONS

if TYPE_CHECKING:
    from ..config import Settings
    from .ast_context import AstFile

__all__ = [
    "annotation_names",
    "assignment_targets",
    "context_param",
    "decorator_names",
    "dotted_name",
    "exported_names",
    "first_param_name",
    "is_module_level",
    "is_name_used",
    "last_name",
    "parameters",
    "returned_value",
    "takes_arguments",
    "without_await",
]


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a stdlib-ast Name/Attribute chain , else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


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


def annotation_names(annotation: ast.expr) -> set[str]:
    """Names in an annotation, looking through Optional[...], X | None and string quotes."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return annotation_names(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return set()
    if isinstance(annotation, ast.Subscript):
        names = annotation_names(annotation.value)
        elements = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        for element in elements:
            names |= annotation_names(element)
        return names
    if isinstance(annotation, ast.BinOp):
        return annotation_names(annotation.left) | annotation_names(annotation.right)
    name = dotted_name(annotation)
    return {name, name.rpartition(".")[2]} if name else set()


def context_param(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, settings: Settings) -> str | None:
    """The name of the parameter that carries the request context, if any.

    A parameter counts when it is annotated with the configured
    `context-class` (by its class name, qualified or not, optionally inside
    Optional or quotes) or, unannotated, when its name is in `context-params`.
    """
    arguments = function.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    for arg in every:
        if arg.annotation is not None and settings.context_name in annotation_names(arg.annotation):
            return arg.arg
    for arg in every:
        if arg.annotation is None and arg.arg in settings.context_params:
            return arg.arg
    return None


def exported_names(tree: ast.Module) -> set[str]:
    """String entries of a module-level `__all__` list or tuple."""
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
            targets = [statement.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets) and isinstance(
            statement.value, (ast.List, ast.Tuple)
        ):
            names.update(
                e.value for e in statement.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    return names


def is_name_used(file: AstFile, import_node: ast.ImportFrom | ast.Import, local_name: str) -> bool:
    """Whether `local_name`, bound by `import_node`, is read in the scope the
    import binds it in (string annotations included), or re-exported."""
    if local_name in exported_names(file.tree):
        return True
    owner = file.names.innermost_owner(import_node)
    return bool(file.names.reads(owner, local_name)) or file.names.in_string_annotation(owner, local_name)


def takes_arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = function.args
    return bool(args.posonlyargs or args.args or args.kwonlyargs or args.vararg or args.kwarg)


def returned_value(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    """The value of a body that is one `return <value>` (after any docstring)."""
    body = function.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if len(body) == 1 and isinstance(body[0], ast.Return):
        return body[0].value
    return None


def without_await(value: ast.expr | None) -> ast.expr | None:
    """`value` without an `await` in front."""
    return value.value if isinstance(value, ast.Await) else value
