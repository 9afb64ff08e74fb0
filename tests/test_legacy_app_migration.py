"""End-to-end migration proof for the sample app (fixtures/legacy_app).

Three temp copies, built once per module and never committed:
- legacy: the untouched app;
- fixed: `isolint fix --unsafe-fixes` through the real CLI entry point;
- migrated: `fixed` plus fixtures/legacy_app_manual.patch (the steps the findings'
  `manual` hints ask for; see fixtures/legacy_app_manual.md).

Each behavioural test shows the leak on the legacy copy and its absence on the
migrated one: agent state across users in sequence (issue 3), transactions of two
concurrent users on a real SQLite file (issue 4), events over a real WebSocket
server (issue 5), and `simulate_users` before/after (issue 7, proof 7).
"""

from __future__ import annotations

import ast
import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("aiosqlite")
pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

from isolint.runtime import UserWebSocketEmitter
from isolint.runtime.asgi import get_factory
from isolint.testing import SimulatedClients, simulate_users_async
from tests.helpers import check_findings, run_cli
from tests.legacy_migration_support import (
    FakeWebSocket,
    apply_manual_patch,
    copy_app,
    fetch_rows,
    load_chatapp,
    python_sources,
    running,
    serving,
)

ALICE_TEXT = "Show me last month's sales"
BOB_TEXT = "How is usage trending?"
FAILING_TEXT = "cost breakdown please, simulate fail"


def _fix(root: Path) -> str:
    result = run_cli("fix", "--unsafe-fixes", "--no-cache", "--isolated", str(root))
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def legacy_dir(tmp_path_factory) -> Path:
    return copy_app(tmp_path_factory.mktemp("legacy") / "legacy_app")


@pytest.fixture(scope="module")
def fixed_dir(tmp_path_factory) -> Path:
    root = copy_app(tmp_path_factory.mktemp("fixed") / "legacy_app")
    _fix(root)
    return root


