"""Suppression hygiene: stale and misspelt suppressions are reported (ISO001,
ISO002), and `isolint fix` removes the stale ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import write
from tests.workflow_cli import isolint

WORKER = "class Worker:\n    def __init__(self, db, name):\n"


def concise(cwd: Path, *args: str) -> list[str]:
    result = isolint(cwd, "check", "--output-format", "concise", *args)
    return [line for line in result.stdout.splitlines() if ": ISO" in line]


def test_a_suppression_outliving_its_finding_is_reported_then_removed_by_fix(tmp_path: Path) -> None:
    write(tmp_path / "worker.py", WORKER + "        self.db = db  # isolint: ignore[ISO201]\n")
    assert isolint(tmp_path, "check").returncode == 0  # the suppression hides a real finding

    # The migration moves the session off `self`; the comment stays behind.
    write(tmp_path / "worker.py", WORKER + "        self.name = name  # isolint: ignore[ISO201]\n")
    assert concise(tmp_path) == [
        "worker.py:3:27: ISO001 [*] unused suppression of ISO201: no such finding is reported on this line."
    ]
    assert isolint(tmp_path, "check").returncode == 1

    fixed = isolint(tmp_path, "fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (tmp_path / "worker.py").read_text() == WORKER + "        self.name = name\n"
    assert isolint(tmp_path, "check").returncode == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("x = 1  # isolint: ignore[ISO203]\n", "x = 1\n"),
        ("# isolint: ignore[ISO203]\nx = 1\n", "x = 1\n"),
        ("x = 1  # type: ignore  # isolint: ignore[ISO203]\n", "x = 1  # type: ignore\n"),
        ("x = 1  # isolint: ignore[ISO203] legacy adapter\n", "x = 1  # legacy adapter\n"),
        ("x = 1  # noqa: E501, ISO203\n", "x = 1  # noqa: E501\n"),
        ("x = 1  # noqa: ISO203\n", "x = 1\n"),
        ("x = 1  # isolint: ignore\r\ny = 2\r\n", "x = 1\r\ny = 2\r\n"),
        ("# isolint: file-ignore[ISO3]\nx = 1\n", "x = 1\n"),
    ],
    ids=[
        "trailing",
        "own-line",
        "after-another-comment",
        "words-after",
        "noqa-shared",
        "noqa-alone",
        "crlf-bare",
        "file-wide",
    ],
)
def test_fix_removes_exactly_the_unused_directive(tmp_path: Path, before: str, after: str) -> None:
    target = write(tmp_path / "m.py", before.encode())
    assert isolint(tmp_path, "fix").returncode == 0
    assert target.read_bytes() == after.encode()


def test_fix_keeps_the_used_codes_of_a_directive(tmp_path: Path) -> None:
    target = write(tmp_path / "worker.py", WORKER + "        self.db = db  # isolint: ignore[ISO101, ISO201, ISO3]\n")
    assert isolint(tmp_path, "fix").returncode == 0
    assert target.read_text() == WORKER + "        self.db = db  # isolint: ignore[ISO201]\n"


def test_fix_diff_shows_the_removal_and_writes_nothing(tmp_path: Path) -> None:
    target = write(tmp_path / "m.py", "x = 1  # isolint: ignore[ISO203]\n")
    diff = isolint(tmp_path, "fix", "--diff")
    assert diff.returncode == 1
    assert "-x = 1  # isolint: ignore[ISO203]\n+x = 1\n" in diff.stdout
    assert target.read_text() == "x = 1  # isolint: ignore[ISO203]\n"


def test_a_code_is_judged_only_when_its_rule_ran(tmp_path: Path) -> None:
    write(tmp_path / "m.py", "x = 1  # isolint: ignore[ISO301]\ny = 2  # isolint: ignore\n")
    assert [line.split(" ")[1] for line in concise(tmp_path)] == ["ISO001", "ISO001"]
    # ISO301 never ran, so "unused" cannot be said of it, nor of a blanket ignore.
    assert concise(tmp_path, "--ignore", "ISO3") == []
    assert concise(tmp_path, "--select", "ISO0,ISO2") == []


def test_unknown_codes_are_reported_with_the_closest_real_one(tmp_path: Path) -> None:
    write(
        tmp_path / "worker.py",
        WORKER
        + "        self.db = db  # isolint: ignore[sesion-on-instance]\n        self.name = name  # noqa: ISO2001, E501\n",
    )
    assert [line.split(": ", 1)[1] for line in concise(tmp_path)[1:]] == [
        "ISO002 `sesion-on-instance` in a suppression names no isolint rule, so it hides nothing; did you mean `session-on-instance`?",
        "ISO002 `ISO2001` in a suppression names no isolint rule, so it hides nothing; did you mean `ISO201`?",
    ]
    assert concise(tmp_path)[0].startswith("worker.py:3:9: ISO201 ")  # the misspelt suppression hid nothing


def test_hygiene_findings_are_hidden_only_by_naming_them(tmp_path: Path) -> None:
    write(tmp_path / "m.py", "x = 1  # isolint: ignore  # isolint: ignore[ISO001]\n")
    assert concise(tmp_path) == []
    write(tmp_path / "m.py", "# isolint: file-ignore[unused-suppression]\nx = 1  # isolint: ignore[ISO203]\n")
    assert concise(tmp_path) == []
    # A blanket ignore does not hide the report that it is itself unused.
    write(tmp_path / "m.py", "x = 1  # isolint: ignore\n")
    assert len(concise(tmp_path)) == 1


def test_cached_results_report_the_same(tmp_path: Path) -> None:
    write(tmp_path / "m.py", "x = 1  # isolint: ignore[ISO203]\n")
    cache = {"NO_COLOR": "1", "ISOLINT_CACHE_DIR": str(tmp_path / "cache")}
    first = isolint(tmp_path, "check", "--output-format", "concise", env=cache)
    second = isolint(tmp_path, "check", "--output-format", "concise", env=cache)
    assert first.returncode == second.returncode == 1 and first.stdout == second.stdout and "ISO001" in first.stdout
