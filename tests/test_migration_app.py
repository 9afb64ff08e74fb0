"""Fixes keep the program working: `isolint fix --unsafe-fixes` on fixtures/migration_app.

The app reproduces the shapes that used to leave code that parsed but no longer ran
(see fixtures/migration_app/README.md). Its own suite calls it as its users do. After the
fix that suite still passes, mypy finds nothing new, a second fix changes nothing, each
refused group is printed with its reason, and nothing leaves the report silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.helpers import run_cli

APP = FIXTURES / "migration_app"

pytest.importorskip("mypy")


def sources(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))}


def own_suite(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def type_errors(root: Path) -> Counter[tuple[str, str]]:
    """mypy's errors as (file, message): line numbers move when a fix adds or removes lines.
    isolint ships typed (py.typed): the context the fixes bring in is checked as
    the class it is, not taken for `Any`."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--cache-dir",
            os.devnull,
            "migrapp",
            "tests",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = Counter()
    for line in result.stdout.splitlines():
        match = re.match(r"(?P<file>[^:]+):\d+: error: (?P<message>.*)", line)
        if match:
            errors[(match["file"], match["message"])] += 1
    return errors


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str, str]:
    root = tmp_path_factory.mktemp("migration") / "migration_app"
    shutil.copytree(APP, root, ignore=shutil.ignore_patterns("__pycache__"))
    before = sources(root)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--output-format", "json", str(root))
    assert "Traceback" not in result.stderr, result.stderr
    return root, before, result.stdout, result.stderr.replace(f"{root}/", "")


