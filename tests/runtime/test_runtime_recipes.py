"""The README's runtime recipes, run as they are shipped: real uvicorn, real clients.

Each recipe lives in ``fixtures/runtime_recipes/`` and is imported from there, so
the README can never show code that does not work.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("aiosqlite")
websockets = pytest.importorskip("websockets")
from live_server import serving  # noqa: E402
from runtime_support import run  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

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
                        select(chat.questions.c.user_id, func.count()).group_by(
                            chat.questions.c.user_id
                        )
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
    for user, frames in zip(result["users"], result["conversations"]):
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
