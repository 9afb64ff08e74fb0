"""Bad input gets a clear finding or error, never a traceback, and the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isolint import plan, source
from isolint.findings import Finding
from tests.conftest import write
from tests.helpers import run_cli

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"


def concise(*args: str) -> list[str]:
    result = run_cli("check", "--output-format", "concise", "--no-cache", *args)
    assert "Traceback" not in result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if ": ISO" in line]


def test_syntax_error_is_iso000_and_other_files_are_still_checked(in_tmp: Path) -> None:
    write(in_tmp / "broken.py", "class A:\n    def __init__(self, db):\n        self.db = db\n    def f(:\n")
    write(in_tmp / "ok.py", SESSION)
    lines = concise()
    assert lines[0].startswith("broken.py:4:11: ISO000 cannot parse: ")
    assert lines[1:] == [
        "ok.py:3:9: ISO201 `self.db` keeps a database session (named `db`) on `A`; every request that reaches this object shares its transaction"
    ]


def test_python_3_12_f_strings_are_analysed_on_any_interpreter(in_tmp: Path) -> None:
    """Python 3.11 rejects PEP 701 f-strings; see tests/test_newer_syntax.py."""
    write(in_tmp / "new.py", 'from x import DeepAgentState\nname = f"{"nested"}"\n')
    assert [line.split(" ", 2)[:2] for line in concise()] == [["new.py:1:15:", "ISO401"]]


def test_fix_skips_unparsable_files_and_fixes_the_rest(in_tmp: Path) -> None:
    broken = "from x import DeepAgentState\ndef f(:\n"
    write(in_tmp / "broken.py", broken)
    write(in_tmp / "ok.py", "from x import DeepAgentState\n")
    result = run_cli("fix")
    assert (in_tmp / "broken.py").read_text() == broken
    assert (in_tmp / "ok.py").read_text() == "from isolint.runtime import UserExecutionContext\n"
    assert result.exit_code == 1 and "broken.py:2:7: ISO000" in result.stdout


def test_empty_file(in_tmp: Path) -> None:
    write(in_tmp / "empty.py", "")
    assert concise() == []


def test_binary_junk_with_py_name(in_tmp: Path) -> None:
    write(in_tmp / "junk.py", bytes(range(256)) * 4)
    assert concise() == ["junk.py:1:1: ISO000 binary file: source code cannot contain null bytes"]


def test_non_utf8_without_cookie_is_reported(in_tmp: Path) -> None:
    write(
        in_tmp / "latin.py",
        "# caf\xe9\nclass A:\n    def __init__(self, db):\n        self.db = db\n".encode("latin-1"),
    )
    [line] = concise()
    assert line.startswith("latin.py:1:1: ISO000 cannot decode as utf-8")


def test_pep263_cookie_is_honoured_and_kept_by_fix(in_tmp: Path) -> None:
    text = "# -*- coding: latin-1 -*-\n# caf\xe9\nfrom x import DeepAgentState\n"
    write(in_tmp / "latin.py", text.encode("latin-1"))
    assert concise() == [
        "latin.py:3:15: ISO401 [*] `DeepAgentState` is the legacy mutable per-run state; import `UserExecutionContext` from `isolint.runtime` instead"
    ]
    run_cli("fix")
    expected = "# -*- coding: latin-1 -*-\n# caf\xe9\nfrom isolint.runtime import UserExecutionContext\n"
    assert (in_tmp / "latin.py").read_bytes() == expected.encode("latin-1")


def test_bom_is_kept_by_fix(in_tmp: Path) -> None:
    write(in_tmp / "bom.py", b"\xef\xbb\xbffrom x import DeepAgentState\n")
    assert concise()[0].startswith("bom.py:1:15: ISO401")
    run_cli("fix")
    assert (in_tmp / "bom.py").read_bytes() == b"\xef\xbb\xbffrom isolint.runtime import UserExecutionContext\n"


def test_crlf_is_kept_byte_for_byte(in_tmp: Path) -> None:
    original = "import os\r\nfrom x import DeepAgentState\r\n\r\n\r\ndef f():\r\n    return os.sep  # keep\r\n"
    write(in_tmp / "crlf.py", original.encode())
    run_cli("fix")
    assert (in_tmp / "crlf.py").read_bytes() == original.replace(
        "from x import DeepAgentState", "from isolint.runtime import UserExecutionContext"
    ).encode()


def test_huge_file_is_skipped_with_a_clear_message(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_FILE_BYTES", 1024)
    write(in_tmp / "big.py", SESSION + "x = 1\n" * 400)
    [line] = concise()
    assert line.startswith("big.py:1:1: ISO000 file too large")


def test_deep_nesting_does_not_crash(in_tmp: Path) -> None:
    write(in_tmp / "deep.py", "from x import DeepAgentState\nx = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    write(in_tmp / "unary.py", "from x import DeepAgentState\nx = " + "-" * 100_000 + "1\n")
    lines = concise()
    assert len(lines) == 2 and all("ISO000" in line for line in lines)


def test_json_output_for_bad_files_is_still_valid(in_tmp: Path) -> None:
    write(in_tmp / "junk.py", b"\x00\x01")
    rows = json.loads(run_cli("check", "--output-format", "json").stdout)
    assert rows[0]["code"] == "ISO000" and rows[0]["fix"] is None


def test_a_syntax_error_in_a_file_no_rule_needs_is_still_iso000(in_tmp: Path) -> None:
    """The byte prefilters skip files that mention nothing a rule looks for;
    such a file is still parsed by CPython, and reported when it does not parse."""
    write(in_tmp / "broken.py", "x = (\n")
    write(in_tmp / "fine.py", "x = (1,\n     2)\n")
    result = run_cli("check", "--output-format", "concise", "--no-cache")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "broken.py:1:5: ISO000 cannot parse: '(' was never closed"
    assert "fine.py" not in result.stdout


def test_a_file_the_index_parsed_is_not_parsed_again_only_for_its_syntax(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A class with bases gets a file into the project index's pass (for the
    sessions family's class facts), which parses it; no rule of the check
    needs the file. Only the file that pass could not parse is parsed again,
    and reported."""
    write(in_tmp / "parsed.py", "class A(B):\n    pass\n")
    write(in_tmp / "broken.py", "class A(B):\n    def f(:\n")
    write(in_tmp / "unindexed.py", "x = 1\n")
    looked_at: list[str] = []
    syntax_error = plan.syntax_error

    def spy(text: str, path: str) -> Finding | None:
        looked_at.append(path)
        return syntax_error(text, path)

    monkeypatch.setattr(plan, "syntax_error", spy)
    result = run_cli("check", "--output-format", "concise", "--no-cache", "--jobs", "1")
    assert result.stdout.splitlines()[0] == "broken.py:2:11: ISO000 cannot parse: invalid syntax"
    assert sorted(looked_at) == ["broken.py", "unindexed.py"]


def test_a_cached_run_still_reports_the_syntax_error(in_tmp: Path) -> None:
    write(in_tmp / "broken.py", "def f(:\n    pass\n")
    first = run_cli("check", "--output-format", "concise")
    second = run_cli("check", "--output-format", "concise")
    assert first.stdout == second.stdout and "broken.py:1:7: ISO000 cannot parse" in second.stdout
