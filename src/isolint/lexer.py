"""A light lexer for what the standard library's `ast` leaves out: where
each string literal is (with its implicit-concatenation group, and inside
an f-string the spans of its replacement-field expressions), and where each
comment is.

It makes one regular-expression search per comment or literal, and walks
only the inside of f-strings, so it costs a fraction of `tokenize` and
reads Python 3.12 f-strings (PEP 701), which Python 3.11's tokenizer and
parser reject. It never guesses: on a shape it does not follow it gives up
(`scan` returns None) and the caller falls back (to LibCST for newer_syntax.py,
to `tokenize` for suppressions.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Span = tuple[int, int]  # [start, end) character offsets in the text


@dataclass
class Literal:
    """One string literal: its span, and for an f-string the spans of its
    replacement-field expressions in text order (format specs' included)."""

    start: int
    end: int
    is_f_string: bool
    opening: int  # the length of the prefix and opening quote
    closing: int  # the length of the closing quote
    expressions: list[Span] = field(default_factory=list)


class _GiveUp(Exception):
    """Text the scanner does not follow (malformed, or a shape it does not know)."""


# A comment, or a string literal's opening quote (its prefix is the word before it, see _prefix_start).
_TOKEN = re.compile(r"#|'''|\"\"\"|'|\"")
_PREFIXES = frozenset({"", "r", "u", "b", "br", "rb", "f", "fr", "rf"})
_PREFIX_LETTERS = frozenset("rRbBuUfFtT")
_LINE_END = re.compile(r"[\r\n]")
# The rest of a plain (not f-) string literal after its opening quote.
_PLAIN_REST = {
    "'": re.compile(r"(?:[^'\\\r\n]|\\(?:\r\n|[\s\S]))*'"),
    '"': re.compile(r'(?:[^"\\\r\n]|\\(?:\r\n|[\s\S]))*"'),
    "'''": re.compile(r"(?:[^'\\]|\\[\s\S]|'(?!''))*'''"),
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""'),
}
# What can change the scanner's state inside an f-string's literal text, and inside a replacement field.
_IN_LITERAL = {quote: re.compile(r"[\\{}\r\n" + quote[0] + "]") for quote in _PLAIN_REST}
_IN_FIELD = re.compile(r"[#()\[\]{}!:=<>\r\n]|'''|\"\"\"|'|\"")
_OPENING, _CLOSING = "([{", ")]}"
_BLANKS = " \t\f\\\r\n"  # and a backslash, which outside a literal only continues a line
_CONTINUATION = re.compile(r"\\(?:\r\n|\r|\n)")


@dataclass(frozen=True)
class Lexed:
    groups: list[list[Literal]]  # string literals in groups of implicit concatenation, by where they start
    comments: list[Span]  # comments outside literals, `#` to the end of the line (its break left out)


def scan(text: str) -> Lexed | None:
    """The string literals and comments of `text`, or None when the scanner
    cannot follow the text. A group nested in an f-string's replacement field
    comes after the group holding it."""
    scanner = _Scanner(text)
    try:
        scanner.module()
    except (_GiveUp, RecursionError):
        return None
    return Lexed(sorted(scanner.groups, key=lambda group: group[0].start), scanner.comments)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.groups: list[list[Literal]] = []
        self.comments: list[Span] = []

    def module(self) -> None:
        """Every literal outside f-strings, by one search per comment or
        literal; the code between them only counts brackets, because a line
        break ends a concatenation outside brackets and not inside them."""
        text, depth, position = self.text, 0, 0
        group: list[Literal] | None = None
        while True:
            match = _TOKEN.search(text, position)
            if match is None:
                start = len(text)
            elif match.group() == "#":
                start = match.start()
            else:
                start = _prefix_start(text, match.start(), position)
            between = text[position:start]
            if between.strip(_BLANKS):
                group = None
                depth += sum(between.count(bracket) for bracket in _OPENING)
                depth -= sum(between.count(bracket) for bracket in _CLOSING)
            elif depth <= 0 and _LINE_END.search(_CONTINUATION.sub("", between)):
                group = None
            if match is None:
                return
            if match.group() == "#":
                line_end = _LINE_END.search(text, start)
                position = len(text) if line_end is None else line_end.start()
                self.comments.append((start, position))
                continue
            literal = self.literal(start, text[start : match.start()], match.group())
            group = self._join(group, literal)
            position = literal.end

    def _join(self, group: list[Literal] | None, literal: Literal) -> list[Literal]:
        if group is None:
            group = []
            self.groups.append(group)
        group.append(literal)
        return group

    def literal(self, start: int, prefix: str, quote: str) -> Literal:
        if prefix.lower() not in _PREFIXES:
            raise _GiveUp  # t-strings (PEP 750) and anything else new
        body = start + len(prefix) + len(quote)
        if "f" not in prefix.lower():
            rest = _PLAIN_REST[quote].match(self.text, body)
            if rest is None:
                raise _GiveUp
            return Literal(start, rest.end(), False, body - start, len(quote))
        literal = Literal(start, -1, True, body - start, len(quote))
        literal.end = self.f_text(body, quote, raw="r" in prefix.lower(), literal=literal, in_spec=False)
        return literal

    def f_text(self, position: int, quote: str, *, raw: bool, literal: Literal, in_spec: bool) -> int:
        """Scan an f-string's literal text from `position`: the offset just
        after its closing quote, or (`in_spec`) of the `}` ending a format spec."""
        text, interesting = self.text, _IN_LITERAL[quote]
        while True:
            match = interesting.search(text, position)
            if match is None:
                raise _GiveUp
            position, character = match.start(), match.group()
            if character == "\\":
                following = text[position + 1 : position + 2]
                if not raw and following == "N" and text[position + 2 : position + 3] == "{":
                    close = text.find("}", position + 3)  # a named escape, \N{...}, is no replacement field
                    if close < 0:
                        raise _GiveUp
                    position = close + 1
                else:  # the escaped character is text, except a brace, which keeps its meaning
                    position += 1 if following in "{}" else 2
            elif character in "\r\n":
                if len(quote) == 1:
                    raise _GiveUp
                position += 1
            elif character == quote[0]:
                if text.startswith(quote, position):
                    if in_spec:
                        raise _GiveUp
                    return position + len(quote)
                position += 1
            elif character == "{":
                if text.startswith("{{", position):
                    if in_spec:
                        raise _GiveUp
                    position += 2
                else:
                    position = self.field(position + 1, quote, raw=raw, literal=literal)
            elif in_spec:  # "}" ends the spec
                return position
            elif text.startswith("}}", position):
                position += 2
            else:
                raise _GiveUp

    def field(self, position: int, quote: str, *, raw: bool, literal: Literal) -> int:
        """Scan a replacement field from just after its `{`: the offset just after its `}`."""
        text = self.text
        expression, end = self.expression(position)
        literal.expressions.append(expression)
        if text.startswith("=", end):  # self-documenting: f"{x=}"
            end = _skip_blanks(text, end + 1)
        if text.startswith("!", end):
            if text[end + 1 : end + 2] not in ("r", "s", "a"):
                raise _GiveUp
            end = _skip_blanks(text, end + 2)
        if text.startswith(":", end):
            end = self.f_text(end + 1, quote, raw=raw, literal=literal, in_spec=True)
        if not text.startswith("}", end):
            raise _GiveUp
        return end + 1

    def expression(self, position: int) -> tuple[Span, int]:
        """A replacement field's expression from `position`: its span (first
        to last token; blanks and comments around it left out) and the offset
        of what ends it at bracket depth 0 (`}`, `!`, `:` or a lone `=`)."""
        text, depth = self.text, 0
        first = last = -1
        group: list[Literal] | None = None
        while True:
            match = _IN_FIELD.search(text, position)
            if match is None:
                raise _GiveUp
            start, token = match.start(), match.group()
            if token[0] in "'\"":
                start = _prefix_start(text, start, position)
            between = text[position:start]
            if between.strip(_BLANKS):  # names, numbers, operators
                group = None
                first = position + len(between) - len(between.lstrip(_BLANKS)) if first < 0 else first
                last = start - (len(between) - len(between.rstrip(_BLANKS)))
            following = text[start + 1 : start + 2]
            if token in ("\r", "\n"):
                position = start + 1
                continue
            if token == "#":
                line_end = _LINE_END.search(text, start)
                if line_end is None:
                    raise _GiveUp
                position = line_end.start()
                continue
            if depth == 0 and (token in ("}", ":") or (token in ("!", "=") and following != "=")):
                if first < 0:
                    raise _GiveUp  # an empty field
                return (first, last), start
            if token[0] in "'\"":  # a literal
                nested = self.literal(start, text[start : match.start()], token)
                group = self._join(group, nested)
                end = nested.end
            else:
                group = None
                depth += 1 if token in _OPENING else -1 if token in _CLOSING else 0
                if depth < 0:
                    raise _GiveUp
                end = start + (2 if token in "!=<>" and following == "=" else 1)
            first = start if first < 0 else first
            last = position = end


def _prefix_start(text: str, quote: int, floor: int) -> int:
    """Where the literal whose quote is at `quote` starts: at its prefix when
    the word before the quote is one (`rb"..."`, and `t"..."`, which `literal`
    refuses), else at the quote (`if"x"` is the keyword `if`, then a string)."""
    start = quote
    while start > floor and text[start - 1] in _PREFIX_LETTERS:
        start -= 1
    if 0 < quote - start <= 2 and not (start > floor and (text[start - 1].isalnum() or text[start - 1] == "_")):
        return start
    return quote


def _skip_blanks(text: str, position: int) -> int:
    return position + len(text[position:]) - len(text[position:].lstrip(_BLANKS))
