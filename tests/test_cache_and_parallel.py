"""The results cache and worker processes: same answers, less work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isolint.config import load_settings
from isolint.runner import run_check
from tests.conftest import write

SESSION = "class A{i}:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from app.state import DeepAgentState\n"


def tree(root: Path, files: int = 60) -> None:
    for i in range(files):
        write(root / f"pkg{i % 5}" / f"m{i}.py", SESSION.format(i=i) + (LEGACY if i % 3 == 0 else "") + "x = 1\n" * 20)
    for i in range(20):
        write(root / "clean" / f"c{i}.py", "def f():\n    return 1\n")


def check(root: Path, jobs: int = 1, use_cache: bool = True):  # type: ignore[no-untyped-def]
    settings = load_settings([root])
    return run_check([root], settings, jobs=jobs, use_cache=use_cache)


def test_second_run_parses_nothing_and_gives_the_same_findings(in_tmp: Path) -> None:
    tree(in_tmp)
    cold = check(in_tmp)
    assert cold.stats.parsed == 60 and cold.stats.prefiltered == 20 and cold.stats.cached == 0
    warm = check(in_tmp)
    assert warm.stats.parsed == 0 and warm.stats.cached == 80
    assert warm.findings == cold.findings


def test_touched_but_unchanged_file_is_a_content_hit(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    check(in_tmp)
    target = in_tmp / "pkg0" / "m0.py"
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = check(in_tmp)
    assert again.stats.parsed == 0


def test_changed_file_is_parsed_again(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    first = check(in_tmp)
    target = in_tmp / "pkg0" / "m0.py"
    target.write_text("x = 1\n")
    again = check(in_tmp)
    assert again.stats.parsed == 0 and again.stats.prefiltered == 1
    assert len(again.findings) == len(first.findings) - 2


def test_settings_change_invalidates(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    check(in_tmp)
    write(in_tmp / "pyproject.toml", '[tool.isolint.rules.ISO201]\nnames = ["other"]\n')
    again = check(in_tmp)
    assert again.stats.cached == 0
    assert {f.code for f in again.findings} == {"ISO401"}


def test_no_cache_neither_reads_nor_writes(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    cache_dir = Path(os.environ["ISOLINT_CACHE_DIR"])
    check(in_tmp, use_cache=False)
    assert not any(cache_dir.rglob("*.json"))
    check(in_tmp)
    assert any(cache_dir.rglob("*.json"))
    assert check(in_tmp, use_cache=False).stats.cached == 0


def test_corrupt_cache_is_ignored(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    first = check(in_tmp)
    for file in Path(os.environ["ISOLINT_CACHE_DIR"]).rglob("*.json"):
        file.write_text("{not json")
    again = check(in_tmp)
    assert again.findings == first.findings and again.stats.cached == 0


def test_cache_directory_is_marked_and_ignored_by_git(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISOLINT_CACHE_DIR")
    tree(in_tmp, files=2)
    check(in_tmp)
    assert (in_tmp / ".isolint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (in_tmp / ".isolint_cache" / "CACHEDIR.TAG").exists()


def test_order_is_the_same_whatever_the_job_count(in_tmp: Path) -> None:
    tree(in_tmp, files=80)
    serial = check(in_tmp, jobs=1, use_cache=False)
    parallel = check(in_tmp, jobs=2, use_cache=False)
    assert parallel.findings == serial.findings
    keys = [f.sort_key for f in serial.findings]
    assert keys == sorted(keys)


def test_two_processes_sharing_one_cache_both_succeed(in_tmp: Path) -> None:
    tree(in_tmp, files=150)
    command = [sys.executable, "-m", "isolint", "check", "--output-format", "json", "--jobs", "1", "."]
    procs = [subprocess.Popen(command, cwd=in_tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [o[1] for o in outputs]
    assert json.loads(outputs[0][0]) == json.loads(outputs[1][0])
    for file in Path(os.environ["ISOLINT_CACHE_DIR"]).rglob("*.json"):
        json.loads(file.read_text())  # still valid JSON
    assert check(in_tmp).stats.parsed == 0