def test_the_apps_own_suite_passes_before_the_fix(tmp_path: Path) -> None:
    root = tmp_path / "migration_app"
    shutil.copytree(APP, root, ignore=shutil.ignore_patterns("__pycache__"))
    result = own_suite(root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_apps_own_suite_still_passes_after_the_fix(migrated: tuple[Path, dict[str, str], str, str]) -> None:
    root, _, _, _ = migrated
    result = own_suite(root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_fix_adds_no_type_error(migrated: tuple[Path, dict[str, str], str, str], tmp_path: Path) -> None:
    root, _, _, _ = migrated
    pristine = tmp_path / "migration_app"
    shutil.copytree(APP, pristine, ignore=shutil.ignore_patterns("__pycache__"))
    new = type_errors(root) - type_errors(pristine)
    assert not new, "\n".join(f"{file}: {message}" for file, message in new)


def test_the_safe_and_verified_fixes_go_in(migrated: tuple[Path, dict[str, str], str, str]) -> None:
    root, before, _, _ = migrated
    after = sources(root)
    changed = sorted(name for name in before if before[name] != after[name])
    assert changed == [
        "migrapp/agents/traced.py",
        "migrapp/db.py",
        "migrapp/events.py",
        "migrapp/formatting.py",
        "migrapp/memory.py",
    ]
    assert "with SessionLocal() as session:" in after["migrapp/db.py"]
    assert "session_factory = get_session_factory()\n" in after["migrapp/db.py"]  # a factory is not a session
    assert "await context.websocket_emitter.send_to_user(" in after["migrapp/events.py"]
    assert "def _run_label(context: UserExecutionContext) -> str:" in after["migrapp/formatting.py"]
    assert "return ConversationMemory()" in after["migrapp/memory.py"]
    # A decorator may forward the old call shape: the signature is widened, not changed.
    assert (
        "    async def execute(self, state: DeepAgentState | UserExecutionContext, run_id: str | None = None, "
        "stream_updates: bool = False) -> Dict[str, Any]:\n"
        "        context = ensure_context(state, run_id=run_id)\n"
        '        return {"agent": self.name, "run": context.run_id}\n'
    ) in after["migrapp/agents/traced.py"]


def test_a_second_fix_changes_nothing(migrated: tuple[Path, dict[str, str], str, str], tmp_path: Path) -> None:
    root, _, _, _ = migrated
    again = tmp_path / "again"
    shutil.copytree(root, again, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    once = sources(again)
    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", str(again))
    assert sources(again) == once


def test_each_refused_group_is_printed_with_its_reason(migrated: tuple[Path, dict[str, str], str, str]) -> None:
    _, _, _, stderr = migrated
    refused = dict(re.findall(r"^  (\S+: ISO\d{3}) fixes refused: (.*)$", stderr, re.MULTILINE))
    assert sorted(refused) == [
        "migrapp/agents/base.py: ISO405",
        "migrapp/agents/echo.py: ISO405",
        "migrapp/agents/triage.py: ISO405",
        "migrapp/dispatch.py: ISO402",
        "migrapp/dispatch.py: ISO405",
        "migrapp/state.py: ISO402",
        "migrapp/summary.py: ISO402",
    ]
    # The new signature strands the dispatcher (and the transitional one an override that still takes only the state).
    assert refused["migrapp/agents/base.py: ISO405"] == (
        "migrapp/dispatch.py:26: `agent.execute(ctx.state, ctx.run_id, True)` calls "
        "`migrapp.agents.base.BaseAgent.execute`, whose signature the fixes change from (state, run_id, stream_updates) "
        "to (context, stream_updates); the call no longer matches"
    )
    assert refused["migrapp/agents/echo.py: ISO405"] == (
        "migrapp/dispatch.py:26: `agent.execute(ctx.state, ctx.run_id, True)` calls "
        "`migrapp.agents.echo.EchoAgent.execute`, whose signature the fixes change from (state, run_id, stream_updates) "
        "to (context, stream_updates); the call no longer matches"
    )
    kept = dict(
        re.findall(
            r"^  (\S+: ISO\d{3}) kept the old call shape working instead \(transitional form\) where it could: (.*)$",
            stderr,
            re.MULTILINE,
        )
    )
    assert sorted(kept) == ["migrapp/agents/traced.py: ISO405"]
    assert (
        "is wrapped by `@traced`, which may forward its arguments in the old shape"
        in kept["migrapp/agents/traced.py: ISO405"]
    )
    assert "would be annotated to return a `UserExecutionContext`" in refused["migrapp/state.py: ISO402"]
    assert "can still be the legacy state" in refused["migrapp/summary.py: ISO402"]


def test_infrastructure_registries_and_parameter_objects_are_left_alone(
    migrated: tuple[Path, dict[str, str], str, str],
) -> None:
    root, before, stdout, _ = migrated
    after = sources(root)
    for name in (
        "infra/connections.py",
        "infra/limiter.py",
        "infra/breaker.py",
        "infra/settings.py",
        "infra/locator.py",
        "registry.py",
        "tools.py",
    ):
        assert after[f"migrapp/{name}"] == before[f"migrapp/{name}"], name
    remaining = json.loads(stdout)
    infrastructure = [
        f for f in remaining if f["code"] in ("ISO101", "ISO102", "ISO105") and "memory" not in f["filename"]
    ]
    assert infrastructure and all("process-wide infrastructure" in f["isolint"]["manual"] for f in infrastructure)
    [registration] = [f for f in remaining if f["code"] == "ISO104"]
    assert registration["fix"] is None


def test_nothing_leaves_the_report_silently(migrated: tuple[Path, dict[str, str], str, str]) -> None:
    root, _, stdout, _ = migrated
    remaining = json.loads(stdout)
    assert all(f["fix"] is None and f["isolint"]["manual"] for f in remaining if f["code"] != "ISO000")
    # The memory accessor is now per call: its call site in the dispatcher did not change, so it stays listed.
    kept = [f for f in remaining if f["code"] == "ISO106" and f["filename"].endswith("dispatch.py")]
    assert kept and "returns a new `ConversationMemory` per call since `isolint fix` (ISO102)" in kept[0]["message"]
    # Every refused finding says why.
    refused = [f for f in remaining if "isolint fix refused this fix" in f["isolint"]["manual"]]
    assert {f["code"] for f in refused} == {"ISO402", "ISO405"}
    check = json.loads(run_cli("check", "--isolated", "--no-cache", "--output-format", "json", str(root)).stdout)
    assert {(f["filename"], f["location"]["row"], f["code"]) for f in check} <= {
        (f["filename"], f["location"]["row"], f["code"]) for f in remaining
    }
