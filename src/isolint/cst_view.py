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

from .traversal import parent_map

if TYPE_CHECKING:
    from .rules.ast_context import AstFile

CstNodeT = TypeVar("CstNodeT", bound=cst.CSTNode)
Position = tuple[int, int]  # (line, 0-based character column)


class CstView:
    """A LibCST module of an `AstFile`'s text, and its nodes found by `ast` span."""

    def __init__(self, file: AstFile, module: cst.Module | None = None) -> None:
        self.file = file
        self.path = file.path
        self.source = file.source
        self.module = module if module is not None else cst.parse_module(file.source)
        self._parents: dict[int, Any] | None = None
        self._starts: dict[Position, list[tuple[Position, cst.CSTNode]]] | None = None

    @property
    def parents(self) -> dict[int, Any]:
        """id(node) -> parent for the whole LibCST module (what `engine.fixed_text` needs)."""
        if self._parents is None:
            self._parents = parent_map(self.module)
        return self._parents

    def node(self, node: ast.AST, cst_type: type[CstNodeT]) -> CstNodeT:
        """The `cst_type` node at `node`'s span. Raises LookupError when there is none."""
        start, end = self.file.span(node)
        candidates = [(found_end, found) for found_end, found in self._nodes_at(start) if isinstance(found, cst_type)]
        for found_end, found in candidates:
            if found_end == end:
                return found
        if len(candidates) == 1 and cst_type is cst.Param:
            return candidates[0][1]  # `ast.arg` ends after the annotation, `Param` after the name
        raise LookupError(f"no LibCST {cst_type.__name__} at {start}-{end} of {self.file.path}")

    def _nodes_at(self, start: Position) -> list[tuple[Position, cst.CSTNode]]:
        if self._starts is None:
            self._starts = self._index()
        return self._starts.get(start, [])

    def _index(self) -> dict[Position, list[tuple[Position, cst.CSTNode]]]:
        positions = module_positions(self.module)
        starts: dict[Position, list[tuple[Position, cst.CSTNode]]] = defaultdict(list)
        for found, code_range in positions.items():
            start = (code_range.start.line, code_range.start.column)
            end = (code_range.end.line, code_range.end.column)
            if isinstance(found, cst.Param):
                name_range = positions[found.name]
                start = (name_range.start.line, name_range.start.column)
            starts[start].append((end, found))
        return starts


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
