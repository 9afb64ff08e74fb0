"""A fix's text from the file's own, with only what the fix rebuilt generated.

A fix rebuilds a few nodes of the file's LibCST module: every node it kept
is the same object. The text of what it kept is the file's own, so only the
top-level statements it rebuilt are generated, and of a top-level class
whose header it kept, only the members (methods, mostly) it rebuilt.

Where a statement's code starts comes from the line CPython gives it and
the lines LibCST puts before that line in the statement's code: its
comments and blank lines, its decorators. Before a statement's text is
replaced (or text inserted beside it), it is checked against the code
LibCST generates for the statement; when a check fails, `spliced` gives up
and the caller finds the statements by generating every one of them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from .fixes import FixedText, Region
from .source import LINE_BREAK

if TYPE_CHECKING:
    from .cst_view import CstView


def same_frame(old: cst.Module, new: cst.Module) -> bool:
    """Whether `new` differs from `old` in its statements alone (so that the
    code of the statements they share is where it was)."""
    return (
        bool(new.body)
        and old.has_trailing_newline  # otherwise the last statement's code depends on its place
        and same_nodes(new.header, old.header)
        and same_nodes(new.footer, old.footer)
        and (new.default_indent, new.default_newline, new.has_trailing_newline)
        == (old.default_indent, old.default_newline, old.has_trailing_newline)
    )


def same_nodes(new: Sequence[cst.CSTNode], old: Sequence[cst.CSTNode]) -> bool:
    return len(new) == len(old) and all(a is b for a, b in zip(new, old, strict=True))


def spliced(view: CstView, new_module: cst.Module) -> FixedText | None:
    """`new_module`'s code, from the view's text for what it kept; None when
    a statement is not where its lines say, or `same_frame` does not hold."""
    old, text = view.module, view.source
    if not same_frame(old, new_module):
        return None
    starts = view.statement_starts
    if starts is None:
        return None
    header = "".join(old.code_for_node(line) for line in old.header)
    footer = "".join(old.code_for_node(line) for line in old.footer)
    if text[: starts[0]] != header or not text.endswith(footer) or len(text) - len(footer) <= starts[-1]:
        return None
    bounds = [*starts, len(text) - len(footer)]  # statement i's code is text[bounds[i]:bounds[i + 1]]
    index_of = {id(statement): index for index, statement in enumerate(old.body)}
    kept = [index_of[id(s)] for s in new_module.body if id(s) in index_of]
    if any(later <= earlier for earlier, later in itertools.pairwise(kept)):
        return None  # the fix moved a statement: the statements' own code, in their new order, tells
    edits: list[Region] = []
    generated: list[str] = []
    for removed, added in _changes(old.body, new_module.body):
        found = _rebuilt(view, removed, added, bounds, new_module)
        if found is None:
            return None
        edits += found[0]
        generated += found[1]
    regions = sorted(edits)
    pieces, done = [], 0
    for start, end, replacement in regions:
        pieces += [text[done:start], replacement]
        done = end
    pieces.append(text[done:])
    return FixedText("".join(pieces), tuple(generated), tuple(regions))


def _changes(
    old: Sequence[cst.BaseStatement], new: Sequence[cst.BaseStatement]
) -> Iterator[tuple[range, list[cst.BaseStatement]]]:
    """Each run of `old`'s statements (by index) that `new` replaces with a
    run of statements of its own: an empty range where `new` only inserts.
    `new` keeps the statements it shares with `old` in their order."""
    index_of = {id(statement): index for index, statement in enumerate(old)}
    kept_before, pending = -1, []
    for statement in new:
        index = index_of.get(id(statement))
        if index is None:
            pending.append(statement)
            continue
        if pending or index > kept_before + 1:
            yield range(kept_before + 1, index), pending
        kept_before, pending = index, []
    if pending or kept_before + 1 < len(old):
        yield range(kept_before + 1, len(old)), pending


def _rebuilt(
    view: CstView, removed: range, added: list[cst.BaseStatement], bounds: list[int], new_module: cst.Module
) -> tuple[list[Region], list[str]] | None:
    """The edits that put `added` where the `removed` statements are, and
    the code generated for them; None when a statement is not where its
    lines say."""
    old, text = view.module, view.source
    if len(removed) == 1 and len(added) == 1:
        members = _rebuilt_members(view, removed[0], added[0], bounds)
        if members is not None:
            return members
    if removed:
        for index in removed:
            if text[bounds[index] : bounds[index + 1]] != old.code_for_node(old.body[index]):
                return None
        start, end = bounds[removed[0]], bounds[removed[-1] + 1]
    else:
        start = end = bounds[removed.start]
        if not _boundary_holds(view, removed.start, bounds):
            return None
    codes = [new_module.code_for_node(statement) for statement in added]
    return [(start, end, "".join(codes))], codes


def _boundary_holds(view: CstView, index: int, bounds: list[int]) -> bool:
    """Whether `bounds[index]`, where statement `index` starts, is right: the
    smaller of the statements on either side of it is where its lines say
    (the first statement's start and the footer's were checked already)."""
    old, text = view.module, view.source
    if index == 0 or index == len(old.body):
        return True
    side = min((index - 1, index), key=lambda i: bounds[i + 1] - bounds[i])
    return text[bounds[side] : bounds[side + 1]] == old.code_for_node(old.body[side])


def _rebuilt_members(
    view: CstView, index: int, new: cst.BaseStatement, bounds: list[int]
) -> tuple[list[Region], list[str]] | None:
    """The edits that rebuild only the members of the top-level class
    `old.body[index]` that `new` (the same class, its header kept) rebuilt;
    None when `new` is not that, or a member is not where its lines say."""
    old_class = view.module.body[index]
    if not (isinstance(old_class, cst.ClassDef) and isinstance(new, cst.ClassDef)):
        return None
    old_block, new_block = old_class.body, new.body
    if not (
        isinstance(old_block, cst.IndentedBlock)
        and isinstance(new_block, cst.IndentedBlock)
        and _same_but(old_class, new, "body")
        and _same_but(old_block, new_block, "body")
        and len(old_block.body) == len(new_block.body)
    ):
        return None
    text = view.source
    edits, generated = [], []
    for old_member, new_member in zip(old_block.body, new_block.body, strict=True):
        if old_member is new_member:
            continue
        start = view.member_start(old_class, old_member)
        old_code = member_code(view.module, old_class, old_member)
        new_code = member_code(view.module, new, new_member)
        if start is None or old_code is None or new_code is None:
            return None
        end = start + len(old_code[0])
        if not (bounds[index] <= start and end <= bounds[index + 1] and text[start:end] == old_code[0]):
            return None
        edits.append((start, end, new_code[0]))
        generated.append(new_code[1])
    return edits, generated


def _same_but(old: cst.CSTNode, new: cst.CSTNode, field: str) -> bool:
    """Whether every field of `new` but `field` holds what `old`'s does (the same nodes)."""
    for each in dataclasses.fields(old):
        if each.name == field:
            continue
        before, after = getattr(old, each.name), getattr(new, each.name)
        if before is after:
            continue
        if not (isinstance(before, Sequence) and isinstance(after, Sequence) and same_nodes(after, before)):
            return False
    return True


