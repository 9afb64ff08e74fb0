"""`report --history` and the baseline workflow over a real git history.

The repository is a copy of fixtures/legacy_app whose commits migrate the
legacy state class to the context class (legacy -> partly -> fully migrated),
with unrelated edits that shift lines in between.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from isolint.config import load_settings
from isolint.history import run_history
from isolint.progress import TargetFormTotals
from isolint.runner import run_check
from tests.conftest import FIXTURES
from tests.helpers import run_cli

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

GOLDEN = Path(__file__).parent / "golden" / "history-report.md"
UPDATE_GOLDEN = os.environ.get("ISOLINT_UPDATE_GOLDEN") == "1"  # regenerate after an intended change
# The legacy-state references a rename migrates completely; the other rules
# need hand edits that string replacements would only fake.
CONFIG = 'select = ["ISO401", "ISO402", "ISO403", "ISO406"]\nbaseline = ".isolint-baseline.json"\n'
MIGRATE_IMPORT = ("from chatapp.state import DeepAgentState", "from isolint.runtime import UserExecutionContext")


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.commits: list[str] = []
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        day = len(self.commits) + 1
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Dev",
            "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev",
            "GIT_COMMITTER_EMAIL": "dev@example.com",
            "GIT_AUTHOR_DATE": f"2024-03-{day:02d}T12:00:00Z",
            "GIT_COMMITTER_DATE": f"2024-03-{day:02d}T12:00:00Z",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        return subprocess.run(["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True).stdout

    def edit(self, path: str, *replacements: tuple[str, str] | tuple[str, str, int], prepend: str = "") -> None:
        file = self.root / "chatapp" / path
        text = file.read_text()
        for old, new, *count in replacements:
            assert old in text, (path, old)
            text = text.replace(old, new, *count)
        file.write_text(prepend + text)

    def commit(self, message: str) -> str:
        self.git("add", "-A", ".")
        self.git("commit", "-q", "-m", message)
        self.commits.append(self.git("rev-parse", "HEAD").strip())
        return self.commits[-1]

    def export(self, sha: str, into: Path) -> Path:
        """The commit's tree as files, to check it the ordinary way."""
        archive = subprocess.run(["git", "archive", sha], cwd=self.root, check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # our own archive
        return into


def _migrate(repo: Repo, *files: str) -> None:
    for path in files:
        repo.edit(path, MIGRATE_IMPORT, ("DeepAgentState", "UserExecutionContext"))


def _shift_lines(repo: Repo, *files: str) -> None:
    """Unrelated edits: a header comment and a helper above every finding."""
    for path in files:
        repo.edit(path, prepend="# Copyright Acme Insights.\n# Licensed under the Apache License 2.0.\n\n")
        repo.edit(path, ('"""\n', '"""\n\nRETRIES = 3  # unrelated tuning knobs\nTIMEOUT_SECONDS = 10.0\n', 1))


def _new_baseline_entries(repo: Repo) -> list[dict[str, str]]:
    return json.loads((repo.root / ".isolint-baseline.json").read_text())["findings"]


def _history_json(*args: str) -> dict:
    result = run_cli("report", "--history", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "legacy_app", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "isolint.toml").write_text(CONFIG)
    (root / ".gitignore").write_text(".isolint-baseline.json\n")
    monkeypatch.chdir(root)
    return Repo(root)


def test_migration_history_baseline_and_report(repo: Repo, tmp_path: Path) -> None:
    repo.commit("Legacy app")
    assert run_cli("baseline", "--write").exit_code == 0
    written = _new_baseline_entries(repo)
    assert written

    _shift_lines(repo, "agents/base.py", "supervisor.py", "agents/reporting.py")
    repo.commit("Add license headers")
    # The baseline survives the line shifts: nothing new, nothing fixed.
    result = run_cli("check", "--output-format", "concise")
    assert result.exit_code == 0, result.stdout
    assert f"{len(written)} known findings (baseline)." in result.stdout

    _migrate(repo, "agents/triage.py", "agents/data.py")
    repo.commit("Migrate triage and data agents to the request context")
    result = run_cli("check")
    assert result.exit_code == 0
    fixed = len(written) - int(result.stdout.split("known findings")[0].split()[-1])
    assert fixed > 0 and f"{fixed} fixed since the baseline: run `isolint baseline --update`" in result.stdout

    # --update drops exactly the fixed entries.
    assert run_cli("baseline", "--update").exit_code == 0
    ratcheted = _new_baseline_entries(repo)
    assert len(ratcheted) == len(written) - fixed and all(entry in written for entry in ratcheted)

    # A new violation (in a file with shifted lines around it) is the only thing flagged.
    app = repo.root / "chatapp" / "app.py"
    original_app = app.read_text()
    app.write_text(
        original_app.replace(
            '"""Application factory.', '"""Application factory, now with notes.\n\nMore notes.\n', 1
        ).replace(
            "from chatapp.routes import router",
            "from chatapp.routes import router\nfrom chatapp.state import DeepAgentState  # replay tooling",
            1,
        )
    )
    result = run_cli("check", "--output-format", "json")
    assert result.exit_code == 1
    assert [(row["code"], row["filename"].endswith("chatapp/app.py")) for row in json.loads(result.stdout)] == [
        ("ISO401", True)
    ]
    # --update refuses to add it (only ratchets down); --allow-new accepts it.
    assert run_cli("baseline", "--update").exit_code == 1
    assert _new_baseline_entries(repo) == ratcheted
    assert run_cli("baseline", "--update", "--allow-new").exit_code == 0
    assert len(_new_baseline_entries(repo)) == len(ratcheted) + 1
    app.write_text(original_app)
    assert run_cli("baseline", "--update").exit_code == 0
    assert _new_baseline_entries(repo) == ratcheted

    _shift_lines(repo, "agents/triage.py", "app.py")
    repo.commit("Tidy imports")
    assert run_cli("check").exit_code == 0

    # The golden report: partly migrated, with history and progress since the baseline.
    markdown = run_cli("report", "--history", "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(markdown.stdout)
    assert markdown.stdout == GOLDEN.read_text()

    _migrate(repo, "agents/base.py", "agents/reporting.py", "supervisor.py")
    repo.commit("Finish the context migration")

    # History totals per commit: exactly what checking each commit's checkout reports.
    document = _history_json()
    rows = document["history"]
    assert [row["commit"] for row in rows] == repo.commits
    for index, (row, sha) in enumerate(zip(rows, repo.commits, strict=True)):
        tree = repo.export(sha, tmp_path / f"tree{index}")
        settings = load_settings([tree])
        target_forms = TargetFormTotals()
        checked = run_check([tree], settings, jobs=1, use_cache=False, target_forms=target_forms)
        assert row["findings"] == len(checked.findings), row["subject"]
        assert row["files"] == len(checked.files)
        assert row["progress"]["legacy-state"]["target"] == target_forms.total().get("legacy-state", 0)
    totals = [row["findings"] for row in rows]
    targets = [row["progress"]["legacy-state"]["target"] for row in rows]
    assert totals[0] == totals[1] > totals[2] == totals[3] > totals[4] == 0
    assert targets[0] == targets[1] == 0 < targets[2] == targets[3] < targets[4]
    assert rows[-1]["families"] == {"legacy-state": 0}
    assert document["summary"]["findings"] == 0 and document["baseline"]["fixed"] == len(ratcheted)

    # Sampling and ranges.
    assert [r["commit"] for r in _history_json("--commits", "2")["history"]] == repo.commits[-2:]
    assert [r["commit"] for r in _history_json("--since", repo.commits[1])["history"]] == repo.commits[1:]
    assert [r["commit"] for r in _history_json("--every", "2")["history"]] == repo.commits[::2]
    assert [r["commit"] for r in _history_json("--since", repo.commits[0], "--every", "3")["history"]] == [
        repo.commits[1],
        repo.commits[4],
    ]

    csv = run_cli("report", "--history", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("commit,date,subject,files,findings,safe,unsafe,manual,unparsable,legacy-state,")
    assert [line.split(",")[4] for line in csv[1:]] == [str(t) for t in totals]


def test_unchanged_blobs_are_free_the_second_time(repo: Repo) -> None:
    repo.commit("Legacy app")
    _migrate(repo, "agents/triage.py")
    repo.commit("Migrate triage")
    settings = load_settings([repo.root])
    first = run_history([], settings, commits=10, since=None, every=1, jobs=1)
    python_files = len(first.results[0].paths)
    assert first.blobs_read == first.blobs_checked == python_files + 1  # each distinct blob once: triage.py changed
    again = run_history([], settings, commits=10, since=None, every=1, jobs=1)
    assert (again.blobs_read, again.blobs_checked) == (0, 0)
    assert [len(r.findings) for r in again.results] == [len(r.findings) for r in first.results]


def test_files_are_checked_again_only_when_facts_they_depend_on_change_in_substance(repo: Repo, tmp_path: Path) -> None:
    """Every rule on. The index of every commit differs, yet the modules
    calling `execute` are not checked again when a signature moves from the
    legacy state to the context class (both mark the parameter that carries
    the state), nor anything when definitions only shift lines; and each
    commit's totals are still what a checkout reports."""
    (repo.root / "isolint.toml").write_text("")
    repo.commit("Legacy app")
    _migrate(repo, "agents/triage.py")
    repo.commit("Migrate triage")
    _shift_lines(repo, "agents/base.py", "registry.py")  # moves indexed definitions others call
    repo.commit("License headers")
    history = run_history([], load_settings([repo.root]), commits=10, since=None, every=1, jobs=1)
    python_files = len(history.results[0].paths)
    assert history.blobs_read == python_files + 3
    # Checked again, rightly: `TriageAgent`'s methods now receive a context,
    # which ISO201 in base.py (its base class) reads, and app.py and
    # agents/__init__.py name `TriageAgent`.
    assert history.blobs_checked == python_files + 3 + 3
    for index, (result, sha) in enumerate(zip(history.results, repo.commits, strict=True)):
        tree = repo.export(sha, tmp_path / f"tree{index}")
        target_forms = TargetFormTotals()
        checked = run_check([tree], load_settings([tree]), jobs=1, use_cache=False, target_forms=target_forms)
        assert Counter(f.code for f in result.findings) == Counter(f.code for f in checked.findings), (
            result.commit.subject
        )
        assert result.counts == {family: n for family, n in target_forms.total().items() if n}, result.commit.subject


def test_paths_restrict_the_history(repo: Repo) -> None:
    repo.commit("Legacy app")
    document = _history_json("chatapp/agents", "--no-baseline")
    assert document["history"][0]["files"] == len(list((repo.root / "chatapp" / "agents").glob("*.py")))
    assert all(row["path"].startswith("chatapp/agents") for row in document["directories"])


def test_history_outside_git_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "a.py").write_text("x = 1\n")
    result = run_cli("report", "--history")
    assert result.exit_code == 2
    assert "not inside a git repository" in result.stderr


def test_history_options_need_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli("report", "--commits", "3").exit_code == 2
    assert run_cli("report", "--format", "csv").exit_code == 2
