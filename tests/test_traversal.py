"""isolint.traversal replaces LibCST's `CSTNode.visit`; it must behave exactly like it.

Every fixture file (plus a source full of the awkward corners) is visited and
transformed both ways, and every callback, every result and every generated
line must be the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from isolint import traversal

ROOT = Path(__file__).resolve().parent.parent
CORNERS = '''\
import a.b as ab, os
from .. import x
@dec(1)
async def f(p: int = 3, *args, k=f"{x!r:>{width}}", **kw) -> "T":
    global g
    y = [i for i in range(3) if (n := i)]
    async with a as (b, c):
        yield lambda q, *, r=1: q
    match p:
        case [1, *rest] if rest:
            pass
        case {"k": v, **others}:
            pass
    try:
        pass
    except* ValueError as e:
        del e
    return t"" if False else f"{a=}"
class C(B, metaclass=M):
    x: int = 1; z = 2;
'''
SOURCES = sorted(ROOT.glob("fixtures/**/*.py"))


def _sources() -> list[Any]:
    cases = [pytest.param("corners", id="corners")]
    cases += [pytest.param(path, id=str(path.relative_to(ROOT))) for path in SOURCES]
    return cases


def _parse(source: Any) -> cst.Module:
    if source == "corners":
        text = CORNERS
        try:
            return cst.parse_module(text)
        except cst.ParserSyntaxError:  # t-strings need a newer LibCST
            return cst.parse_module(text.replace('t"" if False else ', ""))
    return cst.parse_module(source.read_text(encoding="utf-8"))


class Recorder(cst.CSTVisitor):
    """Logs every callback, attribute ones included, and skips lambdas' insides."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.log.append(("visit", id(node)))
        return not isinstance(node, cst.Lambda)

    def on_leave(self, node: cst.CSTNode) -> None:
        self.log.append(("leave", id(node)))

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.log.append(("visit", id(node), attribute))

    def on_leave_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.log.append(("leave", id(node), attribute))


class Mangler(cst.CSTTransformer):
    """Renames, removes (from sequences, optional and sentinel fields) and flattens."""

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=updated.value + "_x") if len(updated.value) % 3 == 0 else updated

    def leave_Pass(self, original: Any, updated: Any) -> Any:
        return cst.RemoveFromParent()

    def leave_Import(self, original: Any, updated: Any) -> Any:
        return cst.RemoveFromParent()

    def leave_Annotation(self, original: Any, updated: Any) -> Any:
        return cst.RemoveFromParent() if isinstance(updated.annotation, cst.Name) else updated

    def leave_Expr(self, original: Any, updated: Any) -> Any:
        return cst.FlattenSentinel([updated, updated]) if isinstance(updated.value, cst.Call) else updated

    def leave_Arg(self, original: Any, updated: Any) -> Any:
        return cst.RemoveFromParent() if updated.keyword is not None else updated

    def leave_Return(self, original: Any, updated: Any) -> Any:
        return cst.RemoveFromParent()


class Replacer(cst.CSTTransformer):
    def __init__(self, replacements: dict[Any, Any]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original: Any, updated: Any) -> Any:
        return self.replacements.get(original, updated)


def _both(function: Any) -> tuple[Any, Any]:
    """`function()` under LibCST's own visit, then under ours."""
    traversal.install()
    ours = cst.CSTNode.visit
    cst.CSTNode.visit = traversal._original_visit
    try:
        theirs = function()
    finally:
        cst.CSTNode.visit = ours
    return theirs, function()


def _outcome(function: Any) -> Any:
    try:
        result = function()
    except Exception as exc:  # both ways must fail alike
        return ("error", type(exc).__name__)
    return result.code if isinstance(result, cst.Module) else repr(result)


@pytest.mark.parametrize("source", _sources())
def test_visitors_get_every_callback_in_libcsts_order(source: Any) -> None:
    module = _parse(source)

    def record() -> list[Any]:
        recorder = Recorder()
        module.visit(recorder)
        return recorder.log

    theirs, ours = _both(record)
    assert ours == theirs


@pytest.mark.parametrize("source", _sources())
def test_transformers_produce_the_same_code(source: Any) -> None:
    module = _parse(source)
    theirs, ours = _both(lambda: _outcome(lambda: module.visit(Mangler())))
    assert ours == theirs


@pytest.mark.parametrize("source", _sources())
def test_children_and_replace_nodes_match_libcst(source: Any) -> None:
    module = _parse(source)
    nodes = list(traversal.walk(module))
    assert all(traversal.children(node) == list(node.children) for node in nodes)

    # Replace every 7th name and drop every 5th statement line, as fixes do.
    replacements: dict[Any, Any] = {}
    for index, node in enumerate(nodes):
        if isinstance(node, cst.Name) and index % 7 == 0:
            replacements[node] = cst.Name("renamed")
        elif isinstance(node, cst.SimpleStatementLine) and index % 5 == 0:
            replacements[node] = cst.RemoveFromParent()
    expected = _outcome(lambda: module.visit(Replacer(replacements)))
    assert _outcome(lambda: traversal.replace_nodes(module, replacements, traversal.parent_map(module))) == expected


def test_replace_nodes_ignores_nodes_from_another_tree() -> None:
    module = cst.parse_module("x = 1\n")
    stranger = cst.parse_module("y = 2\n").body[0]
    assert traversal.replace_nodes(module, {stranger: cst.RemoveFromParent()}, traversal.parent_map(module)) is module
