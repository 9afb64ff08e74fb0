"""isolint.testing.simulate_users: the harness users run on their own handlers."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from runtime_support import run

from isolint.runtime import UserExecutionContext
from isolint.testing import (
    FAILURE_POINTS,
    IsolationFailure,
    SimulatedClients,
    plan_injections,
    secret_for,
    simulate_users,
    simulate_users_async,
)

HANG_TIMEOUT = 0.1


async def well_behaved(context: UserExecutionContext) -> dict:
    emitter = context.websocket_emitter
    emitter.notify_agent_started("assistant", secret=context.metadata["secret"])
    await asyncio.sleep(0.001)
    emitter.notify_agent_completed("assistant", {"for": context.user_id})
    return {"user": context.user_id}


@pytest.mark.parametrize(
    ("users", "failure_rate", "hang_rate", "failures", "hangs"),
    [
        (200, 0.3, 0.05, 60, 10),
        (10, 0.0, 0.0, 0, 0),
        (7, 0.5, 0.2, 4, 1),
        (3, 0.0, 1.0, 0, 3),
    ],
)
def test_the_plan_injects_exact_counts_spread_over_the_points(users, failure_rate, hang_rate, failures, hangs):
    plan = plan_injections(users, failure_rate, hang_rate, seed=5)
    kinds = Counter(injection.kind for injection in plan)
    assert (kinds["fail"], kinds["hang"], kinds["none"]) == (
        failures,
        hangs,
        users - failures - hangs,
    )
    points = Counter(injection.point for injection in plan if injection.kind == "fail")
    assert max(points.values(), default=0) - min(points.values(), default=0) <= 1
    assert plan == plan_injections(users, failure_rate, hang_rate, seed=5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 0.1, 0.1), "users"),
        ((10, 1.5, 0.0), "failure_rate"),
        ((10, 0.6, 0.6), "exceed 1"),
    ],
)
def test_impossible_plans_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        plan_injections(*arguments, seed=0)


@pytest.mark.parametrize("seed", range(3))
def test_a_well_behaved_handler_passes_with_outcomes_matching_the_injections(seed):
    report = simulate_users(well_behaved, users=200, seed=seed, hang_timeout=HANG_TIMEOUT)
    assert report.clean
    assert report.status_counts() == Counter({"ok": 130, "error": 60, "timeout": 10})
    for user_id, injection in report.injections.items():
        assert report.outcomes[user_id].status == injection.expected_status
    assert {i.point for i in report.injections.values() if i.kind == "fail"} == set(FAILURE_POINTS)
    assert report.cross_user_frames == () and report.leaked_scopes == report.leaked_sessions == 0
    assert report.overhead_p95_us is not None and report.overhead_p95_us > 0
    ok_user = next(u for u, o in report.outcomes.items() if o.ok)
    assert [f.split('"event":"')[1].split('"')[0] for f in report.frames[ok_user]] == [
        "agent_started",
        "agent_completed",
    ]
    assert "isolation held" in report.summary()


SHARED: dict[str, str] = {}


async def leaks_through_a_global(context: UserExecutionContext) -> None:
    SHARED["current_user"] = context.user_id  # the classic bug: request state in a module global
    await asyncio.sleep(0.001)
    context.websocket_emitter.emit("greeting", {"hello": SHARED["current_user"]})


def test_a_module_global_shows_up_as_cross_user_frames():
    report = simulate_users(leaks_through_a_global, users=50, seed=1, hang_timeout=HANG_TIMEOUT, check=False)
    assert not report.clean
    assert len(report.cross_user_frames) > 0
    leak = report.cross_user_frames[0]
    assert leak.channel == "frame" and leak.recipient not in leak.leaked_from
    assert leak.leaked_from[0] in leak.excerpt  # the excerpt shows the foreign id
    with pytest.raises(IsolationFailure) as caught:
        report.assert_clean()
    message = str(caught.value)
    assert "ISOLATION BROKEN" in message and "cross-user frame(s)" in message
    assert f"{leak.recipient} got a frame carrying data of {leak.leaked_from[0]}" in message


def test_check_mode_raises_a_readable_isolation_failure():
    with pytest.raises(IsolationFailure, match="cross-user frame"):
        simulate_users(leaks_through_a_global, users=20, seed=2, hang_timeout=HANG_TIMEOUT)


class SharedConnection:
    """A connection shared by every request: one failure breaks it for everyone."""

    broken = False

    async def query(self, user_id: str) -> str:
        await asyncio.sleep(0.001)
        if self.broken:
            raise ConnectionError("connection is closed")
        return user_id


def test_a_shared_resource_turns_one_failure_into_a_cascade():
    shared = SharedConnection()

    async def handler(context: UserExecutionContext) -> str:
        index = context.metadata["simulated_user"]
        await asyncio.sleep(0.001 * (index % 5))
        if index == 0:
            shared.broken = True  # user 0's request crashes and takes the shared connection down
            raise ValueError("bad input from user 0")
        return await shared.query(context.user_id)

    report = simulate_users(handler, users=100, seed=3, hang_timeout=HANG_TIMEOUT, check=False)
    cascaded = [u for u in report.unexpected_outcomes if "ConnectionError" in u.detail]
    assert len(cascaded) > 10
    assert all(u.actual == "error" for u in cascaded)
    # Mostly users that were meant to succeed (the others were meant to fail or hang
    # in their own way, after the handler).
    assert sum(u.expected == "ok" for u in cascaded) > 10
    assert "not matching the injections (cascading or swallowed failures)" in report.summary()


def test_returning_another_user_s_data_is_a_leak():
    async def handler(context: UserExecutionContext) -> str:
        SHARED["last_secret"] = context.metadata["secret"]
        await asyncio.sleep(0.001)
        return SHARED["last_secret"]

    report = simulate_users(
        handler,
        users=30,
        seed=4,
        hang_timeout=HANG_TIMEOUT,
        failure_rate=0,
        hang_rate=0,
        check=False,
    )
    assert report.cross_user_data and {leak.channel for leak in report.cross_user_data} == {"result"}


def test_fire_and_forget_tasks_are_reported_as_leaked():
    async def handler(context: UserExecutionContext) -> None:
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))

    report = simulate_users(handler, users=10, failure_rate=0, hang_rate=0, seed=0, check=False)
    assert report.leaked_tasks == 10
    assert report.problems == ["10 task(s) still running after every request ended"]


def test_a_session_that_fails_to_close_is_reported_as_leaked():
    class BadSession:
        def in_transaction(self) -> bool:
            return False

        async def close(self) -> None:
            raise OSError("close failed")

    async def scenario():
        return await simulate_users_async(
            well_behaved,
            users=10,
            failure_rate=0,
            hang_rate=0,
            session_factory=BadSession,
            check=False,
        )

    report = run(scenario())
    assert report.leaked_sessions == 10
    assert "10 session(s) never closed" in report.problems


def test_legacy_transports_can_be_routed_through_the_simulated_clients():
    clients = SimulatedClients()
    connections: dict[str, str] = {}  # a legacy "manager": the last connected user wins

    async def legacy_handler(context: UserExecutionContext) -> None:
        connections["active"] = context.user_id
        await asyncio.sleep(0.001)
        await clients.send(connections["active"], {"type": "done", "note": "your report"})
        clients.deliver(None, {"type": "broadcast"})  # sent to "nobody"

    report = simulate_users(
        legacy_handler,
        users=20,
        seed=0,
        hang_timeout=HANG_TIMEOUT,
        clients=clients,
        check=False,
    )
    assert report.misaddressed_frames > 0
    assert any("non-user" in problem for problem in report.problems)


def test_simulate_users_refuses_to_run_inside_an_event_loop():
    async def scenario() -> None:
        simulate_users(well_behaved, users=1)

    with pytest.raises(RuntimeError, match="await simulate_users_async"):
        run(scenario())


def test_simulate_users_async_with_a_real_database(tmp_path: Path):
    pytest.importorskip("aiosqlite")
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from isolint.runtime.sqlalchemy import PoolLeakDetector

    async def handler(context: UserExecutionContext) -> int:
        value = (
            await context.db_session.execute(text("SELECT :n"), {"n": context.metadata["simulated_user"]})
        ).scalar_one()
        context.websocket_emitter.notify_tool_completed("select", value)
        return value

    async def scenario():
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'sim.db'}")
        detector = PoolLeakDetector(engine)
        try:
            report = await simulate_users_async(
                handler,
                users=200,
                seed=9,
                # A "hang after" request is cut off this long after it started, its
                # SELECT included: on a loaded machine 200 users queueing for the pool
                # can take longer than 0.2 s, and a cancel inside the SELECT rightly
                # invalidates the connection, which the detector then reports.
                hang_timeout=1.0,
                session_factory=async_sessionmaker(engine),
            )
            detector.assert_clean()
            return report
        finally:
            await engine.dispose()

    report = run(scenario())
    assert report.clean and report.status_counts()["ok"] == 130


PLUGIN_TESTS = """
import asyncio
import hashlib

