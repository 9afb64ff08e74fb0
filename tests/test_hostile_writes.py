"""`fix` and `--add-ignore` write only inside the given paths, never lose a
concurrent edit, and keep the file's owner (issue 16: F1, F6, F10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from isolint import source
from tests.conftest import write
from tests.helpers import run_cli

LEGACY = "from x import DeepAgentState\n"
FIXED = "from isolint.runtime import UserExecutionContext\n"
SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"


def test_fix_never_writes_through_a_symlinked_file_leading_outside_the_tree(in_tmp: Path) -> None:
    victim = write(in_tmp / "outside" / "victim.py", LEGACY)
    write(in_tmp / "tree" / "inside.py", LEGACY)
    os.symlink("../outside/victim.py", in_tmp / "tree" / "link.py")
    result = run_cli("fix", "tree")
    assert victim.read_text() == LEGACY
    assert (in_tmp / "tree" / "inside.py").read_text() == FIXED
    assert "tree/link.py: links outside the given paths" in result.stderr
    assert "tree/link.py:1:15: ISO401" in result.stdout  # still checked, read-only


def test_fix_never_writes_through_a_symlinked_directory_leading_outside_the_tree(in_tmp: Path) -> None:
    victim = write(in_tmp / "outside" / "pkg" / "victim.py", LEGACY)
    (in_tmp / "tree").mkdir()
    os.symlink("../outside/pkg", in_tmp / "tree" / "pkg")
    result = run_cli("fix", "tree")
    assert victim.read_text() == LEGACY
    assert result.exit_code == 1 and "tree/pkg/victim.py: links outside the given paths" in result.stderr


def test_a_named_symlink_is_written_only_when_it_leads_inside_its_own_directory(in_tmp: Path) -> None:
    victim = write(in_tmp / "outside" / "victim.py", LEGACY)
    (in_tmp / "tree").mkdir()
    os.symlink("../outside/victim.py", in_tmp / "tree" / "link.py")
    run_cli("fix", "tree/link.py")
    assert victim.read_text() == LEGACY


def test_add_ignore_never_writes_outside_the_tree(in_tmp: Path) -> None:
    victim = write(in_tmp / "outside" / "victim.py", SESSION)
    (in_tmp / "tree").mkdir()
    os.symlink("../outside/victim.py", in_tmp / "tree" / "link.py")
    result = run_cli("check", "--add-ignore", "tree")
    assert victim.read_text() == SESSION
    assert "links outside the given paths" in result.stderr


def test_fix_refuses_a_file_replaced_by_a_symlink_after_discovery(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = write(in_tmp / "outside" / "victim.py", LEGACY)
    target = write(in_tmp / "tree" / "a.py", LEGACY)
    real_write = source.write_atomic

    def swap_then_write(path: Path, data: bytes, *, expected: bytes) -> None:
        path.unlink()
        os.symlink(victim, path)
        real_write(path, data, expected=expected)

    monkeypatch.setattr("isolint.runner.write_atomic", swap_then_write)
    result = run_cli("fix", "tree")
    assert victim.read_text() == LEGACY and target.is_symlink()
    assert "is now a symlink; not written" in result.stderr


def test_an_edit_saved_while_the_fix_is_being_written_is_kept(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The editor saves after the staleness check but before the replace:
    here, while the new content is being flushed to disk."""
    path = write(in_tmp / "a.py", LEGACY)
    real_fsync = os.fsync
    edited = "# saved by the user meanwhile\n" + LEGACY

    def fsync_while_user_saves(fd: int) -> None:
        real_fsync(fd)
        if path.read_text() == LEGACY:
            path.write_text(edited)

    monkeypatch.setattr(os, "fsync", fsync_while_user_saves)
    result = run_cli("fix")
    assert path.read_text() == edited
    assert "changed on disk" in result.stderr and "not written" in result.stderr
    assert sorted(p.name for p in in_tmp.iterdir()) == ["a.py"]  # the temporary file is gone


def test_a_same_size_rewrite_with_the_same_content_but_a_new_inode_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor that saves by rename creates a new file: even with equal
    bytes, what was read is no longer what would be replaced."""
    path = write(tmp_path / "a.py", LEGACY)
    real_fsync = os.fsync

    def fsync_while_editor_renames(fd: int) -> None:
        real_fsync(fd)
        replacement = write(tmp_path / "editor-save.tmp", LEGACY)
        os.replace(replacement, path)

    monkeypatch.setattr(os, "fsync", fsync_while_editor_renames)
    with pytest.raises(source.StaleFileError):
        source.write_atomic(path, FIXED.encode(), expected=LEGACY.encode())
    assert path.read_text() == LEGACY


@pytest.mark.skipif(not hasattr(os, "chown") or os.geteuid() != 0, reason="changing a file's owner needs root")
def test_fix_keeps_the_files_owner_and_group(in_tmp: Path) -> None:
    path = write(in_tmp / "a.py", LEGACY)
    os.chown(path, 4321, 8765)
    os.chmod(path, 0o640)
    run_cli("fix")
    status = path.stat()
    assert path.read_text() == FIXED
    assert (status.st_uid, status.st_gid, status.st_mode & 0o777) == (4321, 8765, 0o640)


def test_a_configured_baseline_cannot_point_the_write_outside_the_project(in_tmp: Path) -> None:
    project = in_tmp / "project"
    write(project / "pyproject.toml", '[tool.isolint]\nbaseline = "../outside/base.json"\n')
    write(project / "a.py", SESSION)
    result = run_cli("baseline", "--write", "", "project")
    assert result.exit_code == 2 and "key 'baseline' must name a file inside" in result.stderr
    assert not (in_tmp / "outside").exists()


def test_a_configured_baseline_cannot_escape_through_a_symlinked_directory(in_tmp: Path) -> None:
    project = in_tmp / "project"
    (in_tmp / "outside").mkdir()
    write(project / "pyproject.toml", '[tool.isolint]\nbaseline = "link/base.json"\n')
    write(project / "a.py", SESSION)
    os.symlink(in_tmp / "outside", project / "link")
    result = run_cli("baseline", "--write", "", "project")
    assert result.exit_code == 2 and "pyproject.toml: key 'baseline'" in result.stderr
    assert list((in_tmp / "outside").iterdir()) == []
