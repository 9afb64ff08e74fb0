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
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst
import libcst.metadata as cst_metadata
from libcst.metadata import CodePosition, CodeRange

from .traversal import parent_map, walk

if TYPE_CHECKING:
    from .rules.ast_context import AstFile

CstNodeT = TypeVar("CstNodeT", bound=cst.CSTNode)
Position = tuple[int, int]  # (line, 0-based character column)
TopLevel = cst.SimpleStatementLine | cst.BaseCompoundStatement  # what a module body holds


class CstView:
    """A LibCST module of an `AstFile`'s text, and its nodes found by `ast` span.

    Positions come from generating the code of only the top-level statement
    that holds the asked-for node (LibCST's PositionProvider generates the
    whole module), or for a node inside a top-level class's member (a
    method), of the class with that member alone, placed at the line CPython
    gives that statement; the whole module is generated only when the two
    parsers' statements do not pair up."""

    def __init__(self, file: AstFile, module: cst.Module | None = None) -> None:
        self.file = file
        self.path = file.path
        self.source = file.source
        self.module = module if module is not None else cst.parse_module(file.source)
        self._parents: dict[int, Any] | None = None
        self._node_count: int | None = None
        self._paired: list[TopLevel] | None = None  # see `pair_statements`
        self._statement_index: dict[int, int] | None = None  # id(ast top-level statement) -> its index
        self._first: dict[int, int] = {}  # id(LibCST top-level statement) -> the index of the first it holds
        self._members: dict[int, list[cst.BaseStatement] | None] = {}  # id(ast class) -> `_members_of`
        self._starts: dict[int, dict[Position, list[tuple[Position, cst.CSTNode]]]] = {}

    @property
    def node_count(self) -> int:
        """The syntax nodes of the file's `ast` tree, counted as `engine.native_parse_hazard` counts them."""
        if self._node_count is None:
            self._node_count = sum(1 for _ in ast.walk(self.file.tree))
        return self._node_count

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
        unit = self._unit_of(node)
        key = id(unit[1]) if unit is not None else 0
        starts = self._starts.get(key)
        if starts is None:
            if unit is None:
                positions = module_positions(self.module)
            else:
                statement, member, line = unit
                if isinstance(statement, cst.ClassDef) and member is not statement:
                    positions = member_positions(self.module, statement, member, line)
                else:
                    positions = statement_positions(self.module, statement, line)
            starts = self._starts[key] = _by_start(positions)
        return starts.get(start, [])

    def _pairing(self) -> tuple[list[TopLevel] | None, dict[int, int]]:
        """`pair_statements` of the view, and id(CPython's top-level statement) -> its index."""
        if self._statement_index is None:
            self._paired = pair_statements(self.module, self.file.tree)
            self._statement_index = {id(statement): index for index, statement in enumerate(self.file.tree.body)}
            for index, statement in enumerate(self._paired or ()):
                self._first.setdefault(id(statement), index)
        return self._paired, self._statement_index

    def _first_line(self, statement: TopLevel) -> int:
        """The line CPython gives the first of the statements the paired
        `statement` holds (`a = 1; b = 2` holds two)."""
        return self.file.tree.body[self._first[id(statement)]].lineno

    @functools.cached_property
    def statement_starts(self) -> list[int] | None:
        """Where each LibCST top-level statement's code starts in the text (its
        comments and blank lines first), from the line CPython gives it; None
        when the parsers' statements do not pair up or the lines do not add up."""
        from .splice import lines_before

        paired, _ = self._pairing()
        if paired is None:
            return None
        offsets = self.file.line_offsets()
        starts: list[int] = []
        for statement in self.module.body:
            line = self._first_line(statement) - lines_before(self.module, statement)
            if not 1 <= line <= len(offsets) or (starts and offsets[line - 1] <= starts[-1]):
                return None
            starts.append(offsets[line - 1])
        return starts

    def member_start(self, klass: cst.ClassDef, member: cst.BaseStatement) -> int | None:
        """Where the code of `member`, a statement of the top-level class
        `klass`'s body, starts in the text; None when the parsers do not pair them up."""
        from .splice import lines_before

        self._pairing()
        index = self._first.get(id(klass))
        ast_class = self.file.tree.body[index] if index is not None else None
        if not isinstance(ast_class, ast.ClassDef):
            return None
        first_line = self._member_line(ast_class, klass, member)
        if first_line is None:
            return None
        offsets = self.file.line_offsets()
        line = first_line - lines_before(self.module, member)
        return offsets[line - 1] if 1 <= line <= len(offsets) else None

    def _unit_of(self, node: ast.AST) -> tuple[TopLevel, cst.BaseStatement, int] | None:
        """The smallest piece of the module whose code alone gives `node`'s
        position: (the LibCST top-level statement holding it, the member of
        that class holding it or the statement itself, and the line CPython
        gives that piece's first statement); None when only the whole module can tell."""
        paired, index_of = self._pairing()
        if paired is None:
            return None
        parents = self.file.parents
        top: ast.AST | None = node
        below: ast.AST | None = None  # the child of `top` on the way up from `node`
        while top is not None and id(top) not in index_of:
            top, below = parents.get(top), top
        if top is None:
            return None
        index = index_of[id(top)]
        statement = paired[index]
        if isinstance(top, ast.ClassDef) and isinstance(below, ast.stmt) and isinstance(statement, cst.ClassDef):
            members = self._members_of(top, statement)
            position = next((i for i, member in enumerate(top.body) if member is below), None)
            if members is not None and position is not None:
                member = members[position]
                line = self._member_line(top, statement, member)
                if line is not None:
                    return statement, member, line
        return statement, statement, self._first_line(statement)

    def _member_line(self, klass: ast.ClassDef, statement: cst.ClassDef, member: cst.BaseStatement) -> int | None:
        """The line CPython gives the first of the statements of `klass`'s
        body that `member`, a statement of `statement`'s block, holds; None
        when the two bodies do not pair up."""
        members = self._members_of(klass, statement)
        first = next((i for i, paired in enumerate(members or ()) if paired is member), None)
        return klass.body[first].lineno if first is not None else None

    def _members_of(self, klass: ast.ClassDef, statement: cst.ClassDef) -> list[cst.BaseStatement] | None:
        """For each statement of `klass`'s body, the LibCST statement of
        `statement`'s block holding it; None when the two do not pair up."""
        if id(klass) not in self._members:
            block = statement.body
            self._members[id(klass)] = _pair(block.body, klass.body) if isinstance(block, cst.IndentedBlock) else None
        return self._members[id(klass)]


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
    return _pair(module.body, tree.body)


