"""Real WebSocket end to end: uvicorn + Starlette + the runtime, 200 real clients.

The server is a small Starlette app, served by uvicorn on 127.0.0.1 (a free port)
inside the test's event loop. Each of 200 `websockets` clients connects as its own
user and starts an agent run; 30% of the runs fail on purpose. A 201st client stalls
(never reads) while its run floods it. Every client must receive exactly its own
events, stamped with its own ids, in order; the stalled one must not hold up the
others; and the server must end with no open scope, session or emitter.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("websockets")
pytest.importorskip("aiosqlite")
from live_server import serving
from runtime_support import run
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.uri import parse_uri

from isolint.runtime import (
    AgentClassRegistry,
    AgentInstanceFactory,
    ConnectionRegistry,
    EmitterClosedError,
    UserExecutionContext,
    run_isolated,
)
from isolint.runtime.asgi import (
    get_connections,
    get_factory,
    install,
    websocket_connection,
)
from isolint.runtime.sqlalchemy import PoolLeakDetector

CLIENTS = 200
FAILING = round(CLIENTS * 0.30)
OK_EVENTS = [
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
]
FAILED_EVENTS = ["agent_started", "agent_thinking", "tool_executing", "agent_error"]
# The stalled client's run emits far more than loopback socket buffers hold.
FLOOD_FRAMES, FLOOD_FRAME_BYTES, STALLED_QUEUE = 400, 64 * 1024, 32
# Stated bound: with one client stalled, every other client gets its whole run
# (connect, run, all frames, close) within this many seconds. Measured here: about
# 0.5 s for the slowest of the 200; the bound leaves room for a slow CI machine.
STALL_BOUND = 5.0


async def agent_run(context: UserExecutionContext, start: dict[str, Any]) -> str:
    emitter = context.websocket_emitter
    if start.get("flood"):
        chunk = "x" * FLOOD_FRAME_BYTES
        for index in range(FLOOD_FRAMES):
            emitter.emit("chunk", {"index": index, "data": chunk})
            await asyncio.sleep(0)
        return "flooded"
    emitter.notify_agent_started("assistant")
    await asyncio.sleep(0)
    emitter.notify_agent_thinking("assistant", "looking it up")
    await context.db_session.execute(text("SELECT 1"))
    emitter.notify_tool_executing("lookup", for_user=context.user_id)
    await asyncio.sleep(0.001)
    if start["fail"]:
        raise RuntimeError("deliberate failure")
    emitter.notify_tool_completed("lookup", {"owner": context.user_id})
    emitter.notify_agent_completed("assistant", {"answer": f"done for {context.user_id}"})
    return "ok"


async def handler(context: UserExecutionContext, start: dict[str, Any]) -> str:
    try:
        return await agent_run(context, start)
    except EmitterClosedError:
        raise  # the connection is gone: nobody to tell
    except Exception as exc:
        context.websocket_emitter.notify_agent_error("assistant", exc)
        raise


async def agent_endpoint(websocket: WebSocket) -> None:
    user_id = websocket.query_params["user"]
    await websocket.accept()
    stalled = websocket.query_params.get("stalled") == "1"
    async with websocket_connection(
        websocket,
        user_id=user_id,
        connections=get_connections(websocket),
        close_timeout=1.0,
        max_queue=STALLED_QUEUE if stalled else 1000,
    ) as emitter:
        start = await websocket.receive_json()
        outcome = await run_isolated(
            lambda ctx: handler(ctx, start),
            factory=get_factory(websocket),
            timeout=30.0,
            user_id=user_id,
            run_id=start["run_id"],
            websocket_emitter=emitter,
        )
        websocket.app.state.outcomes[user_id] = outcome
        websocket.app.state.close_codes[user_id] = emitter.close_code
        await emitter.flush(timeout=1.0)
    if not stalled:
        await websocket.close()


def build_app(
    factory: AgentInstanceFactory,
) -> tuple[Starlette, ConnectionRegistry[Any]]:
    app = Starlette(routes=[WebSocketRoute("/agent", agent_endpoint)])
    connections = install(app, factory=factory)
    app.state.outcomes = {}
    app.state.close_codes = {}
    return app, connections


async def stalled_client(port: int, path: str, start: dict[str, Any]) -> asyncio.StreamWriter:
    """A real WebSocket client that sends its start message, then never reads again.

    It speaks the protocol through websockets' sans-I/O client over a plain socket
    with a small, fixed receive buffer, so the server's sends block once a few
    hundred kilobytes are in flight (the `websockets` asyncio client keeps reading
    into memory even when asked to pause).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    protocol.send_request(protocol.connect())
    writer.write(b"".join(protocol.data_to_send()))
    while protocol.handshake_exc is None and protocol.state is not State.OPEN:
        protocol.receive_data(await reader.read(4096))
    assert protocol.state is State.OPEN, protocol.handshake_exc
    protocol.send_text(json.dumps(start).encode())
    writer.write(b"".join(protocol.data_to_send()))
    await writer.drain()
    return writer  # and never read from `reader` again


