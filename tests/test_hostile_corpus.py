"""Every command over the generated hostile corpus (tests/hostile_corpus.py):
no traceback, no hang, no write outside the tree, exit codes as documented
(0 clean, 1 findings, 2 usage or configuration error), and every warning or
error names the file it is about."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.hostile_corpus import (
    BAD_BASELINES,
    BAD_CONFIGS,
    Corpus,
    build,
    git_repository,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks, FIFOs and byte file names")

DEADLINE = 300  # seconds; a hang fails the test instead of stalling the suite
# A message names what it is about: a file, a directory or a pattern's key.
NAMES_SOMETHING = re.compile(r"(\.py|\.json|\.toml|\.isolint_cache|/|--\w)")


def snapshot(directory: Path) -> dict[str, tuple[str, int, int, int]]:
    """Content hash, mode, owner and group of every file below `directory`."""
    state = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            status = path.stat()
            state[str(path)] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                status.st_mode,
                status.st_uid,
                status.st_gid,
            )
    return state


class Runner:
    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.outside_before = snapshot(corpus.outside)
        self.outcomes: list[tuple[str, int]] = []

    def __call__(
        self, *args: str, cwd: Path | None = None, allowed: tuple[int, ...] = (0, 1)
    ) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "ISOLINT_FILE_TIME_LIMIT": "2",
            "ISOLINT_CACHE_DIR": str(self.corpus.tree / ".isolint_cache"),
        }
        completed = subprocess.run(
            [sys.executable, "-m", "isolint", *args],
            cwd=cwd or self.corpus.tree,
            env=env,
            capture_output=True,
            timeout=DEADLINE,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        result = subprocess.CompletedProcess(
            completed.args,
            completed.returncode,
            completed.stdout.decode("utf-8", "surrogateescape"),
            completed.stderr.decode("utf-8", "surrogateescape"),
        )
        self.outcomes.append((" ".join(args), result.returncode))
        both = result.stdout + result.stderr
        assert "Traceback" not in both and "internal error" not in both, (args, result.stderr[-3000:])
        assert result.returncode in allowed, (args, result.returncode, result.stderr[-3000:])
        for line in result.stderr.splitlines():
            if line.startswith(("warning:", "isolint: error:")):
                assert NAMES_SOMETHING.search(line), (args, line)
        assert snapshot(self.corpus.outside) == self.outside_before, f"{args} wrote outside the tree"
        return result


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(build(tmp_path_factory.mktemp("hostile")))


def findings_of(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r":\d+:\d+: ISO\d{3} ", line)]


def test_check_reports_the_findings_and_names_every_skipped_input(run: Runner) -> None:
    result = run("check", "--output-format", "concise", "-j", "2", ".")
    assert result.returncode == 1
    found = "\n".join(findings_of(result.stdout))
    for expected in (
        "ordinary.py:3:9: ISO201",
        "contents/syntax_error.py:1:5: ISO000",
        # Too deep or too big for LibCST, but their rules (ISO4xx) visit `ast`:
        # a check no longer parses them with LibCST, and finds what is there.
        "contents/deep_and.py:4:10: ISO402",
        "contents/huge_dict.py:4:10: ISO402",
        "contents/nul.py:1:1: ISO000",
        "odd/a#b c.py:3:9: ISO201",
        "odd/ansi\\x1b[31mred.py:3:9: ISO201",
        "odd/latin\\xe9.py:3:9: ISO201",
        "link_out.py:1:15: ISO401",
    ):
        assert expected in found
    for warned in (
        "loop_a.py: skipped: symlink loop",
        "broken.py: skipped: broken symlink",
        "fifo.py: skipped: not a regular file",
        "link_out.py: links outside the given paths",
    ):
        assert warned in result.stderr
    if Path("/dev/zero").exists():
        assert "zero.py: skipped: not a regular file" in result.stderr


@pytest.mark.parametrize("output_format", ["json", "json-lines", "sarif", "junit", "github", "full"])
def test_every_output_format_parses_over_the_corpus(run: Runner, output_format: str) -> None:
    result = run("check", "--output-format", output_format, ".")
    assert result.returncode == 1
    if output_format == "json":
        assert len(json.loads(result.stdout)) > 20
    elif output_format == "json-lines":
        assert all(json.loads(line) for line in result.stdout.split("\n") if line)
    elif output_format == "sarif":
        uris = [
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(result.stdout)["runs"][0]["results"]
        ]
        assert "odd/a%23b%20c.py" in uris and not any("#" in uri or " " in uri for uri in uris)
    elif output_format == "junit":
        ElementTree.fromstring(result.stdout.encode("utf-8"))
    elif output_format == "github":
        # GitHub splits workflow commands at \n only (str.splitlines would also split at U+2028)
        assert all(line.startswith("::error ") for line in result.stdout.split("\n") if line)
    assert "\x1b[31m" not in result.stdout.replace("\x1b[31m\x1b[1m", "")  # only isolint's own styling, if any


def test_a_cache_that_does_not_validate_is_rebuilt(run: Runner) -> None:
    run("check", ".")
    for file in (run.corpus.tree / ".isolint_cache").rglob("*.json"):
        file.write_text(json.dumps({"format": 4, "files": {"x": "x"}, "results": {}}))
    result = run("check", ".")
    assert result.returncode == 1 and "discarded and rebuilt" in result.stderr


def test_fix_and_add_ignore_never_write_outside_the_tree(run: Runner) -> None:
    fixed = run("fix", "--unsafe-fixes", "-j", "2", ".")
    assert fixed.returncode == 1
    tree = run.corpus.tree
    assert (tree / "legacy.py").read_text().startswith("from isolint.runtime import UserExecutionContext\n\n\n")
    assert (tree / "contents" / "cr_only.py").read_bytes().endswith(b"\r")
    assert (tree / "contents" / "syntax_error.py").read_bytes() == b"x = (\n"
    assert stat.S_ISFIFO((tree / "fifo.py").lstat().st_mode)
    run("check", "--add-ignore", ".")


def test_baseline_and_report_over_the_corpus(run: Runner) -> None:
    assert run("baseline", "--write", "base.json", ".").returncode == 0
    assert run("check", "--baseline", "base.json", ".").returncode == 0
    for report_format in ("text", "markdown", "json", "html"):
        result = run("report", "--format", report_format, ".")
        if report_format == "markdown":
            assert "<img" not in result.stdout.replace("`<img", "")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_history_over_a_repository_whose_config_names_programs(run: Runner) -> None:
    marker = run.corpus.root / "trap-ran"
    trap = run.corpus.root / "trap.sh"
    trap.write_text(f"#!/bin/sh\ntouch '{marker}'\ncat >/dev/null\n")
    trap.chmod(0o755)
    repo = git_repository(run.corpus, trap)
    for report_format in ("markdown", "csv", "json"):
        result = run("report", "--history", "--format", report_format, ".", cwd=repo)
        if report_format == "csv":
            assert "'=HYPERLINK" in result.stdout
        if report_format == "markdown":
            assert "<!--" not in result.stdout and "<img" not in result.stdout
    assert not marker.exists()


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_each_bad_configuration_is_exit_2_naming_the_file(run: Runner, name: str) -> None:
    project = run.corpus.root / "configs" / name
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_bytes(BAD_CONFIGS[name])
    (project / "a.py").write_text("x = 1\n")
    for command in (("check",), ("fix",), ("baseline", "--write", "b.json"), ("report",)):
        result = run(*command, ".", cwd=project, allowed=(2,))
        assert "pyproject.toml" in result.stderr


@pytest.mark.parametrize("name", sorted(BAD_BASELINES))
def test_each_bad_baseline_is_exit_2_naming_the_file(run: Runner, name: str) -> None:
    baseline = run.corpus.root / "baselines" / f"{name}.json"
    baseline.parent.mkdir(parents=True, exist_ok=True)
    baseline.write_bytes(BAD_BASELINES[name])
    for command in (("check", "--baseline", str(baseline)), ("report", "--baseline", str(baseline))):
        result = run(*command, "ordinary.py", allowed=(2,))
        assert f"{name}.json" in result.stderr
