"""Which lines two versions of a file share: a line diff that stays fast on
files a fix changed all over.

difflib's `SequenceMatcher` (without its popularity heuristic, which drops
blank lines and other common lines from the matches) looks, for each block
it matches, at every occurrence of every line: a file whose fixes touched
four hundred functions took twenty seconds to compare with itself before
the fixes, and eight hundred, eighty. As patience diff does, lines that
occur once on each side are matched first, in the longest run that keeps
their order; difflib matches what lies between them, which is little.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Literal

Block = tuple[int, int, int]  # (start in a, start in b, length) of lines both share
Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]
# Ranges up to this many (lines in a) x (lines in b) are left to difflib when no line is unique on both sides.
_DIFFLIB_AREA = 100 * 100


def matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[Block]:
    """The runs of lines `a` and `b` share, in order and apart, as
    `SequenceMatcher.get_matching_blocks` gives them (ending with `(len(a), len(b), 0)`)."""
    found: list[Block] = []
    ranges = [(0, len(a), 0, len(b))]
    while ranges:
        a_low, a_high, b_low, b_high = ranges.pop()
        while a_low < a_high and b_low < b_high and a[a_low] == b[b_low]:
            found.append((a_low, b_low, 1))
            a_low, b_low = a_low + 1, b_low + 1
        while a_low < a_high and b_low < b_high and a[a_high - 1] == b[b_high - 1]:
            a_high, b_high = a_high - 1, b_high - 1
            found.append((a_high, b_high, 1))
        if a_low == a_high or b_low == b_high:
            continue
        anchors = _anchors(a, b, a_low, a_high, b_low, b_high)
        if not anchors:
            matcher = difflib.SequenceMatcher(None, a[a_low:a_high], b[b_low:b_high], autojunk=False)
            found += [(a_low + i, b_low + j, size) for i, j, size in matcher.get_matching_blocks() if size]
            continue
        previous = (a_low - 1, b_low - 1)
        for i, j in anchors:
            found.append((i, j, 1))
            ranges.append((previous[0] + 1, i, previous[1] + 1, j))
            previous = (i, j)
        ranges.append((previous[0] + 1, a_high, previous[1] + 1, b_high))
    return [*_merged(sorted(found)), (len(a), len(b), 0)]


def opcodes(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """What turns `a` into `b`, as `SequenceMatcher.get_opcodes` gives it."""
    codes: list[Opcode] = []
    i = j = 0
    for a_start, b_start, size in matching_blocks(a, b):
        if i < a_start and j < b_start:
            codes.append(("replace", i, a_start, j, b_start))
        elif i < a_start:
            codes.append(("delete", i, a_start, j, b_start))
        elif j < b_start:
            codes.append(("insert", i, a_start, j, b_start))
        i, j = a_start + size, b_start + size
        if size:
            codes.append(("equal", a_start, i, b_start, j))
    return codes


def _anchors(
    a: Sequence[str], b: Sequence[str], a_low: int, a_high: int, b_low: int, b_high: int
) -> list[tuple[int, int]]:
    """Pairs (i, j) of equal lines to match first, in the longest run of
    them that keeps their order on both sides: the lines that occur once in
    each range; failing those, in a range too big for difflib, the lines
    that occur as often in each, paired in order (every function of a file
    rewritten, its blank lines and its `return` kept)."""
    in_a = Counter(a[a_low:a_high])
    in_b = Counter(b[b_low:b_high])
    where_in_b = {b[j]: j for j in range(b_low, b_high) if in_b[b[j]] == 1 and in_a[b[j]] == 1}
    pairs = [(i, where_in_b[a[i]]) for i in range(a_low, a_high) if a[i] in where_in_b]
    if pairs or (a_high - a_low) * (b_high - b_low) <= _DIFFLIB_AREA:
        return _longest_increasing(pairs)
    occurrences: dict[str, list[int]] = defaultdict(list)
    for j in range(b_low, b_high):
        if in_a[b[j]] == in_b[b[j]]:
            occurrences[b[j]].append(j)
    seen: Counter[str] = Counter()
    for i in range(a_low, a_high):
        line = a[i]
        if line in occurrences:
            pairs.append((i, occurrences[line][seen[line]]))
            seen[line] += 1
    return _longest_increasing(pairs)


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest subsequence of `pairs` (increasing in their first item)
    whose second items increase too (patience sorting)."""
    tails: list[int] = []  # tails[k]: the smallest second item ending an increasing run of k + 1 pairs
    ends: list[int] = []  # ends[k]: the index in `pairs` of that pair
    before: list[int] = []  # the index of the pair before each pair in its run, or -1
    for index, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            ends.append(index)
        else:
            tails[k], ends[k] = j, index
        before.append(ends[k - 1] if k else -1)
    run = []
    index = ends[-1] if ends else -1
    while index >= 0:
        run.append(pairs[index])
        index = before[index]
    return run[::-1]


def _merged(blocks: list[Block]) -> list[Block]:
    """Adjacent blocks joined into one."""
    merged: list[Block] = []
    for i, j, size in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            last = merged.pop()
            merged.append((last[0], last[1], last[2] + size))
        else:
            merged.append((i, j, size))
    return merged
