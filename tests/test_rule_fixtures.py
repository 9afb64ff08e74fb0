"""Every rule against its fixtures: exactly the marked lines are reported,
with exactly the diagnostics (message, range, fix, manual hint) recorded in
the case's `.py.snap` snapshot (`pytest --update-snapshots` rewrites them),
where a `.fixed.py` exists, `fix --unsafe-fixes` produces exactly it,
parses, and is stable on a second run, and where a `.refused.txt` exists,
the verification gate refuses the fixes with exactly those reasons and
leaves the file as it was."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from isolint.rule_testing import expected_findings, obsolete_snapshots, render_snapshot, snapshot_path, snapshot_problem
from isolint.rules import BY_CODE
from isolint.suppressions import HYGIENE_CODES
from tests.conftest import FIXTURES
from tests.helpers import check_findings, run_cli

RULE_FIXTURES = FIXTURES / "rules"
ACCEPT_HINT = "`pytest tests/test_rule_fixtures.py --update-snapshots`"

CASES = sorted(p for p in RULE_FIXTURES.glob("ISO*/*.py") if not p.name.endswith(".fixed.py"))
FIX_CASES = [p for p in CASES if p.with_name(p.stem + ".fixed.py").exists()]
REFUSED_CASES = [p for p in CASES if p.with_name(p.stem + ".refused.txt").exists()]


def selector_for(code: str) -> str:
    """The hygiene rules judge a suppression only when the rules it names ran,
    so their cases run with every rule; the others' with their rule alone."""
    return "ALL" if code in HYGIENE_CODES else code


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def test_every_rule_has_fixtures() -> None:
    with_fixtures = {p.parent.name for p in CASES}
    missing = sorted(code for code in BY_CODE if code != "ISO000" and code not in with_fixtures)
    assert not missing, f"rules without fixtures: {missing}"


def test_every_rule_has_a_negative_and_a_positive_case() -> None:
    for code in {p.parent.name for p in CASES}:
        cases = [p for p in CASES if p.parent.name == code]
        assert any(expected_findings(p) for p in cases), f"{code} has no positive case"
        assert any(not expected_findings(p) for p in cases), f"{code} has no negative case"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_reports_exactly_the_marked_lines_with_the_snapshot_diagnostics(
    case: Path, tmp_path: Path, update_snapshots: bool
) -> None:
    selector = selector_for(case.parent.name)
    target = tmp_path / case.name
    shutil.copyfile(case, target)
    findings = check_findings([target], selector)
    rendered = render_snapshot(case, selector, findings, checked_in=tmp_path)
    # Compared (and, when updating, written) before the markers are asserted,
    # so one update run records every snapshot even while a marker fails.
    snapshot_mismatch = snapshot_problem(
        snapshot_path(case), rendered, update=update_snapshots, accept_hint=ACCEPT_HINT
    )
    assert sorted((f.location.row, f.code) for f in findings) == expected_findings(case)
    if snapshot_mismatch:
        pytest.fail(snapshot_mismatch, pytrace=False)  # the diff alone, not its repr


def test_every_snapshot_has_its_fixture_case(update_snapshots: bool) -> None:
    obsolete = obsolete_snapshots(RULE_FIXTURES)
    if update_snapshots:
        for snapshot in obsolete:
            snapshot.unlink()
        return
    assert not obsolete, f"snapshots without a case (delete them, or run {ACCEPT_HINT}): {obsolete}"


@pytest.mark.parametrize("case", FIX_CASES, ids=_id)
def test_fix_output_is_exact_parseable_and_idempotent(case: Path, tmp_path: Path) -> None:
    code = case.parent.name
    target = tmp_path / case.name
    shutil.copyfile(case, target)
    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", selector_for(code), str(target))
    fixed = target.read_text(encoding="utf-8")
    assert fixed == case.with_name(case.stem + ".fixed.py").read_text(encoding="utf-8")
    ast.parse(fixed)
    again = run_cli(
        "fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", selector_for(code), "--check", str(target)
    )
    assert again.exit_code == 0, again.stdout + again.stderr
    assert target.read_text(encoding="utf-8") == fixed


@pytest.mark.parametrize("case", REFUSED_CASES, ids=_id)
def test_refused_fixes_leave_the_file_and_say_why(case: Path, tmp_path: Path) -> None:
    code = case.parent.name
    target = tmp_path / case.name
    shutil.copyfile(case, target)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", code, str(target))
    assert target.read_text(encoding="utf-8") == case.read_text(encoding="utf-8")
    refusals = [
        line for line in result.stderr.replace(f"{tmp_path}/", "").splitlines() if line.startswith(("Refused", "  "))
    ]
    assert "\n".join(refusals) + "\n" == case.with_name(case.stem + ".refused.txt").read_text(encoding="utf-8")


def test_fixture_cases_with_a_fix_or_a_refusal_have_one_not_both() -> None:
    assert not set(FIX_CASES) & set(REFUSED_CASES)
