"""ASGI and SQLAlchemy helpers: shielded commits, honest status codes, one id policy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
import contextlib

import httpx
from fastapi import Depends, FastAPI, WebSocket
from runtime_support import RecordingSession, make_factory, run
from starlette.requests import HTTPConnection

from isolint.runtime import (
    DEFAULT_PLACEHOLDERS,
    IdPolicy,
    InvalidContextError,
    UserExecutionContext,
)
from isolint.runtime.asgi import (
    execution_scope_dependency,
    get_connections,
    install,
    websocket_connection,
)
from isolint.runtime.sqlalchemy import request_session


class SlowCommit(RecordingSession):
    def __init__(self, log: list[str]) -> None:
        super().__init__(log)
        self.committing = asyncio.Event()

    async def commit(self) -> None:
        self.committing.set()
        await asyncio.sleep(0.1)
        self.log.append("session.commit")


def test_request_session_finishes_a_commit_that_started_before_a_cancel(log):
    session = SlowCommit(log)

    async def scenario() -> None:
        async def victim() -> None:
            async with request_session(lambda: session):  # type: ignore[arg-type]
                pass

        task = asyncio.create_task(victim())
        await session.committing.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    # The commit landed, so there is nothing to roll back; the session is closed.
    assert log == ["session.commit", "session.close"]


async def http_get(app: FastAPI, url: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(url, headers=headers)


async def websocket_session(app: FastAPI, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Drive one WebSocket connection through the ASGI app; return what it sent."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "state": {},
    }
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    await app(scope, incoming.get, send)
    return sent


def user_header(connection: HTTPConnection) -> str | None:
    return connection.headers.get("x-user")


def app_with(factory: Any, dependency: Any) -> FastAPI:
    app = FastAPI()
    install(app, factory=factory)

    @app.get("/whoami")
    async def whoami(
        context: UserExecutionContext = Depends(dependency),  # noqa: B008 - FastAPI's idiom
    ) -> dict:
        return {
            "user": context.user_id,
            "thread": context.thread_id,
            "run": context.run_id,
            "metadata": dict(context.metadata),
        }

    @app.websocket("/ws")
    async def socket(
        websocket: WebSocket,
        context: UserExecutionContext = Depends(dependency),  # noqa: B008
    ) -> None:
        await websocket.accept()
        await websocket.send_text(context.user_id)
        await websocket.close()

    return app


@pytest.mark.parametrize("header", [None, "undefined", ""])
def test_an_invalid_user_is_401_over_http(header):
    factory = make_factory()
    app = app_with(factory, execution_scope_dependency(user_header))
    headers = {} if header is None else {"x-user": header}
    response = run(http_get(app, "/whoami", headers))
    assert response.status_code == 401
    assert factory.metrics().scopes_created == 0


def test_an_invalid_user_closes_the_websocket_with_1008():
    factory = make_factory()
    app = app_with(factory, execution_scope_dependency(user_header))
    refused = run(websocket_session(app, "/ws", {"x-user": "null"}))
    assert [(m["type"], m.get("code")) for m in refused] == [("websocket.close", 1008)]
    accepted = run(websocket_session(app, "/ws", {"x-user": "alice"}))
    assert [m["type"] for m in accepted] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert accepted[1]["text"] == "alice"
    assert factory.metrics().scopes_created == 1


def test_the_dependency_takes_thread_run_and_metadata_from_the_request():
    factory = make_factory()
    dependency = execution_scope_dependency(
        user_header,
        thread_id_of=lambda connection: connection.query_params.get("thread"),
        run_id_of=lambda connection: connection.query_params.get("run"),
        metadata_of=lambda connection: {"path": connection.url.path},
    )
    app = app_with(factory, dependency)
    body = run(http_get(app, "/whoami?thread=t-1&run=r-1", {"x-user": "alice"})).json()
    assert body == {
        "user": "alice",
        "thread": "t-1",
        "run": "r-1",
        "metadata": {"path": "/whoami"},
    }


def test_the_dependency_binds_the_connection_emitter_it_is_given():
    factory = make_factory()

    def emitter_of(connection: HTTPConnection) -> Any:
        user = user_header(connection)
        emitters = get_connections(connection).connections(user)
        return emitters[0] if emitters else None

    dependency = execution_scope_dependency(user_header, emitter_of=emitter_of)
    app = FastAPI()
    connections = install(app, factory=factory)

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        user = websocket.headers["x-user"]
        async with websocket_connection(websocket, user_id=user, connections=connections):
            async for context in dependency(websocket):
                context.websocket_emitter.emit("agent_completed", context.run_id)
                await context.websocket_emitter.flush()
        await websocket.close()

    sent = run(websocket_session(app, "/ws", {"x-user": "alice"}))
    frame = json.loads(sent[1]["text"])
    assert (frame["event"], frame["user_id"]) == ("agent_completed", "alice")
    assert frame["payload"] == frame["run_id"]


def test_install_shares_the_factory_s_id_policy_with_connections_and_emitters():
    strict = IdPolicy(placeholders=DEFAULT_PLACEHOLDERS | {"guest"})
    factory = make_factory(id_policy=strict)
    app = FastAPI()
    connections = install(app, factory=factory)
    assert connections.id_policy is strict
    with pytest.raises(InvalidContextError, match="placeholder"):
        connections.register("guest", object())

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            async with websocket_connection(websocket, user_id="guest", connections=connections):
                pass
        except InvalidContextError:
            await websocket.close(code=1008)

    sent = run(websocket_session(app, "/ws", {}))
    assert [(m["type"], m.get("code")) for m in sent] == [
        ("websocket.accept", None),
        ("websocket.close", 1008),
    ]


class StuckCommit(RecordingSession):
    """A COMMIT that never answers and ignores its cancellation until released."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(log)
        self.release = asyncio.Event()

    async def commit(self) -> None:
        self.log.append("session.commit started")
        while not self.release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)

    def invalidate(self) -> None:
        self.log.append("session.invalidate")


def test_request_session_invalidates_instead_of_closing_under_a_stuck_commit(log):
    session = StuckCommit(log)

    async def scenario() -> None:
        with pytest.raises(TimeoutError, match="session commit"):
            async with request_session(lambda: session, close_timeout=0.05):  # type: ignore[arg-type]
                pass
        session.release.set()
        await asyncio.sleep(0.02)

    run(scenario())
    assert log == ["session.commit started", "session.invalidate"]
