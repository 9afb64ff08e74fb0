"""The LibCST half of newer_syntax.py: find the f-strings Python's `ast`
cannot read and translate them, keeping every line's length in UTF-8 bytes,
where the scanner of lexer.py gives up."""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

import libcst as cst
from libcst.metadata import CodeRange

from .cst_view import module_positions
from .lexer import Literal
from .newer_syntax import blank
from .source import line_starts
from .traversal import walk


def translate_f_strings(text: str) -> str | None:
    """`text` with every f-string Python's `ast` cannot read translated (see
    newer_syntax.py; unchanged when there is none), or None when LibCST
    cannot parse the text either (a real syntax error)."""
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        return None
    finder = _UnreadableStrings(module)
    for node in walk(module):  # our walk: LibCST's visitor protocol costs several times more
        if isinstance(node, cst.ConcatenatedString):
            finder.visit_ConcatenatedString(node)
        elif isinstance(node, cst.FormattedString):
            finder.visit_FormattedString(node)
    if not finder.groups:
        return text
    located = _located_by_search(text, finder.groups)
    if located is not None:
        translated = _translated(text, finder.groups, located)
        if _parses(translated):
            return translated
    # A leaf's text found somewhere else first (in a comment, say): ask LibCST where every node is.
    positions, offsets = module_positions(module), _Offsets(text)
    return _translated(text, finder.groups, lambda node: (offsets.start(positions[node]), offsets.end(positions[node])))


Locate = Callable[[cst.CSTNode], tuple[int, int]]  # a node -> (start, end) offsets in the text


def _translated(text: str, groups: Sequence[Sequence[StringLeaf]], locate: Locate) -> str:
    return blank(text, [[_literal(leaf, locate) for leaf in group] for group in groups])


def _literal(leaf: StringLeaf, locate: Locate) -> Literal:
    start, end = locate(leaf)
    if isinstance(leaf, cst.SimpleString):
        return Literal(start, end, False, len(leaf.prefix) + len(leaf.quote), len(leaf.quote))
    expressions = [locate(expression) for expression in _expressions(leaf.parts)]
    return Literal(start, end, True, len(leaf.start), len(leaf.end), expressions)


def _located_by_search(text: str, groups: Sequence[Sequence[StringLeaf]]) -> Locate | None:
    """Where each leaf and its expressions are, from the leaf's own code found
    in the text after the previous leaf's start: only the leaves' code is generated,
    not the module's. A leaf found in the wrong place leaves the real one
    untranslated, which `_parses` notices."""
    spans: dict[int, tuple[int, int]] = {}
    cursor = 0
    for group in groups:
        for leaf in group:
            bare = leaf.with_changes(lpar=[], rpar=[])  # LibCST's span of a leaf leaves its parentheses out
            code = cst.Module(body=[]).code_for_node(bare)
            start = text.find(code, cursor)
            if start < 0:
                return None
            cursor = start + 1  # the next leaf starts later, maybe inside this one (a nested f-string)
            alone = cst.Module(body=[cst.SimpleStatementLine([cst.Expr(bare)])])
            local, line_starts = module_positions(alone), _Offsets(code)
            spans[id(leaf)] = (start, start + len(code))
            for expression in _expressions(bare.parts) if isinstance(bare, cst.FormattedString) else ():
                spans[id(expression)] = (
                    start + line_starts.start(local[expression]),
                    start + line_starts.end(local[expression]),
                )
    return lambda node: spans[id(node)]


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


StringLeaf = cst.FormattedString | cst.SimpleString


class _UnreadableStrings:
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
        self.line_starts = line_starts(text)  # LibCST's lines (not str.splitlines')

    def start(self, span: CodeRange) -> int:
        return self.line_starts[span.start.line - 1] + span.start.column

    def end(self, span: CodeRange) -> int:
        return self.line_starts[span.end.line - 1] + span.end.column


def _expressions(parts: Sequence[cst.BaseFormattedStringContent]) -> list[cst.BaseExpression]:
    """The replacement-field expressions of an f-string, in text order
    (those nested in a format spec included)."""
    found: list[cst.BaseExpression] = []
    for part in parts:
        if isinstance(part, cst.FormattedStringExpression):
            found.append(part.expression)
            found.extend(_expressions(part.format_spec or ()))
    return found
