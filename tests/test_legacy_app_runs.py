"""The sample legacy app (fixtures/legacy_app) really runs, and really leaks.

These tests pin down the "before" state that the codemods migrate away from:
the app works end to end for two users, but a shared agent instance carries
one user's request into another user's reply, a failing run rolls back another
user's writes on the shared session, and anonymous sockets share one bucket.
"""

import asyncio
import importlib
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_app"

ALICE_TEXT = "Show me last month's sales"
BOB_TEXT = "How is usage trending?"


class FakeWebSocket:
    """Just enough of starlette's WebSocket for the manager."""

    def __init__(self) -> None:
        self.accepted = False
        self.sent: list = []

    async def accept(self) -> None:
        self.accepted = True

    async def send_json(self, data) -> None:
        self.sent.append(data)


def _purge_chatapp() -> None:
    for name in [m for m in sys.modules if m == "chatapp" or m.startswith("chatapp.")]:
        del sys.modules[name]


@pytest.fixture
def chatapp(tmp_path, monkeypatch):
    """A fresh import of a temp copy of the app, on its own SQLite file."""
    copy = tmp_path / "legacy_app"
    shutil.copytree(FIXTURE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    monkeypatch.setenv("CHATAPP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    monkeypatch.setenv("CHATAPP_LLM_LATENCY", "0")
    _purge_chatapp()
    monkeypatch.syspath_prepend(str(copy))
    try:
        modules = {
            name: importlib.import_module(f"chatapp.{name}") for name in ("app", "db", "routes", "websocket_manager")
        }
        assert Path(modules["app"].__file__).is_relative_to(copy)
        yield SimpleNamespace(**modules)
    finally:
        _purge_chatapp()


def run_in_app(chatapp, body):
    """Run ``body(manager)`` inside the app's lifespan (tables created, agents registered)."""

    async def main():
        app = chatapp.app.create_app()
        async with app.router.lifespan_context(app):
            return await body(chatapp.websocket_manager.get_websocket_manager())

    return asyncio.run(main())


def chat(chatapp, user_id, thread_id, message):
    request = chatapp.routes.ChatRequest(user_id=user_id, thread_id=thread_id, message=message)
    return chatapp.routes.chat(request)


async def fetch_rows(chatapp):
    from sqlalchemy import select

    async with chatapp.db.SessionLocal() as session:
        runs = (await session.execute(select(chatapp.db.AgentRun))).scalars().all()
        messages = (await session.execute(select(chatapp.db.Message).order_by(chatapp.db.Message.id))).scalars().all()
    return (
        {r.id: (r.user_id, r.status) for r in runs},
        [(m.user_id, m.thread_id, m.run_id, m.role) for m in messages],
    )


def test_two_users_end_to_end_and_shared_agent_history_leaks(chatapp):
    alice_ws, bob_ws = FakeWebSocket(), FakeWebSocket()

    async def body(manager):
        await manager.connect(alice_ws, "alice")
        await manager.connect(bob_ws, "bob")
        alice = await chat(chatapp, "alice", "thread-a", ALICE_TEXT)
        bob = await chat(chatapp, "bob", "thread-b", BOB_TEXT)
        return alice, bob, await fetch_rows(chatapp)

    alice, bob, (runs, messages) = run_in_app(chatapp, body)

    # It works: both runs complete, are stored, and stream to the right socket.
    assert alice["status"] == bob["status"] == "completed"
    assert (alice["category"], bob["category"]) == ("sales", "usage")
    assert "Sales report:" in alice["reply"] and "Usage report:" in bob["reply"]
    assert runs == {alice["run_id"]: ("alice", "completed"), bob["run_id"]: ("bob", "completed")}
    for user, thread, reply in (("alice", "thread-a", alice), ("bob", "thread-b", bob)):
        rows = [(u, t, r) for u, t, r, _ in messages if r == reply["run_id"]]
        assert rows == [(user, thread, reply["run_id"])] * 3
        assert [role for u, t, r, role in messages if r == reply["run_id"]] == ["user", "tool", "assistant"]

    expected = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
    for ws, reply in ((alice_ws, alice), (bob_ws, bob)):
        assert ws.accepted
        assert [e["type"] for e in ws.sent] == expected
        assert {e["run_id"] for e in ws.sent} == {reply["run_id"]}
    assert alice_ws.sent[-1]["report"] == alice["reply"]

    # The legacy bug: the registry hands everyone the same TriageAgent, whose
    # self.history carries Alice's request into Bob's reply.
    assert ALICE_TEXT not in alice["reply"]
    assert f"Earlier you asked: {ALICE_TEXT}" in bob["reply"]
    assert ALICE_TEXT in bob_ws.sent[-1]["report"]


def test_failing_run_rolls_back_another_users_writes_on_the_shared_session(chatapp):
    alice_ws, bob_ws = FakeWebSocket(), FakeWebSocket()

    async def body(manager):
        await manager.connect(alice_ws, "alice")
        await manager.connect(bob_ws, "bob")
        results = await asyncio.gather(
            chat(chatapp, "alice", "thread-a", "cost breakdown please, simulate fail"),
            chat(chatapp, "bob", "thread-b", BOB_TEXT),
        )
        return results, await fetch_rows(chatapp)

    (alice, bob), (runs, messages) = run_in_app(chatapp, body)

    assert alice["status"] == "failed" and "timed out" in alice["error"]
    assert bob["status"] == "completed"  # Bob is told all is well...
    # ...but Alice's rollback on the shared session discarded Bob's pending
    # AgentRun, user message and tool message; only his last write survived.
    assert runs == {}
    assert [(m[0], m[3]) for m in messages] == [("bob", "assistant")]
    # And Alice's outage was broadcast to Bob.
    assert {"type": "system_notice", "message": "Analytics data is unavailable."} in bob_ws.sent
    assert alice_ws.sent[-1]["type"] == "agent_error"


def test_anonymous_users_share_one_connection_bucket(chatapp):
    anon_1, anon_2 = FakeWebSocket(), FakeWebSocket()

    async def body(manager):
        await manager.connect(anon_1)
        await manager.connect(anon_2)
        return await chat(chatapp, None, "thread-anon-1", ALICE_TEXT)

    reply = run_in_app(chatapp, body)

    assert reply["status"] == "completed"
    assert anon_1.sent and anon_2.sent == anon_1.sent  # anon_2 sees anon_1's run
