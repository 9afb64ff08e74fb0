"""Byte prefilters: whether a rule can find anything in a file, from its bytes alone.

A prefilter is anything whose `search(raw)` returns None when the rule can
find nothing in `raw` (a necessary condition for a finding): a compiled
`re` pattern, or a combination of them. `AllOf` says "each of these
somewhere in the file". One `re` pattern can say that only with a lookahead
from the start of the text (`\\A(?=...)...`); in such a pattern, and in any
alternation with it, `re` cannot skip ahead to a literal and tries every
byte: ISO104's took 1.6 s over 52 MB of library code, where its separate
searches take a fraction of that. `Lowered` searches case-insensitively
without `re.IGNORECASE`, which has the same effect on `re`.
"""

from __future__ import annotations

import re
from typing import Protocol


class TextFilter(Protocol):
    def search(self, raw: bytes, /) -> object | None:
        """Something other than None when `raw` may hold a finding."""
        ...


class _Combination:
    __slots__ = ("filters",)

    def __init__(self, *filters: TextFilter) -> None:
        self.filters = filters

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.filters!r}"


class AllOf(_Combination):
    """Matches a text that each of `filters` matches somewhere (in any order)."""

    __slots__ = ()

    def search(self, raw: bytes, /) -> bool | None:
        return True if all(part.search(raw) is not None for part in self.filters) else None


class AnyOf(_Combination):
    """Matches a text that one of `filters` matches."""

    __slots__ = ()

    def search(self, raw: bytes, /) -> bool | None:
        return True if any(part.search(raw) is not None for part in self.filters) else None


class Lowered:
    """Matches a text where `pattern` matches it with its ASCII letters in
    lower case: a case-insensitive search (`re.IGNORECASE` folds ASCII only
    in bytes too) with which `re` still skips ahead to a literal. With the
    flag, it tries every byte: five times slower on library code."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern

    def search(self, raw: bytes, /) -> re.Match[bytes] | None:
        return self.pattern.search(raw.lower())

    def __repr__(self) -> str:
        return f"Lowered({self.pattern!r})"


class _Never:
    """Matches no text, without reading it: `re` tries `(?!)` at every byte."""

    __slots__ = ()

    def search(self, raw: bytes, /) -> None:
        return None

    def __repr__(self) -> str:
        return "NEVER"


NEVER = _Never()  # the prefilter of a rule that can find nothing (its options or the index name nothing)
