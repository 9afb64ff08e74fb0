"""`isolint report`: totals, target-form counts from the same parse, the schema, and the HTML page in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from isolint.config import Settings, load_settings
from isolint.engine import lint_text
from isolint.findings import Finding, Location
from isolint.index import ProjectIndex
from isolint.progress import TargetFormTally, TargetFormTotals
from isolint.report import model
from isolint.rules import ALL_RULES, BY_CODE
from isolint.runner import run_check
from tests.conftest import FIXTURES, write
from tests.helpers import run_cli

SCHEMA = json.loads((Path(model.__file__).parent / "report.schema.json").read_text())
SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / ".isolint_cache" / "screenshots"

MIGRATED = '''\
from isolint.runtime import AgentClassRegistry, UserExecutionContext


class TriageAgent:
    async def execute(self, context: UserExecutionContext, note: "UserExecutionContext | None" = None) -> None:
        await context.db_session.execute("select 1")
        await context.websocket_emitter.notify_agent_started("triage")
        emitter = context.websocket_emitter
        context.db_session.add(emitter)


def setup(registry: AgentClassRegistry) -> None:
    registry.register("triage", TriageAgent)
    registry.register_factory("data", lambda context: TriageAgent())
    registry.register("reporting", lambda context: TriageAgent())


class UserExecutionContextAdapter:
    """Mentions UserExecutionContext only in prose."""
'''


# Fully in the target form: no rule's prefilter matches it, only the counter's.
CONTEXT_ONLY = "from isolint.runtime import UserExecutionContext\n\n\ndef describe(context: UserExecutionContext) -> str:\n    return repr(context)\n"


@pytest.fixture
def legacy_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    shutil.copytree(FIXTURES / "legacy_app", root, ignore=shutil.ignore_patterns("__pycache__"))
    write(root / "chatapp" / "migrated.py", MIGRATED)
    write(root / "chatapp" / "context_only.py", CONTEXT_ONLY)
    monkeypatch.chdir(root)
    return root


def test_target_forms_are_counted_in_the_same_visit() -> None:
    tally = TargetFormTally()
    lint_text(MIGRATED, "migrated.py", [], Settings(root=Path.cwd()), observers=[tally])
    # legacy-state: the import, two annotations (one a string); the class name
    # UserExecutionContextAdapter and the docstring are not references.
    assert tally.counts == {"legacy-state": 3, "sessions": 2, "websockets": 2, "singletons": 3}


def test_check_never_counts_and_never_parses_for_counting(legacy_copy: Path) -> None:
    # One rule, so that whether a file is parsed depends on its prefilter alone.
    settings = load_settings([legacy_copy], overrides={"select": ["ISO101"]})
    plain = run_check([legacy_copy], settings, jobs=1, use_cache=False)
    target_forms = TargetFormTotals()
    counted = run_check([legacy_copy], settings, jobs=1, use_cache=False, target_forms=target_forms)
    assert plain.plan.progress is None
    assert [f.sort_key for f in plain.findings] == [f.sort_key for f in counted.findings]
    assert target_forms.by_file["chatapp/migrated.py"]["legacy-state"] == 3
    # Only the report parses a file that is already fully in the target form.
    assert target_forms.by_file["chatapp/context_only.py"] == {"legacy-state": 2}
    assert counted.stats.parsed > plain.stats.parsed


def test_warm_report_parses_nothing(legacy_copy: Path) -> None:
    settings = load_settings([legacy_copy])
    run_check([legacy_copy], settings, jobs=1)  # a check caches findings, not counts
    first_counts, again_counts = TargetFormTotals(), TargetFormTotals()
    first = run_check([legacy_copy], settings, jobs=1, target_forms=first_counts)
    assert first.stats.parsed > 0
    again = run_check([legacy_copy], settings, jobs=1, target_forms=again_counts)
    assert again.stats.parsed == 0 and again.stats.cached == again.stats.files
    assert again_counts.by_file == first_counts.by_file
    assert run_check([legacy_copy], settings, jobs=1).stats.parsed == 0


def _json_report(*args: str) -> dict:
    result = run_cli("report", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_report_matches_the_schema_and_adds_up(legacy_copy: Path) -> None:
    document = _json_report()
    jsonschema.validate(document, SCHEMA)
    summary = document["summary"]
    findings = json.loads(run_cli("check", "--output-format", "json").stdout)
    assert summary["findings"] == len(findings) > 0
    assert summary["findings"] == summary["safe"] + summary["unsafe"] + summary["manual"]
    assert summary["safe"] == sum(1 for f in findings if f["fix"] and f["fix"]["applicability"] == "safe")
    for rows in (document["families"], document["rules"]):
        assert sum(r["findings"] for r in rows) == summary["findings"]
        assert sum(r["safe"] for r in rows) == summary["safe"]
    assert {r["code"] for r in document["rules"]} == {rule.code for rule in ALL_RULES if rule.code != "ISO000"}
    directories = [r["findings"] for r in document["directories"]]
    assert directories == sorted(directories, reverse=True)
    by_family = {row["family"]: row for row in document["progress"]}
    assert by_family["legacy-state"]["target"] == 3 + 2
    assert by_family["singletons"]["target"] == 3
    if "ISO104" in BY_CODE:
        assert by_family["singletons"]["legacy_rules"] == ["ISO104"]
        assert by_family["singletons"]["legacy"] == sum(1 for f in findings if f["code"] == "ISO104")


class _Links(HTMLParser):
    """The links of a page, with their text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._text, self._href))
            self._href = None


