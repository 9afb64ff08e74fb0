"""A plain `check` records each fix's applicability and message without
building its edits; what applies or shows edits builds them.

The edit builder is observed through a counter, never through timing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from isolint import engine
from isolint.config import load_settings
from isolint.output import render
from isolint.plan import Plan, unparsable
from isolint.runner import run_check
from isolint.source import decode
from isolint.stdin import check_stdin
from tests.conftest import FIXTURES
from tests.helpers import SAFE_AND_UNSAFE, run_cli


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A copy of the migration fixture: safe and unsafe fixes, and manual findings."""
    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "migration_app", root)
    return root


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every fix whose edits get built, by message (inline runs only: -j 1)."""
    built: list[str] = []
    real = engine._build_fix

    def counting(file: Any, spec: Any) -> Any:
        built.append(spec.message)
        return real(file, spec)

    monkeypatch.setattr(engine, "_build_fix", counting)
    return built


def test_a_plain_check_never_builds_an_edit(app: Path, builds: list[str]) -> None:
    result = run_cli("check", str(app), "--no-cache", "-j", "1")
    assert result.exit_code == 1
    assert "[*] 1 fixable with `isolint fix`." in result.stdout
    assert "15 more fixable with `isolint fix --unsafe-fixes`." in result.stdout
    assert builds == []


def test_unbuilt_fixes_keep_their_applicability_and_message(app: Path) -> None:
    settings = load_settings([app])
    lazy = run_check([app], settings, jobs=1, use_cache=False, build_edits=False).findings
    built = run_check([app], settings, jobs=1, use_cache=False, build_edits=True).findings
    assert [f.fix is not None for f in lazy] == [f.fix is not None for f in built]
    for unbuilt, full in zip(lazy, built, strict=True):
        if full.fix is not None and unbuilt.fix is not None:
            assert (unbuilt.fix.applicability, unbuilt.fix.message) == (full.fix.applicability, full.fix.message)
            assert unbuilt.fix.edits is None and full.fix.edits
    for output_format in ("full", "concise", "grouped", "github", "junit", "gitlab", "pylint", "azure"):
        assert render(lazy, output_format) == render(built, output_format), output_format


@pytest.mark.parametrize("output_format", ["json", "json-lines", "sarif", "rdjson"])
def test_formats_that_print_edits_build_them(app: Path, builds: list[str], output_format: str) -> None:
    result = run_cli("check", str(app), "--no-cache", "-j", "1", "--output-format", output_format)
    assert result.exit_code == 1
    assert builds


def test_json_carries_every_fixs_edits(app: Path) -> None:
    result = run_cli("check", str(app), "--no-cache", "-j", "1", "--output-format", "json")
    fixes = [item["fix"] for item in json.loads(result.stdout) if item["fix"] is not None]
    assert fixes and all(fix["edits"] for fix in fixes)


def test_show_fixes_builds_the_edits_it_previews(app: Path, builds: list[str]) -> None:
    result = run_cli("check", str(app), "--no-cache", "-j", "1", "--show-fixes")
    assert builds
    assert "Fix for " in result.stdout and "+++ " in result.stdout


def test_fix_builds_the_edits_it_applies(app: Path, builds: list[str]) -> None:
    result = run_cli("fix", str(app), "--no-cache", "-j", "1", "--diff")
    assert result.exit_code == 1 and "+++ " in result.stdout
    assert builds


@pytest.mark.parametrize("show_edits", [False, True], ids=["concise", "edits-shown"])
def test_fix_builds_the_edits_of_what_remains_only_for_a_format_that_shows_them(
    tmp_path: Path, builds: list[str], show_edits: bool
) -> None:
    """A safe fix applies in one pass; the unsafe one remains. A pass builds
    the edits of the fixes it may apply only, and after it the file is
    linted as `check` lints it: the remaining fix is built only when the
    output shows edits."""
    settings = load_settings([tmp_path], isolated=True)
    plan = Plan.from_settings(settings, build_edits=show_edits)
    outcome = engine.fix_text(decode(SAFE_AND_UNSAFE.encode()), "app/mod.py", plan, unsafe=False, module_name="app.mod")
    assert outcome.applied == 1 and "with SessionLocal() as session:" in outcome.text
    remaining = {f.code: f.fix for f in outcome.findings}
    assert set(remaining) == {"ISO401", "ISO402"} and remaining["ISO402"] is not None
    assert remaining["ISO402"].built is show_edits
    assert len(builds) == (2 if show_edits else 1), builds  # ISO204 in the first pass, ISO402 for the report


def test_fix_in_a_format_that_prints_edits_prints_those_of_what_remains(app: Path) -> None:
    result = run_cli("fix", str(app), "--no-cache", "-j", "1", "--output-format", "json")
    remaining = [item["fix"] for item in json.loads(result.stdout) if item["fix"] is not None]
    assert remaining and all(fix["applicability"] == "unsafe" and fix["edits"] for fix in remaining)


def test_the_editor_gets_edits_for_its_code_actions(app: Path, builds: list[str]) -> None:
    path = next(p for p in sorted(app.rglob("*.py")) if b"DeepAgentState" in p.read_bytes())
    findings = check_stdin(path.read_bytes(), path, load_settings([path]), jobs=1, use_cache=False)
    fixes = [f.fix for f in findings if f.fix is not None]
    assert fixes and all(fix.edits for fix in fixes)


def test_a_cached_check_without_edits_is_not_read_as_one_with_edits(app: Path) -> None:
    settings = load_settings([app])
    lazy = run_check([app], settings, jobs=1, use_cache=True, build_edits=False)
    assert lazy.stats.parsed > 0
    built = run_check([app], settings, jobs=1, use_cache=True, build_edits=True)
    assert 0 < built.stats.parsed <= lazy.stats.parsed  # the files with fixes are checked again, with edits
    assert all(f.fix.edits for f in built.findings if f.fix is not None)
    again = run_check([app], settings, jobs=1, use_cache=True, build_edits=False)
    assert again.stats.parsed == 0  # results with edits serve a check without them


@pytest.mark.parametrize("show_edits", [False, True], ids=["concise", "edits-shown"])
def test_a_rule_the_gate_refused_runs_with_its_fixes_held_and_its_findings_remain(
    tmp_path: Path, builds: list[str], show_edits: bool
) -> None:
    """A file fixed again without a refused rule's fixes: the rule still runs,
    so what remains lists its findings with no second lint for the report,
    and its edits are built only for a format that prints them."""
    settings = load_settings([tmp_path], isolated=True)
    plan = Plan.from_settings(settings, build_edits=show_edits)
    source = decode(SAFE_AND_UNSAFE.encode())
    held = frozenset({"ISO402"})
    outcome = engine.fix_text(source, "app/mod.py", plan, unsafe=True, module_name="app.mod", held=held)
    assert outcome.applied == 1 and outcome.codes == {"ISO204"}
    assert "with SessionLocal() as session:" in outcome.text and "state: DeepAgentState" in outcome.text
    remaining = {f.code: f.fix for f in outcome.findings}
    assert set(remaining) == {"ISO401", "ISO402"} and remaining["ISO402"] is not None
    assert remaining["ISO402"].built is show_edits
    refused_message = remaining["ISO402"].message
    assert builds.count(refused_message) == (1 if show_edits else 0), builds
    linted = engine.lint_text(
        outcome.text, "app/mod.py", [rule for rule, _ in plan.rules], settings, module_name="app.mod"
    )
    assert [(f.code, f.location, f.message) for f in outcome.findings] == [
        (f.code, f.location, f.message) for f in linted
    ]


# Retyping the functions' parameters (ISO402) leaves the import unused, and a second pass removes it (ISO401).
REVEALING = """\
from app.state import DeepAgentState


