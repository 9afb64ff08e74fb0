"""A fix regenerates just the top-level statements it rebuilt (by replacing
nodes, or by a module transform such as adding an import) and keeps the
file's own text for the others: the text must be exactly what regenerating
the module gives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from isolint import engine
from isolint.config import load_settings
from isolint.fixes import FixedText, Region, diff_edits
from isolint.plan import Plan
from tests.conftest import FIXTURES

CASES = sorted(p for p in (FIXTURES / "rules").glob("ISO*/*.py") if not p.name.endswith(".fixed.py"))


def _fixed_module(file: Any, spec: Any) -> Any:
    new_module = engine.replace_nodes(file.module, spec.replace, file.parents) if spec.replace else file.module
    return spec.transform(new_module) if spec.transform is not None else new_module


def test_splicing_gives_the_text_regenerating_the_module_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = spliced = transformed = regions = 0

    def checked(file: Any, spec: Any) -> Any:
        nonlocal compared, spliced, transformed, regions
        fixed = original(file, spec)
        new_module = _fixed_module(file, spec)
        assert fixed.text == engine.keep_final_line_break(file.source, new_module.code), (file.path, spec.message)
        assert engine._still_parses(fixed, file.path) == engine._parses(fixed.text, file.path)
        if fixed.regions is not None:
            # The regions are where the texts differ, and the edits found within them are the whole texts' edits.
            assert _applied(file.source, fixed.regions) == fixed.text, (file.path, spec.message)
            assert diff_edits(file.source, fixed.text, fixed.regions) == diff_edits(file.source, fixed.text)
            regions += 1
        compared += 1
        if fixed.generated is not None:
            spliced += 1
            transformed += spec.transform is not None
        return fixed

    original = engine._fixed
    monkeypatch.setattr(engine, "_fixed", checked)
    settings = load_settings([FIXTURES], isolated=True)
    plan = Plan.from_settings(settings, build_edits=True)
    for case in CASES:
        text = case.read_text(encoding="utf-8")
        engine.lint_text(text, str(case), plan.candidates(text.encode()), settings, build_edits=True)
    # Both paths were taken, many times, and splicing served transforms too.
    assert compared > 50 and spliced > 10 and transformed > 5 and regions > 10, (
        compared,
        spliced,
        transformed,
        regions,
    )


def _applied(text: str, regions: Sequence[Region]) -> str:
    for start, end, replacement in sorted(regions, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def test_a_fix_far_from_its_import_is_diffed_in_its_regions_alone(difflib_sizes: list[int]) -> None:
    # An import at the top and a function at the bottom: everything between
    # them is the file's own text, and difflib is never run over it (it was:
    # quadratic in the lines between a fix's first and last change).
    functions = "".join(f"def f{i}(state):\n    return state.user_id\n\n\n" for i in range(300))
    old = "import os\n\n\n" + functions
    last = old.rindex("def f299")
    new_function = "def f299(context):\n    return context.user_id\n\n\n"
    regions = [(10, 10, "from ctx import Context\n"), (last, len(old), new_function)]
    new = _applied(old, regions)
    edits = diff_edits(old, new, regions)
    assert max(difflib_sizes) <= 2
    assert edits == diff_edits(old, new)
    assert max(difflib_sizes) > 1000  # without the regions
    assert [(e.location.row, e.location.column, e.content) for e in edits] == [
        (2, 1, "from ctx import Context\n"),
        (1200, 10, "context):\n    return context"),
    ]


def test_a_text_without_a_final_line_break_or_that_does_not_round_trip_takes_the_whole_module(
    tmp_path: Path,
) -> None:
    import libcst as cst

    from isolint.rules.base import FileContext, FixSpec

    settings = load_settings([tmp_path], isolated=True)
    source = "x = 1\ny = 2"  # no final newline: the last statement's code differs from the module's
    module = cst.parse_module(source)
    file = FileContext("a.py", source, module, settings)
    first = module.body[0]
    new_module = engine.replace_nodes(module, {first: cst.parse_statement("x = 5\n")}, file.parents)
    assert engine._spliced(file, new_module) is None
    assert engine._fixed(file, FixSpec("m", replace={first: cst.parse_statement("x = 5\n")})).text == "x = 5\ny = 2"

    elsewhere = FileContext("b.py", "x = 1\n\ny = 2\n", cst.parse_module("x = 1\ny = 2\n"), settings)
    assert engine._spliced(elsewhere, elsewhere.module) is None


def test_kept_statements_keep_their_text_and_new_ones_are_generated(tmp_path: Path) -> None:
    import libcst as cst

    from isolint.rules.base import FileContext

    source = "import os\n\n\ndef f():  # keep\n    return os.sep\n\n\nx = f()\n"
    module = cst.parse_module(source)
    file = FileContext("a.py", source, module, load_settings([tmp_path], isolated=True))
    added = cst.parse_statement("import sys\n")
    last = cst.parse_statement("x = f() + sys.argv[0]\n")
    new_module = module.with_changes(body=[module.body[0], added, module.body[1], last])
    spliced = engine._spliced(file, new_module)
    assert spliced is not None and spliced.text == new_module.code
    assert spliced.generated == ("import sys\n", "x = f() + sys.argv[0]\n")
    assert spliced.text == ("import os\nimport sys\n\n\ndef f():  # keep\n    return os.sep\nx = f() + sys.argv[0]\n")


def test_a_fix_is_checked_by_parsing_the_statements_it_generated(tmp_path: Path) -> None:
    from isolint.engine import _still_parses

    kept = "def f():\n    return 1\n\n\n"
    assert _still_parses(FixedText(kept + "x = f()\n", ("x = f()\n",)), "a.py")
    assert not _still_parses(FixedText(kept + "x = f(\n", ("x = f(\n",)), "a.py")
    # A generated statement must end its line: otherwise it runs into the next one, and the whole file is parsed.
    assert not _still_parses(FixedText("x = 1 y = 2\n", ("x = 1 ", "y = 2\n")), "a.py")


CLASS_SOURCE = """\
import os


