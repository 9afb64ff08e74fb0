"""The line diff the fix report and the verification gate place lines with:
valid matches on any input, difflib's where difflib is unambiguous, and no
difflib over a file a fix changed all over."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isolint import linediff

# Few distinct lines, so that repeats (blank lines, `return state`) are common.
lines = st.lists(st.sampled_from(["", "a", "b", "return state", "def f():", "    pass", "x = 1"]), max_size=30)


def _rebuilt(a: Sequence[str], b: Sequence[str], codes: list[linediff.Opcode]) -> list[str]:
    out: list[str] = []
    for tag, i1, i2, j1, j2 in codes:
        out += a[i1:i2] if tag == "equal" else b[j1:j2]
    return out


@given(lines, lines)
def test_the_matches_are_equal_lines_in_order_and_the_opcodes_turn_one_text_into_the_other(
    a: list[str], b: list[str]
) -> None:
    blocks = linediff.matching_blocks(a, b)
    assert blocks[-1] == (len(a), len(b), 0)
    for (i, j, size), (next_i, next_j, _) in itertools.pairwise(blocks):
        assert a[i : i + size] == b[j : j + size]
        assert i + size <= next_i and j + size <= next_j
        assert size > 0
    codes = linediff.opcodes(a, b)
    assert _rebuilt(a, b, codes) == b
    assert not codes or codes[-1][2:5:2] == (len(a), len(b))
    # The opcodes cover both sides, in order, as difflib's do.
    assert [(i1, j1) for _, i1, _, j1, _ in codes] == [(0, 0), *((i2, j2) for _, _, i2, _, j2 in codes)][: len(codes)]


@given(lines, lines)
def test_lines_that_occur_once_match_as_a_longest_common_subsequence(a: list[str], b: list[str]) -> None:
    ours = sum(size for _, _, size in linediff.matching_blocks(a, b))
    theirs = sum(size for _, _, size in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
    # Something matches whenever a line is shared; with every line unique, at
    # least as much as difflib (which matches the longest run first, not the
    # most lines).
    assert (ours > 0) == bool(set(a) & set(b))
    if len(set(a)) == len(a) and len(set(b)) == len(b):
        assert ours >= theirs


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (["x", "y", "z"], ["x", "Y", "z"], [("equal", 0, 1, 0, 1), ("replace", 1, 2, 1, 2), ("equal", 2, 3, 2, 3)]),
        (["x", "z"], ["x", "y", "z"], [("equal", 0, 1, 0, 1), ("insert", 1, 1, 1, 2), ("equal", 1, 2, 2, 3)]),
        (["x", "y", "z"], ["x", "z"], [("equal", 0, 1, 0, 1), ("delete", 1, 2, 1, 1), ("equal", 2, 3, 1, 2)]),
        ([], ["x"], [("insert", 0, 0, 0, 1)]),
        (["x"], [], [("delete", 0, 1, 0, 0)]),
        ([], [], []),
        # Repeated lines only, no anchor: difflib matches them.
        (["", "", ""], ["", ""], [("equal", 0, 2, 0, 2), ("delete", 2, 3, 2, 2)]),
    ],
)
def test_opcodes(a: list[str], b: list[str], expected: list[Any]) -> None:
    assert linediff.opcodes(a, b) == expected
    assert linediff.opcodes(a, b) == difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def test_a_file_changed_all_over_is_matched_on_the_lines_both_sides_repeat_as_often(difflib_sizes: list[int]) -> None:
    # Every function rewritten, no line left the same but the blank ones:
    # what difflib still compares lies between two neighbouring blank lines.
    def functions(receiver: str) -> list[str]:
        return [
            line
            for i in range(400)
            for line in (f"def step_{i}({receiver}):", f"    {receiver}.results[{i}] = 1", f"    return {receiver}", "")
        ]

    before, after = functions("state"), functions("context")
    codes = linediff.opcodes(before, after)
    assert max(difflib_sizes, default=0) <= 3
    # Each function: three lines rewritten, the blank line kept.
    assert codes[:3] == [("replace", 0, 3, 0, 3), ("equal", 3, 4, 3, 4), ("replace", 4, 7, 4, 7)]
    assert sum(i2 - i1 for tag, i1, i2, _, _ in codes if tag == "equal") == 400
