"""A fix that only replaces nodes regenerates just the top-level statements
that hold them: the text must be exactly what regenerating the module gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from isolint import engine
from isolint.config import load_settings
from isolint.plan import Plan
from tests.conftest import FIXTURES

CASES = sorted(p for p in (FIXTURES / "rules").glob("ISO*/*.py") if not p.name.endswith(".fixed.py"))


def _whole_module(file: Any, spec: Any) -> str:
    new_module = engine.replace_nodes(file.module, spec.replace, file.parents) if spec.replace else file.module
    if spec.transform is not None:
        new_module = spec.transform(new_module)
    return engine.keep_final_line_break(file.source, new_module.code)


def test_splicing_gives_the_text_regenerating_the_module_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = spliced = 0

    def checked(file: Any, spec: Any) -> str:
        nonlocal compared, spliced
        text = original(file, spec)
        assert text == _whole_module(file, spec), (file.path, spec.message)
        compared += 1
        spliced += spec.transform is None and engine._spliced(file, spec.replace) is not None
        return text

    original = engine.fixed_text
    monkeypatch.setattr(engine, "fixed_text", checked)
    settings = load_settings([FIXTURES], isolated=True)
    plan = Plan.from_settings(settings, build_edits=True)
    for case in CASES:
        text = case.read_text(encoding="utf-8")
        engine.lint_text(text, str(case), plan.candidates(text.encode()), settings, build_edits=True)
    assert compared > 50 and spliced > 10, (compared, spliced)  # both paths were taken, many times


def test_the_last_statement_and_a_text_that_does_not_round_trip_take_the_whole_module(tmp_path: Path) -> None:
    import libcst as cst

    from isolint.rules.base import FileContext, FixSpec

    source = "x = 1\ny = 2"  # no final newline: the last statement's code differs from the module's
    module = cst.parse_module(source)
    settings = load_settings([tmp_path], isolated=True)
    file = FileContext("a.py", source, module, settings)
    first, last = module.body
    assert engine._spliced(file, {last: last.with_changes(body=[cst.parse_statement("y = 3").body[0]])}) is None
    spliced = engine._spliced(file, {first: cst.parse_statement("x = 5\n")})
    assert spliced == "x = 5\ny = 2"
    assert engine.fixed_text(file, FixSpec("m", replace={first: cst.parse_statement("x = 5\n")})) == spliced
