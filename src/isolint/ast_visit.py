"""One traversal of a file's tree for all its rules: `ast` for `AstRule`s (and LibCST for custom rules on it).

The dispatcher calls each rule's `visit_<ast class>` before a node's children
and `leave_<ast class>` after them, in source order, keeping
`AstFile.ancestors` and `AstFile.statement` current. Children come in the
order the source writes them: a definition's decorators, then its
signature, then its body (`ast`'s own field order puts the decorators and
the return annotation after the body).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .scopes import children

if TYPE_CHECKING:  # rules may import this module's helpers while the rules package loads
    from .rules.ast_context import AstFile, AstRule


def visit(file: AstFile, rules: Sequence[type[AstRule]], observers: Sequence[object] = ()) -> None:
    """Run every rule over the file in one traversal; reports go to `file.reports`."""
    instances = [rule(file, file.settings.options_for(rule)) for rule in rules]
    Dispatcher([*instances, *observers], file, children).walk(file.tree)


class Dispatcher:
    """Calls every visitor's visit_<Node>/leave_<Node> during one traversal,
    in source order, keeping the file context's `ancestors` and `statement`
    current. The same loop drives `ast` rules and custom rules on LibCST:
    `children` says how to find a node's children in each tree.
    """

    _tables: ClassVar[dict[type[Any], tuple[tuple[str, str, str], ...]]] = {}  # per visitor class, for every file

    def __init__(self, visitors: Iterable[object], file: Any, children: Callable[[Any], list[Any]]) -> None:
        self._visit: dict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self._leave: dict[str, list[Callable[[Any], Any]]] = defaultdict(list)
        self._file = file  # an AstFile or a LibCST FileContext
        self._children = children
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

    def walk(self, root: object) -> None:
        visit, leave, file, children = self._visit, self._leave, self._file, self._children
        ancestors = file.ancestors
        # A node to enter, or _LEAVE: leave the innermost ancestor (no pair allocated per node).
        stack: list[Any] = [root]
        while stack:
            node = stack.pop()
            if node is _LEAVE:
                node = ancestors.pop()
                for method in leave.get(type(node).__name__, ()):
                    method(node)
                continue
            if len(ancestors) == 1:
                file.statement = node  # the module's children are its statements
            for method in visit.get(type(node).__name__, ()):
                method(node)
            ancestors.append(node)
            stack.append(_LEAVE)
            stack.extend(reversed(children(node)))


_LEAVE = object()
