"""The command line: exit codes, options and the rule listing, as ruff users expect."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from isolint import __version__
from isolint.cli import console_main
from isolint.rules import ALL_RULES
from tests.conftest import write
from tests.helpers import run_cli

SINGLETON = """\
class Registry:
    _instance = None

    @classmethod
    def get_instance(cls):
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance
"""
LEGACY_IMPORT = "from app.state import DeepAgentState\n\n\ndef f(s: DeepAgentState):\n    return s\n"


def test_clean_tree_exits_zero(in_tmp: Path) -> None:
    write(in_tmp / "ok.py", "x = 1\n")
    result = run_cli("check")
    assert result.exit_code == 0
    assert "All checks passed!" in result.stdout


def test_findings_exit_one_and_exit_zero_overrides(in_tmp: Path) -> None:
    write(in_tmp / "reg.py", SINGLETON)
    assert run_cli("check").exit_code == 1
    assert run_cli("check", "--exit-zero").exit_code == 0


def test_missing_path_is_a_usage_error(in_tmp: Path) -> None:
    result = run_cli("check", "does-not-exist.py")
    assert result.exit_code == 2
    assert "does-not-exist.py: no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_a_usage_error(in_tmp: Path) -> None:
    assert run_cli("check", "--no-such-flag").exit_code == 2


@pytest.mark.parametrize("selector", ["ISO999", "nonsense-rule", "XYZ1"])
def test_unknown_selector_is_exit_two(in_tmp: Path, selector: str) -> None:
    write(in_tmp / "ok.py", "x = 1\n")
    result = run_cli("check", "--select", selector)
    assert result.exit_code == 2
    assert f"unknown rule selector {selector!r}" in result.stderr


def test_select_ignore_and_extend_select(in_tmp: Path) -> None:
    write(in_tmp / "reg.py", SINGLETON)
    write(in_tmp / "legacy.py", LEGACY_IMPORT)
    codes = lambda *args: {  # noqa: E731
        row["code"] for row in json.loads(run_cli("check", "--output-format", "json", *args).stdout)
    }
    assert codes() == {"ISO101", "ISO401", "ISO402"}
    assert codes("--select", "ISO1") == {"ISO101"}
    assert codes("--select", "singleton-class") == {"ISO101"}
    assert codes("--ignore", "ISO101") == {"ISO401", "ISO402"}
    assert codes("--select", "ISO1", "--extend-select", "ISO401") == {"ISO101", "ISO401"}
    assert codes("--select", "ISO1,ISO4", "--ignore", "ISO401") == {"ISO101", "ISO402"}
    # the more specific selector wins, as in ruff
    assert codes("--select", "ISO101", "--ignore", "ISO1") == {"ISO101"}


REFUSED_SIGNATURE = (
    "from app.state import DeepAgentState\n\n\nclass Agent:\n"
    "    async def execute(self, state: DeepAgentState, run_id: str) -> None:\n"
    "        state.result = run_id\n\n\n"
    "async def handle(agent: Agent, context: 'UserExecutionContext') -> None:\n"
    "    await agent.execute(context, context.run_id)\n"
)


def test_statistics(in_tmp: Path) -> None:
    write(in_tmp / "a.py", SINGLETON)
    write(in_tmp / "b.py", SINGLETON)
    write(in_tmp / "c.py", LEGACY_IMPORT)
    result = run_cli("check", "--statistics")
    assert result.stdout.splitlines() == [
        "2\tISO101\t    singleton-class",  # its fix is unsafe: not applied by plain `isolint fix`
        "1\tISO401\t    legacy-state-import",  # no fix while the import is still used
        "1\tISO402\t    legacy-state-annotation",  # unsafe: an annotation is a contract
    ]
    rows = json.loads(run_cli("check", "--statistics", "--output-format", "json").stdout)
    assert rows[0] == {"code": "ISO101", "name": "singleton-class", "count": 2, "fixable": False}


def test_output_file(in_tmp: Path) -> None:
    write(in_tmp / "reg.py", SINGLETON)
    result = run_cli("check", "--output-format", "json", "--output-file", "out/report.json")
    assert result.exit_code == 1 and result.stdout == ""
    assert json.loads((in_tmp / "out" / "report.json").read_text())[0]["code"] == "ISO101"


def test_show_fixes_prints_the_diff(in_tmp: Path) -> None:
    write(in_tmp / "legacy.py", LEGACY_IMPORT)
    result = run_cli("check", "--show-fixes", "--unsafe-fixes")
    assert "+from isolint.runtime import UserExecutionContext" in result.stdout


def test_show_fixes_says_which_fixes_the_verification_gate_refuses(in_tmp: Path) -> None:
    write(in_tmp / "agent.py", REFUSED_SIGNATURE)
    result = run_cli("check", "--show-fixes", "--unsafe-fixes", "--select", "ISO405")
    assert (
        "Fix for ISO405 at agent.py:5: Take `context: UserExecutionContext` and read `context.run_id`; import it from "
        "`isolint.runtime`\nrefused, it would break the program: agent.py:5: `execute` would write to the frozen "
        "`UserExecutionContext`\n"
    ) in result.stdout
    assert result.stdout.endswith(
        "Found 2 findings.\n2 more fixable with `isolint fix --unsafe-fixes`.\n"
        "2 of those fixes would be refused: they would break the program (see above).\n"
    )


@pytest.mark.parametrize("flags", [(), ("--show-fixes",)], ids=["check", "safe-previews"])
def test_a_fixable_count_the_gate_has_not_verified_says_fix_verifies_it(in_tmp: Path, flags: tuple[str, ...]) -> None:
    """A plain check counts the fixes the rules offer, without the whole-program
    verification that `fix` runs (nor does `--show-fixes` alone verify unsafe
    fixes): the summary says so, and how to see which would be refused."""
    write(in_tmp / "agent.py", REFUSED_SIGNATURE)
    result = run_cli("check", "--select", "ISO405", *flags)
    assert result.stdout.endswith(
        "Found 2 findings.\n2 more fixable with `isolint fix --unsafe-fixes`.\n"
        "`isolint fix` first checks them against the whole program and refuses any that would break it; "
        "`isolint check --show-fixes --unsafe-fixes` lists which.\n"
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_rule_all_lists_every_rule_in_text_and_json() -> None:
    text = run_cli("rule", "--all").stdout
    rows = json.loads(run_cli("rule", "--all", "--output-format", "json").stdout)
    assert [row["code"] for row in rows] == [rule.code for rule in ALL_RULES]
    for rule in ALL_RULES:
        assert rule.code in text and rule.name in text
    assert {row["fix"] for row in rows} <= {"safe", "unsafe", "none"}
    assert all(row["family"] for row in rows)


def test_rule_unknown_is_exit_two() -> None:
    result = run_cli("rule", "ISO999")
    assert result.exit_code == 2 and "unknown rule" in result.stderr


def test_python_dash_m_and_console_script_agree(in_tmp: Path) -> None:
    write(in_tmp / "reg.py", SINGLETON)
    completed = subprocess.run(
        [sys.executable, "-m", "isolint", "check", "--output-format", "concise", "--no-cache", "."],
        capture_output=True,
        text=True,
        cwd=in_tmp,
    )
    assert completed.returncode == 1
    assert completed.stdout.startswith("reg.py:1:7: ISO101 ")


def test_console_script_keeps_the_exit_code_and_leaves_the_run_out_of_the_exit_collection(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console script ends the process: what the run holds is frozen, so
    the collections of the interpreter's shutdown do not walk it again."""
    write(in_tmp / "reg.py", SINGLETON)
    monkeypatch.setattr(sys, "argv", ["isolint", "check", "--no-cache", "--output-format", "concise", "."])
    try:
        with pytest.raises(SystemExit) as exited:
            console_main()
        assert exited.value.code == 1
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on


def test_progress_bar_is_not_printed_when_stderr_is_not_a_tty(in_tmp: Path) -> None:
    for i in range(250):
        write(in_tmp / f"m{i}.py", "x = 1\n")
    result = run_cli("check", "--jobs", "1")
    assert result.exit_code == 0 and result.stderr == ""
