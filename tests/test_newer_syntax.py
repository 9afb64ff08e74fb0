"""Files written with Python 3.12 f-strings (PEP 701) are analysed, not lost,
whether the interpreter reads them itself (3.12+) or not (3.11)."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

from isolint import _pep701, newer_syntax
from isolint.config import load_settings
from isolint.index import index_file
from isolint.indexing import indexers_for
from isolint.newer_syntax import parse_module
from tests.helpers import check_findings, run_cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pep701"
AGENT = (FIXTURE / "app" / "agent.py").read_text()
SERVICES = (FIXTURE / "app" / "services.py").read_text()

needs_older_interpreter = pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="Python 3.12+ reads PEP 701 f-strings itself"
)

# What the fixture project reports when every file is analysed: the index
# read services.py (ISO106 in handlers.py), agent.py's rules ran, and nothing
# is ISO000.
EXPECTED = [
    ("agent.py", 1, "ISO401"),
    ("agent.py", 5, "ISO402"),
    ("handlers.py", 5, "ISO106"),
    ("report_agent.py", 1, "ISO401"),
    ("report_agent.py", 5, "ISO402"),
    ("report_agent.py", 6, "ISO404"),
    ("services.py", 15, "ISO102"),
]


def _summary(root: Path) -> list[tuple[str, int, str]]:
    findings = check_findings([root])
    return sorted((Path(f.path).name, f.location.row, f.code) for f in findings)


@needs_older_interpreter
def test_the_fixture_really_uses_syntax_the_interpreter_rejects() -> None:
    for text in (AGENT, SERVICES):
        with pytest.raises(SyntaxError):
            ast.parse(text)


def test_check_analyses_every_file_of_a_pep701_project(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "pep701")
    assert _summary(tmp_path / "pep701") == EXPECTED


def test_the_index_reads_a_module_with_pep701_f_strings() -> None:
    settings = load_settings([FIXTURE], isolated=True)
    facts, parsed, parses = index_file(
        SERVICES.encode(), "app/services.py", "app.services", indexers_for(settings), settings
    )
    assert parsed and parses
    assert "app.services.get_report_service" in {fact.qualname for fact in facts}


def test_fix_rewrites_a_pep701_file_and_keeps_its_f_strings(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE, tmp_path / "pep701")
    agent = tmp_path / "pep701" / "app" / "agent.py"
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", str(agent))
    fixed = agent.read_text()
    assert result.exit_code in (0, 1), result.stderr
    assert "state: UserExecutionContext" in fixed
    assert 'joined = f"{"\\n".join(names)}"' in fixed
    assert 'nested = f"{f"{f"{heading}"}"}"' in fixed


def test_the_fix_verifier_sees_the_expressions_inside_pep701_f_strings(tmp_path: Path) -> None:
    """report_agent.py reads `state.results` only inside a PEP 701 f-string;
    the context has no `results`, so the verifier must refuse the fix."""
    shutil.copytree(FIXTURE, tmp_path / "pep701")
    agent = tmp_path / "pep701" / "app" / "report_agent.py"
    before = agent.read_text()
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", str(agent))
    assert agent.read_text() == before
    assert "uses `state.results`, which a `UserExecutionContext` does not have" in result.stdout + result.stderr


@needs_older_interpreter
def test_every_node_of_the_translation_sits_where_its_text_is_in_the_original() -> None:
    translated = _pep701.translate_f_strings(AGENT)
    assert translated is not None
    assert [len(line.encode()) for line in translated.splitlines()] == [
        len(line.encode()) for line in AGENT.splitlines()
    ]
    tree = parse_module(AGENT)
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name)]
    assert [ast.get_source_segment(AGENT, node) for node in names] == [node.id for node in names]
    inside_f_strings = sorted(node.id for node in names if node.lineno >= 6)
    assert inside_f_strings == [
        "heading",
        "heading",
        "heading",
        "joined",
        "joined",
        "len",
        "names",
        "names",
        "nested",
        "nested",
        "state",
        "state",
        "state",
    ]
    attributes = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    assert sorted(ast.get_source_segment(AGENT, node) for node in attributes) == [
        '"\\n".join',
        "state.thread_id",
        "state.user_id",
        "state.user_id",
    ]


@needs_older_interpreter
def test_the_translation_keeps_every_replacement_field_expression() -> None:
    source = (
        'label = "café" + f"{row["key"]}é{"\\n".join(names)}"\n'
        'multi = ("head "  # between\n'
        '         f"{row["a"]:>{width}} {row["b"]=} {row["c"]!r}")\n'
        'pair = f"{row["k"],}"\n'
    )
    tree = parse_module(source)
    names = sorted(
        ast.get_source_segment(source, node)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Subscript, ast.Name)) and isinstance(node.ctx, ast.Load)
    )
    assert names == [
        "names",
        "row",
        "row",
        "row",
        "row",
        "row",
        'row["a"]',
        'row["b"]',
        'row["c"]',
        'row["k"]',
        'row["key"]',
        "width",
    ]


@needs_older_interpreter
@pytest.mark.parametrize(
    "source",
    [
        AGENT,
        SERVICES,
        # The same f-string in a comment and a string before it: found there
        # first, the real one stays untranslated, and LibCST's positions decide.
        '# old: f"{row["key"]}"\nhint = \'f"{row["key"]}"\'\nlabel = f"{row["key"]}"\n',
        'wrapped = (f"{row["a"]}")\npair = (f"{row["b"]}" f"{row["c"]}")\n',
    ],
    ids=["agent", "services", "decoy-before-the-f-string", "parenthesised"],
)
def test_finding_the_f_strings_by_their_text_translates_as_libcsts_positions_do(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _pep701.translate_f_strings(source)
    monkeypatch.setattr(_pep701, "_located_by_search", lambda text, groups: None)
    assert fast == _pep701.translate_f_strings(source)
    assert fast is not None
    ast.parse(fast)


@needs_older_interpreter
def test_a_real_syntax_error_is_reported_as_the_interpreter_reports_it() -> None:
    broken = 'title = f"{row["title"]}"\ndef broken(:\n    pass\n'
    with pytest.raises(SyntaxError) as raised:
        parse_module(broken)
    assert raised.value.lineno == 1  # ast's own first complaint: LibCST rejects the file too
    assert "f-string" in raised.value.msg


@needs_older_interpreter
def test_other_newer_syntax_in_a_file_with_f_strings_is_reported_as_newer_than_the_interpreter() -> None:
    source = 'title = f"{row["title"]}"\ntype Alias = int\n'  # PEP 701, then PEP 695
    with pytest.raises(SyntaxError) as raised:
        parse_module(source)
    assert raised.value.lineno == source.count("\n")
    assert "LibCST reads this file, Python 3.11's parser does not: newer Python syntax?" in raised.value.msg


@needs_older_interpreter
def test_check_reports_newer_syntax_it_cannot_read_as_iso000_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "aliases.py"
    path.write_text('from app.state import DeepAgentState\n\nLABEL = f"{"state"}"\ntype State = DeepAgentState\n')
    [finding] = check_findings([path])
    assert (finding.code, finding.location.row) == ("ISO000", 4)
    assert (
        finding.message
        == "cannot parse: invalid syntax (LibCST reads this file, Python 3.11's parser does not: newer Python syntax?)"
    )


def test_bytes_that_do_not_decode_stay_a_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        parse_module(b"# -*- coding: utf-8 -*-\nname = '\xff'\n")


def test_deep_huge_or_f_string_free_text_is_never_handed_to_libcst(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> str | None:
        raise AssertionError("LibCST's native parser must not see this text")

    monkeypatch.setattr(_pep701, "translate_f_strings", refuse)
    pep701 = 'f"{x["k"]}"\n'
    nested = pep701 + "(" * 500 + ")" * 500 + "\n"
    chained = pep701 + "ok = " + " and ".join(["a"] * 2000) + "\n"
    huge = pep701 + "x = 1\n" * 200_000
    without_f_strings = "type Alias = int\n"  # nothing LibCST could translate: its import is not paid
    for hostile in (nested, chained, huge, without_f_strings):
        with pytest.raises(SyntaxError):
            parse_module(hostile + "def broken(:\n")


def test_with_a_newer_interpreter_its_own_parser_reads_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Simulates Python 3.12+: the interpreter's parser accepts PEP 701, so no
    translation is made and the interpreter's tree is the one analysed."""
    read_by_interpreter: list[str] = []
    translate = _pep701.translate_f_strings

    def newer_interpreter(source: str | bytes, filename: str) -> ast.Module:
        text = source.decode() if isinstance(source, bytes) else source
        read_by_interpreter.append(filename)
        return ast.parse(translate(text) or text)  # stands in for 3.12's own tree of the same text

    def refuse(text: str) -> str | None:
        raise AssertionError("no translation is needed when the interpreter reads the file")

    monkeypatch.setattr(newer_syntax, "_interpreter_parse", newer_interpreter)
    monkeypatch.setattr(_pep701, "translate_f_strings", refuse)
    shutil.copytree(FIXTURE, tmp_path / "pep701")
    assert _summary(tmp_path / "pep701") == EXPECTED
    assert any(name.endswith("services.py") for name in read_by_interpreter)


