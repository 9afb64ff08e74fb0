"""Import edits that keep the surrounding formatting, and cost little.

Fixes are computed during `check` for every fixable finding, so they must be
cheap. LibCST's `AddImportsVisitor` deep-copies the module, resolves scope
metadata and runs a matcher traversal per call (about 0.2 s for a 200-line
file here); `add_import` looks only at the top-level statements.
`RemoveImportsVisitor` collapses a parenthesised multi-line import
(`(\\n    A,\\n)` becomes `(\\n    A)`) and drops the blank lines before a
removed statement, so removal is ours too.
"""

from __future__ import annotations

import ast
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._lazy import cst
from ..newer_syntax import parse_module
from ..scopes import walk as walk_ast
from ..traversal import walk
from .ast_helpers import is_name_used

if TYPE_CHECKING:
    from ..config import Settings
    from .ast_context import AstFile


def add_import(module: cst.Module, from_module: str, name: str) -> cst.Module:
    """`from <from_module> import <name>` after the module's leading imports,
    unless the module already imports it at top level."""
    if imports_name(module, from_module, name):
        return module
    statement = cst.parse_statement(f"from {from_module} import {name}\n", config=module.config_for_parsing)
    body = list(module.body)
    position = 0
    for index, existing in enumerate(body):
        if is_docstring(existing) and index == 0:
            position = 1
        elif isinstance(existing, cst.SimpleStatementLine) and all(
            isinstance(small, (cst.Import, cst.ImportFrom)) for small in existing.body
        ):
            position = index + 1
        else:
            break
    if position == 0 and body:
        # No leading imports: go first, and give the old first statement a blank line.
        body[0] = (
            body[0].with_changes(leading_lines=[cst.EmptyLine(), *body[0].leading_lines])
            if _blank_count(body[0].leading_lines) == 0
            else body[0]
        )
    elif position == 1 and is_docstring(body[0]):
        statement = statement.with_changes(leading_lines=[cst.EmptyLine()])
    body.insert(position, statement)
    return module.with_changes(body=body)


def is_docstring(statement: cst.BaseStatement) -> bool:
    """A statement line holding only a string: a module's or a body's docstring."""
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def imports_name(module: cst.Module, from_module: str, name: str) -> bool:
    """Whether `module` has a top-level `from <from_module> import <name>` (unaliased)."""
    from ._helpers import dotted_name

    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if (
                isinstance(small, cst.ImportFrom)
                and not small.relative
                and small.module is not None
                and dotted_name(small.module) == from_module
                and not isinstance(small.names, cst.ImportStar)
                and any(isinstance(a.name, cst.Name) and a.name.value == name and a.asname is None for a in small.names)
            ):
                return True
    return False


def without_orphaned_imports(before: str, after: str, settings: Settings) -> str:
    """`after` without the `from ... import` names that the edits from `before`
    left unused: names a module-level import binds that `before` reads (or
    exports) and `after` no longer does. A name bound more than once, or by a
    plain `import`, stays: which binding is meant is not ours to decide.
    Which names are orphaned is read off `ast`; LibCST parses `after` only to
    remove one. Removing one can orphan another (an `if TYPE_CHECKING:`
    block left empty goes, and `TYPE_CHECKING` with it): one name goes per
    round, each round rebuilding its statement, until none is left."""
    before_words = Counter(_WORD.findall(before))
    before_file: AstFile | None = None
    used_before: dict[tuple[str, str, str], bool] = {}
    while candidates := _imported_names_mentioned_less(before_words, after):
        if before_file is None:
            before_file = _file(before, settings)
        for key, _, _, used in _single_from_imports(before_file, candidates):
            if key not in used_before:
                used_before[key] = used()
        file = _file(after, settings)
        found = next(
            (
                (node, alias)
                for key, node, alias, used in _single_from_imports(file, candidates)
                if used_before.get(key) and not used()
            ),
            None,
        )
        if found is None:
            break
        from ..cst_view import CstView  # LibCST: only once there is an import to remove

        view = CstView(file)
        after = remove_import_alias(
            view.module, view.node(found[0], cst.ImportFrom), view.node(found[1], cst.ImportAlias)
        ).code
    return after


def _imported_names_mentioned_less(before_words: Counter[str], after: str) -> frozenset[str]:
    """The names `from` imports in `after` bind that occur fewer times than in
    the text before the edits (`before_words`): only such a name can the
    edits have orphaned (each use is a mention), so only these are looked
    up, a scope pass each."""
    after_words = Counter(_WORD.findall(after))
    dropped = {word for word, count in before_words.items() if count > after_words[word]}
    if not dropped:
        return frozenset()
    tree = parse_module(after)  # warnings silenced; Python 3.12 f-strings included (newer_syntax.py)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    return frozenset(dropped & imported)


_WORD = re.compile(r"\w+")


def _file(text: str, settings: Settings) -> AstFile:
    from .ast_context import AstFile

    return AstFile("", text, parse_module(text), settings)


def _single_from_imports(
    file: AstFile, names: frozenset[str]
) -> Iterator[tuple[tuple[str, str, str], ast.ImportFrom, ast.alias, Callable[[], bool]]]:
    """((module, name, local name), statement, alias, used?) for each of
    `names` that a module-level `from` import binds, and nothing else binds
    in the module. Whether it is used is asked only when needed."""
    for node in walk_ast(file.tree):
        if (
            not isinstance(node, ast.ImportFrom)
            or not any((alias.asname or alias.name) in names for alias in node.names)
            or file.names.innermost_owner(node) is not file.tree
        ):
            continue
        source = "." * node.level + (node.module or "")
        for alias in node.names:
            local = alias.asname or alias.name
            if local not in names or alias.name == "*" or file.names.binding_count(file.tree, local) != 1:
                continue
            yield (source, alias.name, local), node, alias, functools.partial(is_name_used, file, node, local)


