"""Stress on a real database: 200 concurrent users, injected failures and hangs.

For each seed, 30% of the requests fail on purpose (a third in the body after its
writes, a third in the agent, a third in the agent's cleanup) and 5% hang past the
timeout; the rest succeed. Everything runs through SQLAlchemy's asyncio engine, on
a file SQLite database (aiosqlite) and on PostgreSQL (asyncpg), with asyncio debug
mode on. The committed rows must be exactly those of the successful requests.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")
from runtime_support import run
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from isolint.runtime import (
    AgentClassRegistry,
    AgentInstanceFactory,
    Job,
    RequestOutcome,
    ScopeCleanupError,
    UserExecutionContext,
    run_many,
)
from isolint.runtime.sqlalchemy import PoolLeakDetector

USERS = 200
SEEDS = range(10)
FAILURE_POINTS = ("body", "agent", "cleanup")
FAILURES = round(USERS * 0.30)
HANGS = round(USERS * 0.05)
# The hanging requests get a short budget, so each seed takes seconds, not minutes;
# the others get one they never approach, so a slow machine (debug mode makes every
# request several times slower, and SQLite serialises writers) cannot turn a success
# into a timeout.
HANG_TIMEOUT = 0.2
BUDGET = 30.0
POSTGRES_URL = os.environ.get("ISOLINT_TEST_POSTGRES_URL")


class InjectedError(Exception):
    def __init__(self, index: int, point: str) -> None:
        super().__init__(f"injected {point} failure #{index}")
        self.index = index


def plan(seed: int) -> list[str]:
    """Exactly FAILURES failures (evenly over the points) and HANGS hangs, at random users."""
    chosen = random.Random(seed).sample(range(USERS), FAILURES + HANGS)
    injections = ["none"] * USERS
    for order, index in enumerate(chosen[:FAILURES]):
        injections[index] = FAILURE_POINTS[order % len(FAILURE_POINTS)]
    for index in chosen[FAILURES:]:
        injections[index] = "hang"
    return injections


class WriterAgent:
    """Does the request's "thinking" (where agent failures and hangs strike)."""

    def __init__(self, context: UserExecutionContext) -> None:
        self.index = context.metadata["index"]
        self.injection = context.metadata["injection"]

    async def run(self) -> None:
        await asyncio.sleep(0)
        if self.injection == "agent":
            raise InjectedError(self.index, "agent")
        if self.injection == "hang":
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        await asyncio.sleep(0)
        if self.injection == "cleanup":
            raise InjectedError(self.index, "cleanup")


@dataclass
class Database:
    engine: AsyncEngine
    rows: Table


async def handle(
    factory: AgentInstanceFactory,
    db: Database,
    seed: int,
    context: UserExecutionContext,
) -> str:
    agent = factory.create_agent_instance("writer", context)
    await agent.run()
    for kind in ("request", "audit"):
        await context.db_session.execute(
            insert(db.rows).values(
                seed=seed,
                user_id=context.user_id,
                request_id=context.request_id,
                kind=kind,
            )
        )
    if context.metadata["injection"] == "body":
        raise InjectedError(context.metadata["index"], "body")
    return context.request_id


def check_outcome(index: int, injection: str, outcome: RequestOutcome[Any]) -> None:
    where = f"user {index} ({injection})"
    if injection == "none":
        assert outcome.status == "ok", f"{where}: {outcome}"
        assert outcome.result == outcome.request_id
    elif injection == "hang":
        assert outcome.status == "timeout", f"{where}: {outcome}"
    elif injection == "cleanup":
        assert outcome.status == "error", f"{where}: {outcome}"
        assert isinstance(outcome.exception, ScopeCleanupError)
        (inner,) = outcome.exception.exceptions
        assert isinstance(inner, InjectedError) and inner.index == index
    else:
        assert outcome.status == "error", f"{where}: {outcome}"
        assert isinstance(outcome.exception, InjectedError) and outcome.exception.index == index


async def stress(url: str, seed: int, table_name: str) -> None:
    # SQLite admits one writer at a time and makes the others busy-wait in sleeps of up
    # to 100 ms; one pooled connection makes them queue in the pool instead.
    pool = {"pool_size": 1, "max_overflow": 0} if url.startswith("sqlite") else {"pool_size": 10, "max_overflow": 10}
    engine = create_async_engine(url, **pool)
    metadata = MetaData()
    rows = Table(
        table_name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("seed", Integer, nullable=False),
        Column("user_id", String(64), nullable=False),
        Column("request_id", String(64), nullable=False),
        Column("kind", String(16), nullable=False),
    )
    db = Database(engine, rows)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        detector = PoolLeakDetector(engine)

        registry = AgentClassRegistry()
        registry.register("writer", WriterAgent)
        registry.freeze()
        factory = AgentInstanceFactory(registry, session_factory=async_sessionmaker(engine))
        injections = plan(seed)

        async def handler(context: UserExecutionContext) -> str:
            return await handle(factory, db, seed, context)

        jobs = [
            Job(
                handler=handler,
                user_id=f"user-{seed}-{index:03d}",
                metadata={"index": index, "injection": injection},
                timeout=HANG_TIMEOUT if injection == "hang" else BUDGET,
            )
            for index, injection in enumerate(injections)
        ]
        outcomes = await run_many(jobs, factory=factory, concurrency=USERS)

        for index, (injection, outcome) in enumerate(zip(injections, outcomes, strict=True)):
            check_outcome(index, injection, outcome)
        async with engine.connect() as connection:
            committed = (
                await connection.execute(
                    select(rows.c.user_id, rows.c.request_id, rows.c.kind).where(rows.c.seed == seed)
                )
            ).all()
        successful = {(o.user_id, o.request_id) for o in outcomes if o.ok}
        assert len(successful) == USERS - FAILURES - HANGS
        assert sorted(committed) == sorted((u, r, k) for u, r in successful for k in ("audit", "request"))

        metrics = factory.metrics()
        assert (metrics.active_scopes, metrics.open_sessions) == (0, 0)
        assert metrics.sessions_opened == USERS
        detector.assert_clean()
        assert detector.counts().checkouts >= USERS - HANGS - FAILURES // 3
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
        await engine.dispose()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == {asyncio.current_task()}, "tasks outlived the run"


def run_stress(url: str, seed: int) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(stress(url, seed, f"isolint_stress_{uuid.uuid4().hex[:12]}"), debug=True)
    assert [str(w.message) for w in caught] == []


def test_the_plan_injects_exactly_the_stated_rates():
    for seed in SEEDS:
        injections = plan(seed)
        assert injections.count("hang") == HANGS == 10
        assert [injections.count(p) for p in FAILURE_POINTS] == [FAILURES // 3] * 3 == [20] * 3
    assert plan(1) != plan(2)


@pytest.mark.parametrize("seed", SEEDS)
def test_sqlite_stress(seed: int, tmp_path: Path) -> None:
    run_stress(f"sqlite+aiosqlite:///{tmp_path / 'stress.db'}", seed)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", SEEDS)
def test_postgres_stress(seed: int) -> None:
    if not POSTGRES_URL:
        pytest.skip("ISOLINT_TEST_POSTGRES_URL is not set (source .ci/postgres.sh to start a throwaway server)")
    run_stress(POSTGRES_URL, seed)
