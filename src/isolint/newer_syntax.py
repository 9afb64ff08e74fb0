"""Parse source with the standard library's `ast`, including files written
with Python 3.12 f-strings (PEP 701) when the interpreter is older.

Python 3.11's parser rejects f-strings that nest the same quotes
(`f"{row["id"]}"`), or hold a backslash, a comment or a line break inside a
replacement field; LibCST's native parser reads them. When `ast` rejects a
file that LibCST parses, each such f-string is translated for `ast` into a
parenthesised tuple of its replacement-field expressions, at the same place:

    f"{row["id"]}: {"\\n".join(names)}"   ->   ( row["id"],   "\\n".join(names), )

Delimiters and literal text become spaces (line breaks stay), so every
line keeps its length in UTF-8 bytes, which is what `ast` positions count:
statements, names, calls and attributes come out at the lines and columns
of the original text, and the f-string's expressions are all there to be
analysed. What changes is only the f-string node itself (a tuple instead of
a `JoinedStr`), which no analysis reads. The alternative of swapping quotes
inside replacement fields cannot express a backslash, a comment, a line
break or a third level of nesting, which PEP 701 allows.

The f-strings are found by a scanner of our own (lexer.py, a fraction
of a millisecond per thousand lines); when it gives up, or its translation
does not parse, LibCST's parser finds them (_pep701.py, about a second for
five thousand lines) and decides between syntax newer than the interpreter
and a real syntax error.

On Python 3.12 and later the interpreter's own parser reads these files
and the translation is never needed.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from .lexer import Literal, scan
from .source import SourceError, decode

# LibCST's native parser cannot be interrupted and can crash the process on
# deep nesting (see engine.native_parse_hazard), and no `ast` tree is there
# yet to measure it: a text past CPython's own 200 nested brackets, with a
# boolean chain that could overflow LibCST's stack (engine.MAX_NATIVE_DEPTH),
# or over about 25,000 lines (seconds of parsing) is not handed to it.
_MAX_BRACKET_DEPTH = 200
_MAX_BOOLEAN_OPERATORS = 1500
_MAX_CHARS = 1_000_000
# Only a text with an f-string can need the translation; any other text `ast`
# rejects keeps its error without LibCST's import (0.2 s in an index worker).
_F_STRING_PREFIX = re.compile(r"(?<![\w.])(?:[rRbB]?[fF]|[fF][rRbB])['\"]")
_NEW_IN_FIELDS = re.compile(r"['\"\\#\r\n]")
_BRACKET_DEPTH_STEP = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


class _Trees(OrderedDict[str, ast.Module]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size


_remembered: _Trees | None = None  # see remembering_trees


@contextlib.contextmanager
def remembering_trees(size: int = 2) -> Iterator[None]:
    """Keep the trees of the last `size` texts parsed, and parse a text
    again only when it is not among them. A file's fixes are linted pass by
    pass and then modelled for the verification gate, which parses the file
    as it is (just before its first lint) and after the fixes (just after
    its last). The trees are shared: no caller changes one."""
    global _remembered
    outer = _remembered
    _remembered = _Trees(size)
    try:
        yield
    finally:
        _remembered = outer


def parse_module(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source)`; for a file `ast` rejects only because of Python 3.12
    f-strings, the tree of its translation (same lines and byte columns).
    Raises SyntaxError as `ast.parse` does otherwise, saying so when LibCST
    reads the line the interpreter rejects (syntax newer than the interpreter)."""
    remembered = _remembered
    if remembered is None or not isinstance(source, str):
        return _parse_module(source, filename)
    tree = remembered.get(source)
    if tree is None:
        tree = remembered[source] = _parse_module(source, filename)
        if len(remembered) > remembered.size:
            remembered.popitem(last=False)
    else:
        remembered.move_to_end(source)
    return tree


def _parse_module(source: str | bytes, filename: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like are not our business
        try:
            return _interpreter_parse(source, filename)
        except SyntaxError:
            text = _text(source)
            if text is None or not _F_STRING_PREFIX.search(text):
                raise
            scanned = _scanned(text, filename)
            if scanned is not None:
                return scanned
            translated = _translatable(text)
            if translated is None:
                raise
        try:
            return _interpreter_parse(translated, filename)
        except SyntaxError as error:
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            error.msg = (
                f"{error.msg} (LibCST reads this file, Python {version}'s parser does not: newer Python syntax?)"
            )
            raise


def _interpreter_parse(source: str | bytes, filename: str) -> ast.Module:
    return ast.parse(source, filename=filename)


def _text(source: str | bytes) -> str | None:
    """The text of `source`, or None for bytes that do not decode."""
    if isinstance(source, str):
        return source
    try:
        return decode(source).text
    except SourceError:
        return None


def _scanned(text: str, filename: str) -> ast.Module | None:
    """The tree of the scanner's translation of `text`, or None when the
    scanner gives up, finds no f-string `ast` cannot read, or its translation
    does not parse (a real syntax error, or other newer syntax: LibCST tells)."""
    lexed = scan(text)
    unreadable = [] if lexed is None else unreadable_groups(text, lexed.groups)
    if not unreadable:
        return None
    try:
        return _interpreter_parse(blank(text, unreadable), filename)
    except SyntaxError:
        return None


def _translatable(text: str) -> str | None:
    """LibCST's translation of `text`, or None when LibCST rejects it too or
    must not try (see _safe_for_native_parser)."""
    if not _safe_for_native_parser(text):
        return None
    # Imported here: LibCST takes 0.2 s to import, and only files `ast` rejects need it.
    from ._pep701 import translate_f_strings

    return translate_f_strings(text)


def _safe_for_native_parser(text: str) -> bool:
    if len(text) > _MAX_CHARS or text.count(" and ") + text.count(" or ") >= _MAX_BOOLEAN_OPERATORS:
        return False
    depth = 0
    for char in text:
        depth = max(0, depth + _BRACKET_DEPTH_STEP.get(char, 0))
        if depth > _MAX_BRACKET_DEPTH:
            return False
    return True


def unreadable_groups(text: str, groups: Sequence[Sequence[Literal]]) -> list[Sequence[Literal]]:
    """The groups holding an f-string that Python's `ast` cannot read on its own."""
    return [group for group in groups if any(_unreadable(text, literal) for literal in group)]


def _unreadable(text: str, literal: Literal) -> bool:
    if not literal.is_f_string:
        return False
    # Only a quote, a backslash, a comment or a line break inside an f-string
    # can be new in Python 3.12; without one the interpreter reads it for sure.
    if not _NEW_IN_FIELDS.search(text, literal.start + literal.opening, literal.end - literal.closing):
        return False
    try:
        ast.parse(f"(\n{text[literal.start : literal.end]}\n)", mode="eval")
    except SyntaxError:
        return True
    return False


def blank(text: str, groups: Sequence[Sequence[Literal]]) -> str:
    """`text` with each group of literals translated into a tuple of their
    expressions (the translation both finders share)."""
    out = list(text)
    for group in groups:
        for literal in group:
            _blank_literal(literal, out)
        out[group[0].start] = "("
        out[group[-1].end - 1] = ")"
    return "".join(out)


def _blank_literal(literal: Literal, out: list[str]) -> None:
    """Spaces for every character of `literal` outside its expressions (as
    many as the character has UTF-8 bytes; line breaks stay), and a comma
    after each expression."""
    position = literal.start
    for start, end in [*literal.expressions, (literal.end, -1)]:
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
