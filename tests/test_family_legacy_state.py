"""The legacy-state family (ISO4xx) across files, and its consistency promise:
after `isolint fix --unsafe-fixes`, ruff finds no undefined name or unused
import that was not there before."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import isolint
from isolint.config import load_settings
from isolint.index import Fact, ProjectIndex, index_source
from isolint.indexing import indexers_for
from isolint.rules.legacy_state.family import REEXPORT, RUN_ID_SIGNATURE, legacy_class_of, module_renames
from tests.conftest import FIXTURES, write
from tests.helpers import SUBCLASS_LINEAGES, check_findings, run_cli

FAMILY_CASES = sorted(
    p
    for code in ("ISO401", "ISO402", "ISO403", "ISO404", "ISO405", "ISO406")
    for p in (FIXTURES / "rules" / code).glob("*.py")
    if not p.name.endswith(".fixed.py")
)


def ruff_names_problems(root: Path) -> tuple[set[tuple[str, str]], Counter[str]]:
    """What ruff's F821 and F401 say under `root`: the undefined names (file,
    message), and how many unused imports each file has. Unused imports are
    counted, not named: ISO401 turns a dead legacy import into the context
    import in place, which is the same dead import under its new name."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "F821,F401",
            "--output-format",
            "json",
            "--exit-zero",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    diagnostics = [
        (Path(d["filename"]).relative_to(root).as_posix(), d["code"], d["message"]) for d in json.loads(result.stdout)
    ]
    undefined = {(path, message) for path, code, message in diagnostics if code == "F821"}
    unused = Counter(path for path, code, _ in diagnostics if code == "F401")
    return undefined, unused


def assert_nothing_new(
    before: tuple[set[tuple[str, str]], Counter[str]], after: tuple[set[tuple[str, str]], Counter[str]]
) -> None:
    assert after[0] - before[0] == set(), "the fix left undefined names"
    assert after[1] - before[1] == Counter(), "the fix left unused imports"


def fix_family(path: Path) -> None:
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO4", str(path))
    assert "did not settle" not in result.stderr, result.stderr


