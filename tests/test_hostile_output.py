"""What a consumer reads is what is there: file names and commit subjects
cannot break or inject into JUnit, SARIF, Markdown, CSV or the terminal, and
`report --history` runs no program the repository names (issue 16: F14-F18)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import click
import pytest

from isolint.findings import SAFE, Finding, Fix, Location
from isolint.output import ci, render, sarif, text
from isolint.report import csv_rows, markdown
from tests.conftest import write
from tests.helpers import run_cli

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"


def finding(path: str, message: str = "a message") -> Finding:
    return Finding("ISO201", "session-on-instance", "sessions", message, path, Location(3, 9), Location(3, 16))


# --- JUnit (F14) ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["a\x01b.py", "bell\x07.py", "not-utf8-\udcff.py", "form\x0cfeed.py"])
def test_junit_is_well_formed_xml_whatever_the_file_name(path: str) -> None:
    document = ci.junit([finding(path, message="bad \x1b[31m message")])
    root = ElementTree.fromstring(document.encode("utf-8"))
    [case] = root.iter("testcase")
    assert case.get("file") == path.replace("\udcff", "\\xff").encode("unicode_escape").decode().replace(
        "\\\\xff", "\\xff"
    )
    assert root.find(".//failure").get("message") == "bad \\x1b[31m message"  # type: ignore[union-attr]


def test_junit_of_a_real_file_named_with_a_control_character(in_tmp: Path) -> None:
    write(in_tmp / "a\x01b.py", SESSION)
    result = run_cli("check", "--no-cache", "--output-format", "junit")
    assert result.exit_code == 1
    root = ElementTree.fromstring(result.stdout.encode("utf-8"))
    assert [case.get("file") for case in root.iter("testcase")] == ["a\\x01b.py"]


# --- SARIF (F15) ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["a#b c.py", "100%.py", "q?x=1.py", "dir with space/ünï.py", "not-utf8-\udcff.py"])
def test_sarif_uris_are_percent_encoded_and_name_the_file(path: str) -> None:
    log = json.loads(sarif.render([finding(path)]))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    parts = urlsplit(uri)
    assert parts.fragment == "" and parts.query == ""
    assert unquote(parts.path, errors="surrogateescape") == path


def test_sarif_absolute_uris_are_percent_encoded() -> None:
    log = json.loads(sarif.render([finding("/src/a#b c.py")]))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "file:///src/a%23b%20c.py"


# --- Markdown (F16) ---------------------------------------------------------------

HOSTILE_DIRECTORY = "x`<img src=x onerror=alert(1)>`"


def test_a_directory_name_cannot_close_its_code_span_in_the_markdown_report(in_tmp: Path) -> None:
    write(in_tmp / HOSTILE_DIRECTORY / "a.py", SESSION)
    result = run_cli("report", "--no-cache", "--format", "markdown")
    [row] = [line for line in result.stdout.splitlines() if "onerror" in line]
    assert row.startswith("| `` x`<img src=x onerror=alert(1)>` `` | 1 |")


def test_a_commit_subject_cannot_inject_html_or_hide_the_summary() -> None:
    document = {
        "summary": {"findings": 0, "files_with_findings": 0, "files": 0, "safe": 0, "unsafe": 0, "manual": 0},
        "baseline": None,
        "families": [],
        "rules": [],
        "directories": [],
        "progress": [],
        "blast_radius": {"rules": [], "singletons": []},
        "history": [
            {
                "short": "abc1234",
                "date": "2024-03-01T12:00:00Z",
                "findings": 1,
                "families": {},
                "subject": "<!-- hide | <b>*x*</b> [l](javascript:x)",
            }
        ],
    }
    rendered = markdown.render(document)
    [row] = [line for line in rendered.splitlines() if "abc1234" in line]
    assert "<" not in row and "&lt;\\!\\-\\- hide \\| &lt;b&gt;\\*x\\*&lt;/b&gt; \\[l\\]\\(javascript:x\\)" in row


# --- CSV (F17) --------------------------------------------------------------------


@pytest.mark.parametrize("subject", ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\t=1"])
def test_csv_neutralises_subjects_a_spreadsheet_would_run_as_formulas(subject: str) -> None:
    document = {
        "families": [],
        "progress": [],
        "history": [
            {
                "commit": "abc",
                "date": "2024-03-01",
                "subject": subject,
                "files": 1,
                "findings": 2,
                "safe": 0,
                "unsafe": 0,
                "manual": 2,
                "unparsable": 0,
                "families": {},
                "progress": {},
            }
        ],
    }
    [header, row] = list(csv.reader(io.StringIO(csv_rows.render(document), newline="")))
    cells = dict(zip(header, row, strict=True))
    assert cells["subject"] == "'" + subject and cells["findings"] == "2"


def test_a_carriage_return_in_a_subject_neither_starts_a_row_nor_a_formula() -> None:
    document = {
        "families": [],
        "progress": [],
        "history": [
            {
                "commit": "abc",
                "date": "2024-03-01",
                "subject": "\r=1+1\r=2",
                "files": 1,
                "findings": 0,
                "safe": 0,
                "unsafe": 0,
                "manual": 0,
                "unparsable": 0,
                "families": {},
                "progress": {},
            }
        ],
    }
    rows = list(csv.reader(io.StringIO(csv_rows.render(document), newline="")))
    assert len(rows) == 2 and rows[1][2] == "' =1+1 =2"


def test_csv_leaves_ordinary_subjects_alone() -> None:
    document = {
        "families": [],
        "progress": [],
        "history": [
            {
                "commit": "abc",
                "date": "2024-03-01",
                "subject": "Fix -1 bug",
                "files": 1,
                "findings": 0,
                "safe": 0,
                "unsafe": 0,
                "manual": 0,
                "unparsable": 0,
                "families": {},
                "progress": {},
            }
        ],
    }
    assert list(csv.reader(io.StringIO(csv_rows.render(document))))[1][2] == "Fix -1 bug"


# --- the terminal (ANSI) ------------------------------------------------------------


def test_text_output_shows_control_characters_in_paths_as_escapes() -> None:
    shown = text.concise([finding("evil\x1b[2J\x1b[31m.py")])
    assert click.unstyle(shown).startswith("evil\\x1b[2J\\x1b[31m.py:3:9: ")
    assert "\x1b[2J" not in shown


@pytest.mark.parametrize("fmt", ["grouped", "pylint"])
def test_grouped_and_pylint_show_control_characters_in_paths_and_messages_as_escapes(fmt: str) -> None:
    shown = render([finding("evil\x1b[2J.py", "reads 'a\nb\x1b[31m'")], fmt, styled=False)
    assert "evil\\x1b[2J.py" in shown and "reads 'a\\x0ab\\x1b[31m'" in shown
    assert "\x1b" not in shown


def test_a_fix_message_with_control_characters_is_shown_with_escapes() -> None:
    # A plugin's fix message may quote the source, string literals included.
    fixed = replace(finding("a.py"), fix=Fix(SAFE, "drop the key '\x1b[2J'", None))
    shown = text.full([fixed])
    assert "= help: drop the key '\\x1b[2J'" in click.unstyle(shown)
    assert "\x1b[2J" not in shown


def test_show_fixes_labels_show_control_characters_as_escapes(in_tmp: Path) -> None:
    write(in_tmp / "evil\x1b[31mred.py", "from app.state import DeepAgentState\n")
    result = run_cli("check", "--no-cache", "--show-fixes", "--output-format", "concise")
    assert "Fix for ISO401 at evil\\x1b[31mred.py:1: " in result.stdout
    assert "\x1b[31m" not in result.stdout


def test_a_real_file_named_with_an_escape_sequence_is_reported_by_its_exact_name(in_tmp: Path) -> None:
    write(in_tmp / "evil\x1b[31mred.py", SESSION)
    result = run_cli("check", "--no-cache", "--output-format", "concise")
    assert result.stdout.splitlines()[0].startswith("evil\\x1b[31mred.py:3:9: ISO201")


def test_warnings_show_control_characters_as_escapes(in_tmp: Path) -> None:
    os.symlink("missing.py", in_tmp / "gone\x1b[8m.py")
    result = run_cli("check", "--no-cache")
    assert "warning: gone\\x1b[8m.py: skipped: broken symlink" in result.stderr


# --- git runs nothing the repository names (F18) -------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, input=stdin
    ).stdout.decode()


def trap(root: Path, name: str) -> tuple[Path, Path]:
    """An executable that leaves a marker file if anything runs it."""
    marker = root.parent / f"{name}-ran"
    script = write(root.parent / f"{name}.sh", f"#!/bin/sh\ntouch '{marker}'\ncat >/dev/null\nexit 0\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, marker


def signed_repository(root: Path) -> None:
    """A repository whose last commit carries a (fake) signature, so `git
    log` with `log.showSignature` would run `gpg.program` to verify it."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "a.py", SESSION)
    git(root, "add", "a.py")
    git(root, "commit", "-q", "-m", "first")
    tree = git(root, "rev-parse", "HEAD^{tree}").strip()
    parent = git(root, "rev-parse", "HEAD").strip()
    body = (
        f"tree {tree}\nparent {parent}\nauthor Dev <dev@example.com> 1700000000 +0000\n"
        "committer Dev <dev@example.com> 1700000000 +0000\n"
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nsigned\n"
    )
    signed = git(root, "hash-object", "-t", "commit", "-w", "--stdin", stdin=body.encode()).strip()
    git(root, "update-ref", "refs/heads/main", signed)


