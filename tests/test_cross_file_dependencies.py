"""Cached results follow every cross-file fact a file's findings depend on.

Each scenario is a small project and an edit to one module that changes the
findings of another module, which does not mention the edited module's
names: the dependency runs through a chain of facts (a base class's base, an
alias of an alias, a global holding what an imported accessor returns) or
down to subclasses defined elsewhere. After the edit, a check that reuses
the cache must report exactly what a fresh check does, and `report --history`
over the two commits must report what checking each checkout does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from isolint.config import load_settings
from isolint.history import run_history
from isolint.runner import run_check
from tests.conftest import write

CONTEXT_IMPORT = "from isolint.runtime import UserExecutionContext\n"


@dataclass(frozen=True)
class Scenario:
    files: dict[str, str]
    edit: tuple[str, str]  # (path, new text)
    watched: str  # the module whose findings the edit changes


SCENARIOS = {
    # ISO201 on the storing class lists subclass methods that read the session without a context.
    "subclass-elsewhere": Scenario(
        {
            "pkg/base.py": CONTEXT_IMPORT
            + "\n\nclass Repo:\n    def __init__(self, db_session):\n        self.db_session = db_session\n\n"
            "    async def load(self, context: UserExecutionContext):\n        return await self.db_session.get(1)\n",
            "pkg/sub.py": "from pkg.base import Repo\n\n\nclass SubRepo(Repo):\n    async def save(self, item):\n        self.db_session.add(item)\n",
        },
        (
            "pkg/sub.py",
            CONTEXT_IMPORT + "from pkg.base import Repo\n\n\nclass SubRepo(Repo):\n"
            "    async def save(self, item, context: UserExecutionContext):\n        self.db_session.add(item)\n",
        ),
        "pkg/base.py",
    ),
    # ISO201 on a subclass two levels below the class that stores the session.
    "base-of-a-base": Scenario(
        {
            "pkg/a.py": "class A:\n    def __init__(self, db_session):\n        self.db_session = db_session\n",
            "pkg/b.py": "from pkg.a import A\n\n\nclass B(A):\n    pass\n",
            "pkg/c.py": CONTEXT_IMPORT + "from pkg.b import B\n\n\nclass C(B):\n"
            "    async def run(self, context: UserExecutionContext):\n        return await self.db_session.get(1)\n",
        },
        ("pkg/a.py", "class A:\n    def __init__(self, engine):\n        self.engine = engine\n"),
        "pkg/c.py",
    ),
    # ISO401/ISO402/ISO404 through an alias of an alias of the legacy class.
    "alias-of-an-alias": Scenario(
        {
            "pkg/a.py": "from app.state import DeepAgentState as AgentState\n",
            "pkg/b.py": "from pkg.a import AgentState as State\n",
            "pkg/c.py": "from pkg.b import State\n\n\ndef run(state: State) -> None:\n    print(state.user_request)\n",
        },
        ("pkg/a.py", "from app.records import Record as AgentState\n"),
        "pkg/c.py",
    ),
    # ISO302 on a global that holds what another module's accessor hands out.
    "global-from-an-imported-accessor": Scenario(
        {
            "pkg/y.py": "from app.ws import WebSocketManager\n\n\ndef get_hub():\n    return WebSocketManager()\n",
            "pkg/x.py": "from pkg.y import get_hub\n\nws_manager = get_hub()\n",
            "pkg/z.py": "from pkg.x import ws_manager\n\n\nasync def notify(user_id):\n"
            "    await ws_manager.send_to_user(user_id, {'type': 'done'})\n",
        },
        ("pkg/y.py", "def get_hub():\n    return {}\n"),
        "pkg/z.py",
    ),
}


def _project(root: Path, scenario: Scenario) -> None:
    write(root / "isolint.toml", "")
    write(root / "pkg" / "__init__.py", "")
    for path, text in scenario.files.items():
        write(root / path, text)


def _check(root: Path, *, use_cache: bool) -> list:  # type: ignore[type-arg]
    return run_check([root], load_settings([root]), jobs=1, use_cache=use_cache).findings


def _watched(findings: list, scenario: Scenario) -> list:  # type: ignore[type-arg]
    return [f for f in findings if str(f.path).endswith(scenario.watched)]


@pytest.mark.parametrize("name", SCENARIOS)
def test_cached_check_after_the_edit_is_a_fresh_check(name: str, in_tmp: Path) -> None:
    scenario = SCENARIOS[name]
    _project(in_tmp, scenario)
    before = _check(in_tmp, use_cache=True)
    path, text = scenario.edit
    (in_tmp / path).write_text(text)
    cached, fresh = _check(in_tmp, use_cache=True), _check(in_tmp, use_cache=False)
    assert _watched(fresh, scenario) != _watched(before, scenario)  # the edit matters to the watched module
    assert cached == fresh


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("name", SCENARIOS)
def test_history_after_the_edit_is_what_each_checkout_reports(name: str, in_tmp: Path, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    repo = in_tmp / "repo"
    _project(repo, scenario)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        )

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "before")
    checkouts = [tmp_path / "before"]
    shutil.copytree(repo, checkouts[0], ignore=shutil.ignore_patterns(".git"))
    path, text = scenario.edit
    (repo / path).write_text(text)
    git("commit", "-q", "-am", "edit")
    checkouts.append(tmp_path / "after")
    shutil.copytree(repo, checkouts[1], ignore=shutil.ignore_patterns(".git"))

    history = run_history([repo], load_settings([repo]), commits=2, since=None, every=1, jobs=1)
    for result, checkout in zip(history.results, checkouts, strict=True):
        expected = _check(checkout, use_cache=False)
        assert Counter((f.code, Path(f.path).name) for f in result.findings) == Counter(
            (f.code, Path(f.path).name) for f in expected
        )
