"""The legacy-state family on the stdlib `ast`: one analysis serves the
project index and the rules, a plain check never parses with LibCST, and what
the findings quote reads as the source does."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import libcst
import pytest

from isolint.config import Settings, load_settings
from isolint.engine import lint_text
from isolint.index import index_source
from isolint.indexing import indexers_for
from isolint.rules import BY_CODE
from isolint.rules.ast_context import AstFile
from isolint.rules.legacy_state.family import RUN_ID_SIGNATURE, LegacyStateConfig, functions_and_methods
from isolint.rules.legacy_state.references import (
    body_on_def_line,
    own_parentheses,
    plainly_unparenthesised,
    tokenized_parentheses,
)
from isolint.runner import run_check
from tests.conftest import FIXTURES, write

SIGNATURE_CASES = sorted(p for p in (FIXTURES / "rules" / "ISO405").glob("*.py") if not p.name.endswith(".fixed.py"))


@pytest.mark.parametrize("case", SIGNATURE_CASES, ids=lambda p: p.name)
def test_every_indexable_signature_iso405_reports_is_a_run_id_signature_fact(case: Path) -> None:
    """The index's facts and ISO405's findings read the same parameters off
    the same `ast`: a definition the rule reports, where the index looks
    (module-level functions and methods), is a fact call sites in other
    modules are found by."""
    settings = load_settings([case], isolated=True)
    raw = case.read_bytes()
    indexed_lines = {function.lineno for function, _ in functions_and_methods(ast.parse(raw))}
    facts = {
        f.line
        for f in index_source(raw, case.name, case.stem, indexers_for(settings), settings)
        if f.kind == RUN_ID_SIGNATURE
    }
    reported = {
        f.location.row
        for f in lint_text(raw.decode(), str(case), [BY_CODE["ISO405"]], settings, build_edits=False)
        if " takes the per-run state " in f.message or "transitional form" in f.message
    }
    assert reported & indexed_lines <= facts


def test_a_plain_check_of_the_family_never_parses_with_libcst(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(FIXTURES / "legacy_app", app)  # alone: the index reads every file under its root

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("LibCST parsed a file in a plain check of the legacy-state family")

    monkeypatch.setattr(libcst, "parse_module", refuse)
    settings = load_settings([app], isolated=True, overrides={"select": ["ISO4"]})
    findings = run_check([app], settings, jobs=1, use_cache=False, build_edits=False).findings
    assert any(f.fix is not None for f in findings)  # fixes are offered, their edits not built


def test_the_family_configuration_is_typed_and_read_once_per_settings(tmp_path: Path) -> None:
    write(tmp_path / "isolint.toml", '[legacy-state]\nclasses = ["OldState", "DeepAgentState"]\n')
    settings = load_settings([tmp_path])
    config = LegacyStateConfig.of(settings)
    assert config is LegacyStateConfig.of(settings)
    assert config.classes == frozenset({"OldState", "DeepAgentState"})
    assert config.field_map["chat_thread_id"] == "thread_id"
    with pytest.raises(TypeError):
        config.field_map["x"] = "y"  # type: ignore[index]


def _findings(tmp_path: Path, source: str, code: str) -> list[tuple[int, int, int, str]]:
    path = write(tmp_path / "app" / "mod.py", source)
    settings = load_settings([tmp_path], isolated=True)
    return [
        (f.location.row, f.location.column, f.end_location.column, f.message)
        for f in lint_text(source, str(path), [BY_CODE[code]], settings, build_edits=False)
    ]


def test_a_parenthesised_read_is_quoted_with_its_parentheses_and_a_call_without_the_calls(tmp_path: Path) -> None:
    source = (
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "def run(ctx: UserExecutionContext):\n"
        "    print((ctx.chat_thread_id), ( ctx.extra ))\n"
    )
    messages = [message for *_, message in _findings(tmp_path, source, "ISO404")]
    assert messages == [
        "`(ctx.chat_thread_id)` reads a legacy field; the context carries it as `(ctx.thread_id)`",
        "`( ctx.extra )` reads a field the context does not have; per-run extras live in `ctx.metadata`",
    ]


def test_a_definition_is_reported_at_its_name(tmp_path: Path) -> None:
    source = (
        "from app.state import DeepAgentState\n\n\n"
        "@decorated\n"
        "async  def  execute(state: DeepAgentState, run_id: str):\n"
        "    return run_id\n"
    )
    assert [(row, column, end) for row, column, end, _ in _findings(tmp_path, source, "ISO405")] == [(5, 13, 20)]


def test_inside_an_f_string_a_metadata_key_takes_the_other_quote(tmp_path: Path) -> None:
    source = (
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "def run(ctx: UserExecutionContext):\n"
        "    return f\"{ctx.extra}\", f'{ctx.extra}'\n"
    )
    messages = [message for *_, message in _findings(tmp_path, source, "ISO404")]
    assert [m.count("'extra'") for m in messages] == [0, 0]
    fixes = [
        f.fix.message
        for f in lint_text(source, "mod.py", [BY_CODE["ISO404"]], load_settings([tmp_path], isolated=True))
        if f.fix is not None
    ]
    assert fixes == [
        "Read `ctx.metadata.get('extra')` (None when the field is not in the metadata)",
        'Read `ctx.metadata.get("extra")` (None when the field is not in the metadata)',
    ]


@pytest.mark.parametrize(
    ("source", "on_def_line"),
    [
        ("def f(state): return state\n", True),
        ("async def f(state): return state\n", True),
        ("def f(\n    state,\n): return state\n", True),
        ("def f(state):\\\n    return state\n", True),
        ("def f(state):\n    return state\n", False),
        ("def f(state):  # a note\n    return state\n", False),
        ('def f(state):\n    """Doc."""\n    return state\n', False),
        ("class A:\n    def f(self, state): return state\n", True),
    ],
    ids=["simple", "async", "multi-line-signature", "continuation", "block", "comment", "docstring", "method"],
)
def test_a_body_after_the_colon_is_told_from_an_indented_block(source: str, on_def_line: bool) -> None:
    tree = ast.parse(source)
    function = next(node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
    assert body_on_def_line(AstFile("m.py", source, tree, Settings(Path("."))), function) is on_def_line


_PARENTHESIS_SNIPPETS = [
    "f(state.x)\n",
    "y = (state.x)\n",
    "y = ((state.x))  # note\n",
    "y = (\n    state.x\n)\n",
    "y = (  # why\n    state.x  # what\n)\n",
    "y = (state.x \\\n)\n",
    "return_value = [(a), (b)]\n",
    "if (state.x) and not (y):\n    pass\n",
    "z = not (state.x)\n",
    "z = g()(state.x)\n",
    "z = d['k'](state.x)\n",
    "z = 'text'(state.x)\n",
    "z = 1(state.x)\n",
    "z = x in (a, b)\n",
    "z = f'{(state.x)}' + f'{g(state.x)}'\n",
    "z = (lambda: (state.x))()\n",
    "@decorator(state.x)\ndef f(a=(state.x), *, b=(c)) -> (D):\n    return (a)\n",
    "class C((Base), metaclass=(M)):\n    x: (int) = (1)\n",
    "z = é(state.x)\nw = (é)\n",
]


def _parenthesis_cases() -> list[tuple[str, str]]:
    fixtures = sorted(p for p in (FIXTURES / "rules").rglob("*.py"))
    cases = [(f"snippet-{i}", text) for i, text in enumerate(_PARENTHESIS_SNIPPETS)]
    return cases + [(str(p.relative_to(FIXTURES)), p.read_text(encoding="utf-8")) for p in fixtures]


@pytest.mark.parametrize(("name", "source"), _parenthesis_cases(), ids=lambda value: value if "\n" not in value else "")
def test_a_node_whose_line_shows_no_own_parenthesis_has_none_by_its_tokens(name: str, source: str) -> None:
    """The shortcut that spares tokenizing a statement says "no parenthesis of
    its own" only where the tokens say so too, for every expression of every
    rule fixture and a set of awkward spellings."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        pytest.skip("not parsable by this interpreter")
    file = AstFile(name, source, tree, Settings(Path(".")))
    shortcuts = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.expr):
            continue
        start, end = file.span(node)
        if plainly_unparenthesised(file, start, end):
            shortcuts += 1
            assert tokenized_parentheses(file, node) == ("", ""), ast.dump(node)
        assert own_parentheses(file, node) == tokenized_parentheses(file, node), ast.dump(node)
    assert shortcuts or name.startswith("snippet-") or not any(isinstance(n, ast.expr) for n in ast.walk(tree))
