"""Which files get checked: gitignore, excludes, virtualenvs, symlinks, explicit paths."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from isolint.config import load_settings
from isolint.discovery import discover
from tests.conftest import write
from tests.helpers import run_cli


def found(*paths: str, force_exclude: bool = False) -> list[str]:
    targets = [Path(p) for p in paths] or [Path(".")]
    settings = load_settings(targets)
    return [f.path.as_posix() for f in discover(targets, settings, force_exclude=force_exclude).files]


def test_walks_python_files_only_and_sorts(in_tmp: Path) -> None:
    for name in ("b.py", "a.py", "stubs.pyi", "notes.txt", "pkg/c.py"):
        write(in_tmp / name, "x = 1\n")
    assert found() == ["a.py", "b.py", "pkg/c.py", "stubs.pyi"]


def test_skips_default_excluded_directories_and_virtualenvs(in_tmp: Path) -> None:
    for name in (".git/hook.py", "build/gen.py", "__pycache__/x.py", "node_modules/y.py", "env1/lib/z.py", "src/ok.py"):
        write(in_tmp / name, "x = 1\n")
    write(in_tmp / "env1" / "pyvenv.cfg", "home = /usr\n")
    assert found() == ["src/ok.py"]


def test_respects_nested_gitignore_with_negation(in_tmp: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=in_tmp, check=True)
    write(in_tmp / ".gitignore", "generated/\n*_pb2.py\n")
    write(in_tmp / "pkg" / ".gitignore", "!keep_pb2.py\nlocal.py\n")
    for name in ("generated/a.py", "x_pb2.py", "pkg/keep_pb2.py", "pkg/local.py", "pkg/real.py"):
        write(in_tmp / name, "x = 1\n")
    assert found() == ["pkg/keep_pb2.py", "pkg/real.py"]
    # gitignore files above the starting directory count too
    assert found("pkg") == ["pkg/keep_pb2.py", "pkg/real.py"]


def test_respect_gitignore_can_be_turned_off(in_tmp: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=in_tmp, check=True)
    write(in_tmp / ".gitignore", "ignored.py\n")
    write(in_tmp / "ignored.py", "x = 1\n")
    write(in_tmp / "pyproject.toml", "[tool.isolint]\nrespect-gitignore = false\n")
    assert found() == ["ignored.py"]


def test_exclude_and_extend_exclude(in_tmp: Path) -> None:
    write(in_tmp / "pyproject.toml", '[tool.isolint]\nextend-exclude = ["migrations/", "*_generated.py"]\n')
    for name in ("migrations/0001.py", "api_generated.py", "api.py", "build/x.py"):
        write(in_tmp / name, "x = 1\n")
    assert found() == ["api.py"]
    write(in_tmp / "pyproject.toml", '[tool.isolint]\nexclude = ["api.py"]\n')
    assert found() == ["api_generated.py", "build/x.py", "migrations/0001.py"]


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        # Plain names match a file or a directory at any depth; a trailing slash, directories only.
        (
            ["old.py", "cache", "gen.py/"],
            ["a/gen.py", "a/keep.py", "cache.py", "gen.py", "keep.py", "sub/cache.py"],
        ),
        # Beside patterns that are not plain names: anchored, with a slash inside, globs.
        (
            ["/keep.py", "a/*.py", "sub/**/old.py", "cach?", "gen.py/"],
            ["cache.py", "gen.py", "old.py", "sub/cache.py"],
        ),
        # A negation makes the order of every match count.
        (["*.py", "!keep.py"], ["a/keep.py", "keep.py"]),
    ],
    ids=["plain-names", "mixed", "negated"],
)
def test_exclude_patterns_follow_gitignore_at_every_depth(
    in_tmp: Path, patterns: list[str], expected: list[str]
) -> None:
    for name in (
        "keep.py", "old.py", "gen.py", "cache.py", "a/keep.py", "a/old.py", "a/gen.py", "cache/x.py",
        "sub/cache/y.py", "sub/deep/old.py", "sub/cache.py", "b/gen.py/inside.py",
    ):  # fmt: skip
        write(in_tmp / name, "x = 1\n")
    write(in_tmp / "pyproject.toml", f"[tool.isolint]\nexclude = {patterns!r}\n".replace("'", '"'))
    assert found() == expected


def test_explicit_files_are_checked_unless_force_exclude(in_tmp: Path) -> None:
    write(in_tmp / "pyproject.toml", '[tool.isolint]\nextend-exclude = ["vendor/"]\n')
    write(in_tmp / "vendor" / "lib.py", "x = 1\n")
    write(in_tmp / "app.py", "x = 1\n")
    assert found("vendor/lib.py", "app.py") == ["app.py", "vendor/lib.py"]
    assert found("vendor/lib.py", "app.py", force_exclude=True) == ["app.py"]


def test_symlink_loops_and_duplicate_links_are_handled(in_tmp: Path) -> None:
    write(in_tmp / "pkg" / "a.py", "x = 1\n")
    os.symlink(in_tmp / "pkg", in_tmp / "pkg" / "loop")
    os.symlink(in_tmp / "pkg" / "a.py", in_tmp / "alias.py")
    os.symlink(in_tmp / "missing.py", in_tmp / "broken.py")
    settings = load_settings([Path(".")])
    result = discover([Path(".")], settings)
    assert [f.real_path for f in result.files] == [(in_tmp / "pkg" / "a.py").resolve()]
    assert any("broken.py: skipped: broken symlink" in w for w in result.warnings)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any directory")
def test_unreadable_directory_is_reported_not_fatal(in_tmp: Path) -> None:  # pragma: no cover - non-root only
    write(in_tmp / "locked" / "a.py", "x = 1\n")
    write(in_tmp / "ok.py", "class A:\n    def __init__(self, db):\n        self.db = db\n")
    os.chmod(in_tmp / "locked", 0)
    try:
        result = run_cli("check", "--output-format", "concise")
    finally:
        os.chmod(in_tmp / "locked", 0o755)
    assert "locked:1:1: ISO000 directory skipped" in result.stdout
    assert "ok.py:3:9: ISO201" in result.stdout


def test_unreadable_directory_as_root_via_scandir_failure(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads everything, so simulate the kernel's refusal for one directory."""
    write(in_tmp / "locked" / "a.py", "x = 1\n")
    write(in_tmp / "ok.py", "class A:\n    def __init__(self, db):\n        self.db = db\n")
    real_scandir = os.scandir

    def refusing(path: object = ".") -> object:
        if Path(str(path)).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr("isolint.discovery.os.scandir", refusing)
    result = run_cli("check", "--output-format", "concise")
    assert result.exit_code == 1
    assert "locked:1:1: ISO000 directory skipped: Permission denied" in result.stdout
    assert "ok.py:3:9: ISO201" in result.stdout


def test_a_named_directory_inside_an_excluded_one_is_walked(in_tmp: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=in_tmp, check=True)
    write(in_tmp / ".gitignore", ".venv/\n")
    site = in_tmp / ".venv" / "lib" / "site-packages"
    for name in ("pkg/a.py", "pkg/build/gen.py", "pkg/tests/t.py"):
        write(site / name, "x = 1\n")
    assert found(".venv/lib/site-packages") == [
        ".venv/lib/site-packages/pkg/a.py",
        ".venv/lib/site-packages/pkg/tests/t.py",
    ]
    assert found() == []
