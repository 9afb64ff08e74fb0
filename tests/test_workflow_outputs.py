"""Outputs for every CI: GitLab Code Quality, reviewdog rdjson, pylint,
Azure Pipelines and grouped text; stable fingerprints and doc links in SARIF
and JSON; --statistics in the machine formats."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from isolint.cli import OUTPUT_FORMATS
from isolint.findings import Finding, Location
from isolint.output import FORMATS
from isolint.output.platforms import azure
from tests.conftest import write
from tests.workflow_cli import isolint

SCHEMA = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
SOURCE = "from app.state import DeepAgentState\nfrom app.db import Session\nsession = Session()\nother = Session()\n"


def output(cwd: Path, fmt: str, env: dict[str, str] | None = None) -> str:
    result = isolint(cwd, "check", "--no-cache", "--output-format", fmt, env=env)
    assert result.returncode == 1, result.stderr
    return result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "app" / "m.py", SOURCE)
    return tmp_path


def test_the_cli_offers_every_format() -> None:
    assert tuple(FORMATS) == OUTPUT_FORMATS


def test_gitlab_code_quality_issues_keep_their_fingerprint_when_lines_move(project: Path) -> None:
    before = json.loads(output(project, "gitlab"))
    assert [(issue["check_name"], issue["location"]) for issue in before] == [
        ("ISO401", {"path": "app/m.py", "lines": {"begin": 1, "end": 1}}),
        ("ISO203", {"path": "app/m.py", "lines": {"begin": 3, "end": 3}}),
        ("ISO203", {"path": "app/m.py", "lines": {"begin": 4, "end": 4}}),
    ]
    assert all(
        issue["severity"] == "major" and issue["description"].startswith(issue["check_name"]) for issue in before
    )
    assert len({issue["fingerprint"] for issue in before}) == 3
    write(project / "app" / "m.py", "# a new first line\n" + SOURCE)
    after = json.loads(output(project, "gitlab"))
    assert [issue["location"]["lines"]["begin"] for issue in after] == [2, 4, 5]
    assert [issue["fingerprint"] for issue in after] == [issue["fingerprint"] for issue in before]


def test_rdjson_for_reviewdog_carries_ranges_doc_links_and_safe_suggestions(project: Path) -> None:
    document = json.loads(output(project, "rdjson"))
    assert document["source"] == {"name": "isolint"}
    first = document["diagnostics"][0]
    assert first["location"] == {
        "path": "app/m.py",
        "range": {"start": {"line": 1, "column": 23}, "end": {"line": 1, "column": 37}},
    }
    assert first["code"]["value"] == "ISO401" and first["code"]["url"].endswith("ISO401-legacy-state-import.md")
    assert first["suggestions"][0]["text"] == "isolint.runtime import UserExecutionContext"
    assert "suggestions" not in document["diagnostics"][1]  # no fix for a module-level session


def test_pylint_and_grouped_text(project: Path) -> None:
    assert output(project, "pylint").splitlines()[0].startswith("app/m.py:1: [ISO401] `DeepAgentState`")
    grouped = output(project, "grouped").splitlines()
    assert grouped[0] == "app/m.py:"
    assert grouped[1].startswith("  1:23 ISO401 [*] ") and grouped[2].startswith("  3:1  ISO203 ")
    assert "Found 3 findings." in grouped


def test_azure_logging_commands_escape_what_would_end_a_property() -> None:
    finding = Finding(
        "ISO203", "module-session", "sessions", "50% shared;\nsee]", "a;b.py", Location(3, 1), Location(3, 8)
    )
    assert azure([finding]) == (
        "##vso[task.logissue type=error;sourcepath=a%3Bb.py;linenumber=3;columnnumber=1;code=ISO203;]50%AZP25 shared;%0Asee]\n"
    )


def test_sarif_has_help_uris_and_line_independent_fingerprints(project: Path) -> None:
    log = json.loads(output(project, "sarif"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(Path(rule["helpUri"].removeprefix("file://")).is_file() for rule in rules)
    prints = [result["partialFingerprints"]["isolintFingerprint/v1"] for result in log["runs"][0]["results"]]
    write(project / "app" / "m.py", "\n\n" + SOURCE)
    shifted = json.loads(output(project, "sarif"))
    assert [
        result["partialFingerprints"]["isolintFingerprint/v1"] for result in shifted["runs"][0]["results"]
    ] == prints


def test_json_url_is_the_rule_doc_or_the_configured_template(project: Path) -> None:
    [first, *_] = json.loads(output(project, "json"))
    assert first["url"].startswith("file://") and Path(first["url"].removeprefix("file://")).is_file()
    hosted = {
        "NO_COLOR": "1",
        "ISOLINT_RULE_DOCS_URL": "https://git.example.com/isolint/-/blob/v1/rules/{code}-{name}.md",
    }
    [first, *_] = json.loads(output(project, "json", env=hosted))
    assert first["url"] == "https://git.example.com/isolint/-/blob/v1/rules/ISO401-legacy-state-import.md"


def test_statistics_in_machine_formats(project: Path) -> None:
    lines = isolint(project, "check", "--statistics", "--output-format", "json-lines").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"code": "ISO203", "name": "module-session", "count": 2, "fixable": False},
        {"code": "ISO401", "name": "legacy-state-import", "count": 1, "fixable": True},
    ]
    assert json.loads(isolint(project, "check", "--statistics", "--output-format", "json").stdout)[0]["count"] == 2
    unsupported = isolint(project, "check", "--statistics", "--output-format", "sarif")
    assert unsupported.returncode == 2 and "--statistics has no sarif form" in unsupported.stderr
