"""ruff muscle memory: the flags a ruff user types, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write
from tests.workflow_cli import isolint

LEGACY = "from app.state import DeepAgentState\nfrom app.db import Session\nsession = Session()\n"
FIXED = "from isolint.runtime import UserExecutionContext\nfrom app.db import Session\nsession = Session()\n"


def test_check_fix_applies_fixes_and_reports_what_remains(tmp_path: Path) -> None:
    target = write(tmp_path / "app" / "m.py", LEGACY)
    result = isolint(tmp_path, "check", "--fix", "--output-format", "concise")
    assert result.returncode == 1  # the module session needs manual migration
    assert target.read_text() == FIXED
    assert result.stdout.splitlines()[0].startswith("app/m.py:3:1: ISO203 ")
    assert "1 fix applied, 1 finding remaining" in result.stdout


def test_check_diff_prints_the_fixes_and_writes_nothing(tmp_path: Path) -> None:
    target = write(tmp_path / "app" / "m.py", LEGACY)
    result = isolint(tmp_path, "check", "--diff")
    assert result.returncode == 1
    assert "-from app.state import DeepAgentState\n+from isolint.runtime import UserExecutionContext\n" in result.stdout
    assert target.read_text() == LEGACY
    assert isolint(tmp_path, "check", "--diff", "--statistics").returncode == 2


def test_stdin_is_checked_as_the_named_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.isolint.per-file-ignores]\n"legacy/**" = ["ISO2"]\n')
    (tmp_path / "app").mkdir()
    checked = isolint(
        tmp_path, "check", "--output-format", "concise", "--stdin-filename", "app/m.py", "-", stdin=LEGACY
    )
    assert checked.returncode == 1
    assert [line.split(" ")[:2] for line in checked.stdout.splitlines() if ": ISO" in line] == [
        ["app/m.py:1:23:", "ISO401"],
        ["app/m.py:3:1:", "ISO203"],
    ]
    assert not (tmp_path / "app" / "m.py").exists()  # nothing is written for stdin
    # The name decides the per-file-ignores.
    ignored = isolint(
        tmp_path, "check", "--output-format", "json", "--stdin-filename", "legacy/m.py", "-", stdin=LEGACY
    )
    assert [finding["code"] for finding in json.loads(ignored.stdout)] == ["ISO401"]


def test_stdin_fix_prints_the_fixed_source_and_the_rest_on_stderr(tmp_path: Path) -> None:
    fixed = isolint(tmp_path, "fix", "--stdin-filename", "m.py", "-", stdin=LEGACY)
    assert fixed.stdout == FIXED
    assert fixed.returncode == 1 and "m.py:3:1: ISO203" in fixed.stderr
    via_check = isolint(tmp_path, "check", "--fix", "--stdin-filename", "m.py", "-", stdin=LEGACY)
    assert via_check.stdout == FIXED
    clean = isolint(tmp_path, "fix", "--stdin-filename", "m.py", "-", stdin="x = 1\n")
    assert (clean.returncode, clean.stdout) == (0, "x = 1\n")
    diff = isolint(tmp_path, "fix", "--diff", "--stdin-filename", "m.py", "-", stdin=LEGACY)
    assert diff.returncode == 1 and "+from isolint.runtime import UserExecutionContext" in diff.stdout


def test_force_exclude_leaves_an_excluded_stdin_name_alone(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.isolint]\nextend-exclude = ["migrations/", "*_pb2.py"]\n')
    for name in ("migrations/0001.py", "app/a_pb2.py"):
        checked = isolint(tmp_path, "check", "--force-exclude", "--stdin-filename", name, "-", stdin=LEGACY)
        assert (checked.returncode, checked.stdout) == (0, "")
        fixed = isolint(tmp_path, "fix", "--force-exclude", "--stdin-filename", name, "-", stdin=LEGACY)
        assert (fixed.returncode, fixed.stdout) == (0, LEGACY)
    # Without --force-exclude, a name given explicitly is checked, as a path on the command line is.
    assert isolint(tmp_path, "check", "--stdin-filename", "migrations/0001.py", "-", stdin=LEGACY).returncode == 1
    assert (
        isolint(tmp_path, "check", "--force-exclude", "--stdin-filename", "app/m.py", "-", stdin=LEGACY).returncode == 1
    )


def test_stdin_cannot_be_mixed_with_paths(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "x = 1\n")
    assert isolint(tmp_path, "check", "a.py", "-", stdin="").returncode == 2
    assert isolint(tmp_path, "check", "--stdin-filename", "m.py", "a.py").returncode == 2


def test_show_files_lists_what_a_run_checks(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.isolint]\nextend-exclude = ["migrations/"]\n')
    for name in ("app/a.py", "app/b.pyi", "migrations/0001.py", ".venv/lib/x.py", "README.md"):
        write(tmp_path / name, "x = 1\n")
    result = isolint(tmp_path, "check", "--show-files")
    assert (result.returncode, result.stdout) == (0, "app/a.py\napp/b.pyi\n")


def test_show_settings_prints_the_effective_configuration(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.isolint]\nignore = ["ISO3"]\n[tool.isolint.rules.ISO201]\nnames = ["conn"]\n',
    )
    text = isolint(tmp_path, "check", "--show-settings")
    assert text.returncode == 0
    assert f"# Settings file: {(tmp_path / 'pyproject.toml').resolve()}" in text.stdout
    assert 'ignore = ["ISO3"]\n' in text.stdout and '[rules.ISO201]\nnames = ["conn"]\n' in text.stdout
    document = json.loads(isolint(tmp_path, "check", "--show-settings", "--output-format", "json").stdout)
    assert document["settings"]["ignore"] == ["ISO3"]
    assert "ISO301" not in document["enabled-rules"] and "ISO201" in document["enabled-rules"]


def test_extend_layers_a_project_on_the_monorepo_configuration(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.isolint]\nignore = ["ISO2"]\n[tool.isolint.rules.ISO201]\nnames = ["conn"]\n',
    )
    write(
        tmp_path / "svc" / "pyproject.toml",
        '[tool.isolint]\nextend = "../pyproject.toml"\nextend-select = ["ISO203"]\n',
    )
    write(tmp_path / "svc" / "app.py", LEGACY)
    result = isolint(tmp_path / "svc", "check", "--output-format", "concise")
    # ISO2 is ignored by the base, ISO203 selected again by the project (more specific wins).
    assert [line.split(" ")[1] for line in result.stdout.splitlines() if ": ISO" in line] == ["ISO401", "ISO203"]
    settings = json.loads(isolint(tmp_path / "svc", "check", "--show-settings", "--output-format", "json").stdout)
    assert settings["extends"] == [str((tmp_path / "pyproject.toml").resolve())]
    assert settings["tables"]["rules.ISO201"]["names"] == ["conn"]


def test_a_mistake_in_the_base_is_reported_against_the_base(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.isolint]\nignroe = ["ISO2"]\n')
    write(tmp_path / "svc" / "pyproject.toml", '[tool.isolint]\nextend = "../pyproject.toml"\n')
    result = isolint(tmp_path / "svc", "check")
    assert result.returncode == 2
    assert f"{(tmp_path / 'pyproject.toml').resolve()}: unknown key 'ignroe'; did you mean 'ignore'?" in result.stderr


@pytest.mark.parametrize(
    ("extend", "message"),
    [
        ("pyproject.toml", "a cycle"),
        ("../missing.toml", "no such file"),
        ("../other/pyproject.toml", "has no [tool.isolint] table"),
    ],
)
def test_a_broken_extend_is_a_configuration_error(tmp_path: Path, extend: str, message: str) -> None:
    write(tmp_path / "other" / "pyproject.toml", "[project]\nname = 'x'\n")
    write(tmp_path / "svc" / "pyproject.toml", f'[tool.isolint]\nextend = "{extend}"\n')
    result = isolint(tmp_path / "svc", "check")
    assert result.returncode == 2 and message in result.stderr and "key 'extend'" in result.stderr


@pytest.mark.parametrize(
    ("config", "args", "suggestion"),
    [
        ('[tool.isolint]\nselct = ["ISO2"]\n', ("check",), "unknown key 'selct'; did you mean 'select'?"),
        ("[tool.isolint]\nlegacy_state = {}\n", ("check",), "did you mean 'legacy-state'?"),
        ('[tool.isolint]\nignore = ["ISO2O1"]\n', ("check",), "did you mean 'ISO201'?"),
        ("[tool.isolint.rules.sesion-on-instance]\n", ("check",), "did you mean 'session-on-instance'?"),
        ("", ("check", "--select", "singelton-class"), "did you mean 'singleton-class'?"),
        ("", ("rule", "ISO1O1"), "did you mean 'ISO101'?"),
    ],
)
def test_misspellings_get_a_did_you_mean(tmp_path: Path, config: str, args: tuple[str, ...], suggestion: str) -> None:
    if config:
        write(tmp_path / "pyproject.toml", config)
    write(tmp_path / "a.py", "x = 1\n")
    result = isolint(tmp_path, *args)
    assert result.returncode == 2 and suggestion in result.stderr


def test_no_color_and_force_color(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "from app.state import DeepAgentState\n")
    assert "\x1b[" not in isolint(tmp_path, "check", env={}).stdout  # piped: plain by default
    assert "\x1b[31m" in isolint(tmp_path, "check", env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in isolint(tmp_path, "check", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
