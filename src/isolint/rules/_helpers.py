"""What rules share outside the `ast` analysis: byte-prefilter builders, name
globs, and the LibCST name helpers the fixes' edits use."""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import translate
from functools import lru_cache

from .._lazy import cst


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def last_name(node: cst.BaseExpression) -> str | None:
    """The final identifier of a Name or Attribute (`WebSocketManager` in `ws.WebSocketManager`)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


def glob_to_bytes_regex(glob: str) -> bytes:
    """An unanchored regex fragment for an identifier glob (`*` and `?`), for prefilters."""
    return re.escape(glob.encode()).replace(rb"\*", rb"\w*").replace(rb"\?", rb"\w")


def unanchored_alternatives(fragments: Iterable[bytes], suffix: bytes = b"") -> list[bytes]:
    """`f<suffix>` for identifier regex fragments (escaped names, glob regexes)
    with nothing required before them, for `alternation`. A leading `\\w*` is
    dropped: it never changes whether a search matches, but it makes `re`
    try every byte instead of skipping ahead to the fragments' first characters."""
    return [(f[3:] if f.startswith(rb"\w*") and len(f) > 3 else f) + suffix for f in fragments]


def word_alternatives(fragments: Iterable[bytes], suffix: bytes = b"") -> list[bytes]:
    """`\\bf<suffix>` for identifier regex fragments, for `alternation`, with the
    start-of-word check after the fragment's literal prefix, as a lookbehind
    (a leading `\\b` would make `re` try every byte)."""
    return [_word_start(fragment) + suffix for fragment in fragments]


def _word_start(fragment: bytes) -> bytes:
    if fragment.startswith(rb"\w*") and len(fragment) > 3:
        return fragment[3:]  # `\w*` always reaches back to a word start
    prefix = fragment.split(b"\\", 1)[0]
    if prefix and re.fullmatch(rb"\w+", prefix):
        return prefix + rb"(?<!\w" + prefix + b")" + fragment[len(prefix) :]
    return rb"\b" + fragment  # correct, just slower


def alternation(*groups: Iterable[bytes]) -> bytes:
    """One `(?:...)` of all the alternatives, factored on their literal
    prefixes (`get_(?:a|b)`): `re` then skips ahead to the possible first
    characters and tries one branch there, instead of every alternative at
    every occurrence of a common letter."""
    alternatives = sorted({alternative for group in groups for alternative in group})
    return rb"(?:" + _factored([_literal_prefix(a) for a in alternatives]) + rb")"


def _literal_prefix(alternative: bytes) -> tuple[tuple[bytes, ...], bytes]:
    """(the literal characters it starts with, the rest of the regex)."""
    tokens: list[bytes] = []
    position = 0
    while position < len(alternative):
        char = alternative[position : position + 1]
        if char.isalnum() or char == b"_":
            token = char
        elif (
            char == b"\\" and position + 1 < len(alternative) and not alternative[position + 1 : position + 2].isalnum()
        ):
            token = alternative[position : position + 2]  # an escaped punctuation character
        else:
            break
        tokens.append(token)
        position += len(token)
    if tokens and alternative[position : position + 1] in (b"*", b"+", b"?", b"{"):
        position -= len(tokens.pop())  # a quantified character is not part of the prefix
    return tuple(tokens), alternative[position:]


def _factored(pairs: list[tuple[tuple[bytes, ...], bytes]]) -> bytes:
    by_first: dict[bytes, list[tuple[tuple[bytes, ...], bytes]]] = {}
    ends = []
    for tokens, rest in pairs:
        if tokens:
            by_first.setdefault(tokens[0], []).append((tokens, rest))
        else:
            ends.append(rest)
    parts = []
    for group in by_first.values():
        shared = 1
        while all(len(tokens) > shared and tokens[shared] == group[0][0][shared] for tokens, _ in group):
            shared += 1
        inner = _factored([(tokens[shared:], rest) for tokens, rest in group])
        parts.append(b"".join(group[0][0][:shared]) + rb"(?:" + inner + rb")")
    return b"|".join([*parts, *ends])


def matches_patterns(name: str, patterns: Iterable[str]) -> bool:
    """Whether `name` matches one of the globs, as `fnmatchcase` matches:
    one compiled alternation per set of globs, since rules ask per node."""
    return _globs_regex(patterns if isinstance(patterns, tuple) else tuple(patterns)).match(name) is not None


@lru_cache(maxsize=256)
def _globs_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{translate(pattern)})" for pattern in patterns) or "(?!)")