def test_the_html_report_points_where_to_start(legacy_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-finding table linked to the code host, rules linked to their docs, and a
    header saying what was scanned, at which commit and when."""
    subprocess.run(["git", "init", "-q"], cwd=legacy_copy, check=True)
    subprocess.run(["git", "add", "-A"], cwd=legacy_copy, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x"],
        cwd=legacy_copy,
        check=True,
    )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=legacy_copy, capture_output=True, text=True, check=True
    ).stdout.strip()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1765000000")
    monkeypatch.setenv("ISOLINT_RULE_DOCS_URL", "https://docs.example.com/rules/{code}-{name}.md")
    template = "https://git.example.com/app/blob/{commit}/{path}#L{line}"
    result = run_cli("report", "--format", "html", "--link-template", template, "chatapp")
    assert result.exit_code == 0, result.stderr
    page = result.stdout
    assert f"Scanned <code>chatapp</code> at commit <code>{commit[:12]}</code> · 2025-12-06 05:46:40 UTC" in page
    assert "Not recursive: a file counts for its own directory only" in page
    links = _Links()
    links.feed(page)
    document = _json_report("--link-template", template, "chatapp")
    jsonschema.validate(document, SCHEMA)
    rows = document["findings"]
    assert len(rows) == document["summary"]["findings"] > 0
    first = rows[0]
    assert (
        f"{first['path']}:{first['line']}",
        f"https://git.example.com/app/blob/{commit}/{first['path']}#L{first['line']}",
    ) in links.links
    assert ("ISO101", "https://docs.example.com/rules/ISO101-singleton-class.md") in links.links
    assert sum(1 for text, _ in links.links if re.fullmatch(r".+\.py:\d+", text)) == len(rows)


def test_a_link_template_with_an_unknown_field_is_a_usage_error(legacy_copy: Path) -> None:
    result = run_cli("report", "--format", "html", "--link-template", "https://x/{file}#L{line}")
    assert result.exit_code == 2
    assert "--link-template: only {path}, {line} and {commit} can be filled in" in result.stderr


def test_text_and_markdown_show_the_same_totals(legacy_copy: Path) -> None:
    document = _json_report()
    total = document["summary"]["findings"]
    text = run_cli("report").stdout
    assert f"{total} findings in" in text and "Migration progress" in text
    markdown = run_cli("report", "--format", "markdown", "--output", "out/report.md")
    assert markdown.exit_code == 0 and markdown.stdout == ""
    content = (legacy_copy / "out" / "report.md").read_text()
    assert content.startswith("## isolint report") and f"**{total}** findings" in content
    assert str(legacy_copy) not in content  # no absolute paths


def _finding(code: str, message: str, path: str) -> Finding:
    rule = BY_CODE.get(code) or ALL_RULES[0]
    return Finding(code, rule.name, rule.family, message, path, Location(1, 1), Location(1, 2), snippet="x()")


def test_blast_radius_groups_call_sites_by_definition() -> None:
    findings = [
        _finding(
            "ISO106", "`get_ws()` returns the process-wide `WebSocketManager` (defined in app/ws.py:68); shared", "a.py"
        ),
        _finding(
            "ISO106", "`get_ws()` returns the process-wide `WebSocketManager` (defined in app/ws.py:68); shared", "b.py"
        ),
        _finding(
            "ISO106", "`get_ws()` returns the process-wide `WebSocketManager` (defined in app/ws.py:68); shared", "b.py"
        ),
        _finding("ISO205", "`A(...)` is given a session it keeps in `Base.db` (app/base.py:17)", "c.py"),
        _finding("ISO101", "not a call site", "d.py"),
    ]

    class Enabled:
        def __init__(self, code: str) -> None:
            self.code = code

    radius = model.blast_radius(findings, ProjectIndex(), [Enabled("ISO106"), Enabled("ISO205"), Enabled("ISO101")])  # type: ignore[list-item]
    assert radius["rules"] == ["ISO106", "ISO205"]
    assert [(r["name"], r["definition"], r["call_sites"], r["files"]) for r in radius["singletons"]] == [
        ("WebSocketManager", {"path": "app/ws.py", "line": 68}, 3, 2),
        ("Base.db", {"path": "app/base.py", "line": 17}, 1, 1),
    ]


# --- HTML in headless Chromium ---------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _chromium(page: Path, profile: Path, *args: str) -> str:
    completed = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return completed.stdout


class _Dom(HTMLParser):
    """The rendered DOM's elements as (tag, attributes, text) with their text content."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self._open: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in ("meta", "br", "link", "img", "input", "hr"):  # HTML void elements; SVG ones are closed
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict]:
        return [
            e
            for e in self.elements
            if (tag is None or e["tag"] == tag)
            and all(e["attrs"].get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian: apt-get install -y chromium)")
def test_html_report_renders_in_chromium(legacy_copy: Path, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=legacy_copy, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "empty",
        ],
        cwd=legacy_copy,
        check=True,
    )
    subprocess.run(["git", "add", "-A"], cwd=legacy_copy, check=True)
    subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "app"],
        cwd=legacy_copy,
        check=True,
    )
    assert run_cli("report", "--history", "--format", "html", "--output", "report.html").exit_code == 0
    document = _json_report("--history")
    page = legacy_copy / "report.html"
    html = page.read_text()
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), "the page must not load anything"
    assert "<script src" not in html

    dom = _Dom()
    dom.feed(_chromium(page, tmp_path / "profile", "--dump-dom"))
    for chart in ("chart-families", "chart-directories", "chart-burndown"):
        assert dom.find("svg", id=chart), chart
    families = {
        e["attrs"]["data-key"]: e
        for e in dom.elements
        if e["attrs"].get("class") == "bar" and e["attrs"]["data-key"] in {r["family"] for r in document["families"]}
    }
    for row in document["families"]:
        bar = families[row["family"]]
        assert int(bar["attrs"]["data-value"]) == row["findings"]
        assert f"{row['findings']:,}" in bar["text"]
    segments = [e for e in dom.find("rect") if e["attrs"].get("class") == "segment"]
    assert (
        sum(int(s["attrs"]["data-value"]) for s in segments if s["attrs"]["data-segment"] == "safe")
        == 2 * document["summary"]["safe"]
    )  # families + directories
    for row in document["directories"]:
        (bar,) = [
            e for e in dom.elements if e["attrs"].get("class") == "bar" and e["attrs"].get("data-key") == row["path"]
        ]
        assert int(bar["attrs"]["data-value"]) == row["findings"]
    card = dom.find("div", class_="card", data_key="findings")[0]
    assert f"{document['summary']['findings']:,}" in card["text"]
    burndown = {e["attrs"]["data-key"]: int(e["attrs"]["data-last"]) for e in dom.find("g", class_="series")}
    assert burndown["total"] == document["history"][-1]["findings"] == document["summary"]["findings"]
    for family, count in document["history"][-1]["families"].items():
        assert burndown[family] == count
    for row in document["progress"]:
        meter = dom.find("svg", id=f"meter-{row['family']}")[0]
        assert (int(meter["attrs"]["data-target"]), int(meter["attrs"]["data-legacy"])) == (
            row["target"],
            row["legacy"],
        )
    assert [e["text"] for e in dom.find("text", class_="axis-label")].count("findings") == 3

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / "report.png"
    _chromium(page, tmp_path / "profile", "--window-size=1100,2600", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