def remove_import_alias(module: cst.Module, import_node: cst.ImportFrom, alias: cst.ImportAlias) -> cst.Module:
    """Drop `alias` from `import_node`, or the whole statement if it was the only name.

    Only the top-level statement that holds the import is visited: every
    other statement stays the same node (a visit rebuilds each node it
    passes), so a fix's text is spliced from the file's own text for them
    (engine._spliced) rather than generated anew."""
    remover = _AliasRemover(import_node, alias)
    body = [statement.visit(remover) if _holds(statement, import_node) else statement for statement in module.body]
    return remover.leave_Module(module, module.with_changes(body=body))


def _holds(statement: cst.BaseStatement, node: cst.CSTNode) -> bool:
    if isinstance(statement, cst.SimpleStatementLine):
        return any(small is node for small in statement.body)
    return any(descendant is node for descendant in walk(statement))


def _blank_count(lines: Sequence[cst.EmptyLine]) -> int:
    return sum(1 for line in lines if line.comment is None)


class _AliasRemover(cst.CSTTransformer):
    def __init__(self, import_node: cst.ImportFrom, alias: cst.ImportAlias) -> None:
        super().__init__()
        self.import_node = import_node
        self.alias = alias
        self.remove_statement = isinstance(import_node.names, Sequence) and len(import_node.names) == 1

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if original is not self.import_node or self.remove_statement:
            return updated
        names = list(updated.names)
        index = list(original.names).index(self.alias)
        removed = names.pop(index)
        if index == len(names):  # removed the last name: the new last takes over the closing formatting
            last = names[-1]
            if isinstance(removed.comma, cst.Comma):
                names[-1] = last.with_changes(
                    comma=last.comma.with_changes(whitespace_after=_without_comment(removed.comma.whitespace_after))
                    if isinstance(last.comma, cst.Comma)
                    else removed.comma
                )
            else:
                names[-1] = last.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(names=names)

    def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        body = self._without_statement(original.body, updated.body, self._holds_import)
        if body is None:  # `if TYPE_CHECKING:` around only this import goes too
            body = self._without_statement(original.body, updated.body, self._guards_only_import)
        return updated if body is None else updated.with_changes(body=body)

    def leave_IndentedBlock(self, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> cst.IndentedBlock:
        body = self._without_statement(original.body, updated.body, self._holds_import)
        if body is None:
            return updated  # unchanged: returning it as is keeps the rest of the tree from being rebuilt
        if not body:  # an `if TYPE_CHECKING:` block that held only this import
            body = [cst.SimpleStatementLine([cst.Pass()])]
        return updated.with_changes(body=body)

    def _holds_import(self, statement: cst.BaseStatement) -> bool:
        return (
            isinstance(statement, cst.SimpleStatementLine)
            and len(statement.body) == 1
            and statement.body[0] is self.import_node
        )

    def _guards_only_import(self, statement: cst.BaseStatement) -> bool:
        """A module-level `if ...:` with no `else`, no comments, and only this import inside."""
        return (
            isinstance(statement, cst.If)
            and statement.orelse is None
            and isinstance(statement.body, cst.IndentedBlock)
            and len(statement.body.body) == 1
            and self._holds_import(statement.body.body[0])
            and not _has_comment(statement)
        )

    def _without_statement(
        self,
        original: Sequence[cst.BaseStatement],
        updated: Sequence[cst.BaseStatement],
        drops: Callable[[cst.BaseStatement], bool],
    ) -> list[cst.BaseStatement] | None:
        """`updated` without the statements `drops` picks out of `original` (their
        blank lines carried over), or None if there are none here."""
        if not self.remove_statement or not any(drops(before) for before in original):
            return None
        out: list[cst.BaseStatement] = []
        carried: Sequence[cst.EmptyLine] = ()
        removed_first = False
        for before, statement in zip(original, updated, strict=True):
            if drops(before):
                carried = [line for line in statement.leading_lines if line.comment is None]
                removed_first = not out
                continue
            if removed_first and hasattr(statement, "leading_lines"):
                # The block now starts here: no blank lines before its first statement.
                lines = list(statement.leading_lines)
                while lines and lines[0].comment is None:
                    lines.pop(0)
                statement = statement.with_changes(leading_lines=lines)
            elif (
                carried and hasattr(statement, "leading_lines") and _blank_count(statement.leading_lines) < len(carried)
            ):
                statement = statement.with_changes(leading_lines=[*carried, *statement.leading_lines])
            carried, removed_first = (), False
            out.append(statement)
        return out

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        if self.remove_statement and len(original.body) > 1 and any(s is self.import_node for s in original.body):
            # `import x; from y import Z`: drop just the import from the line
            return updated.with_changes(
                body=[s for s, o in zip(updated.body, original.body, strict=True) if o is not self.import_node]
            )
        return updated


def _has_comment(node: cst.CSTNode) -> bool:
    return any(isinstance(child, cst.Comment) for child in walk(node))


def _without_comment(whitespace: Any) -> Any:
    if isinstance(whitespace, cst.ParenthesizedWhitespace) and whitespace.first_line.comment is not None:
        return whitespace.with_changes(
            first_line=whitespace.first_line.with_changes(comment=None, whitespace=cst.SimpleWhitespace(""))
        )
    return whitespace
