"""A small corpus of hostile inputs, for running every command over it.

`build(root)` writes `root/tree` (what isolint is pointed at), `root/outside`
(files the tree links to, which must never change) and returns what it made:
the names it tried, by kind. Everything is generated, so nothing hostile is
checked into the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from x import DeepAgentState\n\n\ndef f(s: DeepAgentState):\n    return s.user_id\n"
SINGLETON = (
    "from app import Client\n\n\n# Utility functions\n_client = None\n\n\n"
    "def get_client():\n    global _client\n    if _client is None:\n        _client = Client()\n    return _client\n"
)


@dataclass
class Corpus:
    root: Path
    tree: Path
    outside: Path
    inputs: dict[str, list[str]] = field(default_factory=dict)  # kind -> names tried

    def add(self, kind: str, name: str) -> None:
        self.inputs.setdefault(kind, []).append(name)

    @property
    def count(self) -> int:
        return sum(len(names) for names in self.inputs.values())


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def build(root: Path) -> Corpus:
    corpus = Corpus(root, root / "tree", root / "outside")
    tree, outside = corpus.tree, corpus.outside
    tree.mkdir(parents=True)
    _write(tree / "ordinary.py", SESSION)
    _write(tree / "legacy.py", LEGACY)
    _write(tree / "singleton.py", SINGLETON)
    corpus.add("ordinary", "ordinary.py, legacy.py, singleton.py")

    # Symlinks in and out of the tree.
    _write(outside / "victim.py", LEGACY)
    _write(outside / "pkg" / "victim.py", SESSION)
    links = {
        "link_out.py": "../outside/victim.py",
        "pkg_out": "../outside/pkg",
        "link_in.py": "legacy.py",
        "loop_a.py": "loop_b.py",
        "loop_b.py": "loop_a.py",
        "broken.py": "does-not-exist.py",
        "dir_loop": ".",
    }
    if Path("/dev/zero").exists():
        links["zero.py"] = "/dev/zero"
    for name, target in links.items():
        os.symlink(target, tree / name)
        corpus.add("symlink", name)

    # Special files.
    if hasattr(os, "mkfifo"):
        os.mkfifo(tree / "fifo.py")
        corpus.add("special", "fifo.py")
    (tree / "directory.py").mkdir()
    corpus.add("special", "directory.py/")

    # Odd names (each holds a finding, so each name is printed).
    odd = [
        "a#b c.py",
        "-dash.py",
        "tab\there.py",
        "ansi\x1b[31mred.py",
        "bell\x07.py",
        "new\nline.py",
        "x`<img src=x onerror=alert(1)>`.py",
        "<!--.py",
        "=HYPERLINK(1).py",
        "ünïcödé.py",
        "a\u2028b.py",
    ]
    for name in odd:
        _write(tree / "odd" / name, SESSION)
        corpus.add("odd name", name)
    not_utf8 = os.fsdecode(b"latin\xe9.py")
    _write(tree / "odd" / not_utf8, SESSION)
    corpus.add("odd name", "latin\\xe9.py")

    # Broken encodings and contents.
    contents: dict[str, bytes] = {
        "latin1_undeclared.py": "# caf\xe9\n".encode("latin-1") + SESSION.encode(),
        "bad_declaration.py": b"# -*- coding: no-such-codec -*-\n" + SESSION.encode(),
        "nul.py": b"x = 1\x00\n" + SESSION.encode(),
        "bom_mismatch.py": b"\xef\xbb\xbf# coding: latin-1\n" + SESSION.encode(),
        "utf16.py": SESSION.encode("utf-16"),
        "cr_only.py": LEGACY.replace("\n", "\r").encode(),
        "mixed_endings.py": b"from x import DeepAgentState\r\n\rdef f(s: DeepAgentState):\n    return s\r",
        "syntax_error.py": b"x = (\n",
        "syntax_error_legacy.py": LEGACY.encode() + b"def g(:\n",
        "empty.py": b"",
        "only_bom.py": b"\xef\xbb\xbf",
        "deep_parens.py": b"x = " + b"(" * 190 + b"1" + b")" * 190 + b"\n",
        "too_deep_parens.py": b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n",
        "deep_and.py": LEGACY.encode() + b"x = " + b" and ".join([b"a"] * 8000) + b"\n",
        "huge_dict.py": LEGACY.encode()
        + b"T = {\n"
        + b"".join(b"    %d: %d,\n" % (i, i) for i in range(30000))
        + b"}\n",
        "long_line.py": SESSION.encode() + b"x = '" + b"a" * 2_000_000 + b"'\n",
        "control_in_source.py": b"from x import DeepAgentState\ns = '\x1b[2J'\ndef f(s: DeepAgentState):\n    return s\n",
    }
    for name, content in contents.items():
        _write(tree / "contents" / name, content)
        corpus.add("contents", name)

    # A stale cache that does not validate, and a stale temp file from a killed run.
    cache = tree / ".isolint_cache" / "0.0.0"
    _write(cache / "0000000000000000.json", b'{"format": 4, "files": {"x": "x"}}')
    _write(cache / "tmpkilled.tmp", b"{")
    corpus.add("cache", "wrong-shape cache, temp file")
    return corpus


BAD_CONFIGS: dict[str, bytes] = {
    "tool-int": b"tool = 5\n",
    "tool-string": b'tool = "x"\n',
    "invalid-utf8": b'[tool.isolint]\nx = "\xff"\n',
    "nested-arrays": b"x = " + b"[" * 2000 + b"]" * 2000 + b"\n[tool.isolint]\n",
    "bad-pattern": b'[tool.isolint]\nextend-exclude = ["!"]\n',
    "unknown-key": b"[tool.isolint]\nselec = 1\n",
    "wrong-type": b'[tool.isolint]\nselect = "ISO2"\n',
    "rules-not-table": b"[tool.isolint]\nrules = 3\n",
}

BAD_BASELINES: dict[str, bytes] = {
    "invalid-utf8": b'{"version": 1, "findings": ["\xff"]}',
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
    "not-json": b"{",
    "wrong-shape": b'{"version": 1, "findings": [5]}',
    "empty": b"",
}


def git_repository(corpus: Corpus, gpg_trap: Path) -> Path:
    """A copy of the plain part of the tree as a git repository whose config
    names a program (`gpg.program`) that `git log` would run."""
    repo = corpus.root / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "D",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "D",
        "GIT_COMMITTER_EMAIL": "d@x",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    for number, (name, subject) in enumerate(
        [
            ("ordinary.py", '=HYPERLINK("http://x")'),
            ("legacy.py", "<!-- hide the rest"),
            ("singleton.py", "`<img src=x onerror=alert(1)>`"),
        ]
    ):
        shutil.copy(corpus.tree / name, repo / name)
        _write(repo / "contents" / f"broken{number}.py", b"def f(:\n")
        git("add", "-A")
        git("commit", "-q", "-m", subject)
    git("config", "log.showSignature", "true")
    git("config", "gpg.program", str(gpg_trap))
    git("config", "core.pager", str(gpg_trap))
    git("config", "core.fsmonitor", str(gpg_trap))
    return repo
