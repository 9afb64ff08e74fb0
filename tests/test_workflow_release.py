"""isolint installs as a release: the wheel and sdist build, carry a version
from git, and the wheel works in a fresh virtualenv the way README.md's quick
start uses it."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from isolint import __version__
from tests.conftest import FIXTURES, REPO

pytestmark = pytest.mark.release


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run(sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-t", "wheel", "-d", str(out), cwd=REPO)
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def test_the_version_comes_from_git(dist: Path) -> None:
    [wheel] = dist.glob("isolint-*.whl")
    version = wheel.name.split("-")[1]
    # A tag vX.Y.Z gives X.Y.Z; between tags (and untagged) a dev release of the next version.
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?(\+[\w.]+)?", version), version
    assert __version__ != "0+unknown"  # the editable install wrote _version.py too


def test_the_sdist_holds_what_a_build_and_the_tests_need(dist: Path) -> None:
    [sdist] = dist.glob("isolint-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    for needed in (
        "pyproject.toml",
        "PKG-INFO",
        "README.md",
        ".pre-commit-hooks.yaml",
        "src/isolint/cli.py",
        "rules/ISO101-singleton-class.md",
    ):
        assert f"{top}/{needed}" in names, needed


def test_the_wheel_runs_the_quick_start_in_a_fresh_virtualenv(dist: Path, tmp_path: Path) -> None:
    [wheel] = dist.glob("isolint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "isolint/_version.py" in names
    assert "isolint/py.typed" in names  # PEP 561: type checkers read the runtime's annotations
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    installed = _run(str(environment / "bin" / "pip"), "install", "-q", str(wheel))
    assert installed.returncode == 0, installed.stderr
    executable = str(environment / "bin" / "isolint")

    version = _run(executable, "--version")
    assert version.returncode == 0 and wheel.name.split("-")[1] in version.stdout

    quick_start = _run(
        executable, "check", str(FIXTURES / "legacy_app"), "--no-cache", "--output-format", "concise", cwd=tmp_path
    )
    assert quick_start.returncode == 1, quick_start.stderr  # the sample app is full of findings
    assert re.search(r"Found \d+ findings\.", quick_start.stdout)
    doc = _run(executable, "rule", "ISO101")
    assert doc.returncode == 0 and "## Why is this bad" in doc.stdout  # the docs ship inside the wheel
