"""Baseline everywhere: a written baseline is used by `check`, `fix` and the
`isolint-fix` pre-commit hook without further configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write
from tests.workflow_cli import isolint

MODULE_SESSION = "from app.db import Session\nsession = Session()\n"  # ISO203: no fix, manual migration
LEGACY_IMPORT = "from app.state import DeepAgentState\n"  # ISO401: a safe fix
FIXED_IMPORT = "from isolint.runtime import UserExecutionContext\n"


def test_a_written_baseline_is_used_by_check_without_configuration(tmp_path: Path) -> None:
    write(tmp_path / "app" / "m.py", MODULE_SESSION)
    assert isolint(tmp_path, "check").returncode == 1

    written = isolint(tmp_path, "baseline", "--write")
    assert written.returncode == 0, written.stderr
    assert "Wrote 1 finding to .isolint-baseline.json." in written.stderr

    checked = isolint(tmp_path, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 known finding (baseline)" in checked.stdout
    # Opting out still works, and --isolated ignores the file like every other configuration.
    assert isolint(tmp_path, "check", "--no-baseline").returncode == 1
    assert isolint(tmp_path, "check", "--isolated").returncode == 1


def test_baseline_write_goes_to_the_configuration_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.isolint]\nignore = []\n")
    write(tmp_path / "app" / "m.py", MODULE_SESSION)
    assert isolint(tmp_path / "app", "baseline", "--write").returncode == 0
    assert (tmp_path / ".isolint-baseline.json").is_file() and not (
        tmp_path / "app" / ".isolint-baseline.json"
    ).exists()
    assert isolint(tmp_path / "app", "check").returncode == 0


def test_fix_fixes_what_it_can_and_fails_only_on_new_findings(tmp_path: Path) -> None:
    write(tmp_path / "app" / "m.py", MODULE_SESSION)
    assert isolint(tmp_path, "baseline", "--write").returncode == 0

    nothing_new = isolint(tmp_path, "fix")
    assert nothing_new.returncode == 0, nothing_new.stdout + nothing_new.stderr
    assert "0 findings remaining" in nothing_new.stdout and "1 known finding (baseline)" in nothing_new.stdout

    write(tmp_path / "app" / "n.py", LEGACY_IMPORT)
    fixed = isolint(tmp_path, "fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (tmp_path / "app" / "n.py").read_text() == FIXED_IMPORT

    write(tmp_path / "app" / "o.py", MODULE_SESSION.replace("session =", "other ="))
    new = isolint(tmp_path, "fix")
    assert new.returncode == 1
    assert "app/o.py:2:1: ISO203" in new.stdout and "app/m.py" not in new.stdout
    assert isolint(tmp_path, "fix", "--no-baseline").returncode == 1


def test_fix_with_a_broken_baseline_is_a_usage_error_and_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path / "app" / "n.py", LEGACY_IMPORT)
    write(tmp_path / ".isolint-baseline.json", "{not json")
    broken = isolint(tmp_path, "fix")
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr
    assert (tmp_path / "app" / "n.py").read_text() == LEGACY_IMPORT


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.precommit
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_fix_hook_passes_on_a_baselined_tree(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "app" / "m.py", MODULE_SESSION)
    write(project / "app" / "clean.py", "x = 1\n")
    assert isolint(project, "baseline", "--write").returncode == 0
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "ISOLINT_CACHE_DIR": str(tmp_path / "cache"),
    }

    def try_repo(hook: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook, "--all-files", "--color", "never"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    for hook in ("isolint-fix", "isolint"):
        passing = try_repo(hook)
        assert passing.returncode == 0, passing.stdout + passing.stderr
        assert "Passed" in passing.stdout

    write(project / "app" / "o.py", MODULE_SESSION.replace("session =", "other ="))
    _git(project, "add", "-A")  # --all-files means the tracked ones
    failing = try_repo("isolint-fix")
    assert failing.returncode == 1
    assert "app/o.py:2:1: ISO203" in failing.stdout and "app/m.py" not in failing.stdout


def _readme_local_hook() -> str:
    """The `repo: local` pre-commit configuration README.md gives, verbatim."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    [local] = [block for block in blocks if "repo: local" in block]
    return local


@pytest.mark.precommit
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_readme_local_hook_runs_the_installed_isolint_with_the_baseline(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "app" / "m.py", MODULE_SESSION)
    write(project / ".pre-commit-config.yaml", _readme_local_hook())
    assert isolint(project, "baseline", "--write").returncode == 0
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    bin_dir = str(Path(sys.executable).parent)  # where this environment's `isolint` is
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(tmp_path / "home"),
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    passing = run()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    write(project / "app" / "o.py", MODULE_SESSION.replace("session =", "other ="))
    _git(project, "add", "-A")
    failing = run()
    assert failing.returncode == 1 and "app/o.py:2:1: ISO203" in failing.stdout
