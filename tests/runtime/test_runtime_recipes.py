"""The README's runtime recipes, run as they are shipped: real uvicorn, real clients.

Each recipe lives in ``fixtures/runtime_recipes/`` and is imported from there, so
the README can never show code that does not work.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiosqlite")
pytest.importorskip("websockets")
from live_server import serving
from runtime_support import run
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

RECIPES = Path(__file__).resolve().parents[2] / "fixtures" / "runtime_recipes"


def recipe(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recipes_pass_isolint_check():
    result = subprocess.run(
        [sys.executable, "-m", "isolint", "check", str(RECIPES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def ask(port: int, user: str, questions: list[str]) -> list[dict[str, Any]]:
    frames = []
    async with connect(f"ws://127.0.0.1:{port}/ws?user={user}") as ws:
        for question in questions:
            await ws.send(json.dumps({"question": question}))
            while True:
                frame = json.loads(await ws.recv())
                frames.append(frame)
                if frame["event"] == "run_finished":
                    break
    return frames


async def leave_mid_run(port: int, user: str) -> None:
    async with connect(f"ws://127.0.0.1:{port}/ws?user={user}") as ws:
        await ws.send(json.dumps({"question": "asked, then gone"}))
    # The client closed before any answer: the run must still finish and commit.


async def websocket_chat_scenario(database: Path) -> dict[str, Any]:
    chat = recipe("websocket_chat")
    app = chat.create_app(f"sqlite+aiosqlite:///{database}")
    async with app.state.engine.begin() as connection:
        await connection.run_sync(app.state.metadata.create_all)
    factory = app.state.factory
    try:
        async with serving(app) as port:
            users = [f"user-{index:02d}" for index in range(50)]
            conversations = await asyncio.gather(
                *(ask(port, user, ["one", "fail", "three"]) for user in users),
                leave_mid_run(port, "leaver"),
            )
            with pytest.raises(InvalidStatus) as refused:
                await ask(port, "undefined", ["who am i"])
            for _ in range(200):
                if factory.metrics().active_scopes == 0:
                    break
                await asyncio.sleep(0.01)
        async with app.state.engine.connect() as connection:
            rows = dict(
                (
                    await connection.execute(
                        select(chat.questions.c.user_id, func.count()).group_by(chat.questions.c.user_id)
                    )
                ).all()
            )
        return {
            "users": users,
            "conversations": conversations[:-1],
            "rows": rows,
            "refused_status": refused.value.response.status_code,
            "metrics": factory.metrics(),
        }
    finally:
        await app.state.engine.dispose()


def test_the_websocket_recipe(tmp_path: Path) -> None:
    result = run(websocket_chat_scenario(tmp_path / "chat.db"))
    for user, frames in zip(result["users"], result["conversations"], strict=True):
        assert {frame["user_id"] for frame in frames} == {user}
        finished = [f["payload"] for f in frames if f["event"] == "run_finished"]
        assert [f["status"] for f in finished] == ["ok", "error", "ok"]
        assert finished[0]["result"] == f"{user} asked 'one'"
        assert finished[1]["result"] is None  # no exception detail reaches the client
        runs = {f["run_id"] for f in frames if f["event"] == "agent_started"}
        assert len(runs) == 3  # one isolated run per message
    # Committed: the two good questions of each user, and the leaver's question.
    assert result["rows"] == {**{user: 2 for user in result["users"]}, "leaver": 1}
    assert result["refused_status"] == 403  # closed with 1008 before accept
    metrics = result["metrics"]
    assert (metrics.active_scopes, metrics.open_sessions) == (0, 0)


async def dependency_injection_scenario(database: Path) -> dict[str, Any]:
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    recipe_module = recipe("dependency_injection")
    app = recipe_module.create_app(f"sqlite+aiosqlite:///{database}")
    async with app.state.engine.begin() as connection:
        await connection.run_sync(app.state.metadata.create_all)
    try:
        async with (
            serving(app) as port,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
        ):
            users = [f"user-{index:02d}" for index in range(50)]
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/ask",
                        params={"q": "refund"},
                        headers={"x-user": user, "x-run-id": f"run-{user}"},
                    )
                    for user in users
                )
            )
            anonymous = await client.post("/ask", params={"q": "refund"})
            placeholder = await client.post("/ask", params={"q": "refund"}, headers={"x-user": "None"})
        async with app.state.engine.connect() as connection:
            rows = (await connection.execute(select(func.count()).select_from(recipe_module.answers))).scalar_one()
        return {
            "users": users,
            "bodies": [response.json() for response in responses],
            "statuses": {response.status_code for response in responses},
            "refused": (anonymous.status_code, placeholder.status_code),
            "rows": rows,
            "llm_calls": app.state.llm.calls,
        }
    finally:
        await app.state.engine.dispose()


def test_the_dependency_injection_recipe(tmp_path: Path) -> None:
    result = run(dependency_injection_scenario(tmp_path / "answers.db"))
    assert result["statuses"] == {200}
    for user, body in zip(result["users"], result["bodies"], strict=True):
        assert body == {
            "user": user,
            "run": f"run-{user}",
            "answer": f"answer to '{user}: refund'",
        }
    assert result["refused"] == (401, 401)
    assert result["rows"] == 50  # one committed row per request, none for refusals
    assert result["llm_calls"] == 50  # one shared client served every request


def test_pool_options_fit_the_concurrency_and_the_server(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(RECIPES))
    sizing = recipe("pool_sizing")
    options = sizing.pool_options(concurrent_requests=20, request_timeout=10.0)
    assert options == {"pool_size": 10, "max_overflow": 10, "pool_timeout": 2.5}
    with pytest.raises(ValueError, match="max_connections"):
        sizing.pool_options(
            concurrent_requests=20,
            request_timeout=10.0,
            processes=8,
            server_max_connections=100,
        )


async def greedy_user_scenario(database: Path) -> dict[str, Any]:
    sizing = recipe("pool_sizing")
    app = sizing.create_app(f"sqlite+aiosqlite:///{database}", max_scopes_per_user=3)
    async with app.state.engine.begin() as connection:
        await connection.run_sync(app.state.metadata.create_all)
    try:
        async with serving(app) as port:
            tabs = [ask(port, "greedy", ["slow"]) for _ in range(10)]
            others = [ask(port, f"user-{index:02d}", ["one"]) for index in range(20)]
            conversations = await asyncio.gather(*tabs, *others)
        statuses = [
            [f["payload"]["status"] for f in frames if f["event"] == "run_finished"] for frames in conversations
        ]
        return {
            "greedy": sorted(status for (status,) in statuses[:10]),
            "others": {status for (status,) in statuses[10:]},
            "metrics": app.state.factory.metrics(),
        }
    finally:
        await app.state.engine.dispose()


def test_one_user_with_many_tabs_cannot_take_the_pool(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(RECIPES))
    result = run(greedy_user_scenario(tmp_path / "chat.db"))
    # Ten tabs at once, each a slow run: three run, seven are refused at once.
    assert result["greedy"] == ["error"] * 7 + ["ok"] * 3
    assert result["others"] == {"ok"}
    metrics = result["metrics"]
    assert metrics.scopes_refused_by_user_limit == 7
    assert (metrics.active_scopes, metrics.open_sessions) == (0, 0)


def test_the_readme_recipes_are_copied_from_the_runnable_files() -> None:
    readme = (RECIPES.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Recipes", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    sources = [path.read_text(encoding="utf-8") for path in RECIPES.glob("*.py")]
    assert len(blocks) >= 4
    for block in blocks:
        assert any(block.rstrip("\n") in source for source in sources), block[:80]
