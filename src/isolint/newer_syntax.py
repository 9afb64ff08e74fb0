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

The f-strings are found by a scanner of our own (fstrings.py, a fraction
of a millisecond per thousand lines); when it gives up, or its translation
does not parse, LibCST's parser finds them (_pep701.py, about a second for
five thousand lines) and decides between syntax newer than the interpreter
and a real syntax error.

On Python 3.12 and later the interpreter's own parser reads these files
and the translation is never needed.
"""

from __future__ import annotations

import ast
import re
import sys
import warnings

from . import fstrings
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
_BRACKET_DEPTH_STEP = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def parse_module(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source)`; for a file `ast` rejects only because of Python 3.12
    f-strings, the tree of its translation (same lines and byte columns).
    Raises SyntaxError as `ast.parse` does otherwise, saying so when LibCST
    reads the line the interpreter rejects (syntax newer than the interpreter)."""
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
    groups = fstrings.scan(text)
    unreadable = [] if groups is None else fstrings.unreadable_groups(text, groups)
    if not unreadable:
        return None
    try:
        return _interpreter_parse(fstrings.blank(text, unreadable), filename)
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
