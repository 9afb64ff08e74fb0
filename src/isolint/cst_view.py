"""The LibCST side of a file whose rules visit the stdlib `ast`: for building edits only.

`AstRule`s find problems on `ast` trees; only a fix's edits need LibCST,
which keeps comments and formatting. A `CstView` parses the same text with
LibCST on first use and finds, by span, the LibCST node that stands where an
`ast` node stands: same start, same end, of the LibCST class the fix asks
for. Spans are in characters (`ast` counts UTF-8 bytes; `AstFile.span`
converts). Parameters are found by their name, since LibCST's `Param` starts
at its star and `ast.arg` at its name.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst
import libcst.metadata as cst_metadata
from libcst.metadata import CodePosition, CodeRange

from .traversal import parent_map

if TYPE_CHECKING:
    from .rules.ast_context import AstFile

CstNodeT = TypeVar("CstNodeT", bound=cst.CSTNode)
Position = tuple[int, int]  # (line, 0-based character column)
TopLevel = cst.SimpleStatementLine | cst.BaseCompoundStatement  # what a module body holds


class CstView:
    """A LibCST module of an `AstFile`'s text, and its nodes found by `ast` span.

    Positions come from generating the code of only the top-level statement
    that holds the asked-for node (LibCST's PositionProvider generates the
    whole module), placed at the line CPython gives that statement; the
    whole module is generated only when the two parsers' statements do not
    pair up."""

    def __init__(self, file: AstFile, module: cst.Module | None = None) -> None:
        self.file = file
        self.path = file.path
        self.source = file.source
        self.module = module if module is not None else cst.parse_module(file.source)
        self._parents: dict[int, Any] | None = None
        self._paired: list[TopLevel] | None = None  # see `pair_statements`
        self._statement_index: dict[int, int] | None = None  # id(ast top-level statement) -> its index
        self._starts: dict[int, dict[Position, list[tuple[Position, cst.CSTNode]]]] = {}

    @property
    def parents(self) -> dict[int, Any]:
        """id(node) -> parent for the whole LibCST module (what `engine._fixed` needs)."""
        if self._parents is None:
            self._parents = parent_map(self.module)
        return self._parents

    def node(self, node: ast.AST, cst_type: type[CstNodeT]) -> CstNodeT:
        """The `cst_type` node at `node`'s span. Raises LookupError when there is none."""
        start, end = self.file.span(node)
        candidates = [
            (found_end, found) for found_end, found in self._nodes_at(node, start) if isinstance(found, cst_type)
        ]
        for found_end, found in candidates:
            if found_end == end:
                return found
        if len(candidates) == 1 and cst_type is cst.Param:
            return candidates[0][1]  # `ast.arg` ends after the annotation, `Param` after the name
        raise LookupError(f"no LibCST {cst_type.__name__} at {start}-{end} of {self.file.path}")

    def _nodes_at(self, node: ast.AST, start: Position) -> list[tuple[Position, cst.CSTNode]]:
        statement = self._statement_of(node)
        key = id(statement) if statement is not None else 0
        starts = self._starts.get(key)
        if starts is None:
            if statement is None:
                positions = module_positions(self.module)
            else:
                positions = statement_positions(self.module, statement, self._line_of(statement))
            starts = self._starts[key] = _by_start(positions)
        return starts.get(start, [])

    def _statement_of(self, node: ast.AST) -> TopLevel | None:
        """The LibCST top-level statement holding `node`, or None when only the whole module can tell."""
        if self._statement_index is None:
            self._paired = pair_statements(self.module, self.file.tree)
            self._statement_index = {id(statement): index for index, statement in enumerate(self.file.tree.body)}
        index_of, paired = self._statement_index, self._paired
        if paired is None:
            return None
        parents = self.file.parents
        top: ast.AST | None = node
        while top is not None and id(top) not in index_of:
            top = parents.get(top)
        return None if top is None else paired[index_of[id(top)]]

    def _line_of(self, statement: TopLevel) -> int:
        """The line CPython gives the first of the statements `statement` holds."""
        paired = self._paired or []
        index = next(i for i, candidate in enumerate(paired) if candidate is statement)
        return self.file.tree.body[index].lineno


def _by_start(positions: Mapping[cst.CSTNode, CodeRange]) -> dict[Position, list[tuple[Position, cst.CSTNode]]]:
    starts: dict[Position, list[tuple[Position, cst.CSTNode]]] = defaultdict(list)
    for found, code_range in positions.items():
        start = (code_range.start.line, code_range.start.column)
        end = (code_range.end.line, code_range.end.column)
        if isinstance(found, cst.Param) and found.name in positions:
            name_range = positions[found.name]
            start = (name_range.start.line, name_range.start.column)
        starts[start].append((end, found))
    return starts


def pair_statements(module: cst.Module, tree: ast.Module) -> list[TopLevel] | None:
    """For each of CPython's top-level statements, the LibCST top-level
    statement holding it (`a = 1; b = 2` is one LibCST line holding two);
    None when the two parsers' statements do not pair up."""
    paired: list[TopLevel] = []
    for statement in module.body:
        paired += [statement] * (len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1)
    return paired if len(paired) == len(tree.body) else None


def statement_positions(module: cst.Module, statement: TopLevel, line: int) -> dict[cst.CSTNode, CodeRange]:
    """Positions of the nodes of one top-level statement of `module`, whose
    first line CPython gives as `line`: its code alone is generated."""
    alone = cst.Module(body=[statement], default_indent=module.default_indent, default_newline=module.default_newline)
    local = module_positions(alone)
    anchor = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else statement
    shift = line - local[anchor].start.line
    return {
        node: CodeRange(
            CodePosition(code_range.start.line + shift, code_range.start.column),
            CodePosition(code_range.end.line + shift, code_range.end.column),
        )
        for node, code_range in local.items()
    }


def module_positions(module: cst.Module) -> Mapping[cst.CSTNode, cst_metadata.CodeRange]:
    """LibCST positions of every node of `module`."""
    return PositionsWrapper(module, unsafe_skip_copy=True).resolve(cst_metadata.PositionProvider)


class PositionsWrapper(cst_metadata.MetadataWrapper):
    """A MetadataWrapper that skips the batched walk when no batchable
    provider takes part: resolving positions alone (code generation) then
    does not also walk every node of the tree for nothing, which costs as
    much again."""

    def visit_batched(
        self,
        visitors: Iterable[cst.BatchableCSTVisitor],
        before_visit: Callable[[cst.CSTNode], None] | None = None,
        after_leave: Callable[[cst.CSTNode], None] | None = None,
    ) -> cst.CSTNode:
        visitors = list(visitors)
        if not visitors:
            return self.module
        return super().visit_batched(visitors, before_visit, after_leave)
