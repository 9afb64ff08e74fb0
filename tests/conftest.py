from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never share (or write into the repository's) results cache."""
    monkeypatch.setenv("ISOLINT_CACHE_DIR", str(tmp_path_factory.mktemp("isolint-cache")))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run with the temporary directory as the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def pytest_report_header(config: pytest.Config) -> str:
    return f"isolint fixtures: {FIXTURES}; cpus: {os.cpu_count()}"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-snapshots",
        action="store_true",
        help="rewrite the rule fixtures' .py.snap files to what the rules report now (as ISOLINT_UPDATE_SNAPSHOTS=1)",
    )


@pytest.fixture
def update_snapshots(request: pytest.FixtureRequest) -> bool:
    """Whether this run rewrites snapshots instead of comparing them."""
    # Imported here, so loading the conftest does not import the whole linter for every test.
    from isolint.rule_testing import update_requested

    return bool(request.config.getoption("--update-snapshots")) or update_requested()


@pytest.fixture
def difflib_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size (longer side) of each sequence pair difflib's SequenceMatcher is given from now on."""
    sizes: list[int] = []
    real_matcher = difflib.SequenceMatcher

    def matcher(junk: Any, a: Sequence[str], b: Sequence[str], autojunk: bool = True) -> difflib.SequenceMatcher[str]:
        sizes.append(max(len(a), len(b)))
        return real_matcher(junk, a, b, autojunk)

    monkeypatch.setattr(difflib, "SequenceMatcher", matcher)
    return sizes
