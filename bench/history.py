"""Benchmark `isolint report --history` against one cold `isolint check`.

Builds a git repository from the benchmark corpus (bench/gen_corpus.py, ~5,000
files), adds COMMITS commits that each edit a few dozen files (some edits
migrate a legacy pattern, most are unrelated), then times, each with an empty
results cache:

- `isolint check --no-cache` of the working tree (the reference), and
- `isolint report --history --commits COMMITS --format json`.

Target: the history run under 2x the check.

    python bench/history.py [--dir /tmp/isolint-history-bench] [--files 5000] [--commits 50] [--changes 36]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_corpus import generate

ISOLINT = Path(sys.executable).with_name("isolint")
UNRELATED = "\n\ndef helper_{n}(values):\n    return [value for value in values if value is not None][:{n}]\n"


def git(repo: Path, *args: str, hour: int = 0) -> None:
    stamp = f"{1704067200 + hour * 3600} +0000"  # fixed dates: the same commits on every run
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def build(repo: Path, files: int, commits: int, changes: int, seed: int) -> int:
    _, lines = generate(repo, files, files * 200, seed)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "corpus")
    rng = random.Random(seed)
    modules = sorted(repo.rglob("mod*.py"))
    for number in range(1, commits):
        for path in rng.sample(modules, changes):
            text = path.read_text()
            if "DeepAgentState" in text and rng.random() < 0.5:
                text = text.replace(
                    "from app.state import DeepAgentState", "from isolint.runtime import UserExecutionContext"
                )
                text = text.replace("DeepAgentState", "UserExecutionContext")
            else:
                text = text.replace('"""\n', '"""\n\nimport logging\n', 1) + UNRELATED.format(n=number)
            path.write_text(text)
        git(repo, "commit", "-q", "-am", f"change {number}", hour=number)
    return lines


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        completed = subprocess.run(
            command,
            cwd=cwd,
            env={**os.environ, "ISOLINT_CACHE_DIR": cache},
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr}")
    return elapsed, completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "isolint-history-bench")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--changes", type=int, default=36, help="files edited per commit")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reuse", action="store_true", help="reuse an existing repository in --dir")
    args = parser.parse_args()

    repo = args.dir
    if not (args.reuse and (repo / ".git").exists()):
        start = time.perf_counter()
        lines = build(repo, args.files, args.commits, args.changes, args.seed)
        print(
            f"built {args.files} files ({lines:,} lines), {args.commits} commits x {args.changes} changed files in {time.perf_counter() - start:.1f}s"
        )
    check, _ = timed([str(ISOLINT), "check", "--no-cache", "--output-format", "json", "."], repo)
    history, note = timed(
        [str(ISOLINT), "report", "--history", "--commits", str(args.commits), "--format", "json", "."], repo
    )
    print(f"cold check:              {check:7.2f}s")
    print(f"report --history ({args.commits}):  {history:7.2f}s   ({note})")
    print(f"ratio:                   {history / check:7.2f}x  (target < 2x)")


if __name__ == "__main__":
    main()
