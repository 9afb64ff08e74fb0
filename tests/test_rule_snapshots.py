"""The fixture snapshots bite: a rule that reports another node or says
something else fails its case even where the `# expect:` markers (row and
code) still hold; an update rewrites, a missing snapshot is written locally
and refused under CI, and a snapshot without its case is reported."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from isolint.findings import Finding, Fix, Location
from isolint.rule_testing import (
    UPDATE_ENV,
    expected_findings,
    obsolete_snapshots,
    render_snapshot,
    snapshot_path,
    snapshot_problem,
    snapshot_problems,
)
from isolint.rules import BY_CODE, Rule
from tests.conftest import FIXTURES
from tests.helpers import check_findings

RULE_FIXTURES = FIXTURES / "rules"


def _compare(case: Path, scratch: Path) -> tuple[list[tuple[int, str]], str | None]:
    """What the fixture test sees for `case`: the (row, code) pairs, and the snapshot mismatch."""
    code = case.parent.name
    target = scratch / case.name
    shutil.copyfile(case, target)
    findings = check_findings([target], code)
    rendered = render_snapshot(case, code, findings, checked_in=scratch)
    return sorted((f.location.row, f.code) for f in findings), snapshot_problem(
        snapshot_path(case), rendered, update=False
    )


def _mutate_report(
    monkeypatch: pytest.MonkeyPatch, code: str, mutation: Callable[[object, str], tuple[object, str]]
) -> None:
    """Make rule `code` report `mutation(node, message)` instead of what it decided."""
    rule: type[Rule] = BY_CODE[code]
    original = rule.report

    def mutated_report(self: Rule, node: object, message: str, **kwargs: object) -> None:
        new_node, new_message = mutation(node, message)
        original(self, new_node, new_message, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rule, "report", mutated_report)


def test_a_changed_message_fails_the_snapshot_though_the_markers_still_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    case = RULE_FIXTURES / "ISO101" / "classmethod_accessor.py"
    _mutate_report(
        monkeypatch, "ISO101", lambda node, message: (node, message.replace("every request shares", "requests share"))
    )
    rows, mismatch = _compare(case, tmp_path)
    assert rows == expected_findings(case)
    assert mismatch is not None
    assert (
        "-  message: `AgentRegistry` caches its instance in `_instance` (via `get_instance`), so every request shares"
        in mismatch
    )
    assert (
        "+  message: `AgentRegistry` caches its instance in `_instance` (via `get_instance`), so requests share"
        in mismatch
    )


def test_a_finding_on_another_node_of_the_same_line_fails_the_snapshot(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # ISO104 reports the whole `registry.register(...)` call; the mutant reports only its callee.
    case = RULE_FIXTURES / "ISO104" / "register_instances.py"
    _mutate_report(
        monkeypatch, "ISO104", lambda node, message: (node.func if isinstance(node, ast.Call) else node, message)
    )
    rows, mismatch = _compare(case, tmp_path)
    assert rows == expected_findings(case)
    assert mismatch is not None
    assert "-ISO104 agent-instance-registration at 12:5-12:74" in mismatch
    assert "+ISO104 agent-instance-registration at 12:5-12:22" in mismatch


def test_the_unchanged_rules_match_their_snapshots(tmp_path: Path) -> None:
    """The two cases mutated above pass unmutated, so the failures are the mutations'."""
    for case in (
        RULE_FIXTURES / "ISO101" / "classmethod_accessor.py",
        RULE_FIXTURES / "ISO104" / "register_instances.py",
    ):
        assert _compare(case, tmp_path) == (expected_findings(case), None)


def _finding(start: Location, end: Location, fix: Fix | None, manual: str | None) -> Finding:
    return Finding("ISO999", "example-rule", "singletons", "a message", "/scratch/case.py", start, end, fix, manual)


