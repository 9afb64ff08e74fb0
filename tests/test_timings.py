"""`check --timings` and `fix --timings`: where the files and the time went, on stderr."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from isolint import timing
from isolint.output.text import timings_text
from isolint.pipeline import Stats
from tests.conftest import write
from tests.helpers import run_cli

SESSION = "class A{i}:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from app.state import DeepAgentState\n\n\ndef f(s: DeepAgentState):\n    return s\n"
CLEAN = "def f():\n    return 1\n"

DRIVER_ROWS = ("discover", "index", "cache lookup", "check", "output", "total")
WORKER_ROWS = (*timing.PHASES, "other", "total")
ROW = re.compile(r"^  (\S.*?)\s+(\d[\d,]*(?:\.\d+)?)(?:  .*)?$")


def parse(stderr: str) -> dict[str, dict[str, float]]:
    """{section heading: {row label: value}} from the --timings table."""
    sections: dict[str, dict[str, float]] = {}
    current: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if not line.startswith("  "):
            current = sections.setdefault(line.split(" (")[0].split(":")[0], {})
            continue
        match = ROW.match(line)
        if match:
            current[match.group(1)] = float(match.group(2).replace(",", ""))
    return sections


def tree(root: Path) -> None:
    for i in range(6):
        write(root / "app" / f"s{i}.py", SESSION.format(i=i))
    write(root / "app" / "legacy.py", LEGACY)
    for i in range(5):
        write(root / "app" / f"clean{i}.py", CLEAN)


def test_counts_are_exact_and_a_second_run_is_all_cached(in_tmp: Path) -> None:
    tree(in_tmp)
    plain = run_cli("check", "--statistics", "--jobs", "1")
    assert "Driver phases" not in plain.stderr  # --statistics alone is unchanged

    first = run_cli("check", "--statistics", "--timings", "--jobs", "1", "--no-cache")
    assert first.exit_code == 1
    assert first.stdout == plain.stdout  # the table goes to stderr only
    files = parse(first.stderr)["Files"]
    assert files["seen"] == 12
    assert files["cached"] == 0
    assert files["skipped by prefilter"] == 5
    assert files["parsed"] == 7
    assert files["cached"] + files["skipped by prefilter"] + files["parsed"] == files["seen"]
    assert files["indexed"] == 6 and files["index cached"] == 0  # the six classes match ISO201's index prefilter

    warm = run_cli("check", "--statistics", "--timings", "--jobs", "1")  # `plain` filled the cache
    assert warm.stdout == plain.stdout
    sections = parse(warm.stderr)
    assert sections["Files"]["cached"] == sections["Files"]["seen"] == 12
    assert sections["Files"]["parsed"] == sections["Files"]["skipped by prefilter"] == 0
    assert sections["Files"]["indexed"] == 0 and sections["Files"]["index cached"] == 12
    assert "Slowest files: none checked (all cached)" in warm.stderr


def test_every_phase_row_is_shown_and_stdout_stays_json(in_tmp: Path) -> None:
    tree(in_tmp)
    result = run_cli("check", "--output-format", "json", "--timings", "--no-cache", "--jobs", "1")
    assert result.exit_code == 1
    assert {row["code"] for row in json.loads(result.stdout)} == {"ISO201", "ISO401", "ISO402"}
    sections = parse(result.stderr)
    assert list(sections) == ["Files", "Driver phases", "Worker phases", "Slowest files"]
    assert tuple(sections["Driver phases"]) == DRIVER_ROWS
    assert tuple(sections["Worker phases"])[: len(timing.PHASES)] == timing.PHASES
    assert set(WORKER_ROWS) <= set(sections["Worker phases"])
    assert all(value >= 0 for section in sections.values() for value in section.values())
    slowest = [line for line in result.stderr.split("Slowest files")[1].splitlines()[1:] if line.strip()]
    assert len(slowest) == 5 and all(line.strip().split()[1].startswith("app/") for line in slowest)


def test_statistics_json_with_timings(in_tmp: Path) -> None:
    tree(in_tmp)
    result = run_cli("check", "--statistics", "--output-format", "json", "--timings", "--jobs", "1")
    assert {row["code"] for row in json.loads(result.stdout)} == {"ISO201", "ISO401", "ISO402"}
    assert "Worker phases" in result.stderr


def test_fix_timings_show_the_fix_phase(in_tmp: Path) -> None:
    write(in_tmp / "legacy.py", LEGACY)
    result = run_cli("fix", "--unsafe-fixes", "--timings", "--jobs", "1", "--output-format", "json")
    json.loads(result.stdout)
    driver = parse(result.stderr)["Driver phases"]
    assert {"check", "fix", "verify", "recheck", "output"} <= set(driver)
    diff = run_cli("fix", "--diff", "--timings", "--jobs", "1")
    assert "fix" in parse(diff.stderr)["Driver phases"]


def test_timings_and_add_ignore_do_not_combine(in_tmp: Path) -> None:
    write(in_tmp / "legacy.py", LEGACY)
    assert run_cli("check", "--add-ignore", "--timings").exit_code == 2


def test_parallel_run_counts_match_the_inline_one(in_tmp: Path) -> None:
    for i in range(40):
        write(in_tmp / "pkg" / f"s{i}.py", SESSION.format(i=i) if i % 2 else CLEAN)
    inline = parse(run_cli("check", "--timings", "--no-cache", "--jobs", "1").stderr)
    pooled = run_cli("check", "--timings", "--no-cache", "--jobs", "2")
    assert "summed over 2 processes" in pooled.stderr
    assert parse(pooled.stderr)["Files"] == inline["Files"]
    assert inline["Files"]["parsed"] == 20 and inline["Files"]["skipped by prefilter"] == 20


# --- the accumulator -----------------------------------------------------------


def test_nested_phases_count_once() -> None:
    timing.reset()
    with timing.phase("outer"):
        time.sleep(0.01)
        with timing.phase("inner"):
            time.sleep(0.02)
    totals = timing.snapshot()
    assert totals["inner"] >= 0.02
    assert 0.01 <= totals["outer"] < totals["inner"] + 0.01
    timing.reset()
    assert timing.snapshot() == {}


def test_a_phase_that_raises_still_counts() -> None:
    timing.reset()
    with pytest.raises(ValueError), timing.phase("read"):
        raise ValueError
    assert timing.snapshot()["read"] >= 0
    timing.reset()


def test_table_of_empty_stats() -> None:
    text = timings_text(Stats())
    assert "Slowest files: none checked (all cached)" in text
    for name in (*timing.PHASES, "discover", "cache lookup"):
        assert f"  {name} " in text
    assert "  fix " not in text  # only once a fix ran
