"""Baselines: fingerprints without line numbers, a stable file, the ratchet, and `check --baseline`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isolint.baseline import Baseline, Scope, entries_for
from tests.conftest import write
from tests.helpers import check_findings, run_cli

CONFIG = 'select = ["ISO401"]\n'
TWO_IMPORTS = (
    "from app.state import DeepAgentState\n\n\ndef run():\n    from app.state import DeepAgentState\n    return 1\n"
)
ONE_IMPORT = "from app.state import DeepAgentState\n"


def _project(root: Path, files: dict[str, str], config: str = CONFIG) -> None:
    write(root / "isolint.toml", config)
    for name, text in files.items():
        write(root / name, text)


def _entries(path: Path) -> list[dict[str, str]]:
    return json.loads(path.read_text())["findings"]


def test_fingerprints_ignore_line_shifts_but_tell_repeats_apart(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": TWO_IMPORTS})
    before = [entry for entry, _ in entries_for(check_findings([in_tmp], "ISO401"), in_tmp)]
    assert len(before) == len(set(before)) == 2  # same code, same text: the occurrence index differs
    write(in_tmp / "a.py", '"""Docs."""\n\nimport os\n\n\n' + TWO_IMPORTS.replace("return 1", "x = 1\n    return x"))
    after = [entry for entry, _ in entries_for(check_findings([in_tmp], "ISO401"), in_tmp)]
    assert after == before


def test_written_file_is_sorted_stable_and_relative(in_tmp: Path) -> None:
    _project(in_tmp, {"pkg/b.py": ONE_IMPORT, "a.py": TWO_IMPORTS})
    assert run_cli("baseline", "--write", "base.json").exit_code == 0
    first = (in_tmp / "base.json").read_bytes()
    entries = _entries(in_tmp / "base.json")
    assert [e["path"] for e in entries] == ["a.py", "a.py", "pkg/b.py"]
    assert entries == sorted(entries, key=lambda e: (e["path"], e["code"], e["fingerprint"]))
    assert all(set(e) == {"path", "code", "fingerprint"} for e in entries)
    assert first.count(b"\n") == 3 + 6  # one line per entry: diffs and merges stay local
    assert run_cli("baseline", "--write", "base.json").exit_code == 0
    assert (in_tmp / "base.json").read_bytes() == first
    # Paths are relative to the baseline file, so running from elsewhere matches too.
    sub = in_tmp / "pkg"
    result = run_cli("check", str(sub), "--baseline", "base.json")
    assert result.exit_code == 0, result.stdout


def test_check_reports_only_new_findings_and_the_summary(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": TWO_IMPORTS, "b.py": ONE_IMPORT})
    run_cli("baseline", "--write", "base.json")
    write(in_tmp / "b.py", "x = 1\n")  # fixed
    write(in_tmp / "c.py", "import os\n" + ONE_IMPORT)  # new
    result = run_cli("check", "--baseline", "base.json", "--output-format", "concise")
    assert result.exit_code == 1
    assert [line.split(":")[0] for line in result.stdout.splitlines() if "ISO401" in line] == ["c.py"]
    assert (
        "2 known findings (baseline), 1 fixed since the baseline: run `isolint baseline --update` to lock in progress"
        in result.stdout
    )


@pytest.mark.parametrize("output_format", ["full", "concise", "json", "json-lines", "sarif", "github", "junit"])
def test_every_output_format_shows_only_new_findings(in_tmp: Path, output_format: str) -> None:
    _project(in_tmp, {"known_module.py": ONE_IMPORT})
    run_cli("baseline", "--write", "base.json")
    write(in_tmp / "new_module.py", ONE_IMPORT)
    result = run_cli("check", "--baseline", "base.json", "--output-format", output_format)
    assert result.exit_code == 1
    assert "new_module.py" in result.stdout
    assert "known_module.py" not in result.stdout
    if output_format in ("json", "sarif"):
        json.loads(result.stdout)  # the summary went to stderr
        assert "1 known finding (baseline)" in result.stderr


def test_clean_against_the_baseline_exits_zero(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": ONE_IMPORT})
    run_cli("baseline", "--write", "base.json")
    result = run_cli("check", "--baseline", "base.json")
    assert result.exit_code == 0
    assert "All checks passed!" in result.stdout and "1 known finding (baseline)." in result.stdout


def test_config_key_and_no_baseline(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": ONE_IMPORT}, CONFIG + 'baseline = "ci/known.json"\n')
    assert run_cli("baseline", "--write").exit_code == 0  # the configured file is the default
    assert _entries(in_tmp / "ci" / "known.json")[0]["path"] == "../a.py"
    assert run_cli("check").exit_code == 0
    assert run_cli("check", "--no-baseline").exit_code == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"version": 99, "findings": []}', "not an isolint baseline"),
        ('{"version": 1, "findings": [{"path": "a.py"}]}', "entry 0 needs string keys"),
    ],
)
def test_missing_or_corrupt_baseline_is_exit_2(in_tmp: Path, content: str | None, message: str) -> None:
    _project(in_tmp, {"a.py": ONE_IMPORT})
    if content is not None:
        write(in_tmp / "base.json", content)
    for command in (
        ["check", "--baseline", "base.json"],
        ["report", "--baseline", "base.json"],
        ["baseline", "--update", "base.json"],
    ):
        result = run_cli(*command)
        assert result.exit_code == 2, command
        assert message in result.stderr


def test_update_only_ratchets_down(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": TWO_IMPORTS, "b.py": ONE_IMPORT, "gone.py": ONE_IMPORT})
    run_cli("baseline", "--write", "base.json")
    original = _entries(in_tmp / "base.json")
    write(in_tmp / "a.py", ONE_IMPORT)  # one of two fixed
    (in_tmp / "gone.py").unlink()  # fixed by deletion
    write(in_tmp / "c.py", ONE_IMPORT)  # new
    result = run_cli("baseline", "--update", "base.json")
    assert result.exit_code == 1  # the new finding was refused
    assert "c.py" in result.stdout and "--allow-new" in result.stderr
    updated = _entries(in_tmp / "base.json")
    assert len(updated) == 2 and all(entry in original for entry in updated)
    assert {e["path"] for e in updated} == {"a.py", "b.py"}

    result = run_cli("baseline", "--update", "base.json", "--allow-new")
    assert result.exit_code == 0
    assert {e["path"] for e in _entries(in_tmp / "base.json")} == {"a.py", "b.py", "c.py"}
    assert run_cli("check", "--baseline", "base.json").exit_code == 0


def test_update_ignores_files_outside_the_checked_paths(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": ONE_IMPORT, "sub/b.py": ONE_IMPORT})
    run_cli("baseline", "--write", "base.json")
    assert run_cli("baseline", "sub", "--update", "base.json").exit_code == 0
    assert len(_entries(in_tmp / "base.json")) == 2  # a.py was not checked, so not "fixed"


def test_baseline_usage_errors(in_tmp: Path) -> None:
    _project(in_tmp, {"a.py": ONE_IMPORT})
    assert run_cli("baseline").exit_code == 2
    assert run_cli("baseline", "--write", "x.json", "--update", "y.json").exit_code == 2
    assert run_cli("baseline", "--write", "x.json", "--allow-new").exit_code == 2


def test_scope_counts_deleted_files_under_the_given_paths(tmp_path: Path) -> None:
    write(tmp_path / "kept.py", "")
    scope = Scope.of([tmp_path / "kept.py"], [tmp_path / "src"])
    assert scope.covers(tmp_path / "kept.py")
    assert scope.covers(tmp_path / "src" / "deleted.py")
    assert not scope.covers(tmp_path / "elsewhere" / "deleted.py")
    baseline = Baseline(tmp_path / "b.json")
    assert len(baseline) == 0
