"""Every output format, checked against what the consuming tools expect."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.etree import ElementTree

import click
import jsonschema
import pytest

from isolint.rules import ALL_RULES
from tests.conftest import write
from tests.helpers import run_cli

SCHEMA = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
SOURCE = "from app.state import DeepAgentState\n\n\nclass Agent:\n    def __init__(self, db):\n        self.db = db\n"


@pytest.fixture
def project(in_tmp: Path) -> Path:
    write(in_tmp / "pkg" / "agent.py", SOURCE)
    return in_tmp


def output(fmt: str) -> str:
    result = run_cli("check", "--output-format", fmt, "--no-cache")
    assert result.exit_code == 1
    return result.stdout


def test_json_has_ruffs_shape_plus_isolint_extras(project: Path) -> None:
    rows = json.loads(output("json"))
    assert [r["code"] for r in rows] == ["ISO401", "ISO201"]
    legacy, session = rows
    assert set(legacy) == {
        "cell",
        "code",
        "end_location",
        "filename",
        "fix",
        "location",
        "message",
        "noqa_row",
        "url",
        "isolint",
    }
    assert legacy["filename"] == os.path.join(str(project), "pkg", "agent.py")
    assert legacy["location"] == {"row": 1, "column": 23} and legacy["end_location"] == {"row": 1, "column": 37}
    assert legacy["noqa_row"] == 1
    assert legacy["fix"]["applicability"] == "safe"
    assert legacy["fix"]["edits"] == [
        {
            "content": "isolint.runtime import UserExecutionContext",
            "location": {"row": 1, "column": 6},
            "end_location": {"row": 1, "column": 37},
        }
    ]
    assert session["fix"]["applicability"] == "unsafe"
    assert session["isolint"] == {
        "name": "session-on-instance",
        "family": "sessions",
        "manual": session["isolint"]["manual"],
    }
    assert "context.db_session" in session["isolint"]["manual"]


def test_json_lines_is_one_object_per_finding(project: Path) -> None:
    lines = output("json-lines").splitlines()
    assert [json.loads(line)["code"] for line in lines] == ["ISO401", "ISO201"]


def test_sarif_validates_against_the_2_1_0_schema(project: Path) -> None:
    log = json.loads(output("sarif"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [rule.code for rule in ALL_RULES]
    assert all(r["help"]["markdown"].startswith("# ") for r in run["tool"]["driver"]["rules"])
    first = run["results"][0]
    assert first["ruleId"] == "ISO401"
    assert first["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "pkg/agent.py",
        "uriBaseId": "%SRCROOT%",
    }
    replacement = first["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["insertedContent"]["text"] == "isolint.runtime import UserExecutionContext"
    assert "manual" in run["results"][1]["properties"]


def test_sarif_is_valid_with_no_findings(in_tmp: Path) -> None:
    write(in_tmp / "ok.py", "x = 1\n")
    log = json.loads(run_cli("check", "--output-format", "sarif").stdout)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(log)
    assert log["runs"][0]["results"] == []


def test_github_workflow_commands(project: Path) -> None:
    lines = output("github").splitlines()
    assert lines[0] == (
        "::error title=isolint (ISO401),file=pkg/agent.py,line=1,col=23,endLine=1,endColumn=37::"
        "pkg/agent.py:1:23: ISO401 `DeepAgentState` is the legacy mutable per-run state; "
        "import `UserExecutionContext` from `isolint.runtime` instead"
    )
    assert len(lines) == 2


def test_github_escapes_newlines_and_percent() -> None:
    from isolint.findings import Finding, Location
    from isolint.output.ci import github

    finding = Finding(
        "ISO101",
        "singleton-class",
        "singletons",
        "100% shared\nacross users",
        "a,b:c.py",
        Location(1, 1),
        Location(1, 2),
    )
    assert github([finding]) == (
        "::error title=isolint (ISO101),file=a%2Cb%3Ac.py,line=1,col=1,endLine=1,endColumn=2::"
        "a,b:c.py:1:1: ISO101 100%25 shared%0Aacross users\n"
    )


def test_junit_is_well_formed_with_one_failure_per_finding(project: Path) -> None:
    root = ElementTree.fromstring(output("junit"))
    assert root.tag == "testsuites" and root.get("failures") == "2"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "pkg/agent.py" and suite.get("tests") == "2"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "isolint.ISO401.legacy-state-import",
        "isolint.ISO201.session-on-instance",
    ]
    assert cases[1].find("failure").get("type") == "ISO201"
    assert cases[1].get("line") == "6"


def test_junit_with_no_findings_has_a_passing_case(in_tmp: Path) -> None:
    write(in_tmp / "ok.py", "x = 1\n")
    root = ElementTree.fromstring(run_cli("check", "--output-format", "junit").stdout)
    assert root.get("failures") == "0" and root.find("testsuite/testcase").get("name") == "No findings"


def test_full_format_shows_an_excerpt_with_carets_and_hints(project: Path) -> None:
    text = output("full")
    assert "pkg/agent.py:6:9: ISO201 `self.db` keeps a database session" in text
    assert "6 |         self.db = db\n  |         ^^^^^^^ ISO201" in text
    assert "= help: Import `UserExecutionContext`" in text
    assert "= help (unsafe): Use the request context's session" in text
    assert "= manual: Use the request-scoped session" in text
    assert text.rstrip().endswith(
        "[*] 1 fixable with `isolint fix`.\n1 more fixable with `isolint fix --unsafe-fixes`.\n"
        "`isolint fix` first checks them against the whole program and refuses any that would break it; "
        "`isolint check --show-fixes --unsafe-fixes` lists which."
    )


@pytest.mark.parametrize("separator", ["\f", "\v", "\x1c", "\x85", "\u2028"])
def test_the_excerpt_numbers_lines_as_python_does_past_characters_splitlines_breaks_at(
    in_tmp: Path, separator: str
) -> None:
    # `str.splitlines` also breaks at these: the excerpt then showed the line above the finding's.
    write(
        in_tmp / "agent.py",
        f"import os\n# page{separator}break\nclass Agent:\n    def __init__(self, db):\n        self.db = db\n",
    )
    text = output("full")
    assert "agent.py:5:9: ISO201" in text
    assert "5 |         self.db = db\n  |         ^^^^^^^ ISO201" in text


def test_concise_format(project: Path) -> None:
    assert output("concise").splitlines()[:2] == [
        "pkg/agent.py:1:23: ISO401 [*] `DeepAgentState` is the legacy mutable per-run state; import `UserExecutionContext` from `isolint.runtime` instead",
        "pkg/agent.py:6:9: ISO201 `self.db` keeps a database session (named `db`) on `Agent`; every request that reaches this object shares its transaction",
    ]


@pytest.mark.parametrize("fmt", ["full", "concise", "grouped"])
def test_text_formats_are_rendered_plain_for_a_pipe_and_in_colour_when_forced(
    project: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Text for a pipe is rendered plain (click no longer strips a styled one):
    # the coloured text without its escape codes.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    plain = run_cli("check", "--output-format", fmt, "--no-cache").stdout
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = run_cli("check", "--output-format", fmt, "--no-cache").stdout
    assert "\x1b[" not in plain and "\x1b[31m" in coloured
    assert click.unstyle(coloured) == plain
    assert "ISO201" in plain
