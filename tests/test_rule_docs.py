"""Every rule is documented with ruff's sections, and its examples are true."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from isolint.docs import SECTIONS, code_block, doc_path, docs_dir, section
from isolint.rules import ALL_RULES, BY_CODE, Rule
from isolint.suppressions import HYGIENE_CODES
from tests.helpers import check_findings, run_cli


def test_every_doc_names_a_real_rule() -> None:
    for path in docs_dir().glob("*.md"):
        code, _, name = path.stem.partition("-")
        assert code in BY_CODE, f"{path.name} documents no registered rule"
        assert BY_CODE[code].name == name, f"{path.name}: the rule {code} is named {BY_CODE[code].name}"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_doc_has_every_section(rule: type[Rule]) -> None:
    assert doc_path(rule).is_file(), f"missing rules/{rule.code}-{rule.name}.md"
    doc = doc_path(rule).read_text(encoding="utf-8")
    assert doc.startswith(f"# {rule.name} ({rule.code})")
    for title in SECTIONS:
        assert section(doc, title), f"{rule.code}: empty or missing section '## {title}'"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_example_triggers_the_rule_and_use_instead_does_not(rule: type[Rule], tmp_path: Path) -> None:
    doc = doc_path(rule).read_text(encoding="utf-8")
    example = code_block(section(doc, "Example") or "")
    instead = code_block(section(doc, "Use instead") or "")
    assert example is not None and instead is not None, f"{rule.code}: both sections need a ```python block"
    (tmp_path / "example.py").write_text(example, encoding="utf-8")
    (tmp_path / "instead.py").write_text(instead, encoding="utf-8")
    # ISO000 is reported only for files some other rule needed to parse, and
    # the hygiene rules judge suppressions only when the rules they name ran.
    selector = "ALL" if rule.code == "ISO000" or rule.code in HYGIENE_CODES else rule.code
    assert rule.code in {f.code for f in check_findings([tmp_path / "example.py"], selector)}
    assert rule.code not in {f.code for f in check_findings([tmp_path / "instead.py"], selector)}


def test_rule_command_prints_the_doc_by_code_and_by_name() -> None:
    by_code = run_cli("rule", "ISO101")
    by_name = run_cli("rule", "singleton-class")
    assert by_code.exit_code == 0 and by_code.stdout == by_name.stdout
    assert "## Why is this bad" in by_code.stdout


def test_docs_ship_inside_the_wheel(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("isolint-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rule in ALL_RULES:
        assert f"isolint/_docs/rules/{rule.code}-{rule.name}.md" in names