StatementT = TypeVar("StatementT", bound=cst.BaseStatement)


def _pair(statements: Sequence[StatementT], ast_statements: Sequence[ast.stmt]) -> list[StatementT] | None:
    paired: list[StatementT] = []
    for statement in statements:
        paired += [statement] * (len(statement.body) if isinstance(statement, cst.SimpleStatementLine) else 1)
    return paired if len(paired) == len(ast_statements) else None


def statement_positions(
    module: cst.Module, statement: TopLevel, line: int, *, anchor: cst.CSTNode | None = None
) -> dict[cst.CSTNode, CodeRange]:
    """Positions of the nodes of one top-level statement of `module`, whose
    first line CPython gives as `line` (or, given `anchor`, the line where
    that node of it starts): its code alone is generated."""
    alone = cst.Module(body=[statement], default_indent=module.default_indent, default_newline=module.default_newline)
    local = module_positions(alone)
    shift = line - local[anchor if anchor is not None else _anchor(statement)].start.line
    return {
        node: CodeRange(
            CodePosition(code_range.start.line + shift, code_range.start.column),
            CodePosition(code_range.end.line + shift, code_range.end.column),
        )
        for node, code_range in local.items()
    }


def member_positions(
    module: cst.Module, klass: cst.ClassDef, member: cst.BaseStatement, line: int
) -> dict[cst.CSTNode, CodeRange]:
    """Positions of the nodes of one statement of a top-level class's body,
    whose first line CPython gives as `line`: the class is generated with
    that statement alone in its body (its indentation comes from the class,
    as in the file), and only the statement's own nodes are placed."""
    if not isinstance(klass.body, cst.IndentedBlock):
        raise ValueError("a member of a class whose body is on its `class` line")
    alone = klass.with_changes(body=klass.body.with_changes(body=[member]))
    positions = statement_positions(module, alone, line, anchor=_anchor(member))
    return {node: positions[node] for node in walk(member) if node in positions}


def _anchor(statement: cst.BaseStatement) -> cst.CSTNode:
    """The node of `statement` that starts where CPython says it starts."""
    return statement.body[0] if isinstance(statement, cst.SimpleStatementLine) else statement


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
