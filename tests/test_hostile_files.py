"""Symlink loops, FIFOs and devices are skipped with a warning naming them;
the other files are still checked (issue 16: F2, F3, F19)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from isolint import source
from tests.conftest import write
from tests.helpers import run_cli

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"
ISO201 = "ok.py:3:9: ISO201"

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


def check(*args: str) -> tuple[int, str, str]:
    result = run_cli("check", "--output-format", "concise", "--no-cache", *args)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def check_in_subprocess(*args: str) -> tuple[int, str, str]:
    """For inputs that used to hang: a separate process with a deadline."""
    completed = subprocess.run(
        [sys.executable, "-m", "isolint", "check", "--output-format", "concise", "--no-cache", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in completed.stdout + completed.stderr
    return completed.returncode, completed.stdout, completed.stderr


def test_a_named_symlink_loop_is_skipped_with_a_warning(in_tmp: Path) -> None:
    os.symlink("b.py", in_tmp / "a.py")
    os.symlink("a.py", in_tmp / "b.py")
    write(in_tmp / "ok.py", SESSION)
    code, out, err = check("a.py", "ok.py")
    assert code == 1 and ISO201 in out
    assert "a.py: skipped: symlink loop" in err


def test_a_symlink_loop_inside_a_directory_gets_the_warning_a_broken_symlink_gets(in_tmp: Path) -> None:
    os.symlink("b.py", in_tmp / "a.py")
    os.symlink("a.py", in_tmp / "b.py")
    write(in_tmp / "ok.py", SESSION)
    code, out, err = check()
    assert code == 1 and ISO201 in out
    assert "a.py: skipped: symlink loop" in err and "b.py: skipped: symlink loop" in err


@needs_fifo
def test_a_named_fifo_is_skipped_without_blocking(in_tmp: Path) -> None:
    os.mkfifo(in_tmp / "pipe.py")
    write(in_tmp / "ok.py", SESSION)
    code, out, err = check_in_subprocess("pipe.py", "ok.py")
    assert code == 1 and ISO201 in out
    assert "pipe.py: skipped: not a regular file (a FIFO)" in err


@needs_fifo
def test_a_fifo_inside_a_directory_is_skipped_without_blocking(in_tmp: Path) -> None:
    os.mkfifo(in_tmp / "pipe.py")
    write(in_tmp / "ok.py", SESSION)
    code, out, err = check_in_subprocess()
    assert code == 1 and ISO201 in out
    assert "pipe.py: skipped: not a regular file" in err


@needs_fifo
def test_a_fifo_given_as_the_baseline_is_an_error_not_a_hang(in_tmp: Path) -> None:
    os.mkfifo(in_tmp / "base.json")
    write(in_tmp / "ok.py", SESSION)
    code, _, err = check_in_subprocess("--baseline", "base.json")
    assert code == 2 and "base.json" in err and "not a regular file (a FIFO)" in err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_named_symlink_to_dev_zero_is_skipped_not_read_until_memory_runs_out(in_tmp: Path) -> None:
    os.symlink("/dev/zero", in_tmp / "zero.py")
    write(in_tmp / "ok.py", SESSION)
    code, out, err = check_in_subprocess("zero.py", "ok.py")
    assert code == 1 and ISO201 in out
    assert "zero.py: skipped: not a regular file (a character device)" in err


def test_reads_stop_at_the_size_limit_whatever_the_size_stat_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that grows after its stat (or a file system that reports 0)
    is still read no further than the limit."""
    path = write(tmp_path / "grows.py", b"x = 1\n" * 100)
    monkeypatch.setattr(source, "MAX_FILE_BYTES", 64)
    with pytest.raises(source.SourceError, match="file too large"):
        source.read_bytes(path)
    assert source.read_regular(path, 600, source.SourceError) == b"x = 1\n" * 100
    with pytest.raises(source.SourceError, match=r"more than 599 bytes read"):
        real_fstat = os.fstat

        def reports_empty(fd: int) -> os.stat_result:
            status = list(real_fstat(fd))
            status[6] = 0  # st_size
            return os.stat_result(status)

        monkeypatch.setattr(os, "fstat", reports_empty)
        source.read_regular(path, 599, source.SourceError)


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("a\nb\n", ["a", "b"]),
        ("a\r\nb\rc", ["a", "b", "c"]),
        ("a\n\n", ["a", ""]),
        ("", []),
        # Characters `str.splitlines` breaks at and CPython does not: one line each.
        ("a\fb\vc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\n", ["a\fb\vc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"]),
        # The same with carriage returns in the text (another way to split).
        ("a\fb\r\nc\x85d\re\u2028f\r", ["a\fb", "c\x85d", "e\u2028f"]),
        ("\r\n\r\n", ["", ""]),
        ("\n", [""]),
    ],
)
def test_split_lines_numbers_lines_as_python_does(text: str, lines: list[str]) -> None:
    assert source.split_lines(text) == lines
