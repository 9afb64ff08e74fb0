"""isolint.scopes, the name resolver on stdlib `ast`, answers what the LibCST
resolver (isolint.names) answers, for every reference in every fixture.

While rule families move from LibCST to `ast` (issue 19) both resolvers
exist; this holds them to the same answers: qualified names, the scope a
name is evaluated in, how often a scope binds a name, and who reads it.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatchcase
from pathlib import Path

import libcst as cst
import pytest

from isolint.config import Settings
from isolint.cst_view import module_positions
from isolint.rules._helpers import matches_patterns
from isolint.rules.ast_context import AstFile
from isolint.rules.base import FileContext
from isolint.scopes import FUNCTIONS, STATEMENT_HOLDERS, breadth_first, statements, statements_breadth_first, walk

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted(p for p in ROOT.glob("fixtures/**/*.py") if "pep701" not in p.parts)
_COUNTERPARTS = {ast.Name: cst.Name, ast.Attribute: cst.Attribute}


def _files(path: Path) -> tuple[AstFile, FileContext]:
    text = path.read_text(encoding="utf-8")
    settings = Settings(ROOT)
    module_name = "app." + path.stem
    ast_file = AstFile(str(path), text, ast.parse(text), settings, module_name=module_name)
    cst_file = FileContext(str(path), text, cst.parse_module(text), settings, module_name=module_name)
    return ast_file, cst_file


def _by_span(cst_file: FileContext) -> dict[tuple[type[cst.CSTNode], tuple[int, int], tuple[int, int]], cst.CSTNode]:
    found = {}
    for node, code_range in module_positions(cst_file.module).items():
        if isinstance(node, (cst.Name, cst.Attribute)):
            start = (code_range.start.line, code_range.start.column)
            end = (code_range.end.line, code_range.end.column)
            found[(type(node), start, end)] = node
    return found


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_reference_resolves_as_libcst_resolves_it(path: Path) -> None:
    ast_file, cst_file = _files(path)
    counterparts = _by_span(cst_file)
    for node in ast.walk(ast_file.tree):
        if not isinstance(node, (ast.Name, ast.Attribute)):
            continue
        start, end = ast_file.span(node)
        twin = counterparts.get((_COUNTERPARTS[type(node)], start, end))
        assert twin is not None, f"{path}:{start}: no LibCST twin for {ast.dump(node)[:80]}"
        assert ast_file.qualified_names(node) == cst_file.qualified_names(twin), f"{path}:{start}"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_scope_binds_and_reads_as_libcst_sees_it(path: Path) -> None:
    ast_file, cst_file = _files(path)
    positions = module_positions(cst_file.module)
    twins = {
        (code_range.start.line, type(node).__name__): node
        for node, code_range in positions.items()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef))
    }
    owners: list[tuple[ast.AST, cst.CSTNode]] = [(ast_file.tree, cst_file.module)]
    for node in ast.walk(ast_file.tree):
        if isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            kind = "ClassDef" if isinstance(node, ast.ClassDef) else "FunctionDef"
            owners.append((node, twins[(node.lineno, kind)]))
    for owner, twin in owners:
        names = {n.id for n in ast.walk(owner) if isinstance(n, ast.Name)}
        for name in sorted(names):
            assert ast_file.names.binding_count(owner, name) == cst_file.names.binding_count(twin, name), name
            ast_reads = sorted(ast_file.span(read)[0] for read in ast_file.names.reads(owner, name))
            cst_reads = sorted(
                (positions[read].start.line, positions[read].start.column) for read in cst_file.names.reads(twin, name)
            )
            assert ast_reads == cst_reads, f"{path}: reads of {name}"
            assert ast_file.names.in_string_annotation(owner, name) == cst_file.names.in_string_annotation(twin, name)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_statement_walk_yields_every_statement_of_the_full_walk_in_its_order(path: Path) -> None:
    """`statements` skips expressions, which hold no statement, and loses none:
    the statements of `walk`, in the same order, nested bodies, handlers and
    match cases included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert list(statements(tree)) == [node for node in walk(tree) if isinstance(node, ast.stmt)]


@pytest.mark.parametrize(
    ("name", "patterns", "matches"),
    [
        ("WebSocketManager", ("*Manager",), True),
        ("manager", ("*Manager",), False),
        ("get_ws_manager", ("get_*_manager", "*Registry"), True),
        ("AgentRegistry", ["get_*_manager", "*Registry"], True),
        ("a.b", ("a?b",), True),
        ("x", (), False),
        ("[x]", ("[[]x]",), True),
        ("line\nbreak", ("line*",), True),
    ],
)
def test_globs_match_as_fnmatchcase_matches(name: str, patterns: tuple[str, ...], matches: bool) -> None:
    assert matches_patterns(name, patterns) is matches
    assert matches is any(fnmatchcase(name, pattern) for pattern in patterns)


def test_breadth_first_goes_by_depth_as_ast_walk_does_without_contexts_and_operators() -> None:
    tree = ast.parse("def f(self):\n    self.a = x + y\n    return self.b\n")
    skipped = (ast.expr_context, ast.operator)
    assert [type(n).__name__ for n in breadth_first(tree)] == [
        type(n).__name__ for n in ast.walk(tree) if not isinstance(n, skipped)
    ]


def test_breadth_first_takes_a_definitions_children_in_source_order() -> None:
    tree = ast.parse("@decorate\ndef f() -> int:\n    pass\n")
    [function] = tree.body
    assert [type(n).__name__ for n in breadth_first(function)][1:] == ["Name", "arguments", "Name", "Pass"]


def test_statements_breadth_first_yields_the_statements_in_breadth_first_order() -> None:
    tree = ast.parse(
        "def f(self):\n"
        "    if x:\n        self.a = 1\n    else:\n        y = [z for z in w]\n"
        "    try:\n        pass\n    except E as e:\n        self.b = e\n"
        "    match v:\n        case 1:\n            return lambda: (q := 2)\n"
        "    self.c = 3\n"
    )
    [function] = tree.body
    expected = [n for n in breadth_first(function) if n is function or isinstance(n, STATEMENT_HOLDERS)]
    assert list(statements_breadth_first(function)) == expected
    assert [type(n).__name__ for n in expected][:4] == ["FunctionDef", "If", "Try", "Match"]