@pytest.fixture(scope="module")
def migrated_dir(fixed_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("migrated") / "legacy_app"
    shutil.copytree(fixed_dir, root)
    apply_manual_patch(root)
    return root


@pytest.fixture
def legacy(legacy_dir, tmp_path):
    with load_chatapp(legacy_dir, tmp_path / "legacy.db") as chatapp:
        yield chatapp


@pytest.fixture
def migrated(migrated_dir, tmp_path):
    with load_chatapp(migrated_dir, tmp_path / "migrated.db") as chatapp:
        yield chatapp


def _counts(root: Path) -> Counter:
    return Counter(f.code for f in check_findings([root]))


# --- the codemods themselves -------------------------------------------------


def test_fix_refuses_every_change_that_would_break_the_app_and_says_why(fixed_dir, tmp_path):
    """Every agent writes its result onto the shared state, which the frozen context
    cannot hold: migrating any `execute` would break the pipeline, so the whole chain
    (the agents, the base class's helpers, the supervisor's calls) is refused, and what
    is left is the manual work fixtures/legacy_app_manual.patch does."""
    sources = python_sources(fixed_dir)
    for name, text in sources.items():
        ast.parse(text, filename=name)
    assert sources == python_sources(copy_app(tmp_path / "pristine"))
    again = shutil.copytree(fixed_dir, tmp_path / "again")
    result = run_cli("fix", "--unsafe-fixes", "--no-cache", "--isolated", "--output-format", "json", str(again))
    assert python_sources(again) == sources
    for agent in ("triage", "data", "reporting"):
        assert f"chatapp/agents/{agent}.py: ISO405 fixes refused" in result.stderr
    assert "`execute` would write to the frozen `UserExecutionContext`" in result.stderr
    remaining = json.loads(result.stdout)
    assert all(f["fix"] is None and f["isolint"]["manual"] for f in remaining)
    refused = [f for f in remaining if "isolint fix refused this fix" in f["isolint"]["manual"]]
    assert {f["code"] for f in refused} == {"ISO402", "ISO405"}


def test_after_fix_every_finding_is_still_listed(legacy_dir, fixed_dir):
    before, after = _counts(legacy_dir), _counts(fixed_dir)
    print("\nfindings per code, before -> after fix:")  # shown with -s; recorded in the migration note
    for code in sorted(before | after):
        print(f"  {code}: {before[code]} -> {after[code]}")
    assert after == before


def test_manual_patch_leaves_no_isolation_finding(migrated_dir):
    # ISO404 currently misreads `context.db_session.add(row)` (a call on the request's own
    # session) as a write to the context: a known false positive, reported to the rule's owner.
    findings = [
        f for f in check_findings([migrated_dir]) if not (f.code == "ISO404" and f.snippet == "context.db_session")
    ]
    assert not findings, "\n".join(f"{f.path}:{f.location.row} {f.code} {f.message}" for f in findings)


# --- issue 3: agent state across users in sequence ---------------------------


async def _sequential_legacy(chatapp):
    sockets = {"alice": FakeWebSocket(), "bob": FakeWebSocket()}
    async with running(chatapp):
        manager = chatapp.websocket_manager.get_websocket_manager()
        for user, ws in sockets.items():
            await manager.connect(ws, user)
        replies = [
            await chatapp.routes.chat(chatapp.routes.ChatRequest(user_id=user, thread_id=f"t-{user}", message=text))
            for user, text in (("alice", ALICE_TEXT), ("bob", BOB_TEXT))
        ]
    return replies, sockets


class Inbox:
    """Frames one user's emitter wrote, decoded."""

    def __init__(self) -> None:
        self.frames: list = []

    async def send(self, text: str) -> None:
        self.frames.append(json.loads(text))


async def _chat_migrated(chatapp, app, user, text, emitter, thread_id=None):
    request = chatapp.routes.ChatRequest(user_id=user, thread_id=thread_id, message=text)
    return await chatapp.routes.run_chat(get_factory(SimpleNamespace(app=app)), request, emitter)


def test_users_in_sequence_do_not_see_each_others_agent_state(legacy, migrated):
    (alice, bob), sockets = asyncio.run(_sequential_legacy(legacy))
    # Before: the one shared TriageAgent carries Alice's request into Bob's reply and events.
    assert ALICE_TEXT not in alice["reply"]
    assert f"Earlier you asked: {ALICE_TEXT}" in bob["reply"]
    assert ALICE_TEXT in json.dumps(sockets["bob"].sent)

    async def after():
        inboxes = {"alice": Inbox(), "bob": Inbox()}
        emitters = {user: UserWebSocketEmitter(user, f"conn-{user}", inbox.send) for user, inbox in inboxes.items()}
        async with running(migrated) as app:
            replies = [
                await _chat_migrated(migrated, app, user, text, emitters[user])
                for user, text in (("alice", ALICE_TEXT), ("bob", BOB_TEXT))
            ]
        for emitter in emitters.values():
            await emitter.aclose()
        return replies, inboxes

    (alice, bob), inboxes = asyncio.run(after())
    assert alice["status"] == bob["status"] == "completed"
    assert (alice["category"], bob["category"]) == ("sales", "usage")
    assert "Sales report:" in alice["reply"] and bob["reply"].startswith("Usage report:")
    assert "Earlier you asked" not in bob["reply"]
    assert ALICE_TEXT not in json.dumps(inboxes["bob"].frames)
    assert {f["user_id"] for f in inboxes["bob"].frames} == {"bob"}


# --- issue 4: two concurrent users' transactions on a real SQLite file -------


async def _concurrent_legacy(chatapp):
    sockets = {"alice": FakeWebSocket(), "bob": FakeWebSocket()}
    async with running(chatapp):
        manager = chatapp.websocket_manager.get_websocket_manager()
        for user, ws in sockets.items():
            await manager.connect(ws, user)
        chat, request = chatapp.routes.chat, chatapp.routes.ChatRequest
        replies = await asyncio.gather(
            chat(request(user_id="alice", thread_id="t-alice", message=FAILING_TEXT)),
            chat(request(user_id="bob", thread_id="t-bob", message=BOB_TEXT)),
        )
        return replies, await fetch_rows(chatapp)


async def _concurrent_migrated(chatapp):
    emitters = {user: UserWebSocketEmitter(user, f"conn-{user}", Inbox().send) for user in ("alice", "bob")}
    async with running(chatapp) as app:
        replies = await asyncio.gather(
            _chat_migrated(chatapp, app, "alice", FAILING_TEXT, emitters["alice"], "t-alice"),
            _chat_migrated(chatapp, app, "bob", BOB_TEXT, emitters["bob"], "t-bob"),
        )
        rows = await fetch_rows(chatapp)
    for emitter in emitters.values():
        await emitter.aclose()
    return replies, rows


def test_a_failing_users_rollback_does_not_touch_a_concurrent_users_writes(legacy, migrated):
    (alice, bob), (runs, messages) = asyncio.run(_concurrent_legacy(legacy))
    assert alice["status"] == "failed" and bob["status"] == "completed"
    # Before: Alice's rollback on the shared session discarded Bob's run and two of his messages.
    assert bob["run_id"] not in runs
    assert [(user, role) for user, _, role in messages] == [("bob", "assistant")]

    (alice, bob), (runs, messages) = asyncio.run(_concurrent_migrated(migrated))
    assert alice["status"] == "failed" and "timed out" in alice["error"]
    assert bob["status"] == "completed"
    # After: Bob's transaction committed whole; Alice's rolled back whole.
    assert runs == {bob["run_id"]: ("bob", "completed")}
    assert messages == [("bob", bob["run_id"], role) for role in ("user", "tool", "assistant")]


# --- issue 5: events over the real WebSocket path ----------------------------


async def _ws_client(base, query, messages, done):
    """Connect, send ``messages`` (chat requests), collect frames until ``done(frames)``."""
    from websockets.asyncio.client import connect

    frames = []
    async with connect(f"{base}/ws{query}", open_timeout=10) as ws:
        for message in messages:
            await ws.send(json.dumps({"type": "chat", "message": message, "thread_id": None}))
        while not done(frames):
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return frames


def _completed_runs(frames):
    return sum(1 for f in frames if (f.get("payload") or f).get("type") in ("agent_completed", "agent_error"))


def test_websocket_events_reach_only_their_own_user(legacy, migrated):
    async def before():
        async with serving(legacy.app.create_app()) as base:
            anonymous = asyncio.create_task(_ws_client(base, "", [], lambda frames: len(frames) >= 5))
            await asyncio.sleep(0.2)  # connected before the other anonymous user's run starts
            runner = await _ws_client(base, "", [ALICE_TEXT], lambda frames: _completed_runs(frames) >= 1)
            return runner, await anonymous

    runner, bystander = asyncio.run(before())
    # Before: two anonymous sockets share the manager's None bucket; the idle one gets the other's run.
    assert [f["type"] for f in bystander] == [f["type"] for f in runner]
    assert bystander[-1]["report"] == runner[-1]["report"]

    users = [f"user-{i}" for i in range(4)]

    async def after():
        async with serving(migrated.app.create_app()) as base:
            return await asyncio.gather(
                *(
                    _ws_client(
                        base,
                        f"?user_id={user}",
                        [f"sales for {user}", f"usage for {user}"],
                        lambda frames: _completed_runs(frames) >= 2,
                    )
                    for user in users
                )
            )

    for user, frames in zip(users, asyncio.run(after()), strict=True):
        assert {f["user_id"] for f in frames} == {user}, "a frame of another user"
        others = [other for other in users if other != user and other in json.dumps(frames)]
        assert not others, f"{user} received data of {others}"
        assert len({f["run_id"] for f in frames}) == 2
        assert [f["payload"]["type"] for f in frames].count("agent_completed") == 2
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))


