"""Benchmark isolint against ruff and Fixit 2 (one equivalent rule), side by
side, on two corpora, and print one markdown table.

    python bench/run.py [--repeat 3] [--lines 1000000] [--corpus generated,dense]
                        [--rss-lines 1000000,3000000] [--functions 100,200,500]
                        [--skip-setup] [--skip-fixit]

Corpora: `generated` (bench/gen_corpus.py: about 1 file in 10 gets past the
byte prefilters) and `dense` (bench/gen_dense_corpus.py: an agent backend in
the middle of the migration, about 8 in 10), both of `--lines` lines; also
`django` (Django's installed sources). For each: isolint cold (`check
--no-cache`), warm (`check`, cache filled), `check` on 10 files of the cached
project, `fix --diff --unsafe-fixes --no-cache`, ruff (`--select PLW0603`,
no cache) and Fixit with bench/fixit_session_rule.py. Each row is the best
of `--repeat` runs (the median is in the JSON), with the peak resident
memory of the whole process tree (sampled every 50 ms from /proc: isolint's
workers included). The share of files past the prefilters comes from one
extra `check --no-cache --statistics --timings` run.

Two more rows: peak RSS of a cold check on dense corpora of `--rss-lines`
lines (the slope says what 10M lines would take), and one file with 100,
200 and 500 functions annotated with the legacy state (are a check and a
`fix --diff` linear in the size of a file?). Two floor rows per corpus
(bench/floor.py): start-up plus `ast.parse` of every file once on every
core, and start-up plus importing isolint's command line.

Creates bench/.venv (isolint with the `bench` extra) and bench/.venv-fixit
(Fixit 2.2.1 pins click<8.2, isolint needs click>=8.2: they cannot share an
environment) on first use. Writes bench/results/latest.json and latest.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
FIXIT_VENV = HERE / ".venv-fixit"
FIXIT_PIN = "fixit==2.2.1"
RESULTS = HERE / "results"
LEGACY_FUNCTION = """

def step_{i}(state: DeepAgentState, limit: int = {i}) -> DeepAgentState:
    state.results["step_{i}"] = [item for item in state.results.get("items", [])[:limit]]
    return state
