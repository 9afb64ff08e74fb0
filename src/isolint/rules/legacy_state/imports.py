"""What a module imports and exports, read off its `ast`, for the family's
fixes that swap the legacy class's import for the context class's."""

from __future__ import annotations

import ast
import re
from collections import Counter

from ...scopes import children, walk
from ..ast_context import AstFile
from ..ast_helpers import dotted_name


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


def top_level_import_names(tree: ast.Module) -> set[str]:
    """The names module-level `from ... import` statements bind."""
    return {
        alias.asname or alias.name
        for statement in top_level_from_imports(tree)
        for alias in statement.names
        if alias.name != "*"
    }


# --- how often a name is used ----------------------------------------------------------

_WORD = re.compile(r"\w+")


def name_uses(file: AstFile, root: ast.AST) -> Counter[str]:
    """How often each name is used under `root` outside import statements: as
    a name, an attribute, a keyword, a parameter or a definition's name, or as
    a word in a string literal (string annotations count)."""
    spelled: list[str] = []  # counted once at the end: Counter.update per node costs more than the walk
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            spelled.append(node.id)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.JoinedStr):  # an f-string's text is no use of a name; its fields are
            stack.extend(value for value in node.values if isinstance(value, ast.FormattedValue))
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, bytes)):
                spelled.extend(_WORD.findall(file.segment(node)))
            continue
        spelled.extend(_spelled_names(node))
        stack.extend(children(node))
    return Counter(spelled)


def mentioned_names(root: ast.AST) -> set[str]:
    """The names spelled under `root` as identifiers (strings not included)."""
    found: set[str] = set()
    for node in walk(root):
        found.update(_spelled_names(node))
    return found


def _spelled_names(node: ast.AST) -> list[str]:
    """The identifiers `node` itself spells (not its children's)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.keyword, ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
        name = node.arg if isinstance(node, ast.keyword) else node.name
        return [name] if name else []
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    return []


def module_name_uses(file: AstFile) -> Counter[str]:
    """name_uses of the whole module, counted once per file: each fix of a
    file asks, and counting per fix made a file with many findings quadratic."""
    return file.shared(_whole_module_uses)


def _whole_module_uses(file: AstFile) -> Counter[str]:
    return name_uses(file, file.tree)
