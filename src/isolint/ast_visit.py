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

if TYPE_CHECKING:  # rules may import this module's helpers while the rules package loads
    from .rules.ast_context import AstFile, AstRule

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def visit(file: AstFile, rules: Sequence[type[AstRule]], observers: Sequence[object] = ()) -> None:
    """Run every rule over the file in one traversal; reports go to `file.reports`."""
    instances = [rule(file, file.settings.options_for(rule)) for rule in rules]
    _Dispatcher([*instances, *observers], file).walk(file.tree)


# Fields whose nodes no rule visits: a name's load/store context and the
# operator of an operation (shared singletons, one per name and operation).
_SKIPPED_FIELDS = frozenset({"ctx", "op", "ops"})
_FIELD_ORDER: dict[type[ast.AST], tuple[str, ...]] = {}


def _field_order(node_type: type[ast.AST]) -> tuple[str, ...]:
    order = _FIELD_ORDER.get(node_type)
    if order is None:
        fields = [name for name in node_type._fields if name not in _SKIPPED_FIELDS]
        if issubclass(node_type, _DEFINITIONS):
            # As written: decorators, then the signature (or bases), then the body.
            middle = [name for name in fields if name not in ("decorator_list", "body")]
            fields = ["decorator_list", *middle, "body"]
        order = _FIELD_ORDER[node_type] = tuple(fields)
    return order


def source_order_children(node: ast.AST) -> list[ast.AST]:
    """`node`'s children in the order the source writes them, without
    contexts and operators (see `_SKIPPED_FIELDS`)."""
    found: list[ast.AST] = []
    for name in _FIELD_ORDER.get(type(node)) or _field_order(type(node)):
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            found.append(value)
        elif isinstance(value, list):
            found.extend(item for item in value if isinstance(item, ast.AST))
    return found


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
            stack.extend((child, False) for child in reversed(source_order_children(node)))