STATE = {}


async def leaky(context):
    STATE["user"] = context.user_id
    await asyncio.sleep(0.001)
    context.websocket_emitter.emit("hello", {"user": STATE["user"]})


async def isolated(context):
    await asyncio.sleep(0.001)
    context.websocket_emitter.emit("hello", {"user": context.user_id})


def test_leaky(simulate_users):
    simulate_users(leaky, users=40, seed=1, hang_timeout=0.1)


def test_isolated(simulate_users):
    report = simulate_users(isolated, users=40, seed=1, hang_timeout=0.1)
    assert report.clean
"""


def test_the_pytest_fixture_fails_a_leaky_test_with_a_readable_message(tmp_path: Path):
    (tmp_path / "test_users_handlers.py").write_text(textwrap.dedent(PLUGIN_TESTS))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    assert "1 failed, 1 passed" in output
    assert "simulate_users(seed=1, users=40)" in output
    assert "ISOLATION BROKEN" in output and "cross-user frame(s)" in output
    assert "_harness.py" not in output  # the failure is the report, not the harness' traceback


def _transformed_secret_leak(transform):
    async def handler(context: UserExecutionContext) -> str:
        SHARED["last_secret"] = context.metadata["secret"]
        await asyncio.sleep(0.001)
        return transform(SHARED["last_secret"])

    return simulate_users(
        handler,
        users=30,
        seed=4,
        hang_timeout=HANG_TIMEOUT,
        failure_rate=0,
        hang_rate=0,
        check=False,
    )


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(str.upper, id="upper-cased"),
        pytest.param(lambda s: hashlib.md5(s.encode()).hexdigest(), id="md5"),
        pytest.param(lambda s: hashlib.sha1(s.encode()).hexdigest(), id="sha1"),
        pytest.param(lambda s: hashlib.sha256(s.encode()).hexdigest().upper(), id="SHA256"),
        pytest.param(lambda s: f"ref:{hashlib.sha512(s.encode()).hexdigest()}!", id="sha512"),
        # Only the part of the secret that is unique to its user.
        pytest.param(lambda s: f"token {s.rsplit('-', 1)[1]}", id="unique part"),
    ],
)
def test_transformed_secrets_of_another_user_are_leaks(transform):
    report = _transformed_secret_leak(transform)
    assert report.cross_user_data, "the transformed leak went unnoticed"
    assert {leak.channel for leak in report.cross_user_data} == {"result"}


def test_a_user_s_own_transformed_secret_is_not_a_leak():
    async def handler(context: UserExecutionContext) -> str:
        secret = context.metadata["secret"]
        await asyncio.sleep(0.001)
        return f"{secret.upper()} {hashlib.sha256(secret.encode()).hexdigest()}"

    report = simulate_users(handler, users=30, seed=4, failure_rate=0, hang_rate=0, check=False)
    assert report.clean


def test_every_simulated_user_has_a_secret_of_its_own():
    secrets = {secret_for(index, salt=1234) for index in range(200)}
    unique_parts = {secret.rsplit("-", 1)[1] for secret in secrets}
    assert len(secrets) == len(unique_parts) == 200
