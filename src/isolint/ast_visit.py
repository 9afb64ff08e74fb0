"""One traversal of a stdlib `ast` tree for every `AstRule` of a file.

The dispatcher calls each rule's `visit_<ast class>` before a node's children
and `leave_<ast class>` after them, in source order, keeping
`AstFile.ancestors` and `AstFile.statement` current. Children come in the
order the source writes them: a definition's decorators, then its
signature, then its body (`ast`'s own field order puts the decorators and
the return annotation after the body).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .scopes import children

if TYPE_CHECKING:  # rules may import this module's helpers while the rules package loads
    from .rules.ast_context import AstFile, AstRule


def visit(file: AstFile, rules: Sequence[type[AstRule]], observers: Sequence[object] = ()) -> None:
    """Run every rule over the file in one traversal; reports go to `file.reports`."""
    instances = [rule(file, file.settings.options_for(rule)) for rule in rules]
    _Dispatcher([*instances, *observers], file).walk(file.tree)


class _Dispatcher:
    _tables: ClassVar[dict[type[Any], tuple[tuple[str, str, str], ...]]] = {}  # per rule class, shared by every file

    def __init__(self, visitors: Iterable[object], file: AstFile) -> None:
        self._visit: dict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self._leave: dict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self._file = file
        for visitor in visitors:
            for kind, node_name, method in self._methods(type(visitor)):
                table = self._visit if kind == "visit" else self._leave
                table[node_name].append(getattr(visitor, method))

    @classmethod
    def _methods(cls, visitor_type: type[Any]) -> tuple[tuple[str, str, str], ...]:
        table = cls._tables.get(visitor_type)
        if table is None:
            table = tuple(
                (name.partition("_")[0], name.partition("_")[2], name)
                for name in dir(visitor_type)
                if name.startswith(("visit_", "leave_")) and name.count("_") == 1
            )
            cls._tables[visitor_type] = table
        return table

    def walk(self, root: ast.Module) -> None:
        visit, leave, file = self._visit, self._leave, self._file
        ancestors = file.ancestors
        stack: list[tuple[ast.AST, bool]] = [(root, False)]
        while stack:
            node, leaving = stack.pop()
            name = type(node).__name__
            if leaving:
                ancestors.pop()
                for method in leave.get(name, ()):
                    method(node)
                continue
            if len(ancestors) == 1:
                file.statement = node  # type: ignore[assignment]  # the module's children are statements
            for method in visit.get(name, ()):
                method(node)
            ancestors.append(node)
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(children(node)))