def history(root: Path) -> None:
    result = run_cli("report", "--history", "--no-cache", "--format", "json", str(root))
    assert result.exit_code in (0, 1), result.stderr
    assert [row["subject"] for row in json.loads(result.stdout)["history"]][-1] == "signed"


@needs_git
def test_history_never_runs_the_gpg_program_a_repository_names(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    signed_repository(root)
    script, marker = trap(root, "gpg")
    git(root, "config", "log.showSignature", "true")
    git(root, "config", "gpg.program", str(script))
    git(root, "log", "-1")  # the trap works: plain git runs it
    assert marker.exists()
    marker.unlink()
    history(root)
    assert not marker.exists()


@needs_git
@pytest.mark.parametrize(
    "key",
    ["core.pager", "core.fsmonitor", "diff.external", "core.sshCommand", "gpg.ssh.program"],
)
def test_history_never_runs_other_programs_a_repository_names(tmp_path: Path, key: str) -> None:
    root = tmp_path / "repo"
    signed_repository(root)
    script, marker = trap(root, key)
    git(root, "config", key, str(script))
    git(root, "config", "log.showSignature", "true")
    history(root)
    assert not marker.exists()


@needs_git
def test_history_never_runs_a_repositorys_hooks(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    signed_repository(root)
    hooks = root / ".git" / "hooks"
    markers = []
    for name in ("post-checkout", "post-index-change", "reference-transaction", "pre-auto-gc", "fsmonitor-watchman"):
        script, marker = trap(root, name)
        shutil.copy(script, hooks / name)
        markers.append(marker)
    history(root)
    assert not any(marker.exists() for marker in markers)


@needs_git
def test_history_refuses_a_since_that_git_would_read_as_an_option(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    signed_repository(root)
    result = run_cli("report", "--history", "--no-cache", "--since", "--output=/tmp/x", str(root))
    assert result.exit_code == 2 and "expected a commit, not an option" in result.stderr


def test_a_printable_line_is_shown_as_it_is_and_no_character_to_escape_counts_as_printable() -> None:
    """`printable` skips its regex for a line `str.isprintable` accepts: that
    is sound only because every character it escapes is one `isprintable`
    rejects, over all of Unicode."""
    from isolint.output.escape import _UNPRINTABLE, printable

    escaped = [char for char in map(chr, range(0x110000)) if _UNPRINTABLE.match(char)]
    assert escaped and not any(char.isprintable() for char in escaped)
    assert printable("    state.user_id = 'é'") == "    state.user_id = 'é'"
    assert printable("tab\there\x1b[2J\u2028") == "tab\there\\x1b[2J\\u2028"
