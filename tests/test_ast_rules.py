"""Rules on stdlib `ast` (`AstRule`): spans from CPython, LibCST only for edits.

A plain check of a file whose rules are all AstRules never parses it with
LibCST; a fix's edits are built from a `CstView` of the same text, found by
span, and a fix whose node cannot be found there is dropped, not guessed.
"""

from __future__ import annotations

import ast
import gc
import re
from pathlib import Path
from typing import ClassVar

import libcst as cst
import pytest

from isolint import engine
from isolint.config import Settings, load_settings
from isolint.cst_view import CstView, module_positions
from isolint.findings import SAFE, Finding, Location
from isolint.rules.ast_context import AstFile, AstRule
from isolint.rules.base import CstEdit, FixSpec, Rule
from isolint.runner import run_check

MODULE = "chatapp.agents.mod"
SOURCE = """\
from ..registry import get_registry as registry  # the shared one

@traced(registry())
def greet(name="é", r=registry()) -> Greeting:
    return (registry())  # parenthesised
"""


class RegistryCall(AstRule):
    """Reports every call of `chatapp.registry.get_registry`, offering to call `make_registry()` instead."""

    code = "ISO990"
    name = "registry-call"
    family = "core"
    summary = "a test rule"
    fix_safety = SAFE
    prefilter = re.compile(rb"registry")
    visited: ClassVar[list[str]] = []  # node classes in visit order, for the dispatcher's spec

    def visit_Call(self, node: ast.Call) -> None:
        if "chatapp.registry.get_registry" not in self.file.qualified_names(node.func):
            return
        statement = type(self.file.statement).__name__
        self.report(node, f"shared registry in a {statement}", fix=FixSpec("Make one", SAFE, build=_make_one(node)))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.visited.append("FunctionDef")

    def visit_Name(self, node: ast.Name) -> None:
        self.visited.append(f"Name:{node.id}")


def _make_one(call: ast.Call):  # type: ignore[no-untyped-def]
    def build(view):  # type: ignore[no-untyped-def]
        return CstEdit(replace={view.node(call.func, cst.Name): cst.Name("make_registry")})

    return build


class NameCount(Rule):
    """A LibCST rule beside the AstRule: reports the module once."""

    code = "ISO991"
    name = "name-count"
    family = "core"
    summary = "a test rule"
    prefilter = re.compile(rb"registry")

    def visit_Module(self, node: cst.Module) -> None:
        self.report(node.body[0], "first statement")


def lint(text: str, rules: list[type[Rule]], *, build_edits: bool) -> list[Finding]:
    return engine.lint_text(
        text, "chatapp/agents/mod.py", rules, Settings(Path(".")), module_name=MODULE, build_edits=build_edits
    )


