"""Reading a git repository without checking anything out: commits, trees, blobs.

The repository may be untrusted (a PR branch, an unpacked archive): every
command runs with the repository's (and the user's) ways of making git run
a program turned off.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import ConfigError
from .discovery import PYTHON_SUFFIXES

SUBMODULE_MODE = "160000"
SYMLINK_MODE = "120000"


@dataclass(frozen=True)
class Commit:
    sha: str
    timestamp: int
    subject: str

    def to_json(self) -> dict[str, Any]:
        date = datetime.fromtimestamp(self.timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"commit": self.sha, "short": self.sha[:10], "date": date, "subject": self.subject}


# The repository being reported on may be untrusted (a PR branch, an unpacked
# archive): its config must not make git run a program. These override what
# the repository (and the user) configured, for every git command we run.
GIT_SAFETY = (
    "--no-pager",
    "-c",
    "core.pager=cat",
    "-c",
    "log.showSignature=false",  # else `git log` runs gpg.program for each signed commit
    "-c",
    "gpg.program=false",
    "-c",
    "gpg.ssh.program=false",
    "-c",
    "gpg.x509.program=false",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "diff.external=",
    "-c",
    "core.sshCommand=false",
    "-c",
    "credential.helper=",
)
_GIT_ENV_DROPPED = (
    "GIT_PAGER",
    "PAGER",
    "GIT_EXTERNAL_DIFF",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
)


def git_command(root: Path, *args: str) -> list[str]:
    return ["git", *GIT_SAFETY, "-C", str(root), *args]


def git_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _GIT_ENV_DROPPED}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


def _git(root: Path, *args: str) -> str:
    try:
        completed = subprocess.run(
            git_command(root, *args), capture_output=True, check=False, env=git_environment(), stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise ConfigError("--history needs git, and no `git` executable was found") from None
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip()
        raise ConfigError(f"git {' '.join(args)}: {message or 'failed'}")
    return completed.stdout.decode("utf-8", "surrogateescape")


def head_commit(path: Path) -> str | None:
    """The commit checked out where `path` is, or None (not in git, no commit yet, no git)."""
    start = path if path.is_dir() else path.parent
    try:
        return _git(start, "rev-parse", "--verify", "--quiet", "HEAD").strip() or None
    except ConfigError:
        return None


def repository_root(path: Path) -> Path:
    start = path if path.is_dir() else path.parent
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel").strip()).resolve()
    except ConfigError:
        raise ConfigError(f"--history: {path} is not inside a git repository") from None


def list_commits(root: Path, *, commits: int | None, since: str | None, every: int) -> list[Commit]:
    """The commits to report on, oldest first: the last `commits` on the current
    branch (first parents), or those after `since` plus `since` itself; then every
    `every`-th counting back from HEAD, so HEAD is always included."""
    args = [
        "log",
        "--no-show-signature",
        "--no-ext-diff",
        "--no-textconv",
        "--first-parent",
        "--format=%H%x1f%ct%x1f%s",
    ]
    if since is not None and since.startswith("-"):
        raise ConfigError(f"--since {since!r}: expected a commit, not an option")
    if since is not None:
        start = _git(root, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}").strip()
        args.append(f"{start}..HEAD")
    else:
        args.append("HEAD")
    if commits is not None:
        args.append(f"--max-count={commits - 1 if since is not None else commits}")
    found = [_commit(line) for line in _git(root, *args).splitlines() if line]
    if since is not None and (commits is None or commits > len(found)):
        found += [_commit(_git(root, "log", "--no-show-signature", "-1", "--format=%H%x1f%ct%x1f%s", start).strip())]
    return list(reversed(found[::every]))


def _commit(line: str) -> Commit:
    sha, timestamp, subject = line.split("\x1f", 2)
    return Commit(sha, int(timestamp), subject)


def tree_files(root: Path, sha: str) -> list[tuple[str, str]]:
    """(path, blob id) of the Python files in a commit's tree."""
    out = []
    for record in _git(root, "ls-tree", "-r", "-z", "--full-tree", sha).split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, blob = meta.split(" ")
        if kind == "blob" and mode not in (SYMLINK_MODE, SUBMODULE_MODE) and path.endswith(PYTHON_SUFFIXES):
            out.append((path, blob))
    return out


def read_blobs(root: Path, blobs: Sequence[str]) -> Iterator[tuple[str, bytes]]:
    """(blob id, content) for each blob, through one `git cat-file --batch`."""
    if not blobs:
        return
    process = subprocess.Popen(
        git_command(root, "cat-file", "--batch"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=git_environment()
    )
    assert process.stdin is not None and process.stdout is not None
    requests = process.stdin

    def feed() -> None:  # a separate writer, so neither pipe fills up and blocks the other
        try:
            requests.write("".join(f"{blob}\n" for blob in blobs).encode())
        finally:
            requests.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for blob in blobs:
            header = process.stdout.readline().split()
            if len(header) != 3:
                raise ConfigError(f"git cat-file: cannot read blob {blob}")
            content = process.stdout.read(int(header[2]))
            process.stdout.read(1)  # the newline after each object
            yield blob, content
    finally:
        writer.join()
        process.stdout.close()
        process.wait()