"""


def _bin(name: str, venv: Path = VENV) -> str:
    return str(venv / "bin" / name)


def setup() -> None:
    for venv, packages in ((VENV, ["-e", f"{REPO}[bench]"]), (FIXIT_VENV, [FIXIT_PIN])):
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([_bin("pip", venv), "install", "-q", *packages], check=True)
    # An editable install has no bytecode of isolint's own modules, and with
    # PYTHONDONTWRITEBYTECODE set none is written: every run would compile
    # them (about 0.06 s). pip compiles an installed package, and Fixit's.
    subprocess.run([_bin("python"), "-m", "compileall", "-q", str(REPO / "src" / "isolint")], check=True)


def _tree_memory_kb(root_pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process and all its descendants, from /proc. The RSS
    sum counts a page shared by forked workers once per process; PSS splits
    it among them, so its sum is the memory the tree really holds."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    rss = pss = 0
    frontier = [root_pid]
    while frontier:
        pid = frontier.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            rss += int(fields["Rss"].split()[0])
            pss += int(fields["Pss"].split()[0])
        except (OSError, KeyError, ValueError):
            pass
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return rss, pss


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    peak_kb: int  # resident memory of the process tree (RSS summed over its processes)
    peak_pss_kb: int  # the same, shared pages split among the processes sharing them
    code: int
    output: str


def timed(command: list[str], cwd: Path, env: dict[str, str], *, capture: bool = False) -> Run:
    start = time.perf_counter()
    sink = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT if capture else sink, text=True
    )
    peak = peak_pss = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        while not done.is_set():
            rss, pss = _tree_memory_kb(proc.pid)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return Run(wall, peak, peak_pss, proc.returncode, output or "")


def count_lines(paths: list[Path]) -> int:
    lines = 0
    for path in paths:
        with path.open("rb") as handle:
            lines += sum(1 for _ in handle)
    return lines


def make_corpus(name: str, out: Path, lines: int) -> Path:
    if name == "generated":
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_corpus.py"),
                str(out),
                "--lines",
                str(lines),
                "--files",
                str(max(10, lines // 200)),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    elif name == "dense":
        subprocess.run(
            [sys.executable, str(HERE / "gen_dense_corpus.py"), str(out), "--lines", str(lines)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    elif name == "django":
        django = subprocess.run(
            [_bin("python"), "-c", "import django, os; print(os.path.dirname(django.__file__))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        shutil.copytree(django, out)
    else:
        raise SystemExit(f"unknown corpus {name!r}: use generated, dense or django")
    (out / "pyproject.toml").write_text(
        '[tool.fixit]\nroot = true\nenable = ["bench.fixit_session_rule"]\ndisable = ["fixit.rules"]\npython-version = "3.11"\n'
    )
    return out


@dataclass(frozen=True)
class Scenario:
    name: str
    command: list[str]
    clear_cache: bool  # before each run
    prime_cache: bool  # once, before the runs
    lines: int | None  # what lines/s is computed over (None: not meaningful)


def scenarios(corpus: Path, lines: int, with_fixit: bool) -> list[Scenario]:
    files = sorted(corpus.rglob("*.py"))
    ten = files[:: max(1, len(files) // 10)][:10]  # spread over the tree, not ten neighbours
    isolint = _bin("isolint")
    found = [
        Scenario("isolint check --no-cache (cold)", [isolint, "check", "--no-cache", "."], True, False, lines),
        Scenario("isolint check (warm)", [isolint, "check", "."], False, True, lines),
        Scenario("isolint check, 10 files (cached project)", [isolint, "check", *map(str, ten)], False, True, None),
        Scenario(
            "isolint fix --diff --unsafe-fixes --no-cache",
            [isolint, "fix", "--diff", "--unsafe-fixes", "--no-cache", "."],
            True,
            False,
            lines,
        ),
        Scenario(
            "ruff check --no-cache --select PLW0603",
            [_bin("ruff"), "check", "--no-cache", "--select", "PLW0603", "--exit-zero", "."],
            False,
            False,
            lines,
        ),
    ]
    if with_fixit:
        fixit = [_bin("fixit", FIXIT_VENV), "--config-file", str(corpus / "pyproject.toml"), "lint", "."]
        found.append(Scenario("Fixit 2.2.1, one rule", fixit, False, False, lines))
    # What any checker on CPython's `ast` pays (bench/floor.py), for the targets' sake.
    floor = [_bin("python"), str(HERE / "floor.py")]
    found += [
        Scenario(FLOOR_PARSE, [*floor, "parse", "."], False, False, lines),
        Scenario(FLOOR_START_UP, [*floor, "start-up"], False, False, None),
    ]
    return found


FLOOR_PARSE = "floor: Python start-up + `ast.parse` of every file, once"
FLOOR_START_UP = "floor: Python start-up + `import isolint.cli`"


def measure(scenario: Scenario, corpus: Path, env: dict[str, str], cache: Path, repeat: int) -> dict[str, float | None]:
    if scenario.prime_cache:
        timed([_bin("isolint"), "check", "."], corpus, env)
    runs = []
    for _ in range(repeat):
        if scenario.clear_cache:
            shutil.rmtree(cache, ignore_errors=True)
        runs.append(timed(scenario.command, corpus, env))
    best = min(run.wall for run in runs)
    return {
        "min_s": best,
        "median_s": statistics.median(run.wall for run in runs),
        "lines_per_s": scenario.lines / best if scenario.lines else None,
        "peak_rss_mb": max(run.peak_kb for run in runs) / 1024,
    }


def prefilter_share(corpus: Path, env: dict[str, str]) -> dict[str, int]:
    """Files seen, skipped by the prefilters and parsed, from isolint's own counts."""
    output = timed(
        [_bin("isolint"), "check", "--no-cache", "--statistics", "--timings", "."], corpus, env, capture=True
    ).output
    counts = {}
    for key, label in (("seen", "seen"), ("skipped", "skipped by prefilter"), ("parsed", "parsed")):
        match = re.search(rf"^\s+{label}\s+(\d+)", output, re.MULTILINE)
        if match is None:
            raise SystemExit(f"isolint --timings printed no {label!r} count:\n{output}")
        counts[key] = int(match.group(1))
    return counts


def rss_slope(sizes: list[int], workdir: Path, env: dict[str, str]) -> list[dict[str, float]]:
    rows = []
    for size in sizes:
        corpus = make_corpus("dense", workdir / f"dense-{size}", size)
        run = timed([_bin("isolint"), "check", "--no-cache", "."], corpus, env)
        rows.append(
            {
                "lines": size,
                "wall_s": run.wall,
                "peak_rss_mb": run.peak_kb / 1024,
                "peak_pss_mb": run.peak_pss_kb / 1024,
            }
        )
        shutil.rmtree(corpus)
    return rows


def file_size_rows(counts: list[int], workdir: Path, env: dict[str, str], repeat: int) -> list[dict[str, float]]:
    """One file of N functions annotated with the legacy state; no time limit,
    so that a superlinear step shows as time rather than as ISO000."""
    rows = []
    unlimited = {**env, "ISOLINT_FILE_TIME_LIMIT": "0"}
    for count in counts:
        path = workdir / f"legacy_{count}.py"
        path.write_text(
            "from app.state import DeepAgentState\n" + "".join(LEGACY_FUNCTION.format(i=i) for i in range(count))
        )
        best = min(
            timed([_bin("isolint"), "check", "--no-cache", "--isolated", path.name], workdir, unlimited).wall
            for _ in range(repeat)
        )
        # Every function's fixes are built, and the gate compares the file before and after them.
        fix_best = min(
            timed(
                [_bin("isolint"), "fix", "--diff", "--unsafe-fixes", "--no-cache", "--isolated", path.name],
                workdir,
                unlimited,
            ).wall
            for _ in range(repeat)
        )
        rows.append(
            {
                "functions": count,
                "lines": count_lines([path]),
                "min_s": best,
                "per_function_ms": 1000 * best / count,
                "fix_min_s": fix_best,
                "fix_per_function_ms": 1000 * fix_best / count,
            }
        )
    return rows


