"""Text edits: deriving them from a rewritten module, and applying them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from .findings import Edit, Fix, Location
from .source import line_starts, location_of, offset_of

# Where a fixed text differs from the file's: (start, end, replacement), in the file's text.
Region = tuple[int, int, str]


@dataclass(frozen=True)
class FixedText:
    """A file's text with a fix applied."""

    text: str
    # The code generated anew, each piece a whole module of its own that
    # parses when the fixed file does (a top-level statement, or a class
    # with one rebuilt member; see splice.py); None when the whole module
    # was generated.
    generated: tuple[str, ...] | None = None
    # The regions of the file the fix replaced, in order and apart, the rest
    # of `text` being the file's own; None when not known.
    regions: tuple[Region, ...] | None = None


def diff_edits(old: str, new: str, regions: Sequence[Region] | None = None) -> tuple[Edit, ...]:
    """The minimal edits, one per changed hunk, that turn `old` into `new`:
    within each of `regions` when they are known (see FixedText).

    Unchanged leading and trailing lines are cut off first: a fix touches a
    few lines of a file, and difflib on whole files made fixes in big files
    quadratic. So did difflib on everything between a fix's first and last
    change (an import at the top and a function at the bottom), which the
    regions leave out."""
    if regions is None:
        hunks = list(_hunks(old, new, 0))
    else:
        hunks = [hunk for start, end, replacement in regions for hunk in _hunks(old[start:end], replacement, start)]
    starts = _line_starts(old)
    return tuple(
        Edit(
            content=content,
            location=Location(*location_of(starts, start)),
            end_location=Location(*location_of(starts, end)),
        )
        for start, end, content in hunks
    )


@lru_cache(maxsize=1)
def _line_starts(text: str) -> tuple[int, ...]:
    """`line_starts(text)`, remembered for the last text: every fix of a
    file is diffed against the same text, and finding its lines anew for
    each fix made fixing a file quadratic in its size. (A string keeps its
    hash, and the lookup finds the very same string first.)"""
    return tuple(line_starts(text))


def _hunks(old: str, new: str, base: int) -> Iterator[Region]:
    """(start, end, replacement) of each changed hunk of `old`, offsets counted from `base`."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < min(len(old_lines), len(new_lines)) - head and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    old_offsets = _cumulative(old_lines)
    old_middle = old_lines[head : len(old_lines) - tail]
    new_middle = new_lines[head : len(new_lines) - tail]
    matcher = difflib.SequenceMatcher(None, old_middle, new_middle, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before = "".join(old_middle[i1:i2])
        after = "".join(new_middle[j1:j2])
        prefix = _common_prefix(before, after)
        suffix = _common_suffix(before[prefix:], after[prefix:])
        start = old_offsets[head + i1] + prefix
        end = old_offsets[head + i2] - suffix
        yield base + start, base + end, after[prefix : len(after) - suffix]


def _cumulative(lines: Sequence[str]) -> list[int]:
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    return offsets


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


def _span(starts: list[int], edit: Edit) -> tuple[int, int]:
    return (
        offset_of(starts, edit.location.row, edit.location.column),
        offset_of(starts, edit.end_location.row, edit.end_location.column),
    )


def apply_fixes(text: str, fixes: Iterable[Fix]) -> tuple[str, list[Fix]]:
    """Apply every fix whose edits do not overlap an earlier one.

    An edit identical to one already going in (the same span and content)
    is shared, not an overlap: it goes in once, as ruff applies it. Fixes of
    one isolation group go in one per pass, unless a later one shares an
    edit with one of the group already going in: each was computed from
    the same text, so the same edit there is the same change made once
    (the import every fix of a rule adds at one place), and the rest of
    its edits overlap nothing. Returns the new text and the fixes that went
    in; the caller re-lints and calls again for the rest, as ruff does.
    """
    starts = line_starts(text)
    taken: list[tuple[int, int]] = []
    accepted: dict[tuple[int, int, str], None] = {}  # insertion-ordered set
    groups: dict[str, set[tuple[int, int, str]]] = {}  # isolation group -> its fixes' edits going in
    applied: list[Fix] = []
    ordered = sorted(fixes, key=lambda fix: min(_span(starts, e) for e in fix.required_edits()))
    for fix in ordered:
        spans = [(*_span(starts, edit), edit.content) for edit in fix.required_edits()]
        own = [span for span in spans if span not in accepted]
        if any(_overlaps(start, end, other) for start, end, _ in own for other in taken):
            continue
        if fix.isolation is not None:
            group = groups.get(fix.isolation)
            if group is not None and group.isdisjoint(spans):
                continue
            groups.setdefault(fix.isolation, set()).update(spans)
        taken.extend((start, end) for start, end, _ in own)
        accepted.update(dict.fromkeys(own))
        applied.append(fix)
    for start, end, content in sorted(accepted, reverse=True):
        text = text[:start] + content + text[end:]
    return text, applied


def _overlaps(start: int, end: int, other: tuple[int, int]) -> bool:
    """Touching spans count too: two fixes meeting at one point may each
    assume the text on the other side is unchanged (and two insertions at one
    point would land in arbitrary order). The next pass takes the later one."""
    other_start, other_end = other
    return start <= other_end and other_start <= end


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=path,
            tofile=path,
        )
    )
