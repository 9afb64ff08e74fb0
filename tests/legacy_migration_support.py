"""Helpers for tests/test_legacy_app_migration.py: copies of the sample app, loading one, serving one."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "legacy_app"
MANUAL_PATCH = ROOT / "fixtures" / "legacy_app_manual.patch"


def copy_app(destination: Path) -> Path:
    shutil.copytree(FIXTURE, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return destination


def python_sources(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.py"))}


def apply_manual_patch(root: Path) -> None:
    """Apply the hand-written migration steps on top of `isolint fix` output in ``root``."""
    result = subprocess.run(
        ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", str(MANUAL_PATCH)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "fixtures/legacy_app_manual.patch no longer applies to the `isolint fix --unsafe-fixes` output "
        f"(did the codemods' output change?):\n{result.stdout}{result.stderr}"
    )


def _purge_chatapp() -> None:
    for name in [m for m in sys.modules if m == "chatapp" or m.startswith("chatapp.")]:
        del sys.modules[name]


@contextmanager
def load_chatapp(root: Path, database: Path, llm_latency: float = 0.0) -> Iterator[SimpleNamespace]:
    """A fresh import of the app in ``root``, on its own SQLite file."""
    saved = {key: os.environ.get(key) for key in ("CHATAPP_DATABASE_URL", "CHATAPP_LLM_LATENCY")}
    os.environ["CHATAPP_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    os.environ["CHATAPP_LLM_LATENCY"] = str(llm_latency)
    _purge_chatapp()
    sys.path.insert(0, str(root))
    try:
        names = [p.stem for p in (root / "chatapp").glob("*.py") if p.stem != "__init__"]
        modules = {name: importlib.import_module(f"chatapp.{name}") for name in names}
        assert Path(modules["app"].__file__).is_relative_to(root)
        yield SimpleNamespace(**modules)
    finally:
        sys.path.remove(str(root))
        _purge_chatapp()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@asynccontextmanager
async def running(chatapp: SimpleNamespace) -> AsyncIterator[Any]:
    """The app inside its lifespan (tables created, agents registered); yields the app."""
    app = chatapp.app.create_app()
    async with app.router.lifespan_context(app):
        yield app


async def fetch_rows(chatapp: SimpleNamespace) -> tuple[dict, list]:
    """Committed runs {id: (user, status)} and messages [(user, run_id, role)], read on a fresh session."""
    from sqlalchemy import select

    db = chatapp.db
    async with db.SessionLocal() as session:
        runs = (await session.execute(select(db.AgentRun))).scalars().all()
        messages = (await session.execute(select(db.Message).order_by(db.Message.id))).scalars().all()
    return {r.id: (r.user_id, r.status) for r in runs}, [(m.user_id, m.run_id, m.role) for m in messages]


class FakeWebSocket:
    """Just enough of starlette's WebSocket for the legacy manager; ``deliver`` routes what it gets."""

    def __init__(self, deliver=None) -> None:
        self.sent: list = []
        self._deliver = deliver

    async def accept(self) -> None:
        pass

    async def send_json(self, data) -> None:
        self.sent.append(data)
        if self._deliver is not None:
            self._deliver(data)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port (lifespan on); yields ``ws://host:port``."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, ws="websockets-sansio", lifespan="on", log_level="warning"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