def machine() -> dict[str, str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{model}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lines", type=int, default=1_000_000, help="size of the generated and dense corpora")
    parser.add_argument("--corpus", default="generated,dense")
    parser.add_argument(
        "--rss-lines", default="1000000,3000000", help="dense corpus sizes for the memory slope ('' to skip)"
    )
    parser.add_argument(
        "--functions", default="100,200,500", help="legacy-state functions per file for the file-size rows ('' to skip)"
    )
    parser.add_argument("--skip-setup", action="store_true")
    parser.add_argument("--skip-fixit", action="store_true")
    args = parser.parse_args()
    if not args.skip_setup:
        setup()
    results: dict[str, object] = {"machine": machine(), "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="isolint-bench-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "ISOLINT_CACHE_DIR": str(workdir / "cache"), "PYTHONPATH": str(REPO)}
        for name in args.corpus.split(","):
            corpus = make_corpus(name, workdir / name, args.lines)
            files = sorted(corpus.rglob("*.py"))
            lines = count_lines(files)
            cache = workdir / f"cache-{name}"
            corpus_env = {**env, "ISOLINT_CACHE_DIR": str(cache)}
            rows = {
                s.name: measure(s, corpus, corpus_env, cache, args.repeat)
                for s in scenarios(corpus, lines, not args.skip_fixit)
            }
            results["corpora"][name] = {
                "files": len(files),
                "lines": lines,
                "prefilter": prefilter_share(corpus, corpus_env),
                "tools": rows,
            }  # type: ignore[index]
            shutil.rmtree(corpus)
            shutil.rmtree(cache, ignore_errors=True)
        if args.rss_lines:
            results["rss"] = rss_slope([int(n) for n in args.rss_lines.split(",")], workdir, env)
        if args.functions:
            results["file_size"] = file_size_rows(
                [int(n) for n in args.functions.split(",")], workdir, env, args.repeat
            )
    results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())  # type: ignore[index]
    results["repeat"] = args.repeat
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (RESULTS / "latest.md").write_text(table)
    print(table)


def markdown(results: dict) -> str:  # type: ignore[type-arg]
    box = results["machine"]
    out = [
        (
            f"Measured {box['date']} on {box['cpu']}, Python {box['python']}, best of {results['repeat']} "
            f"(load average {box['load_before']} before, {box['load_after']} after)."
        ),
        "",
    ]
    for name, corpus in results["corpora"].items():
        tools = corpus["tools"]
        share = corpus["prefilter"]
        ruff = tools["ruff check --no-cache --select PLW0603"]["min_s"]
        floor = tools.get(FLOOR_PARSE)
        out += [
            (
                f"**{name}** corpus: {corpus['files']:,} files, {corpus['lines']:,} lines; "
                f"{share['parsed']:,} of {share['seen']:,} files ({100 * share['parsed'] / share['seen']:.0f}%) get past the byte prefilters."
            ),
            "",
            "| run | wall (best) | lines/s | peak RSS | / ruff |",
            "|---|---:|---:|---:|---:|",
        ]
        for tool, row in tools.items():
            rate = f"{row['lines_per_s']:,.0f}" if row["lines_per_s"] else ""
            versus_ruff = f"{row['min_s'] / ruff:.1f}x" if row["lines_per_s"] else ""  # a 10-file run is not comparable
            out.append(f"| {tool} | {row['min_s']:.2f} s | {rate} | {row['peak_rss_mb']:.0f} MB | {versus_ruff} |")
        if floor is not None:
            out.append(
                f"\nParsing every file once takes {floor['min_s'] / ruff:.1f}x ruff's time on this corpus: "
                "the floor under any checker on CPython's `ast` (a cold check parses twice: index, then rules)."
            )
        out.append("")
    if "rss" in results:
        out += ["| dense corpus, cold `check` | wall | peak RSS (sum) | peak PSS (sum) |", "|---|---:|---:|---:|"]
        out += [
            f"| {row['lines']:,} lines | {row['wall_s']:.1f} s | {row['peak_rss_mb']:.0f} MB | {row['peak_pss_mb']:.0f} MB |"
            for row in results["rss"]
        ]
        if len(results["rss"]) > 1:
            first, last = results["rss"][0], results["rss"][-1]
            slope = (last["peak_rss_mb"] - first["peak_rss_mb"]) / ((last["lines"] - first["lines"]) / 1e6)
            out.append(
                f"\nSlope: {slope:.0f} MB per million lines; extrapolated to 10M lines: {last['peak_rss_mb'] + slope * (10e6 - last['lines']) / 1e6:.0f} MB."
            )
        out.append("")
    if "file_size" in results:
        out += [
            "| one file, legacy-state functions | lines | `check --no-cache` (best) | per function "
            "| `fix --diff --unsafe-fixes` (best) | per function |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        out += [
            f"| {row['functions']} | {row['lines']:,} | {row['min_s']:.2f} s | {row['per_function_ms']:.1f} ms "
            f"| {row['fix_min_s']:.2f} s | {row['fix_per_function_ms']:.1f} ms |"
            for row in results["file_size"]
        ]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
