"""What a module imports and exports, read off its `ast`, for the family's
fixes that swap the legacy class's import for the context class's."""

from __future__ import annotations

import ast

from ..ast_context import AstFile
from ..ast_helpers import dotted_name


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


def top_level_from_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    """The module-level `from ... import ...` statements (not those under an `if`)."""
    return [statement for statement in tree.body if isinstance(statement, ast.ImportFrom)]


def imports_name(tree: ast.Module, from_module: str, name: str) -> bool:
    """Whether the module has a top-level `from <from_module> import <name>` (unaliased)."""
    return any(
        statement.level == 0
        and statement.module == from_module
        and any(alias.name == name and alias.asname is None for alias in statement.names)
        for statement in top_level_from_imports(tree)
    )


def binds_at_top_level(statements: list[ast.stmt], name: str) -> bool:
    """Whether one of `statements` is a `from ... import` binding `name`."""
    return any(
        isinstance(statement, ast.ImportFrom)
        and any((alias.asname or alias.name) == name for alias in statement.names if alias.name != "*")
        for statement in statements
    )


def context_bound(tree: ast.Module, context_name: str, *, runtime: bool) -> bool:
    """Whether the module already imports the context class at top level (or,
    for uses never evaluated at runtime, under `if TYPE_CHECKING:`)."""
    if binds_at_top_level(tree.body, context_name):
        return True
    return not runtime and any(
        isinstance(statement, ast.If)
        and dotted_name(statement.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        and binds_at_top_level(statement.body, context_name)
        for statement in tree.body
    )


def has_future_annotations(tree: ast.Module) -> bool:
    return any(
        isinstance(statement, ast.ImportFrom)
        and statement.module == "__future__"
        and any((alias.asname or alias.name) == "annotations" for alias in statement.names)
        for statement in tree.body
    )