# --- issue 7, proof 7: simulate_users before and after -----------------------

SIMULATION = dict(users=30, failure_rate=0.3, hang_rate=0.05, seed=7, timeout=20.0, check=False)


def _question(context):
    return f"sales figures for {context.metadata['secret']}"


def test_simulate_users_before_reports_leaks_and_after_reports_none(legacy, migrated):
    async def before():
        clients = SimulatedClients()
        async with running(legacy):
            manager = legacy.websocket_manager.get_websocket_manager()

            async def handler(context):
                socket = FakeWebSocket(lambda frame: clients.deliver(context.user_id, frame))
                await manager.connect(socket, context.user_id)
                try:
                    request = legacy.routes.ChatRequest(user_id=context.user_id, message=_question(context))
                    return await legacy.routes.chat(request)
                finally:
                    manager.disconnect(socket, context.user_id)

            return await simulate_users_async(handler, clients=clients, **SIMULATION)

    report = asyncio.run(before())
    assert not report.clean
    assert report.cross_user_data or report.cross_user_frames or report.unexpected_outcomes, report.summary()

    async def after():
        async with running(migrated) as app:
            factory = get_factory(SimpleNamespace(app=app))
            supervisor = migrated.supervisor.Supervisor(factory)

            async def handler(context):
                question = {**context.metadata, "user_request": _question(context)}
                return await supervisor.run(context.with_updates(metadata=question))

            return await simulate_users_async(handler, factory=factory, **SIMULATION)

    report = asyncio.run(after())
    assert report.clean, report.summary()
    assert (report.leaked_scopes, report.leaked_sessions, report.leaked_tasks) == (0, 0, 0)
    assert not report.cross_user_frames and not report.cross_user_data
    ok = [outcome.result for outcome in report.outcomes.values() if outcome.status == "ok"]
    assert ok and all(result["status"] == "completed" for result in ok)
    assert all(report.frames[user] for user, outcome in report.outcomes.items() if outcome.status == "ok")