_START, _END = "__isolint_splice_start__", "__isolint_splice_end__"


def member_code(module: cst.Module, klass: cst.ClassDef, member: cst.BaseStatement) -> tuple[str, str] | None:
    """The code of `member` as a statement of `klass`'s body (indented as the
    class indents it), and the code of `klass` with it alone in its body,
    between two marker statements (a module of its own, which parses when
    the member does there); None when the member's code holds a marker."""
    if not isinstance(klass.body, cst.IndentedBlock):
        return None
    markers = [cst.SimpleStatementLine([cst.Expr(cst.Name(name))]) for name in (_START, _END)]
    alone = klass.with_changes(body=klass.body.with_changes(body=[markers[0], member, markers[1]]))
    code = module.code_for_node(alone)
    if code.count(_START) != 1 or code.count(_END) != 1:
        return None
    start = code.index(_START) + len(_START) + len(module.default_newline)
    marker_line = code.index(_END)
    end = max(code.rfind("\n", 0, marker_line), code.rfind("\r", 0, marker_line)) + 1
    return code[start:end], code


def lines_before(module: cst.Module, statement: cst.BaseStatement) -> int:
    """How many lines of `statement`'s code come before the line CPython
    gives it: its leading comments and blank lines, and a definition's
    decorators (with theirs) and the lines after them."""
    if not isinstance(statement, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        raise TypeError(f"not a statement LibCST places in a block: {type(statement).__name__}")
    lines = len(statement.leading_lines)
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        lines += sum(len(LINE_BREAK.findall(module.code_for_node(d))) for d in statement.decorators)
        lines += len(statement.lines_after_decorators)
    return lines