@pytest.mark.parametrize("case", FAMILY_CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixes_add_no_undefined_names_or_unused_imports(case: Path, tmp_path: Path) -> None:
    shutil.copyfile(case, tmp_path / case.name)
    before = ruff_names_problems(tmp_path)
    fix_family(tmp_path / case.name)
    assert_nothing_new(before, ruff_names_problems(tmp_path))


def test_migrating_the_sample_app_adds_no_undefined_names_or_unused_imports(tmp_path: Path) -> None:
    app = tmp_path / "legacy_app"
    shutil.copytree(FIXTURES / "legacy_app", app, ignore=shutil.ignore_patterns("__pycache__"))
    before = ruff_names_problems(app)
    fix_family(app)
    for path in app.rglob("*.py"):
        ast.parse(path.read_text(encoding="utf-8"))
    assert_nothing_new(before, ruff_names_problems(app))
    # What is left needs a person, and says so: a second run fixes nothing more.
    again = run_cli(
        "fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO4", "--output-format", "json", str(app)
    )
    remaining = json.loads(again.stdout)
    assert remaining and all(f["fix"] is None and f["isolint"]["manual"] for f in remaining)
    # The agents write their results onto the state, which the frozen context cannot hold:
    # their signature migrations are refused, with the reason, and so are the helpers they call.
    assert "chatapp/agents/triage.py: ISO405 fixes refused:" in again.stderr
    assert "`execute` would write to the frozen `UserExecutionContext`" in again.stderr
    supervisor = (app / "chatapp" / "supervisor.py").read_text(encoding="utf-8")
    assert "await agent.execute(state, run_id, stream_updates=True)" in supervisor


def make_project(root: Path) -> Path:
    write(root / "app" / "__init__.py", "")
    write(root / "app" / "state.py", "class DeepAgentState:\n    user_id: str = ''\n")
    write(
        root / "app" / "compat.py",
        "from app.state import DeepAgentState\nfrom app.state import DeepAgentState as LegacyState\n",
    )
    write(root / "app" / "compat2.py", "from .compat import LegacyState as OldState\nAgentState = OldState\n")
    write(root / "app" / "other.py", "class Thing:\n    pass\n")
    return root


def test_a_chain_of_reexports_longer_than_the_recursion_limit_still_names_the_class() -> None:
    """A rename of a rename, module after module: followed in a loop. A
    cycle of renames names no class."""
    hops = 5000
    facts = [
        Fact(
            REEXPORT,
            f"m{i}.State",
            f"m{i}.py",
            1,
            {
                "module": "app.state" if i + 1 == hops else f"m{i + 1}",
                "level": 0,
                "name": "DeepAgentState" if i + 1 == hops else "State",
            },
        )
        for i in range(hops)
    ]
    facts += [
        Fact(REEXPORT, "loop.A", "loop.py", 1, {"module": "loop", "level": 0, "name": "B"}),
        Fact(REEXPORT, "loop.B", "loop.py", 2, {"module": "loop", "level": 0, "name": "A"}),
    ]
    project, classes = ProjectIndex(facts), frozenset({"DeepAgentState"})
    assert legacy_class_of(project, classes, "m0", "State") == "DeepAgentState"
    assert legacy_class_of(project, classes, "loop", "A") is None


def test_reexports_are_recognised_across_modules(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    use = write(
        project / "app" / "use.py",
        "from app.compat import DeepAgentState, LegacyState\n"
        "from app.compat2 import AgentState, OldState\n"
        "from app.other import Thing as LegacyThing\n"
        "\n"
        "\n"
        "def run(a: LegacyState, b: 'OldState', c: AgentState, d: DeepAgentState, e: LegacyThing) -> bool:\n"
        "    return isinstance(a, LegacyState) or isinstance(e, LegacyThing)\n",
    )
    found = sorted(
        (f.location.row, f.location.column, f.code)
        for f in check_findings([project], "ISO4")
        if f.path.endswith("use.py")
    )
    assert found == [
        (1, 24, "ISO401"),
        (1, 40, "ISO401"),
        (2, 25, "ISO401"),
        (2, 37, "ISO401"),
        (6, 12, "ISO402"),
        (6, 28, "ISO402"),
        (6, 43, "ISO402"),
        (6, 58, "ISO402"),
        (7, 26, "ISO406"),
    ]
    messages = {
        f.message.partition(" is the legacy")[0]
        for f in check_findings([project], "ISO401")
        if f.path.endswith("use.py")
    }
    assert messages == {
        "`DeepAgentState`",
        "`LegacyState` (`DeepAgentState`)",
        "`AgentState` (`DeepAgentState`)",
        "`OldState` (`DeepAgentState`)",
    }
    fix_family(use)
    fixed = use.read_text(encoding="utf-8")
    # ISO406 has no fix, so the import its check uses stays; the others go with the annotations.
    assert "from app.compat import LegacyState\n" in fixed and "from app.compat2 import" not in fixed
    assert (
        "def run(a: UserExecutionContext, b: 'UserExecutionContext', c: UserExecutionContext, d: UserExecutionContext, e: LegacyThing)"
        in fixed
    )


@pytest.mark.parametrize(
    ("source", "renames"),
    [
        pytest.param("from .state import hub as manager\n", [("manager", "hub")], id="import"),
        pytest.param(
            "manager = hub\nlegacy = state.DeepAgentState\n",
            [("manager", "hub"), ("legacy", "DeepAgentState")],
            id="assignment",
        ),
        pytest.param("from .state import hub as manager\nmanager = Other()\n", [], id="assigned-after"),
        pytest.param(
            "from .state import hub as manager\nif DEBUG:\n    manager = Fake()\n", [], id="in-a-branch-after"
        ),
        pytest.param("from .state import hub as manager\nfor manager in hubs:\n    pass\n", [], id="loop-target-after"),
        pytest.param("from .state import hub as manager\n\n\ndef manager():\n    pass\n", [], id="defined-after"),
        pytest.param("from .state import hub as manager\ndel manager\n", [], id="deleted-after"),
        pytest.param("manager = hub\nmanager = other\n", [("manager", "other")], id="renamed-again"),
        pytest.param("manager = Other()\nfrom .state import hub as manager\n", [("manager", "hub")], id="bound-before"),
        pytest.param(
            "from .state import hub as manager\n\n\ndef reset():\n    manager = None\n    return manager\n",
            [("manager", "hub")],
            id="a-functions-own-local",
        ),
        pytest.param(
            "from .state import hub as manager, bus as manager\n", [("manager", "bus")], id="twice-in-one-import"
        ),
    ],
)
def test_a_rename_holds_unless_the_module_binds_the_name_again_after_it(
    source: str, renames: list[tuple[str, str]]
) -> None:
    """What an importer of the module gets under the name is what the module
    bound last: a rename the module binds again after (anywhere but inside
    a function or class) is not followed."""
    assert [(rename.local, rename.name) for rename in module_renames(ast.parse(source))] == renames


def test_a_package_re_exporting_a_renamed_class_without_renaming_it_is_followed(tmp_path: Path) -> None:
    """`pkg/__init__.py` re-exports its module's rename as it is (`from
    .legacy import LegacyState`): a file with neither a legacy word nor an
    `as`, which the index never reads. Its importers are reported all the same."""
    (tmp_path / ".git").mkdir()
    write(tmp_path / "app" / "__init__.py", "")
    write(tmp_path / "app" / "state.py", "class DeepAgentState:\n    user_id: str = ''\n")
    write(tmp_path / "app" / "agents" / "legacy.py", "from app.state import DeepAgentState as LegacyState\n")
    write(tmp_path / "app" / "agents" / "__init__.py", "from .legacy import LegacyState\n")
    write(tmp_path / "app" / "other" / "__init__.py", "from .things import Thing as LegacyState\n")
    write(tmp_path / "app" / "other" / "things.py", "class Thing:\n    pass\n")
    use = write(
        tmp_path / "app" / "use.py",
        "from app.agents import LegacyState\n"
        "from app.other import LegacyState as Unrelated\n"
        "\n"
        "\n"
        "def run(state: LegacyState, thing: Unrelated) -> bool:\n"
        "    return isinstance(state, LegacyState)\n",
    )
    found = [(f.location.row, f.location.column, f.code, f.message) for f in check_findings([use], "ISO4")]
    assert found == [
        (
            1,
            24,
            "ISO401",
            "`LegacyState` (`DeepAgentState`) is the legacy mutable per-run state; import `UserExecutionContext` "
            "from `isolint.runtime` instead",
        ),
        (
            5,
            16,
            "ISO402",
            "annotation names the legacy per-run state `DeepAgentState`; per-request code takes the immutable "
            "`UserExecutionContext`",
        ),
        (
            6,
            30,
            "ISO406",
            "`isinstance(..., LegacyState)` checks for the legacy per-run state `DeepAgentState`; per-request code "
            "passes a `UserExecutionContext`",
        ),
    ]


def test_a_signature_moving_to_the_context_class_keeps_its_index_fact(tmp_path: Path) -> None:
    """Call sites judge the parameter the same either way, so their cached
    results must survive the migration of the definition."""
    settings = load_settings([tmp_path], isolated=True)
    legacy = b"from app.state import DeepAgentState\n\n\nclass A:\n    async def execute(self, state: 'DeepAgentState', run_id: str) -> None:\n        pass\n"
    migrated = legacy.replace(
        b"from app.state import DeepAgentState", b"from isolint.runtime import UserExecutionContext"
    )

    def signatures(raw: bytes) -> list[Fact]:
        return [
            f for f in index_source(raw, "a.py", "a", indexers_for(settings), settings) if f.kind == RUN_ID_SIGNATURE
        ]

    assert signatures(legacy) == signatures(migrated.replace(b"DeepAgentState", b"UserExecutionContext")) != []
    assert signatures(legacy) != signatures(legacy.replace(b"'DeepAgentState'", b"dict"))


def _agent_and_runner(project: Path, extra_call: str = "") -> tuple[Path, Path]:
    agents = write(
        project / "app" / "agents.py",
        "from app.state import DeepAgentState\n"
        "\n"
        "\n"
        "class Agent:\n"
        "    async def execute(self, state: DeepAgentState, run_id: str, stream_updates: bool = False) -> None:\n"
        "        print(state.user_id, run_id)\n",
    )
    runner = write(
        project / "app" / "runner.py",
        "from isolint.runtime import UserExecutionContext\n"
        "\n"
        "\n"
        "async def run(agent, context: UserExecutionContext, rid: str, session, stmt) -> None:\n"
        "    await agent.execute(context, context.run_id, stream_updates=True)\n"
        f"{extra_call}"
        "    await session.execute(stmt, rid)\n",
    )
    return agents, runner


def test_execute_call_sites_in_other_modules_are_found_and_fixed_together(tmp_path: Path) -> None:
    agents, runner = _agent_and_runner(make_project(tmp_path))
    found = [
        (f.location.row, f.fix is not None)
        for f in check_findings([tmp_path], "ISO405")
        if f.path.endswith("runner.py")
    ]
    assert found == [(5, True)]
    diff = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO4", "--diff", str(tmp_path))
    assert (
        "`app.agents.Agent.execute` (state, run_id, stream_updates) -> (context, stream_updates): "
        "the definition and 1 call site in 2 files, changed together"
    ) in diff.stderr
    fix_family(tmp_path)
    assert "async def execute(self, context: UserExecutionContext, stream_updates: bool = False)" in agents.read_text(
        encoding="utf-8"
    )
    migrated = runner.read_text(encoding="utf-8")
    assert "await agent.execute(context, stream_updates=True)\n" in migrated
    assert "await session.execute(stmt, rid)\n" in migrated  # another class's `execute`
    assert [f.path for f in check_findings([tmp_path], "ISO405")] == []


def test_a_signature_is_widened_not_changed_while_a_callers_run_id_would_slide_into_the_next_parameter(
    tmp_path: Path,
) -> None:
    """`agent.execute(context, rid)` would bind `rid` to `stream_updates` once `run_id` is gone:
    the call would still work and do something else. So the new signature is refused and the
    transitional one goes in: `rid` still binds to `run_id`, and the body reads the ids from
    `ensure_context(...)`. The group is printed with the reason, and the findings stay."""
    agents, runner = _agent_and_runner(make_project(tmp_path), "    await agent.execute(context, rid)\n")
    result = run_cli(
        "fix",
        "--unsafe-fixes",
        "--isolated",
        "--no-cache",
        "--select",
        "ISO4",
        "--output-format",
        "json",
        str(tmp_path),
    )
    assert (
        "    async def execute(self, state: Union[DeepAgentState, UserExecutionContext], run_id: Optional[str] = None, "
        "stream_updates: bool = False) -> None:\n"
        "        context = ensure_context(state, run_id=run_id)\n"
        "        print(context.user_id, context.run_id)\n"
    ) in agents.read_text(encoding="utf-8")
    migrated = runner.read_text(encoding="utf-8")
    assert "    await agent.execute(context, stream_updates=True)\n    await agent.execute(context, rid)\n" in migrated
    assert (
        "app/agents.py: ISO405 kept the old call shape working instead (transitional form) where it could:"
        in result.stderr
    )
    assert (
        "`agent.execute(context, rid)` calls `app.agents.Agent.execute`; its argument 2 bound `run_id` before the fixes and binds `stream_updates` after"
        in result.stderr
    )
    assert (
        "`app.agents.Agent.execute` (state, run_id, stream_updates): `state` now also takes the context; every old call keeps working"
        in result.stderr
    )
    remaining = [f for f in json.loads(result.stdout) if f["code"] == "ISO405"]
    assert [(f["filename"].rpartition("/")[2], f["location"]["row"]) for f in remaining] == [
        ("agents.py", 7),
        ("runner.py", 6),
    ]
    assert remaining[0]["message"].startswith("`execute` is in its transitional form")
    assert remaining[1]["message"].startswith("`agent.execute(...)` passes the per-run state and a separate run id")


def test_a_file_fixed_again_with_the_fallback_builds_only_the_fallbacks_edits_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate sends agents.py back with ISO405's transitional fallback: its
    first lint runs again (ISO405's findings differ), but the edits of the
    other rules' fixes (ISO402's annotation) are those of the first
    computation (which the check's lint built), not built a second time."""
    from isolint import engine, fixing

    agents, _ = _agent_and_runner(make_project(tmp_path), "    await agent.execute(context, rid)\n")
    # A function of its own with a fixable annotation: ISO402's edit, built the first time only.
    agents.write_text(
        agents.read_text(encoding="utf-8")
        + "\n\ndef describe(state: DeepAgentState) -> str:\n    return state.user_id\n",
        encoding="utf-8",
    )
    events: list[tuple[str, ...] | tuple[str, str, list[str]]] = []
    fix_worker, ast_findings = fixing._fix_worker, engine._ast_findings

    def recorded_unit(unit: fixing.FixUnit) -> object:
        events.append((Path(unit.shown).name, *sorted(unit.refused)))
        return fix_worker(unit)

    def recorded_builds(*args: object) -> list[engine.Finding]:
        found = ast_findings(*args)
        file = args[0]
        assert isinstance(file, engine.AstFile)
        events.append(
            ("built", Path(file.path).name, sorted({f.code for f in found if f.fix is not None and f.fix.built}))
        )
        return found

    monkeypatch.setattr(fixing, "_fix_worker", recorded_unit)
    monkeypatch.setattr(engine, "_ast_findings", recorded_builds)
    args = ("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO4", "-j", "1", str(tmp_path))
    assert run_cli(*args).exit_code == 1  # findings remain (the transitional form's)
    assert "ensure_context(state, run_id=run_id)" in agents.read_text(encoding="utf-8")
    first_time = events.index(("agents.py",))
    fallback = events.index(("agents.py", "ISO405~fallback"))
    # The check's lint of agents.py, the first computation's first, built the
    # edits of both rules; the second computation's first, ISO405's alone.
    assert ("built", "agents.py", ["ISO402", "ISO405"]) in events[:first_time]
    assert events[fallback + 1] == ("built", "agents.py", ["ISO405"])


def test_the_transitional_signature_keeps_old_and_new_callers_working(tmp_path: Path) -> None:
    """Run the widened function: the legacy call gets the same ids as before (with a
    deprecation warning), and a context passes straight through."""
    make_project(tmp_path)
    write(
        tmp_path / "app" / "state.py",
        "from dataclasses import dataclass\n\n\n@dataclass\nclass DeepAgentState:\n"
        "    user_request: str\n    user_id: str = ''\n    run_id: str = ''\n",
    )
    agents, _ = _agent_and_runner(tmp_path, "    await agent.execute(context, rid)\n")
    run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO4", str(tmp_path))
    script = (
        "import asyncio, warnings, sys\n"
        "sys.path.insert(0, '.')\n"
        "from app.agents import Agent\n"
        "from app.state import DeepAgentState\n"
        "from isolint.runtime import UserExecutionContext\n"
        "state = DeepAgentState(user_request='hi', user_id='u1', run_id='stale')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    asyncio.run(Agent().execute(state, 'r1'))\n"
        "    asyncio.run(Agent().execute(UserExecutionContext.create(user_id='u2', run_id='r2')))\n"
        "print([str(w.category.__name__) for w in caught])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["u1 r1", "u2 r2", "['DeprecationWarning']"]
    assert "ensure_context" in agents.read_text(encoding="utf-8")


def test_callers_left_behind_by_a_migration_in_another_module_are_reported(tmp_path: Path) -> None:
    """A person migrated `execute` to take the context; the dispatcher elsewhere still
    calls it the legacy way. ISO405 no longer sees it (the callee takes no run id)."""
    project = make_project(tmp_path)
    write(
        project / "app" / "agents.py",
        "from isolint.runtime import UserExecutionContext\n\n\nclass Agent:\n"
        "    async def execute(self, context: UserExecutionContext, stream_updates: bool = False) -> None:\n"
        "        print(context.run_id)\n",
    )
    write(
        project / "app" / "dispatch.py",
        "from app.state import DeepAgentState\n\n\n"
        "async def run(agent, state: DeepAgentState, run_id: str, session, stmt) -> None:\n"
        "    await agent.execute(state, run_id, True)\n"
        "    await session.execute(stmt, run_id)\n",
    )
    found = [f for f in check_findings([project], "ISO405", "ISO407") if f.path.endswith("dispatch.py")]
    # `run` itself still takes the legacy pair (ISO405); its call of the migrated `execute` is stale (ISO407).
    assert [(f.location.row, f.code) for f in found] == [(4, "ISO405"), (5, "ISO407")]
    findings = found[1:]
    assert findings[0].message == (
        "`agent.execute(...)` is called the legacy way (state and run id) but calls `app.agents.Agent.execute` "
        "(app/agents.py:5), which takes `context` (the request context) and no run id"
    )
    assert findings[0].fix is None and "drop the run id argument" in (findings[0].manual or "")


def test_allow_in_silences_the_family_for_an_adapter(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    write(project / "pyproject.toml", '[tool.isolint.legacy-state]\nallow-in = ["app/compat.py"]\n')
    paths = {Path(f.path).name for f in check_findings([project], "ISO4", isolated=False)}
    assert "compat.py" not in paths and "compat2.py" in paths


NO_CALLERS = (
    "from app.state import DeepAgentState\n\n\n"
    "def log_step(state: DeepAgentState, run_id: str) -> str:\n"
    "    return f'{state.user_id} {run_id}'\n"
)


def test_a_project_with_its_own_context_class_needs_its_own_adapter_for_the_transitional_form(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    module = write(project / "app" / "steps.py", NO_CALLERS)
    write(project / "pyproject.toml", '[tool.isolint]\ncontext-class = "app.context:RequestContext"\n')
    result = run_cli(
        "fix", "--unsafe-fixes", "--no-cache", "--select", "ISO405", "--output-format", "json", str(project)
    )
    assert module.read_text(encoding="utf-8") == NO_CALLERS
    [finding] = json.loads(result.stdout)
    assert (
        "the default adapter `isolint.runtime:ensure_context` serves only the default `context-class` and `field-map`; "
        "name the project's own in `[tool.isolint.legacy-state] adapter`"
    ) in finding["isolint"]["manual"]


def test_the_transitional_form_calls_the_configured_adapter(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    module = write(project / "app" / "steps.py", NO_CALLERS)
    write(
        project / "pyproject.toml",
        '[tool.isolint]\ncontext-class = "app.context:RequestContext"\n\n'
        '[tool.isolint.legacy-state]\nadapter = "app.compat_context:as_context"\n',
    )
    run_cli("fix", "--unsafe-fixes", "--no-cache", "--select", "ISO405", str(project))
    assert module.read_text(encoding="utf-8") == (
        "from app.state import DeepAgentState\n"
        "from typing import Optional, Union\n"
        "from app.compat_context import as_context\n"
        "from app.context import RequestContext\n\n\n"
        "def log_step(state: Union[DeepAgentState, RequestContext], run_id: Optional[str] = None) -> str:\n"
        "    context = as_context(state, run_id=run_id)\n"
        "    return f'{context.user_id} {context.run_id}'\n"
    )


def test_an_adapter_that_is_not_an_import_target_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.isolint.legacy-state]\nadapter = "not a target"\n')
    write(tmp_path / "a.py", "x = 1\n")
    result = run_cli("check", "--no-cache", str(tmp_path))
    assert result.exit_code == 2
    assert "[legacy-state]: key 'adapter' must look like 'package.module:function', got 'not a target'" in result.stderr


def _field_project(root: Path, passed: str) -> Path:
    make_project(root)
    write(
        root / "app" / "runctx.py",
        "from dataclasses import dataclass\n\n"
        "from app.state import DeepAgentState\nfrom isolint.runtime import UserExecutionContext\n\n\n"
        "@dataclass\nclass RunContext:\n    state: DeepAgentState\n    user_context: UserExecutionContext\n",
    )
    steps = write(
        root / "app" / "steps.py",
        "from app.state import DeepAgentState\n\n\ndef summarize(state: DeepAgentState) -> str:\n    return state.user_id\n",
    )
    write(
        root / "app" / "caller.py",
        f"from app.runctx import RunContext\nfrom app.steps import summarize\n\n\ndef go(ctx: RunContext) -> str:\n    return summarize(ctx.{passed})\n",
    )
    return steps


def test_a_field_of_a_class_in_another_module_tells_what_a_caller_passes(tmp_path: Path) -> None:
    """`summarize(ctx.user_context)`: the field is declared as the context in another
    module, so the gate knows the argument is one and lets the parameter become the context."""
    steps = _field_project(tmp_path, "user_context")
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO402", str(tmp_path))
    assert "def summarize(state: UserExecutionContext) -> str:" in steps.read_text(encoding="utf-8"), result.stderr


def test_a_field_declared_as_the_legacy_state_keeps_the_parameter_as_it_is(tmp_path: Path) -> None:
    steps = _field_project(tmp_path, "state")
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO402", str(tmp_path))
    assert "def summarize(state: DeepAgentState) -> str:" in steps.read_text(encoding="utf-8")
    assert (
        "`summarize(ctx.state)` calls `app.steps.summarize`, whose `state` the fixes make a `UserExecutionContext`; its argument 1 can still be the legacy state"
        in result.stderr
    )


def test_a_built_state_handed_to_an_agent_that_keeps_the_legacy_state_is_left_as_it_was(tmp_path: Path) -> None:
    """ISO403 can turn `DeepAgentState(...)` into the context; the agent it is
    passed to still writes `state.results` (so its own migration is refused)
    and would fail on the context. The program must run the same after the fixes."""
    write(tmp_path / "app" / "__init__.py", "")
    write(
        tmp_path / "app" / "state.py",
        "from dataclasses import dataclass, field\n\n\n@dataclass\nclass DeepAgentState:\n"
        "    user_request: str = ''\n    user_id: str = ''\n    results: dict = field(default_factory=dict)\n",
    )
    write(
        tmp_path / "app" / "agent.py",
        "from app.state import DeepAgentState\n\n\n"
        "class Agent:\n"
        "    async def execute(self, state: DeepAgentState):\n"
        "        state.results['plan'] = [state.user_request, state.user_id]\n"
        "        return state.results\n\n\n"
        "async def main(agent):\n"
        "    return await agent.execute(DeepAgentState(user_request='q', user_id='u'))\n",
    )
    run = "import asyncio\nfrom app.agent import Agent, main\nprint(asyncio.run(main(Agent())))\n"
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(isolint.__file__).parents[1]}", "PATH": os.environ["PATH"]}
    before = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", str(tmp_path / "app"))
    after = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert (after.returncode, after.stdout) == (before.returncode, before.stdout) == (0, "{'plan': ['q', 'u']}\n")
    assert "ISO403 fixes refused" in result.stderr and "whose `state: DeepAgentState` can still use it" in result.stderr


STATE_FLOWS = {
    "kept on an attribute": (
        "class Runner:\n    def __init__(self):\n        self.state = DeepAgentState(user_id='u')\n\n"
        "    def record(self):\n        self.state.results['x'] = 1\n        return self.state.results\n\n\n"
        "def main():\n    return Runner().record()\n"
    ),
    "returned by a factory": (
        "def build():\n    return DeepAgentState(user_id='u')\n\n\n"
        "def main():\n    built = build()\n    built.results['x'] = 1\n    return built.results\n"
    ),
    "read for a field the context lacks": (
        "def main():\n    state = DeepAgentState(user_id='u', user_request='hi')\n"
        "    return {'x': state.user_request}\n"
    ),
}


@pytest.mark.parametrize("flow", sorted(STATE_FLOWS))
def test_a_built_state_that_leaves_through_an_attribute_or_a_return_keeps_the_program_running(
    flow: str, tmp_path: Path
) -> None:
    """Where the value ISO403 would make a context goes next decides whether
    the program survives the fix: each of these used to fail with AttributeError."""
    write(tmp_path / "app" / "__init__.py", "")
    write(
        tmp_path / "app" / "state.py",
        "from dataclasses import dataclass, field\n\n\n@dataclass\nclass DeepAgentState:\n"
        "    user_request: str = ''\n    user_id: str = ''\n    results: dict = field(default_factory=dict)\n",
    )
    write(tmp_path / "app" / "flow.py", "from app.state import DeepAgentState\n\n\n" + STATE_FLOWS[flow])
    run = "from app.flow import main\nprint(main())\n"
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(isolint.__file__).parents[1]}", "PATH": os.environ["PATH"]}
    before = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", str(tmp_path / "app"))
    after = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert before.returncode == 0 and (after.returncode, after.stdout) == (0, before.stdout), after.stderr
    assert "app/flow.py: ISO403 fixes refused" in result.stderr


INHERITED_METHOD = {
    "app/state.py": "class DeepAgentState:\n    user_id: str = ''\n",
    "app/base.py": (
        "from app.state import DeepAgentState\n\n\n"
        "class BaseAgent:\n"
        "    def describe(self, state: DeepAgentState) -> str:\n"
        "        return state.user_id\n"
    ),
    "app/service.py": (
        "from app.state import DeepAgentState\n"
        "from app.triage import TriageAgent\n\n\n"
        "def handle() -> str:\n"
        "    return TriageAgent().describe(DeepAgentState())\n"
    ),
}


@pytest.mark.parametrize("lineage", sorted(SUBCLASS_LINEAGES))
def test_a_call_of_an_inherited_method_through_classes_that_never_name_it_is_verified(
    lineage: str, tmp_path: Path
) -> None:
    """`TriageAgent().describe(state)` reaches `BaseAgent.describe` through
    modules that never mention `describe`: the gate reads the receiver's
    class up to its roots, and refuses the retyped parameter the call still
    passes the legacy state to (a type checker would report it)."""
    write(tmp_path / "app" / "__init__.py", "")
    for name, text in {**INHERITED_METHOD, **SUBCLASS_LINEAGES[lineage]}.items():
        write(tmp_path / name, text)
    base = tmp_path / "app" / "base.py"
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO402", str(tmp_path / "app"))
    assert base.read_text(encoding="utf-8") == INHERITED_METHOD["app/base.py"]
    assert (
        "app/base.py: ISO402 fixes refused: app/service.py:6: `TriageAgent().describe(DeepAgentState())` calls "
        "`app.base.BaseAgent.describe`, whose `state` the fixes make a `UserExecutionContext`; its argument 1 can "
        "still be the legacy state"
    ) in result.stderr.replace(str(tmp_path) + "/", "")


def test_a_caller_outside_the_given_paths_keeps_the_parameter_as_it_is(tmp_path: Path) -> None:
    """Only `app/base.py` is named (as a pre-commit run names changed files);
    the module that passes the legacy state to `describe` is part of the
    project all the same, so retyping the parameter is refused."""
    (tmp_path / ".git").mkdir()
    write(tmp_path / "app" / "__init__.py", "")
    for name, text in {**INHERITED_METHOD, **SUBCLASS_LINEAGES["a subclass"]}.items():
        write(tmp_path / name, text)
    base = tmp_path / "app" / "base.py"
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO402", str(base))
    assert base.read_text(encoding="utf-8") == INHERITED_METHOD["app/base.py"]
    assert "calls `app.base.BaseAgent.describe`, whose `state` the fixes make a `UserExecutionContext`" in result.stderr


def _fix_describe(tmp_path: Path, use: str, *extra: tuple[str, str]) -> tuple[str, str]:
    """`BaseAgent.describe(self, state: DeepAgentState)` in app/base.py, `use`
    as app/use.py and the `extra` (path, text) files, after `fix
    --unsafe-fixes --select ISO402`: app/base.py's text, and the report on
    stderr with the project's directory left out of its paths."""
    write(tmp_path / "app" / "__init__.py", "")
    base = ("app/base.py", INHERITED_METHOD["app/base.py"])
    for name, text in (("app/state.py", INHERITED_METHOD["app/state.py"]), base, *extra, ("app/use.py", use)):
        write(tmp_path / name, text)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO402", str(tmp_path / "app"))
    return (tmp_path / "app" / "base.py").read_text(encoding="utf-8"), result.stderr.replace(str(tmp_path) + "/", "")


RETYPED_CALLERS = {
    "through-the-class": (
        "def run(agent: BaseAgent) -> str:\n    return BaseAgent.describe(agent, DeepAgentState())\n",
        "`BaseAgent.describe(agent, DeepAgentState())` calls `app.base.BaseAgent.describe`, whose `state` the fixes "
        "make a `UserExecutionContext`; its argument 2 can still be the legacy state",
    ),
    "keywords-forwarded": (
        "def run(agent: BaseAgent, **kwargs) -> str:\n    return agent.describe(**kwargs)\n",
        "`agent.describe(**kwargs)` calls `app.base.BaseAgent.describe`, whose `state` the fixes make a "
        "`UserExecutionContext`; what its `**kwargs` pass there can still be the legacy state",
    ),
    "arguments-forwarded": (
        "def run(agent: BaseAgent, *args) -> str:\n    return agent.describe(*args)\n",
        "`agent.describe(*args)` calls `app.base.BaseAgent.describe`, whose `state` the fixes make a "
        "`UserExecutionContext`; what its `*args` pass there can still be the legacy state",
    ),
    "through-the-class-with-a-context": (
        "from isolint.runtime import UserExecutionContext\n\n\n"
        "def run(agent: BaseAgent, context: UserExecutionContext) -> str:\n"
        "    return BaseAgent.describe(agent, context)\n",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(RETYPED_CALLERS))
def test_a_call_through_the_class_or_spreading_arguments_is_verified_against_a_retyped_parameter(
    case: str, tmp_path: Path
) -> None:
    """`BaseAgent.describe(agent, state)` passes the instance first, so its
    second argument is `state`; a forwarding wrapper's `*args`/`**kwargs`
    may carry the legacy state there. Neither is known to be a context."""
    caller, reason = RETYPED_CALLERS[case]
    base, report = _fix_describe(
        tmp_path, "from app.base import BaseAgent\nfrom app.state import DeepAgentState\n" + caller
    )
    if reason is None:
        assert "def describe(self, state: UserExecutionContext)" in base, report
    else:
        assert base == INHERITED_METHOD["app/base.py"] and reason in report


def test_a_call_spreading_arguments_into_a_reshaped_signature_is_refused(tmp_path: Path) -> None:
    """`forward(agent, state, run_id)` hands its `*args` on to `execute`,
    whose signature ISO405 makes `(context, stream_updates)`: the run id
    would slide into `stream_updates`, and nothing can check what the
    spread arguments are."""
    write(tmp_path / "app" / "__init__.py", "")
    write(tmp_path / "app" / "state.py", INHERITED_METHOD["app/state.py"])
    agent = write(
        tmp_path / "app" / "agent.py",
        "from app.state import DeepAgentState\n\n\n"
        "class Agent:\n"
        "    async def execute(self, state: DeepAgentState, run_id: str, stream_updates: bool = False) -> str:\n"
        "        return f'{state.user_id}:{run_id}:{stream_updates}'\n\n\n"
        "async def forward(agent: Agent, *args, **kwargs) -> str:\n"
        "    return await agent.execute(*args, **kwargs)\n",
    )
    before = agent.read_text(encoding="utf-8")
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO405", str(tmp_path / "app"))
    assert agent.read_text(encoding="utf-8") == before
    assert (
        "`agent.execute(*args, **kwargs)` calls `app.agent.Agent.execute`, whose signature the fixes change from "
        "(state, run_id, stream_updates) to (context, stream_updates); what its `*args` and `**kwargs` pass cannot "
        "be checked against it"
    ) in result.stderr


METHOD_VALUES = {
    "stored": ("    handler = agent.describe\n    return handler(DeepAgentState())\n", 6),
    "partial": ("    return functools.partial(agent.describe, DeepAgentState())()\n", 6),
    "mapped": ("    return ''.join(map(agent.describe, [DeepAgentState()]))\n", 6),
    "another-class": ("    return ''.join(map(other.describe, [DeepAgentState()]))\n", None),
    # `app/triage.py` (`class TriageAgent(BaseAgent)`) never names `describe`.
    "off-a-subclass": ("    handler = triage.describe\n    return handler(DeepAgentState())\n", 6),
}


@pytest.mark.parametrize("case", sorted(METHOD_VALUES))
def test_a_changed_method_read_as_a_value_is_refused(case: str, tmp_path: Path) -> None:
    """`handler = agent.describe`, `partial(agent.describe, ...)`,
    `map(agent.describe, ...)`: the method leaves as a value, and whatever
    calls it later passes what the gate cannot see. The same name read off
    an unrelated class is not the method."""
    body, line = METHOD_VALUES[case]
    use = (
        "import functools\n\nfrom app.base import BaseAgent\nfrom app.other import Other\nfrom app.state import DeepAgentState\n"
        "from app.triage import TriageAgent\n"
        "def run(agent: BaseAgent, other: Other, triage: TriageAgent) -> str:\n" + body
    )
    other = ("app/other.py", "class Other:\n    def describe(self, thing) -> str:\n        return str(thing)\n")
    triage = ("app/triage.py", SUBCLASS_LINEAGES["a subclass"]["app/triage.py"])
    base, report = _fix_describe(tmp_path, use, other, triage)
    if line is None:
        assert "def describe(self, state: UserExecutionContext)" in base, report
    else:
        assert base == INHERITED_METHOD["app/base.py"]
        assert (
            f"app/use.py:{line + 2}: `.describe` is read as a value, not called, where it may be "
            "`app.base.BaseAgent.describe`"
        ) in report


@pytest.mark.parametrize(
    ("use", "refused_at"),
    [
        pytest.param("TOOLS = {'search': search}\n", "app/use.py:3", id="kept-in-a-registry"),
        pytest.param("def run(states):\n    return list(map(search, states))\n", "app/use.py:4", id="mapped"),
        pytest.param(
            "from app import tools\n\n\ndef run(states):\n    return list(map(tools.search, states))\n",
            "app/use.py:7",
            id="through-its-module",
        ),
        pytest.param(
            "from isolint.runtime import UserExecutionContext\n\n\n"
            "def run(context: UserExecutionContext) -> str:\n    return search(context)\n",
            None,
            id="only-called",
        ),
    ],
)
def test_a_changed_function_read_by_name_as_a_value_is_refused(
    use: str, refused_at: str | None, tmp_path: Path
) -> None:
    """A tool function kept in a registry or handed to `map` is called later
    with whatever the registry's caller passes: retyping its parameter is
    refused. Called directly with a context, it is retyped."""
    write(tmp_path / "app" / "__init__.py", "")
    write(tmp_path / "app" / "state.py", INHERITED_METHOD["app/state.py"])
    tools = write(
        tmp_path / "app" / "tools.py",
        "from app.state import DeepAgentState\n\n\ndef search(state: DeepAgentState) -> str:\n    return state.user_id\n",
    )
    write(tmp_path / "app" / "use.py", "from app.tools import search\n\n" + use)
    result = run_cli("fix", "--unsafe-fixes", "--isolated", "--no-cache", "--select", "ISO402", str(tmp_path / "app"))
    report = result.stderr.replace(str(tmp_path) + "/", "")
    if refused_at is None:
        assert "def search(state: UserExecutionContext)" in tools.read_text(encoding="utf-8"), report
    else:
        assert "def search(state: DeepAgentState)" in tools.read_text(encoding="utf-8")
        assert f"{refused_at}: `search` is read as a value, not called: what calls `app.tools.search` later" in report


def test_a_method_read_as_a_value_off_a_plain_name_handed_in_is_refused(tmp_path: Path) -> None:
    """`def later(agent): return agent.describe` names no class: the agent is
    handed in, and may be a `BaseAgent` (as a removed attribute's reader may)."""
    base, report = _fix_describe(tmp_path, "def later(agent):\n    return agent.describe\n")
    assert base == INHERITED_METHOD["app/base.py"]
    assert "app/use.py:2: `.describe` is read as a value, not called" in report