@pytest.fixture
def libcst_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every LibCST parse of a module, recorded."""
    parsed: list[str] = []
    real = cst.parse_module

    def counting(text: str) -> cst.Module:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(cst, "parse_module", counting)
    return parsed


def test_findings_take_their_spans_from_ast_in_characters(libcst_parses: list[str]) -> None:
    findings = lint(SOURCE, [RegistryCall], build_edits=False)
    assert [(f.location, f.end_location, f.snippet, f.message) for f in findings] == [
        (Location(3, 9), Location(3, 19), "registry()", "shared registry in a FunctionDef"),
        (Location(4, 23), Location(4, 33), "registry()", "shared registry in a FunctionDef"),
        (Location(5, 13), Location(5, 23), "(registry())", "shared registry in a FunctionDef"),
    ]
    assert all(f.fix is not None and f.fix.edits is None and f.fix.applicability == SAFE for f in findings)
    assert libcst_parses == []  # a plain check of AstRules only: LibCST never parses the file


def test_edits_are_built_from_libcst_found_by_span_keeping_comments(libcst_parses: list[str]) -> None:
    findings = lint(SOURCE, [RegistryCall], build_edits=True)
    fixed = engine.apply_fixes(SOURCE, [f.fix for f in findings if f.fix is not None])[0]
    assert fixed == SOURCE.replace("registry()", "make_registry()")
    assert len(libcst_parses) == 1  # once for the file, however many fixes


def test_a_fix_whose_node_libcst_does_not_have_is_dropped_not_guessed() -> None:
    class Misplaced(RegistryCall):
        def visit_Call(self, node: ast.Call) -> None:
            if isinstance(node.func, ast.Name) and node.func.id == "registry":
                self.report(
                    node,
                    "m",
                    fix=FixSpec("x", SAFE, build=lambda view: CstEdit({view.node(node, cst.Name): cst.Name("y")})),
                )

    findings = lint(SOURCE, [Misplaced], build_edits=True)
    assert len(findings) == 3
    assert all(f.fix is None for f in findings)


def test_libcst_parses_once_for_cst_rules_and_edits_together(libcst_parses: list[str]) -> None:
    findings = lint(SOURCE, [RegistryCall, NameCount], build_edits=True)
    assert sorted(f.code for f in findings) == ["ISO990", "ISO990", "ISO990", "ISO991"]
    assert len(libcst_parses) == 1


def test_libcsts_limits_apply_only_when_libcst_parses() -> None:
    deep = "x = " + " and ".join(f"a{i}" for i in range(engine.MAX_NATIVE_DEPTH + 10)) + "\nregistry()\n"

    class Anything(RegistryCall):
        def visit_Call(self, node: ast.Call) -> None:
            self.report(node, "call")

    assert [f.code for f in lint(deep, [Anything], build_edits=False)] == ["ISO990"]
    assert [f.code for f in lint(deep, [Anything], build_edits=True)] == ["ISO000"]
    assert [f.code for f in lint(deep, [Anything, NameCount], build_edits=False)] == ["ISO000"]


def test_the_dispatcher_visits_in_source_order_without_contexts() -> None:
    RegistryCall.visited = []
    lint(SOURCE, [RegistryCall], build_edits=False)
    # a definition first, then its decorators, signature and body, as written
    assert RegistryCall.visited == [
        "FunctionDef",
        "Name:traced",
        "Name:registry",
        "Name:registry",
        "Name:Greeting",
        "Name:registry",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("x = 'ascii'\n", "'ascii'"),
        ("x = 'é€𝄞'\n", "'é€𝄞'"),
        ("x = 'é'\r\ny = 2\r\n", "'é'"),
    ],
)
def test_spans_count_characters_whatever_the_encoding_width(line: str, expected: str) -> None:
    tree = ast.parse(line)
    file = AstFile("m.py", line, tree, Settings(Path(".")))
    value = tree.body[0].value  # type: ignore[attr-defined]
    assert file.segment(value) == expected
    assert file.span(value) == ((1, 4), (1, 4 + len(expected)))


_TWINS: dict[type[ast.AST], type[cst.CSTNode]] = {
    ast.Name: cst.Name,
    ast.Attribute: cst.Attribute,
    ast.Call: cst.Call,
    ast.FunctionDef: cst.FunctionDef,
    ast.AsyncFunctionDef: cst.FunctionDef,
    ast.ClassDef: cst.ClassDef,
    ast.Assign: cst.Assign,
    ast.Return: cst.Return,
    ast.arg: cst.Param,
}
FIXTURES = sorted(p for p in Path(__file__).resolve().parent.parent.glob("fixtures/**/*.py") if "pep701" not in p.parts)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_every_node_a_fix_may_rewrite_is_found_where_the_whole_module_puts_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    file = AstFile(str(path), text, ast.parse(text), Settings(Path(".")))
    view = CstView(file)
    whole = module_positions(view.module)
    for node in ast.walk(file.tree):
        twin_type = _TWINS.get(type(node))
        if twin_type is None:
            continue
        twin = view.node(node, twin_type)
        where = whole[twin.name] if isinstance(twin, cst.Param) else whole[twin]
        assert (where.start.line, where.start.column) == file.span(node)[0], f"{path}: {ast.dump(node)[:60]}"


def test_statements_sharing_a_line_and_decorated_definitions_are_told_apart() -> None:
    text = '"""Doc\nstring."""\na = f(1); b = f(2)\n\n@f(3)\nclass C:\n    x = f(4)\n'
    file = AstFile("m.py", text, ast.parse(text), Settings(Path(".")))
    view = CstView(file)
    calls = [n for n in ast.walk(file.tree) if isinstance(n, ast.Call)]
    assert [view.module.code_for_node(view.node(call, cst.Call)) for call in calls] == [
        "f(1)",
        "f(2)",
        "f(3)",
        "f(4)",
    ]


CLASS_MEMBERS = '''\
import functools


@decorate(f(0))
class Agent(Base, metaclass=f(1)):
    """A docstring
    over two lines."""

    # a comment before a member
    limit = f(2); other = (f(3),
        f(4))

    @functools.wraps(f(5))
    @other(
        f(6),
    )
    async def run(self, state=f(7)) -> None:
        text = """
