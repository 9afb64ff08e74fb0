"""isolint.runtime.sqlalchemy and isolint.runtime.asgi against the real libraries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("aiosqlite")
from runtime_support import run
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from starlette.requests import HTTPConnection

from isolint.runtime import AgentClassRegistry, AgentInstanceFactory
from isolint.runtime.sqlalchemy import (
    PoolLeakDetector,
    request_session,
    session_dependency,
)

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", String(50)),
)


async def fresh_engine(path: Path) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return engine


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(notes))).scalar_one()


def test_request_session_commits_on_success_and_rolls_back_on_error(tmp_path):
    async def scenario() -> tuple[int, int]:
        engine = await fresh_engine(tmp_path / "db.sqlite")
        sessionmaker = async_sessionmaker(engine)
        async with request_session(sessionmaker) as session:
            await session.execute(insert(notes).values(body="kept"))
        with pytest.raises(KeyError):
            async with request_session(sessionmaker) as session:
                await session.execute(insert(notes).values(body="discarded"))
                raise KeyError("boom")
        kept = await count(engine)
        async with request_session(sessionmaker, commit=False) as session:
            await session.execute(insert(notes).values(body="not committed"))
        unchanged = await count(engine)
        await engine.dispose()
        return kept, unchanged

    assert run(scenario()) == (1, 1)


def test_request_session_closes_even_when_its_task_is_cancelled(tmp_path):
    async def scenario() -> None:
        engine = await fresh_engine(tmp_path / "db.sqlite")
        detector = PoolLeakDetector(engine)
        entered = asyncio.Event()

        async def victim() -> None:
            async with request_session(async_sessionmaker(engine)) as session:
                await session.execute(insert(notes).values(body="never"))
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.get_running_loop().create_task(victim())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        detector.assert_clean()
        assert await count(engine) == 0
        assert detector.counts().checkouts == detector.counts().checkins == 2
        await engine.dispose()

    run(scenario(), debug=True)


def test_the_pool_leak_detector_reports_a_connection_that_was_never_returned(tmp_path):
    async def scenario() -> None:
        engine = await fresh_engine(tmp_path / "db.sqlite")
        with PoolLeakDetector(engine) as detector:
            connection = await engine.connect()
            await connection.execute(text("SELECT 1"))
            with pytest.raises(AssertionError, match="1 connection\\(s\\) still checked out"):
                detector.assert_clean()
            await connection.invalidate()
            await connection.close()
            with pytest.raises(AssertionError, match="1 connection\\(s\\) invalidated"):
                detector.assert_clean()
            counts = detector.counts()
            assert (counts.checkouts, counts.checkins, counts.invalidations) == (
                1,
                1,
                1,
            )
        await engine.dispose()

    run(scenario())


def test_the_factory_uses_an_async_sessionmaker_as_its_session_factory(tmp_path):
    async def scenario() -> tuple[int, int]:
        engine = await fresh_engine(tmp_path / "db.sqlite")
        detector = PoolLeakDetector(engine)
        factory = AgentInstanceFactory(AgentClassRegistry(), session_factory=async_sessionmaker(engine))
        async with factory.user_execution_scope(user_id="user-1") as ctx:
            await ctx.db_session.execute(insert(notes).values(body="committed by the scope"))
        with pytest.raises(RuntimeError):
            async with factory.user_execution_scope(user_id="user-2") as ctx:
                await ctx.db_session.execute(insert(notes).values(body="rolled back"))
                raise RuntimeError("boom")
        detector.assert_clean()
        rows = await count(engine)
        await engine.dispose()
        return rows, factory.metrics().open_sessions

    assert run(scenario()) == (1, 0)


def test_fastapi_dependencies_give_each_request_its_own_scope_and_session(tmp_path):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from fastapi import Depends, FastAPI

    from isolint.runtime.asgi import execution_scope_dependency, get_factory, install

    async def scenario() -> list:
        engine = await fresh_engine(tmp_path / "db.sqlite")
        factory = AgentInstanceFactory(AgentClassRegistry())
        app = FastAPI()
        install(app, factory=factory)
        context_dep = execution_scope_dependency(lambda request: request.headers["x-user"])
        session_dep = session_dependency(async_sessionmaker(engine))

        @app.post("/notes")
        async def add_note(
            request: HTTPConnection,
            ctx=Depends(context_dep),  # noqa: B008 - FastAPI's idiom
            session=Depends(session_dep),  # noqa: B008
        ) -> dict:
            assert get_factory(request) is factory
            await session.execute(insert(notes).values(body=ctx.user_id))
            return {"user": ctx.user_id, "active": factory.metrics().active_scopes}

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(
                *(client.post("/notes", headers={"x-user": f"user-{i}"}) for i in range(5))
            )
            rejected = await client.post("/notes", headers={"x-user": "undefined"})
            # Not authenticated: refused before any session is opened.
            assert rejected.status_code == 401
        rows = await count(engine)
        await engine.dispose()
        return [r.json()["user"] for r in responses] + [
            rows,
            factory.metrics().active_scopes,
        ]

    result = run(scenario())
    assert result == [f"user-{i}" for i in range(5)] + [5, 0]
