"""A fix changes only what it rewrites: line endings, blank lines and comments
around the edit stay as they were (issue 16: F7, F8, F9)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write
from tests.helpers import run_cli


def test_a_cr_only_file_keeps_its_final_line_break(in_tmp: Path) -> None:
    path = write(in_tmp / "cr.py", b"from x import DeepAgentState\rx = 1\r")
    run_cli("fix")
    assert path.read_bytes() == b"from isolint.runtime import UserExecutionContext\rx = 1\r"


def test_a_cr_only_file_keeps_its_final_line_break_through_several_fixes(in_tmp: Path) -> None:
    path = write(in_tmp / "cr.py", b"from x import DeepAgentState\r\r\rdef f(s: DeepAgentState):\r    return s\r")
    run_cli("fix", "--unsafe-fixes")
    fixed = path.read_bytes()
    assert fixed.endswith(b"    return s\r") and b"\n" not in fixed


def test_an_import_rewrite_keeps_the_two_blank_lines_before_a_def(in_tmp: Path) -> None:
    path = write(in_tmp / "a.py", "from app.state import DeepAgentState\n\n\ndef f(s: DeepAgentState):\n    return s\n")
    run_cli("fix", "--unsafe-fixes")  # the annotation's fix is unsafe
    assert (
        path.read_text()
        == "from isolint.runtime import UserExecutionContext\n\n\ndef f(s: UserExecutionContext):\n    return s\n"
    )


# A per-request class: only those are made per call (infrastructure gets a hint).
ACCESSOR = "def get_client():\n    global _client\n    if _client is None:\n        _client = ClientState()\n    return _client\n"
PER_CALL = (
    "def get_client():\n"
    "    # isolint ISO102: a new instance per call now; ISO106 lists the callers that shared one.\n"
    "    return ClientState()\n"
)


def test_removing_a_global_keeps_the_section_comment_above_it(in_tmp: Path) -> None:
    path = write(
        in_tmp / "a.py", "from app import ClientState\n\n\n# Utility functions\n_client = None\n\n\n" + ACCESSOR
    )
    run_cli("fix", "--unsafe-fixes")
    assert path.read_text() == "from app import ClientState\n\n\n# Utility functions\n\n\n" + PER_CALL


def test_removing_a_global_never_stacks_blank_lines(in_tmp: Path) -> None:
    path = write(
        in_tmp / "a.py", "from app import ClientState\n\n# Utility functions\n\n_client = None\n\n\n" + ACCESSOR
    )
    run_cli("fix", "--unsafe-fixes")
    assert path.read_text() == "from app import ClientState\n\n# Utility functions\n\n\n" + PER_CALL