not indented f(8)
        """
        await f(9)
            # a comment deeper than the block, after it

    class Inner:
        def deep(self):
            return f(10)
    def tail(self): return f(11)
'''


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(CLASS_MEMBERS, id="spaces"),
        pytest.param(CLASS_MEMBERS.replace("    ", "\t"), id="tabs"),
        pytest.param(CLASS_MEMBERS.replace("\n", "\r\n"), id="crlf"),
    ],
)
def test_a_class_members_nodes_are_placed_from_its_code_alone_where_the_whole_module_puts_them(text: str) -> None:
    """A node inside a top-level class's member is placed by generating the
    class with that member alone: the same line and column as the whole
    module's positions give, whatever comes before it in the class."""
    file = AstFile("m.py", text, ast.parse(text), Settings(Path(".")))
    view = CstView(file)
    whole = module_positions(view.module)
    calls = [n for n in ast.walk(file.tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert len(calls) == 13
    for call in calls:
        found = view.node(call, cst.Call)
        assert (whole[found].start.line, whole[found].start.column) == file.span(call)[0], ast.unparse(call)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_snippets_fingerprint_expressions_as_libcsts_code_did(path: Path) -> None:
    """Baselines fingerprint `Finding.snippet`: for an expression a rule may
    report, the snippet is the one LibCST's code of the node gave, its own
    parentheses included and a call's left out."""
    text = path.read_text(encoding="utf-8")
    file = AstFile(str(path), text, ast.parse(text), Settings(Path(".")))
    view = CstView(file)
    for node in ast.walk(file.tree):
        if isinstance(node, (ast.Name, ast.Attribute, ast.Call)):
            twin = view.node(node, _TWINS[type(node)])
            assert file.snippet(node) == " ".join(view.module.code_for_node(twin).split())[:500], ast.dump(node)[:80]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(p.parents[2])))
def test_snippets_fingerprint_imported_names_as_libcsts_code_did(path: Path) -> None:
    """An imported name's snippet keeps the comma after it and the comments
    after that comma, as LibCST's `ImportAlias` code did (ISO401 reports them)."""
    text = path.read_text(encoding="utf-8")
    file = AstFile(str(path), text, ast.parse(text), Settings(Path(".")))
    view = CstView(file)
    for node in ast.walk(file.tree):
        if isinstance(node, ast.alias):
            twin = view.node(node, cst.ImportAlias)
            assert file.snippet(node) == " ".join(view.module.code_for_node(twin).split())[:500], ast.dump(node)


def test_an_imported_names_snippet_takes_the_comments_after_its_comma() -> None:
    text = "from x import (A,  # c\n    # standalone\n    B as C,\n    D\n)\nfrom y import E, F  # end\n"
    file = AstFile("m.py", text, ast.parse(text), Settings(Path(".")))
    aliases = [node for node in ast.walk(file.tree) if isinstance(node, ast.alias)]
    assert [file.snippet(alias) for alias in aliases] == ["A, # c # standalone", "B as C,", "D", "E,", "F"]


def test_no_file_analysis_outlives_its_check() -> None:
    """A worker checks thousands of files: each file's tree and analyses
    (name resolver, family caches) must be garbage once its findings are
    out, or memory grows with the project (it did: 4 GB per worker at 10M lines)."""
    root = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_app"
    settings = load_settings([root], isolated=True)
    assert run_check([root], settings, jobs=1, use_cache=False).findings
    gc.collect()
    alive = [obj for obj in gc.get_objects() if isinstance(obj, (AstFile, ast.Module))]
    assert alive == []


def test_placing_a_node_of_a_class_member_generates_that_member_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from isolint import cst_view

    generated: list[str] = []
    positions = cst_view.module_positions

    def recording(module: cst.Module) -> object:
        generated.append(module.code)
        return positions(module)

    monkeypatch.setattr(cst_view, "module_positions", recording)
    file = AstFile("m.py", CLASS_MEMBERS, ast.parse(CLASS_MEMBERS), Settings(Path(".")))
    call = next(n for n in ast.walk(file.tree) if isinstance(n, ast.Await))
    CstView(file).node(call.value, cst.Call)
    [code] = generated
    assert "await f(9)" in code and "class Agent(Base" in code
    assert "limit = f(2)" not in code and "def tail" not in code
