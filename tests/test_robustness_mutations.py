"""The mutation corpus: every fixture file, truncated and with bytes flipped.

Broken input must come back as an ISO000 finding or as ordinary findings, and
never as a traceback. Mutants are seeded per file, so a failure reproduces.
By default each file gets a bounded number of truncations (spread evenly over
its lines) and byte-flip mutants, which keeps the corpus near a minute on the
CI machine; `ISOLINT_FUZZ_EXAMPLES` (any value) truncates at every line and
flips more.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from isolint.config import load_settings
from isolint.index import ProjectIndex, index_source
from isolint.plan import Plan, check_bytes
from isolint.rules import ALL_RULES
from tests.conftest import FIXTURES, REPO

EXHAUSTIVE = bool(os.environ.get("ISOLINT_FUZZ_EXAMPLES"))
TRUNCATIONS_PER_FILE = 10
FLIPS_PER_FILE = 8 if not EXHAUSTIVE else 40

CORPUS = sorted((FIXTURES / "rules").rglob("*.py")) + sorted((FIXTURES / "legacy_app").rglob("*.py"))
SETTINGS = load_settings([REPO], isolated=True)
INDEXERS = [
    (rule, prefilter) for rule in ALL_RULES if (prefilter := rule.compile_index_prefilter(SETTINGS)) is not None
]


def truncations(raw: bytes, rng: random.Random) -> list[bytes]:
    """Prefixes ending at line boundaries, and some ending mid-line (open strings and brackets)."""
    lines = raw.splitlines(keepends=True)
    rows = range(len(lines))
    if not EXHAUSTIVE and len(lines) > TRUNCATIONS_PER_FILE:
        rows = sorted(rng.sample(rows, TRUNCATIONS_PER_FILE))
    mutants = []
    for row in rows:
        head = b"".join(lines[:row])
        mutants.append(head)
        line = lines[row]
        if len(line) > 2 and rng.random() < 0.5:
            mutants.append(head + line[: rng.randrange(1, len(line) - 1)])
    return mutants


def flips(raw: bytes, rng: random.Random) -> list[bytes]:
    """Copies with one to three bytes replaced by random ones (NULs and invalid UTF-8 included)."""
    mutants = []
    for _ in range(FLIPS_PER_FILE if raw else 0):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        mutants.append(bytes(data))
    return mutants


def mutants_of(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    rng = random.Random(path.relative_to(REPO).as_posix())
    return truncations(raw, rng) + flips(raw, rng)


def check_mutant(raw: bytes, path: str) -> list:
    """`check` on one file's bytes, with the file's own facts in the project index."""
    plan = Plan.from_settings(SETTINGS, ProjectIndex(index_source(raw, path, "app.mutant", INDEXERS, SETTINGS)))
    findings = check_bytes(raw, path, plan, module_name="app.mutant").findings
    return findings


@pytest.mark.parametrize("fixture", CORPUS, ids=lambda p: p.relative_to(FIXTURES).as_posix())
def test_mutants_get_findings_or_iso000_never_an_exception(fixture: Path) -> None:
    shown = fixture.relative_to(REPO).as_posix()
    for number, raw in enumerate(mutants_of(fixture)):
        try:
            findings = check_mutant(raw, shown)
        except Exception as exc:  # any exception is the failure being reported
            pytest.fail(f"check raised {exc!r} on mutant {number} of {shown}:\n{raw!r}")
        unparsable = [f for f in findings if f.code == "ISO000"]
        # An unreadable or unparsable file gets exactly one ISO000 and nothing else.
        assert not unparsable or findings == unparsable[:1], (number, raw, findings)
        for finding in findings:
            assert finding.message and finding.location.row >= 1 and finding.location.column >= 1, (
                number,
                raw,
                finding,
            )


def test_cli_over_a_directory_of_mutants_exits_cleanly(tmp_path: Path) -> None:
    """The real command line (parallel workers, cache, index) on a few hundred mutants."""
    rng = random.Random("cli-mutants")
    every = [(path, raw) for path in CORPUS for raw in mutants_of(path)]
    for number, (path, raw) in enumerate(rng.sample(every, min(300, len(every)))):
        (tmp_path / f"m{number:03d}_{path.stem}.py").write_bytes(raw)
    result = subprocess.run(
        [sys.executable, "-m", "isolint", "check", "--output-format", "concise", "--isolated", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr.lower()
    assert ": ISO000 " in result.stdout  # the corpus is full of broken files; they are reported, not dropped
