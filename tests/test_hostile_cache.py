"""A cache file is data a CI restore or another run may have left in any
state: one that does not validate is discarded with a warning and rebuilt,
and leftovers are cleaned up (issue 16: F11)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from isolint import cache as cache_module
from tests.conftest import write
from tests.helpers import run_cli

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"
FINDING = "a.py:3:9: ISO201"


@pytest.fixture(autouse=True)
def cache_in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISOLINT_CACHE_DIR")


def the_cache_file(root: Path) -> Path:
    [found] = [p for p in (root / ".isolint_cache").rglob("*.json")]
    return found


def check() -> tuple[int, str, str]:
    result = run_cli("check", "--output-format", "concise")
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def corrupt(root: Path, change: object) -> Path:
    file = the_cache_file(root)
    data = json.loads(file.read_text())
    change(data)  # type: ignore[operator]
    file.write_text(json.dumps(data))
    return file


def first_entry(section: str) -> object:
    def change(data: dict[str, dict[str, object]]) -> None:
        key = next(iter(data[section]))
        data[section][key] = "x"

    return change


Rows = dict[str, list[list[object]]]


def each_row(change: Callable[[list[object], list[object]], None]) -> Callable[[dict[str, object]], None]:
    """Apply `change(row, string table)` to every cached finding row."""

    def changed(data: dict[str, object]) -> None:
        results = cast(Rows, data["results"])
        for rows in results.values():
            for row in rows:
                change(row, cast(list[object], data["strings"]))

    return changed


def _rename_code(row: list[object], strings: list[object]) -> None:
    strings[cast(int, row[0])] = "ISO999"


def _unhashable_code(row: list[object], strings: list[object]) -> None:
    row[0] = ["ISO201"]


def _bad_location(row: list[object], strings: list[object]) -> None:
    row[4] = "1"


def _string_past_the_table(row: list[object], strings: list[object]) -> None:
    row[3] = len(strings)


def _negative_string_index(row: list[object], strings: list[object]) -> None:
    row[3] = -1


def _fingerprint_is_a_list(data: dict[str, dict[str, object]]) -> None:
    [key] = data["fingerprints"]  # the project's one index
    data["fingerprints"][key] = ["0123"]


def _table_holds_a_list(data: dict[str, object]) -> None:
    cast(list[object], data["strings"])[0] = ["ISO201"]


@pytest.mark.parametrize(
    "change",
    [
        first_entry("files"),
        first_entry("results"),
        first_entry("indexed"),
        _fingerprint_is_a_list,
        each_row(_rename_code),
        each_row(_unhashable_code),
        each_row(_bad_location),
        each_row(_string_past_the_table),
        each_row(_negative_string_index),
        _table_holds_a_list,
    ],
    ids=[
        "file-entry-is-a-string",
        "results-are-a-string",
        "index-entry-is-a-string",
        "index-fingerprint-is-a-list",
        "unknown-rule-code",
        "unhashable-rule-code",
        "bad-location",
        "string-index-past-the-table",
        "negative-string-index",
        "string-table-holds-a-list",
    ],
)
def test_a_cache_with_the_wrong_shape_is_discarded_with_a_warning_and_rebuilt(in_tmp: Path, change: object) -> None:
    write(in_tmp / "a.py", SESSION)
    code, out, _ = check()
    assert code == 1 and FINDING in out
    file = corrupt(in_tmp, change)
    code, out, err = check()
    assert code == 1 and FINDING in out
    assert f"warning: cache {file}: " in err
    assert "discarded and rebuilt" in err
    code, out, err = check()  # rebuilt: no warning the second time
    assert code == 1 and FINDING in out and "cache" not in err


def test_a_cache_nested_too_deeply_for_json_is_discarded(in_tmp: Path) -> None:
    write(in_tmp / "a.py", SESSION)
    check()
    the_cache_file(in_tmp).write_text("[" * 100_000 + "]" * 100_000)
    code, out, err = check()
    assert code == 1 and FINDING in out and "not valid JSON" in err


def test_stale_temporary_files_and_long_unused_caches_are_pruned(in_tmp: Path) -> None:
    write(in_tmp / "a.py", SESSION)
    check()
    current = the_cache_file(in_tmp)
    long_ago = time.time() - cache_module.UNUSED_CACHE_SECONDS - 60
    stale_temp = write(current.parent / "tmpkilled.tmp", "{")
    fresh_temp = write(current.parent / "tmpwriting.tmp", "{")  # a concurrent run may be writing it now
    other_settings = write(current.parent / "0123456789abcdef.json", "{}")
    old_version = write(in_tmp / ".isolint_cache" / "0.0.1" / "fedcba9876543210.json", "{}")
    for path in (stale_temp, other_settings, old_version):
        os.utime(path, (long_ago, long_ago))
    write(in_tmp / "a.py", SESSION + "\n")  # something to save
    check()
    assert current.exists() and fresh_temp.exists()
    assert not stale_temp.exists() and not other_settings.exists() and not old_version.parent.exists()


def test_a_cache_directory_symlinked_out_of_the_tree_is_neither_written_nor_pruned(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = in_tmp / "outside"
    old_file = write(outside / "keep" / "old.json", "{}")
    long_ago = time.time() - cache_module.UNUSED_CACHE_SECONDS - 60
    os.utime(old_file, (long_ago, long_ago))
    project = in_tmp / "project"
    write(project / "a.py", SESSION)
    os.symlink(outside, project / ".isolint_cache")
    monkeypatch.chdir(project)
    result = run_cli("check", "--output-format", "concise")
    assert result.exit_code == 1 and "a.py:3:9: ISO201" in result.stdout
    assert "is a symlink or leads outside" in result.stderr
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == ["keep", "keep/old.json"]


def test_a_dangling_symlink_in_the_cache_directory_is_not_followed(in_tmp: Path) -> None:
    write(in_tmp / "a.py", SESSION)
    (in_tmp / ".isolint_cache").mkdir()
    os.symlink(in_tmp / "outside" / "planted", in_tmp / ".isolint_cache" / ".gitignore")
    result = run_cli("check", "--output-format", "concise")
    assert result.exit_code == 1 and FINDING in result.stdout
    assert not (in_tmp / "outside").exists()
    assert (in_tmp / ".isolint_cache" / "CACHEDIR.TAG").is_file()