class Agent:  # the header stays
    # before run
    @staticmethod
    @other(
        1,
    )
    def run(x):
        return x


    limit = 1; other = 2

    def tail(self):  # untouched
        return os.sep
"""


def _view(tmp_path: Path, source: str) -> Any:
    import ast

    from isolint.cst_view import CstView
    from isolint.rules.ast_context import AstFile

    settings = load_settings([tmp_path], isolated=True)
    return CstView(AstFile("a.py", source, ast.parse(source), settings))


@pytest.mark.parametrize("source", [CLASS_SOURCE, CLASS_SOURCE.replace("\n", "\r\n")], ids=["lf", "crlf"])
def test_a_rebuilt_method_is_generated_alone_and_the_rest_of_its_class_kept(tmp_path: Path, source: str) -> None:
    import libcst as cst

    from isolint import splice

    view = _view(tmp_path, source)
    klass = view.module.body[1]
    run = klass.body.body[0]
    returned = run.body.body[0].body[0]
    new_module = engine.replace_nodes(
        view.module, {returned: returned.with_changes(value=cst.parse_expression("x + 1"))}, view.parents
    )
    fixed = splice.spliced(view, new_module)
    assert fixed is not None and fixed.text == new_module.code
    [piece] = fixed.generated or ()
    assert "return x + 1" in piece and "def tail" not in piece and "limit = 1" not in piece
    assert engine._parses(piece, "a.py")


def test_a_statement_not_where_its_lines_say_is_found_by_generating_every_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where a statement starts is checked against its code before its text
    is replaced: a wrong count of the lines before it (here, one too few)
    gives up splicing by lines, and the statements are found by their code."""
    import libcst as cst

    from isolint import splice

    view = _view(tmp_path, CLASS_SOURCE)
    klass = view.module.body[1]
    renamed = klass.with_changes(name=cst.Name("Renamed"))
    new_module = engine.replace_nodes(view.module, {klass: renamed}, view.parents)
    lines_before = splice.lines_before
    monkeypatch.setattr(splice, "lines_before", lambda module, statement: lines_before(module, statement) - 1)
    assert splice.spliced(view, new_module) is None
    fixed = engine._spliced(view, new_module)
    assert fixed is not None and fixed.text == new_module.code


def test_a_fix_that_moves_statements_takes_their_own_code_in_their_new_order(tmp_path: Path) -> None:
    from isolint import splice

    view = _view(tmp_path, CLASS_SOURCE)
    first, second = view.module.body
    new_module = view.module.with_changes(body=[second, first])
    assert splice.spliced(view, new_module) is None
    fixed = engine._spliced(view, new_module)
    assert fixed is not None and fixed.text == new_module.code


def test_a_big_file_is_parsed_whole_for_a_fix_only_when_its_nodes_may_exceed_libcsts_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over 64 KiB a file's syntax nodes are counted against the time LibCST
    may take to parse it. The nodes before a fix plus those of the pieces it
    generated bound those after it: when that bound is within the budget,
    the pieces alone are parsed (parsing the whole file for each fix made a
    big file's fixes quadratic)."""
    piece = "x = f()\n"
    text = "y = 1\n" * 12_000 + piece
    parsed: list[int] = []
    parses = engine._parses

    def recording(code: str, path: str) -> bool:
        parsed.append(len(code))
        return parses(code, path)

    monkeypatch.setattr(engine, "_parses", recording)
    fixed = FixedText(text, (piece,))
    assert engine._still_parses(fixed, "big.py", nodes_before=lambda: 60_000)
    assert parsed == [len(piece)]
    parsed.clear()
    assert engine._still_parses(fixed, "big.py", nodes_before=lambda: None)  # not known: the whole file
    assert len(text) in parsed
    parsed.clear()
    monkeypatch.setattr(engine, "FILE_TIME_LIMIT", 1.0)  # 33,333 nodes at most: the file has 48,000 and more
    assert not engine._still_parses(fixed, "big.py", nodes_before=lambda: 60_000)
    assert len(text) in parsed
