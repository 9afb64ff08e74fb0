"""Configuration and baseline files that isolint cannot use are an error
naming the file (exit 2), never a traceback (issue 16: F12, F13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write
from tests.helpers import run_cli

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"


def check(*args: str) -> tuple[int, str]:
    result = run_cli("check", "--output-format", "concise", "--no-cache", *args)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"tool = 5\n", "`tool` must be a table (got int)"),
        (b'tool = "x"\n', "`tool` must be a table (got str)"),
        (b'[tool.isolint]\nselect = ["ISO2"]\nname = "\xff\xfe"\n', "invalid TOML: not UTF-8 (byte 41)"),
        (b"x = " + b"[" * 2000 + b"]" * 2000 + b"\n[tool.isolint]\n", "invalid TOML: nested too deeply to read"),
        (
            b'[tool.isolint]\nextend-exclude = ["!"]\n',
            "key 'extend-exclude': '!' is not a valid gitignore-style pattern",
        ),
        (b'[tool.isolint]\nexclude = ["\\\\"]\n', "key 'exclude': '\\\\' is not a valid gitignore-style pattern"),
        (
            b'[tool.isolint.per-file-ignores]\n"!" = ["ISO2"]\n',
            "key 'per-file-ignores': '!' is not a valid gitignore-style pattern",
        ),
    ],
    ids=[
        "tool-int",
        "tool-string",
        "invalid-utf8",
        "deeply-nested-arrays",
        "extend-exclude-bang",
        "exclude-backslash",
        "per-file-ignores-bang",
    ],
)
def test_an_unusable_pyproject_is_exit_2_naming_the_file(in_tmp: Path, content: bytes, message: str) -> None:
    write(in_tmp / "pyproject.toml", content)
    write(in_tmp / "a.py", SESSION)
    code, err = check()
    assert code == 2
    assert err.startswith("isolint: error: ") and "pyproject.toml: " in err and message in err


def test_an_invalid_pattern_in_a_gitignore_of_the_tree_is_skipped_like_git_does(in_tmp: Path) -> None:
    write(in_tmp / ".gitignore", "!\nignored.py\n")
    write(in_tmp / "ignored.py", SESSION)
    write(in_tmp / "a.py", SESSION)
    result = run_cli("check", "--output-format", "concise", "--no-cache")
    assert result.exit_code == 1 and "a.py:3:9: ISO201" in result.stdout and "ignored.py" not in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"version": 1, "findings": [{"path": "\xff"}]}', "not UTF-8 (byte 38)"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply to be a baseline"),
    ],
    ids=["invalid-utf8", "deeply-nested"],
)
def test_an_unusable_baseline_is_exit_2_naming_the_file(in_tmp: Path, content: bytes, message: str) -> None:
    write(in_tmp / "base.json", content)
    write(in_tmp / "a.py", SESSION)
    code, err = check("--baseline", "base.json")
    assert code == 2 and "baseline base.json: " in err and message in err
