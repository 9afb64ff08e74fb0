"""isolint.traversal reads children from a generated field table instead of
LibCST's `children`, and rebuilds only what a fix replaces; it must agree
with LibCST exactly, and leave LibCST itself untouched.

Every fixture file (plus a source full of the awkward corners) is walked and
rewritten both ways, and every child, every result and every generated line
must be the same.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from isolint import _cst_fields, traversal

ROOT = Path(__file__).resolve().parent.parent
CORNERS = """\
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
"""
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
    """Logs the nodes LibCST's own visit enters, in order."""

    def __init__(self) -> None:
        self.entered: list[int] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.entered.append(id(node))
        return True


class Replacer(cst.CSTTransformer):
    def __init__(self, replacements: dict[Any, Any]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original: Any, updated: Any) -> Any:
        return self.replacements.get(original, updated)


def _outcome(function: Any) -> Any:
    try:
        result = function()
    except Exception as exc:  # both ways must fail alike
        return ("error", type(exc).__name__)
    return result.code if isinstance(result, cst.Module) else repr(result)


@pytest.mark.parametrize("source", _sources())
def test_walk_enters_nodes_in_libcsts_visiting_order(source: Any) -> None:
    module = _parse(source)
    recorder = Recorder()
    module.visit(recorder)
    assert [id(node) for node in traversal.walk(module)] == recorder.entered


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


def test_the_field_table_is_what_the_generator_makes_of_the_installed_libcst() -> None:
    script = ROOT / "scripts" / "gen_cst_fields.py"
    spec = importlib.util.spec_from_file_location("gen_cst_fields", script)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.field_table() == _cst_fields.FIELDS
    assert generator.render(generator.field_table()) == (ROOT / "src" / "isolint" / "_cst_fields.py").read_text(
        encoding="utf-8"
    )


PROBE = """
import inspect
import libcst, libcst.metadata

def snapshot():
    classes = [c for m in (libcst, libcst.metadata) for c in vars(m).values() if inspect.isclass(c)]
    return {(c.__module__, c.__qualname__, name): id(value) for c in classes for name, value in vars(c).items()}

before = snapshot()
from isolint.config import load_settings
from isolint.engine import lint_text
from isolint.rules import ALL_RULES
text = "from app.state import DeepAgentState\\ndef f(state: DeepAgentState):\\n    return state\\n"
settings = load_settings([], isolated=True)
lint_text(text, "m.py", ALL_RULES, settings)
after = snapshot()
# LibCST adds caches of its own (a provider's dependencies) on first use; nothing it had may change.
print(all(after.get(key) == value for key, value in before.items()))
"""


def test_isolint_leaves_every_libcst_class_as_it_found_it() -> None:
    """Importing and running the engine patches nothing: LibCST behaves for
    other code in the process exactly as it would without isolint."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("source", _sources()[:12])
def test_positions_are_libcsts_own_without_walking_the_tree(source: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine resolves positions through LibCST's public MetadataWrapper,
    minus the empty batched walk: the same positions, and no node visited."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    from isolint.cst_view import module_positions

    module = _parse(source)
    expected = dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
    visits: list[cst.CSTNode] = []
    real_visit = cst.CSTNode.visit

    def counting(node: cst.CSTNode, visitor: Any) -> Any:
        visits.append(node)
        return real_visit(node, visitor)

    monkeypatch.setattr(cst.CSTNode, "visit", counting)  # an observer for this test only
    assert dict(module_positions(module)) == expected
    assert visits == []