@needs_older_interpreter
def test_nested_and_repeated_f_strings_are_found_by_their_text(monkeypatch: pytest.MonkeyPatch) -> None:
    source = 'a = f"{f"{row["id"]}"}"\nb = f"{row["id"]}"\nc = f"{row["id"]}"\n'
    whole_module_positions = []
    real = _pep701.module_positions
    monkeypatch.setattr(
        _pep701, "module_positions", lambda module: whole_module_positions.append(module) or real(module)
    )
    translated = _pep701.translate_f_strings(source)
    assert translated is not None
    assert all(len(module.body) <= 1 for module in whole_module_positions)  # only leaves, never the module
    assert sorted(ast.unparse(node) for node in ast.walk(ast.parse(translated)) if isinstance(node, ast.Subscript)) == [
        "row['id']",
        "row['id']",
        "row['id']",
    ]


def test_while_trees_are_remembered_a_text_is_parsed_once_among_the_last_few() -> None:
    first, second, third = "a = 1\n", "b = 2\n", "c = 3\n"
    assert parse_module(first) is not parse_module(first)  # nothing is remembered outside
    with newer_syntax.remembering_trees(size=2):
        tree = parse_module(first)
        assert parse_module(first) is tree
        forgotten = parse_module(second)
        assert parse_module(first) is tree  # a use: `second` is the older of the two now
        parse_module(third)
        assert parse_module(first) is tree
        assert parse_module(second) is not forgotten
        with pytest.raises(SyntaxError):
            parse_module("def (:\n")
    assert parse_module(first) is not tree
