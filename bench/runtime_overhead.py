"""Benchmark: p50/p95 overhead of ``user_execution_scope``, with and without a session.

Overhead is the time spent entering and leaving the scope (the body excluded), as
recorded by ``AgentInstanceFactory.metrics()``. Scopes run one at a time, so the
figures are the runtime's own cost, not event-loop queueing. Run:

    python bench/runtime_overhead.py [--scopes 20000]

"With session" uses a real SQLAlchemy ``AsyncSession`` (aiosqlite, file database):
the scope opens it, the body runs ``SELECT 1``, and the scope commits and closes it,
returning the connection to the pool. That figure therefore includes the commit and
the pool check-in round trip to SQLite's worker thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from isolint.runtime import (
    AgentClassRegistry,
    AgentInstanceFactory,
    RuntimeMetrics,
    UserExecutionContext,
    UserWebSocketEmitter,
)


class _Agent:
    def __init__(self, context: UserExecutionContext) -> None:
        self.context = context

    async def aclose(self) -> None:
        pass


def _factory(**options: Any) -> AgentInstanceFactory:
    registry = AgentClassRegistry()
    registry.register("agent", _Agent)
    registry.freeze()
    return AgentInstanceFactory(registry, **options)


async def _measure(
    factory: AgentInstanceFactory,
    scopes: int,
    body: Callable[[UserExecutionContext], Awaitable[None]],
    **scope_options: Any,
) -> RuntimeMetrics:
    for index in range(scopes):
        async with factory.user_execution_scope(
            user_id=f"user-{index % 997}", metadata={"plan": "pro"}, **scope_options
        ) as context:
            await body(context)
    return factory.metrics()


async def _nothing(context: UserExecutionContext) -> None:
    return None


async def _bench(scopes: int) -> list[tuple[str, RuntimeMetrics]]:
    results = []
    results.append(
        (
            "scope without a session (ids, metadata, context variable)",
            await _measure(_factory(), scopes, _nothing),
        )
    )

    factory = _factory()

    async def one_agent(context: UserExecutionContext) -> None:
        factory.create_agent_instance("agent", context)

    results.append(("+ one agent with an async aclose", await _measure(factory, scopes, one_agent)))

    async def discard(text: str) -> None:
        pass

    emitter = UserWebSocketEmitter("user-1", "bench-connection", discard)

    async def notify(context: UserExecutionContext) -> None:
        context.websocket_emitter.notify_agent_started("agent")

    factory = _factory()
    emitter_metrics = await _measure_emitter(factory, scopes, emitter, notify)
    results.append(("+ a bound WebSocket emitter, one frame", emitter_metrics))
    await emitter.aclose()

    try:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    except ImportError:  # pragma: no cover - the dev extra has it
        print(
            "sqlalchemy/aiosqlite not installed: skipping the session figures",
            file=sys.stderr,
        )
        return results
    with tempfile.TemporaryDirectory() as directory:
        engine = create_async_engine(f"sqlite+aiosqlite:///{os.path.join(directory, 'bench.db')}")
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            factory = _factory(session_factory=sessionmaker)
            results.append(
                (
                    "with a SQLAlchemy session (aiosqlite), unused",
                    await _measure(factory, scopes, _nothing),
                )
            )

            async def select_one(context: UserExecutionContext) -> None:
                await context.db_session.execute(text("SELECT 1"))

            factory = _factory(session_factory=sessionmaker)
            results.append(
                (
                    "with a session, SELECT 1 in the body (commit + check-in)",
                    await _measure(factory, scopes, select_one),
                )
            )
        finally:
            await engine.dispose()
    return results


async def _measure_emitter(
    factory: AgentInstanceFactory,
    scopes: int,
    emitter: UserWebSocketEmitter,
    body: Callable[[UserExecutionContext], Awaitable[None]],
) -> RuntimeMetrics:
    for _ in range(scopes):
        async with factory.user_execution_scope(user_id="user-1", websocket_emitter=emitter) as context:
            await body(context)
        await asyncio.sleep(0)  # let the writer drain, as a real server would
    return factory.metrics()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scopes", type=int, default=20000, help="scopes per configuration")
    args = parser.parse_args()
    results = asyncio.run(_bench(args.scopes))
    print(f"Python {sys.version.split()[0]}, {args.scopes} scopes per row, one at a time")
    print(f"{'configuration':<62} {'p50 µs':>9} {'p95 µs':>9}")
    for label, metrics in results:
        print(f"{label:<62} {metrics.overhead_p50_us:>9.1f} {metrics.overhead_p95_us:>9.1f}")


if __name__ == "__main__":
    main()
