"""A file that would crash or stall LibCST's native parser costs that file
only, never the run (issue 16: F4, F5)."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from isolint import engine, pipeline
from isolint.config import load_settings
from isolint.runner import run_check, run_fix
from tests.conftest import write

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from x import DeepAgentState\n"
# CPython keeps `a and a and ...` flat; LibCST's native parser recurses once
# per operand and overflows its stack (SIGSEGV) at about 7,500 of them.
DEEP_AND = LEGACY + "x = " + " and ".join(["a"] * 8000) + "\n"


def project(root: Path, count: int = 30) -> None:
    for number in range(count):
        write(root / f"ok{number:02}.py", SESSION)


def test_a_boolean_chain_that_would_overflow_libcsts_stack_is_checked_on_ast_never_edited_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    project(tmp_path)
    write(tmp_path / "deep.py", DEEP_AND)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "isolint", *args, "--no-cache", "--output-format", "concise", "-j", "2", "."],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    # Its rules (ISO4xx) visit `ast`, which keeps the chain flat: a check reads it.
    checked = run("check")
    assert checked.returncode == 1, checked.stderr
    assert "deep.py:1:15: ISO401 " in checked.stdout
    assert sum(": ISO201 " in line for line in checked.stdout.splitlines()) == 30
    # Its fix's edits would need LibCST: the file stays as it is, and the others are fixed.
    fixed = run("fix", "--unsafe-fixes")
    assert "30 fixes applied" in fixed.stdout, fixed.stdout + fixed.stderr
    assert (tmp_path / "deep.py").read_text(encoding="utf-8") == DEEP_AND


def test_the_guard_leaves_boolean_chains_below_the_limit_alone() -> None:
    def chain(operands: int) -> str:
        return "x = " + " or ".join(["a"] * operands) + "\n"

    assert engine.native_parse_hazard(chain(2990), ast.parse(chain(2990))) is None
    assert "nests 3,014 levels deep" in (engine.native_parse_hazard(chain(3010), ast.parse(chain(3010))) or "")


def _dies_on(name: str) -> object:
    """`check_unit` that kills its worker process on the file called `name`,
    as a segfault in native code would."""
    real_check_unit = pipeline.check_unit

    def check_unit(unit: pipeline.Unit, state: pipeline.CheckState) -> object:
        if Path(unit.shown).name == name:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_check_unit(unit, state)

    return check_unit


@pytest.mark.skipif(sys.platform == "win32", reason="forked workers inherit the patched function")
def test_a_worker_that_dies_costs_one_file_not_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project(tmp_path, 40)
    write(tmp_path / "crash.py", SESSION)
    monkeypatch.setattr(pipeline, "check_unit", _dies_on("crash.py"))
    settings = load_settings([tmp_path], isolated=True)
    result = run_check([tmp_path], settings, jobs=2, use_cache=False)
    crashed = [f for f in result.findings if f.code == "ISO000"]
    assert [(Path(f.path).name, f.message) for f in crashed] == [("crash.py", pipeline.WORKER_CRASHED)]
    assert sum(f.code == "ISO201" for f in result.findings) == 40
    assert result.stats.workers == 2


@pytest.mark.skipif(sys.platform == "win32", reason="forked workers inherit the patched function")
def test_fix_survives_a_worker_that_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for number in range(30):
        write(tmp_path / f"legacy{number:02}.py", LEGACY)
    write(tmp_path / "crash.py", LEGACY)
    real_fix_text = engine.fix_text

    def fix_text(source: object, path: str, *args: object, **kwargs: object) -> object:
        if Path(path).name == "crash.py":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_fix_text(source, path, *args, **kwargs)

    monkeypatch.setattr(engine, "fix_text", fix_text)
    settings = load_settings([tmp_path], isolated=True)
    result = run_fix([tmp_path], settings, jobs=2, unsafe=False, use_cache=False)
    assert (tmp_path / "crash.py").read_text() == LEGACY
    assert all(
        (tmp_path / f"legacy{n:02}.py").read_text() == "from isolint.runtime import UserExecutionContext\n"
        for n in range(30)
    )
    assert [(Path(f.path).name, f.error) for f in result.fixed_files if f.error] == [
        ("crash.py", "not fixed: its worker process died")
    ]


def test_a_file_too_big_to_parse_within_the_time_limit_is_skipped_before_the_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LibCST's native parse cannot be interrupted; the limit holds because
    the parse is not started when its cost estimate exceeds it."""
    monkeypatch.setattr(engine, "FILE_TIME_LIMIT", 0.1)
    path = write(
        tmp_path / "table.py", LEGACY + "TABLE = {\n" + "".join(f"    {i}: {i},\n" for i in range(8000)) + "}\n"
    )
    settings = load_settings([path], isolated=True)
    findings = run_check([path], settings, jobs=1, use_cache=False).findings
    assert [f.code for f in findings] == ["ISO000"]
    assert findings[0].message.startswith("file skipped: too complex (16,007 syntax nodes")
    assert (
        "syntax nodes would take longer than 0.1 s to parse; set ISOLINT_FILE_TIME_LIMIT to allow more"
        in findings[0].message
    )


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("git") is None, reason="needs git, and forked workers")
def test_report_history_survives_a_worker_that_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from isolint import history

    repo = tmp_path / "repo"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "D",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "D",
        "GIT_COMMITTER_EMAIL": "d@x",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for number in range(30):  # distinct blobs: history checks each blob once
        write(repo / f"ok{number:02}.py", SESSION + f"# {number}\n")
    write(repo / "crash.py", SESSION + "# crash\n")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "one")):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    real_analyse = pipeline.analyse
    parent = os.getpid()

    def analyse(keyed: pipeline.Keyed) -> object:
        if b"# crash" in keyed.read.raw:
            assert os.getpid() != parent, "must run in a worker"
            os.kill(os.getpid(), signal.SIGKILL)
        return real_analyse(keyed)

    monkeypatch.setattr(pipeline, "analyse", analyse)
    settings = load_settings([repo], isolated=True)
    walked = history.run_history([repo], settings, commits=1, since=None, every=1, jobs=2, use_cache=False)
    [result] = walked.results
    assert sum(f.code == "ISO201" for f in result.findings) == 30
    assert [(f.path, f.message) for f in result.findings if f.code == "ISO000"] == [
        ("crash.py", pipeline.WORKER_CRASHED)
    ]


