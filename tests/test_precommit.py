"""The real pre-commit runs our hooks from this repository (`pre-commit try-repo`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, write

pytestmark = pytest.mark.precommit


def test_hook_manifest_matches_the_documented_hooks() -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["isolint"]["entry"] == "isolint check --force-exclude"
    assert hooks["isolint-fix"]["entry"] == "isolint fix --force-exclude"
    for hook in hooks.values():
        assert hook["types_or"] == ["python", "pyi"] and hook["require_serial"] is True


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _try_repo(project: Path, hook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook, "--all-files", "--color", "never"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_try_repo_fails_on_a_violation_and_passes_after_the_fix(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / "app" / "agent.py", "from app.state import DeepAgentState\n")
    write(project / "app" / "clean.py", "x = 1\n")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "start")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "ISOLINT_CACHE_DIR": str(tmp_path / "cache"),
    }

    failing = _try_repo(project, "isolint", env)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "app/agent.py:1:23: ISO401" in failing.stdout

    fixing = _try_repo(project, "isolint-fix", env)
    assert fixing.returncode == 1, fixing.stdout + fixing.stderr  # files were modified
    assert "files were modified by this hook" in fixing.stdout
    assert (project / "app" / "agent.py").read_text() == "from isolint.runtime import UserExecutionContext\n"

    passing = _try_repo(project, "isolint", env)
    assert passing.returncode == 0, passing.stdout + passing.stderr