async def client(base: str, user_id: str, run_id: str, fail: bool) -> tuple[list[dict[str, Any]], float]:
    started = time.perf_counter()
    async with connect(f"{base}?user={user_id}", open_timeout=30) as ws:
        await ws.send(json.dumps({"run_id": run_id, "fail": fail}))
        frames = [json.loads(message) async for message in ws]
    return frames, time.perf_counter() - started


def check_frames(user_id: str, run_id: str, fail: bool, frames: list[dict[str, Any]]) -> None:
    assert [f["event"] for f in frames] == (FAILED_EVENTS if fail else OK_EVENTS), user_id
    assert {f["user_id"] for f in frames} == {user_id}
    assert {f["run_id"] for f in frames} == {run_id}
    assert len({f["thread_id"] for f in frames}) == 1
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert frames[2]["payload"]["for_user"] == user_id
    if fail:
        assert frames[-1]["payload"]["error"] == {
            "type": "RuntimeError",
            "message": "deliberate failure",
        }
    else:
        assert frames[-1]["payload"]["result"] == {"answer": f"done for {user_id}"}


async def scenario(database: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    detector = PoolLeakDetector(engine)
    factory = AgentInstanceFactory(AgentClassRegistry(), session_factory=async_sessionmaker(engine))
    app, connections = build_app(factory)
    try:
        async with serving(app) as port:
            base = f"ws://127.0.0.1:{port}/agent"

            stalled = await stalled_client(
                port,
                "/agent?user=stalled-user&stalled=1",
                {"run_id": "stalled-run", "flood": True},
            )
            while "stalled-user" not in app.state.outcomes:
                await asyncio.sleep(0.01)  # until its emitter overflowed and its run ended

            failing = set(random.Random(7).sample(range(CLIENTS), FAILING))
            users = [(f"user-{i:03d}", f"run-{i:03d}", i in failing) for i in range(CLIENTS)]
            results = await asyncio.gather(*(client(base, *user) for user in users))

            for (user_id, run_id, fail), (frames, _) in zip(users, results, strict=True):
                check_frames(user_id, run_id, fail, frames)
            slowest = max(elapsed for _, elapsed in results)
            assert slowest < STALL_BOUND, f"a client waited {slowest:.1f}s behind the stalled one"

            outcomes = app.state.outcomes
            assert sum(outcomes[u].status == "error" for u, _, _ in users) == FAILING
            assert sum(outcomes[u].ok for u, _, _ in users) == CLIENTS - FAILING
            stalled_outcome = outcomes["stalled-user"]
            assert isinstance(stalled_outcome.exception, EmitterClosedError), stalled_outcome
            assert app.state.close_codes["stalled-user"] == 1013
            assert {app.state.close_codes[u] for u, _, _ in users} == {None}

            stalled.transport.abort()  # the stalled client finally goes away
            for _ in range(200):
                if not len(connections):
                    break
                await asyncio.sleep(0.01)
            metrics = factory.metrics()
            assert len(connections) == 0, "emitters left registered"
            assert (metrics.active_scopes, metrics.open_sessions) == (0, 0)
            assert metrics.scopes_created == CLIENTS + 1
            assert metrics.cross_user_emit_attempts == 0
            detector.assert_clean()
    finally:
        await engine.dispose()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}


def test_two_hundred_real_clients_each_get_only_their_own_events(
    tmp_path: Path,
) -> None:
    run(scenario(tmp_path / "ws.db"))