def test_a_snapshot_block_names_everything_a_finding_says(tmp_path: Path) -> None:
    case = tmp_path / "case.py"
    case.write_text("x = make(\n    1,\n    2,\n)\ny = other()\n", encoding="utf-8")
    findings = [
        _finding(Location(5, 5), Location(5, 12), Fix("unsafe", "Call it per request", ()), None),
        _finding(Location(1, 5), Location(4, 2), None, f"see {tmp_path}/helper.py,\nthen its callers"),
    ]
    assert render_snapshot(case, "ISO999", findings, checked_in=tmp_path) == (
        "# isolint check --select ISO999 case.py: 2 findings\n"
        "\n"
        "ISO999 example-rule at 1:5-4:2\n"
        "  1 | x = make(\n"
        "    |     ^^^^^\n"
        "    | ...\n"
        "  4 | )\n"
        "    | ^\n"
        "  message: a message\n"
        "  fix: none\n"
        "  manual: see helper.py,\n"
        "          then its callers\n"
        "\n"
        "ISO999 example-rule at 5:5-5:12\n"
        "  5 | y = other()\n"
        "    |     ^^^^^^^\n"
        "  message: a message\n"
        "  fix: unsafe: Call it per request\n"
        "  manual: -\n"
    )


def test_an_update_rewrites_a_differing_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "case.py.snap"
    snapshot.write_text("old\n", encoding="utf-8")
    assert snapshot_problem(snapshot, "new\n", update=True) is None
    assert snapshot.read_text(encoding="utf-8") == "new\n"


def test_a_missing_snapshot_is_written_locally_and_the_test_fails_saying_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    snapshot = tmp_path / "case.py.snap"
    problem = snapshot_problem(snapshot, "rendered\n", update=False)
    assert problem is not None and "no snapshot yet, so it was written now" in problem
    assert snapshot.read_text(encoding="utf-8") == "rendered\n"


def test_a_missing_snapshot_under_ci_fails_and_is_not_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    snapshot = tmp_path / "case.py.snap"
    problem = snapshot_problem(snapshot, "rendered\n", update=False)
    assert problem is not None and "none is written under CI" in problem
    assert not snapshot.exists()


def test_snapshots_without_a_case_are_obsolete(tmp_path: Path) -> None:
    (tmp_path / "ISO101").mkdir()
    for name in ("kept.py", "kept.py.snap", "gone.py.snap", "kept.fixed.py", "kept.fixed.py.snap"):
        (tmp_path / "ISO101" / name).write_text("", encoding="utf-8")
    assert obsolete_snapshots(tmp_path) == [
        tmp_path / "ISO101" / "gone.py.snap",
        tmp_path / "ISO101" / "kept.fixed.py.snap",
    ]


def test_plugin_authors_get_the_same_snapshots_and_update_them_with_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    directory = tmp_path / "ISO104"
    directory.mkdir()
    case = shutil.copyfile(RULE_FIXTURES / "ISO104" / "register_instances.py", directory / "register_instances.py")
    shutil.copyfile(RULE_FIXTURES / "ISO104" / "register_instances.py.snap", snapshot_path(case))
    (directory / "renamed_away.py.snap").write_text("", encoding="utf-8")
    rule = BY_CODE["ISO104"]
    assert snapshot_problems(rule, directory) == [
        f"{directory / 'renamed_away.py.snap'}: obsolete snapshot, its case renamed_away.py is gone"
    ]

    _mutate_report(monkeypatch, "ISO104", lambda node, message: (node, message.upper()))
    [mismatch, _] = snapshot_problems(rule, directory)
    assert mismatch.startswith(
        f"{snapshot_path(case)}: the diagnostics differ from the snapshot (if intended, accept with {UPDATE_ENV}=1)"
    )
    monkeypatch.setenv(UPDATE_ENV, "1")
    assert snapshot_problems(rule, directory) == []
    assert "  message: `REGISTRY.REGISTER(...)` STORES ONE" in snapshot_path(case).read_text(encoding="utf-8")
    assert not (directory / "renamed_away.py.snap").exists()
