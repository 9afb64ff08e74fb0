"""The LibCST half of newer_syntax.py: find the f-strings Python's `ast`
cannot read and translate them, keeping every line's length in UTF-8 bytes."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # LibCST's lines (not str.splitlines, which also breaks at \f and \x1c)


def translate_f_strings(text: str) -> str | None:
    """`text` with every f-string Python's `ast` cannot read translated (see
    newer_syntax.py; unchanged when there is none), or None when LibCST
    cannot parse the text either (a real syntax error)."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return None
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    finder = _UnreadableStrings(module)
    wrapper.visit(finder)
    if not finder.groups:
        return text
    positions = wrapper.resolve(PositionProvider)
    offsets = _Offsets(text)
    out = list(text)
    for group in finder.groups:
        for leaf in group:
            _blank_leaf(leaf, positions, offsets, out)
        out[offsets.start(positions[group[0]])] = "("
        out[offsets.end(positions[group[-1]]) - 1] = ")"
    return "".join(out)


StringLeaf = cst.FormattedString | cst.SimpleString


class _UnreadableStrings(cst.CSTVisitor):
    """The string literals `ast` cannot read, each with the strings it is
    implicitly concatenated with (they become one tuple)."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self.groups: list[list[StringLeaf]] = []
        self._grouped: set[int] = set()

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> None:
        leaves = _leaves(node)
        strings = [leaf for leaf in leaves if isinstance(leaf, (cst.FormattedString, cst.SimpleString))]
        if len(strings) < len(leaves) or id(leaves[0]) in self._grouped:
            return  # nested in a concatenation already grouped, or holds newer literals (t-strings) we cannot translate
        if any(self._unreadable(leaf) for leaf in strings if isinstance(leaf, cst.FormattedString)):
            self.groups.append(strings)
            self._grouped.update(id(leaf) for leaf in leaves)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        if id(node) not in self._grouped and self._unreadable(node):
            self.groups.append([node])
            self._grouped.add(id(node))

    def _unreadable(self, node: cst.FormattedString) -> bool:
        try:
            ast.parse(f"(\n{self.module.code_for_node(node)}\n)", mode="eval")
        except SyntaxError:
            return True
        return False


def _leaves(node: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(node, cst.ConcatenatedString):
        return [*_leaves(node.left), *_leaves(node.right)]
    return [node]


class _Offsets:
    """Character offsets of LibCST's (line, column) positions in `text`."""

    def __init__(self, text: str) -> None:
        self.line_starts = [0, *(match.end() for match in _LINE_BREAK.finditer(text))]

    def start(self, span: CodeRange) -> int:
        return self.line_starts[span.start.line - 1] + span.start.column

    def end(self, span: CodeRange) -> int:
        return self.line_starts[span.end.line - 1] + span.end.column


def _blank_leaf(
    leaf: StringLeaf, positions: Mapping[cst.CSTNode, CodeRange], offsets: _Offsets, out: list[str]
) -> None:
    """Spaces for every character of `leaf` outside its expressions (as many
    as the character has UTF-8 bytes; line breaks stay), and a comma after
    each expression."""
    kept: list[tuple[int, int]] = []
    if isinstance(leaf, cst.FormattedString):
        kept = [(offsets.start(positions[e]), offsets.end(positions[e])) for e in _expressions(leaf.parts)]
    position = offsets.start(positions[leaf])
    for start, end in [*kept, (offsets.end(positions[leaf]), -1)]:
        for index in range(position, start):
            if out[index] not in "\r\n":
                out[index] = " " * len(out[index].encode("utf-8", "surrogatepass"))
        if end < 0:
            break
        separator = end
        while out[separator] in "\r\n":
            separator += 1
        if out[end - 1] == ",":  # a tuple's own trailing comma already separates it
            position = end
        else:
            out[separator] = ","
            position = separator + 1


def _expressions(parts: Sequence[cst.BaseFormattedStringContent]) -> list[cst.BaseExpression]:
    """The replacement-field expressions of an f-string, in text order
    (those nested in a format spec included)."""
    found: list[cst.BaseExpression] = []
    for part in parts:
        if isinstance(part, cst.FormattedStringExpression):
            found.append(part.expression)
            found.extend(_expressions(part.format_spec or ()))
    return found
