"""Progress that tells the truth: the bar advances by bytes, indexing has its
own bar, and a long report says how to see less."""

from __future__ import annotations

import io
import re

from isolint.workers import PROGRESS_MIN_FILES, with_progress_bar
from tests.conftest import FIXTURES
from tests.workflow_cli import isolint


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_advances_by_bytes_not_files() -> None:
    files = PROGRESS_MIN_FILES + 1
    sizes = [1_000_000] + [1] * (files - 1)  # one big file first, as the runner orders them
    terminal = Terminal()
    progress = with_progress_bar(iter(range(files)), sizes, "Checking", terminal)
    next(progress)
    next(progress)  # the big file is done: the bar shows it
    assert re.search(
        rf"Checking {files} files .* 99%", terminal.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    )
    assert list(progress) == list(range(2, files))


def test_no_bar_when_piped_or_small() -> None:
    assert list(with_progress_bar(iter(range(3)), [1, 2, 3], "Checking", Terminal())) == [0, 1, 2]
    piped = io.StringIO()
    assert (
        list(with_progress_bar(iter(range(300)), [1] * 300, "Checking", piped)) == list(range(300))
        and piped.getvalue() == ""
    )


def test_a_long_full_report_ends_by_saying_how_to_see_less() -> None:
    long = isolint(FIXTURES, "check", "legacy_app", "--no-cache")
    assert long.returncode == 1
    assert long.stdout.endswith(
        "Too long to read? `--statistics` counts the findings per rule, `--output-format concise` prints one line each, "
        "and `isolint report` sums up the migration work by family, rule and directory.\n"
    )
    assert (
        "Too long to read?"
        not in isolint(FIXTURES, "check", "legacy_app", "--no-cache", "--output-format", "concise").stdout
    )
