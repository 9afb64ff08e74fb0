"""Benchmark isolint against Fixit 2 (one equivalent rule) and ruff, side by side.

    python bench/run.py [--repeat 3] [--skip-setup] [--corpus generated,django]

Creates `bench/.venv` (fixit, ruff, django) on first use, generates the
corpus with `bench/gen_corpus.py`, runs every tool several times per corpus
and prints wall time (min/median), lines per second and peak RSS of the whole
process tree, plus the isolint/Fixit and isolint/ruff ratios. The same data
goes to `bench/results/latest.json` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
FIXIT_VENV = HERE / ".venv-fixit"  # Fixit 2.2.1 pins click<8.2; isolint needs click>=8.2
RESULTS = HERE / "results"


def _bin(name: str, venv: Path = VENV) -> str:
    return str(venv / "bin" / name)


def setup() -> None:
    for venv, packages in ((VENV, ["-e", str(REPO), "ruff", "django"]), (FIXIT_VENV, ["fixit==2.2.1"])):
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([_bin("pip", venv), "install", "-q", *packages], check=True)


def _tree_rss_kb(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    total, frontier = 0, [root_pid]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the process tree in KiB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return wall, peak, code


def count_lines(root: Path) -> tuple[int, int]:
    files = lines = 0
    for path in root.rglob("*.py"):
        files += 1
        with path.open("rb") as handle:
            lines += sum(1 for _ in handle)
    return files, lines


def corpora(names: list[str], workdir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if "generated" in names:
        out = workdir / "generated"
        subprocess.run([sys.executable, str(HERE / "gen_corpus.py"), str(out)], check=True, stdout=subprocess.DEVNULL)
        found["generated"] = out
    if "django" in names:
        django = subprocess.run(
            [_bin("python"), "-c", "import django, os; print(os.path.dirname(django.__file__))"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        copy = workdir / "django"
        shutil.copytree(django, copy)
        found["django"] = copy
    return found


def scenarios(corpus: Path, cache_dir: Path) -> dict[str, tuple[list[str], Path, bool]]:
    """name -> (command, cwd, clear the cache before each run?)."""
    ten = [str(p) for p in sorted(corpus.rglob("*.py"))[:10]]
    fixit_config = corpus / "pyproject.toml"
    return {
        "isolint check (cold)": ([_bin("isolint"), "check", "--no-cache", "."], corpus, True),
        "isolint check (warm)": ([_bin("isolint"), "check", "."], corpus, False),
        "isolint fix --diff": ([_bin("isolint"), "fix", "--diff", "--no-cache", "."], corpus, True),
        "isolint check (10 files)": ([_bin("isolint"), "check", *ten], corpus, False),
        "fixit (1 rule)": ([_bin("fixit", FIXIT_VENV), "--config-file", str(fixit_config), "lint", "."], corpus, False),
        "ruff PLW0603": ([_bin("ruff"), "check", "--no-cache", "--select", "PLW0603", "--exit-zero", "."], corpus, False),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--corpus", default="generated,django")
    args = parser.parse_args()
    if not args.skip_setup:
        setup()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="isolint-bench-") as tmp:
        workdir = Path(tmp)
        for corpus_name, corpus in corpora(args.corpus.split(","), workdir).items():
            files, lines = count_lines(corpus)
            (corpus / "pyproject.toml").write_text(
                '[tool.fixit]\nroot = true\nenable = ["bench.fixit_session_rule"]\ndisable = ["fixit.rules"]\n'
                'python-version = "3.11"\n'
            )
            cache_dir = workdir / f"cache-{corpus_name}"
            env = {**os.environ, "ISOLINT_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO)}
            rows: dict[str, object] = {"files": files, "lines": lines, "tools": {}}
            for name, (command, cwd, cold) in scenarios(corpus, cache_dir).items():
                walls, peaks = [], []
                if name == "isolint check (warm)":
                    timed([_bin("isolint"), "check", "."], corpus, env)  # prime the cache
                for _ in range(args.repeat):
                    if cold:
                        shutil.rmtree(cache_dir, ignore_errors=True)
                    wall, peak, _code = timed(command, cwd, env)
                    walls.append(wall)
                    peaks.append(peak)
                rows["tools"][name] = {  # type: ignore[index]
                    "min_s": min(walls),
                    "median_s": statistics.median(walls),
                    "lines_per_s": lines / min(walls),
                    "peak_rss_mb": max(peaks) / 1024,
                }
            results[corpus_name] = rows
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    report(results)


def report(results: dict[str, dict[str, object]]) -> None:
    for corpus_name, rows in results.items():
        tools = rows["tools"]  # type: ignore[index]
        print(f"\n{corpus_name}: {rows['files']} files, {rows['lines']:,} lines")
        print(f"{'tool':28} {'min s':>8} {'median s':>9} {'lines/s':>12} {'peak RSS MB':>12}")
        for name, row in tools.items():  # type: ignore[union-attr]
            print(f"{name:28} {row['min_s']:8.2f} {row['median_s']:9.2f} {row['lines_per_s']:12,.0f} {row['peak_rss_mb']:12.0f}")
        cold = tools["isolint check (cold)"]["min_s"]  # type: ignore[index]
        print(
            f"isolint cold / fixit wall: {cold / tools['fixit (1 rule)']['min_s']:.2f}  "  # type: ignore[index]
            f"(throughput ratio {tools['fixit (1 rule)']['min_s'] / cold:.1f}x)  "  # type: ignore[index]
            f"isolint cold / ruff wall: {cold / tools['ruff PLW0603']['min_s']:.1f}x  "  # type: ignore[index]
            f"warm / ruff cold: {tools['isolint check (warm)']['min_s'] / tools['ruff PLW0603']['min_s']:.2f}"  # type: ignore[index]
        )


if __name__ == "__main__":
    main()