def test_the_time_limit_holds_when_libcst_disguises_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LibCST's position recorder, interrupted by the time limit mid-module,
    raises a KeyError of its own from its context managers: the file is
    still reported as too slow, and the run goes on."""

    def interrupted_in_libcst(*args: object, **kwargs: object) -> object:
        try:
            raise engine._FileTimeout
        except engine._FileTimeout:
            raise KeyError("a node LibCST never finished") from None

    monkeypatch.setattr(engine, "_ast_findings", interrupted_in_libcst)
    path = write(tmp_path / "legacy.py", LEGACY)
    settings = load_settings([path], isolated=True)
    findings = run_check([path], settings, jobs=1, use_cache=False).findings
    assert [(f.code, f.message) for f in findings] == [
        (
            "ISO000",
            f"file skipped: too complex (took longer than {engine.FILE_TIME_LIMIT:g} s; "
            "set ISOLINT_FILE_TIME_LIMIT to allow more)",
        )
    ]


# A worker that dies while it holds a lock of the pool's shared state: as a
# worker the executor terminates, when another dies, while it records its
# item. The driver then reads that state to find the culprit.
_DIES_HOLDING_THE_TABLE = """
import os, signal, sys
from isolint import pool

def work(item):
    if item == 3:
        table = pool._tracker["in_flight"]
        if hasattr(table, "get_lock"):
            table.get_lock().acquire()
        os.kill(os.getpid(), signal.SIGKILL)
    return item

results = list(pool.resilient_map(work, list(range(8)), 2, 1, lambda: None, (), lambda item: "crashed"))
print(results)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="forked workers inherit the function")
def test_a_worker_dying_while_it_records_its_item_does_not_stall_the_driver() -> None:
    result = subprocess.run([sys.executable, "-c", _DIES_HOLDING_THE_TABLE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[0, 1, 2, 'crashed', 4, 5, 6, 7]\n"