def _summarize(state: DeepAgentState) -> str:
    return state.user_id


def handle(state: DeepAgentState) -> str:
    return _summarize(state)
"""


def test_a_fix_that_reveals_another_lints_each_text_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lint after the first pass builds the edits of the fix it reveals,
    rather than a second lint of the same text doing so."""
    source = decode(REVEALING.encode())
    plan = Plan.from_settings(load_settings([tmp_path], isolated=True), build_edits=False)
    lints: list[str] = []
    real = engine.lint_text
    monkeypatch.setattr(engine, "lint_text", lambda text, *a, **k: lints.append(text) or real(text, *a, **k))
    outcome = engine.fix_text(source, "app/mod.py", plan, unsafe=True, module_name="app.mod")
    assert outcome.codes == {"ISO401", "ISO402"} and "DeepAgentState" not in outcome.text
    assert len(lints) == 3 and len(set(lints)) == 3, lints


def test_a_pass_libcst_cannot_parse_after_keeps_the_fixes_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When LibCST may not parse the text a pass left (CPython's parser
    accepts it: LibCST's limits, see engine.native_parse_hazard), the fixes
    that pass applied stay; the fixes that would need LibCST's tree of that
    text are not applied."""
    source = decode(REVEALING.encode())
    real = engine._parse_gate

    def gate(text: str, path: str, *, libcst: bool = True) -> Any:
        # A whole file a pass left (not a piece a fix generated, which LibCST parses alone).
        if libcst and text != source.text and text.startswith(source.text.splitlines()[0]):
            return unparsable(path, "file skipped: too complex (as LibCST's limits can say)")
        return real(text, path, libcst=libcst)

    monkeypatch.setattr(engine, "_parse_gate", gate)
    plan = Plan.from_settings(load_settings([tmp_path], isolated=True), build_edits=False)
    outcome = engine.fix_text(source, "app/mod.py", plan, unsafe=True, module_name="app.mod")
    assert not outcome.converged and outcome.codes == {"ISO402"}
    assert "state: DeepAgentState" not in outcome.text and "from app.state import DeepAgentState" in outcome.text


def test_a_file_fixed_again_starts_from_its_first_lint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate refuses a rule, and the file is fixed again: the same source
    with the same rules lints the same, so its first lint is not repeated, and
    the outcome is what linting it again would give."""
    settings = load_settings([tmp_path], isolated=True)
    plan = Plan.from_settings(settings, build_edits=False)
    source = decode(SAFE_AND_UNSAFE.encode())
    first = engine.fix_text(source, "app/mod.py", plan, unsafe=True, module_name="app.mod")
    assert first.codes == {"ISO204", "ISO402"} and first.first
    lints: list[str] = []
    real = engine.lint_text

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        lints.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(engine, "lint_text", counting)
    held = frozenset({"ISO402"})
    again = engine.fix_text(source, "app/mod.py", plan, unsafe=True, module_name="app.mod", held=held)
    from_scratch = list(lints)
    lints.clear()
    reused = engine.fix_text(
        source, "app/mod.py", plan, unsafe=True, module_name="app.mod", held=held, first=first.first
    )
    assert source.text in from_scratch and source.text not in lints
    assert len(lints) == len(from_scratch) - 1
    assert (reused.text, reused.applied, reused.codes, reused.findings) == (
        again.text,
        again.applied,
        again.codes,
        again.findings,
    )


def test_a_first_lint_is_reused_only_for_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fix of a refused file starts from its earlier first lint only when
    the file still holds the bytes that lint read."""
    from isolint.fixing import FixState, compute_fixes
    from isolint.ignores import PerFileIgnores

    path = tmp_path / "app" / "mod.py"
    path.parent.mkdir()
    (path.parent / "__init__.py").write_text("")
    path.write_text(SAFE_AND_UNSAFE)
    settings = load_settings([tmp_path], isolated=True)
    checked = run_check([tmp_path], settings, jobs=1, use_cache=False, build_edits=False)
    state = FixState(checked.plan, True, PerFileIgnores(settings))
    shown = next(str(f.path) for f in checked.files if f.real_path == path)
    earlier = compute_fixes(checked.files, {shown: frozenset()}, state, 1).computed
    lints: list[str] = []
    real = engine.lint_text
    monkeypatch.setattr(engine, "lint_text", lambda text, *a, **k: lints.append(text) or real(text, *a, **k))

    refused = {shown: frozenset({"ISO402"})}
    compute_fixes(checked.files, refused, state, 1, earlier=earlier)
    assert SAFE_AND_UNSAFE not in lints

    path.write_text('"""Visits."""\n' + SAFE_AND_UNSAFE)
    changed = compute_fixes(checked.files, refused, state, 1, earlier=earlier).computed[shown]
    assert changed == compute_fixes(checked.files, refused, state, 1).computed[shown]
    assert changed.text.startswith('"""Visits."""\n') and "    with SessionLocal() as session:\n" in changed.text
