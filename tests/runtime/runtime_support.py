"""Helpers shared by the isolint.runtime tests (imported as ``runtime_support``).

pytest-asyncio is not a dependency: tests drive coroutines with ``run()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from isolint.runtime import AgentClassRegistry, AgentInstanceFactory

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], *, debug: bool = False) -> T:
    """Run ``coroutine`` on a fresh event loop."""
    return asyncio.run(coroutine, debug=debug)


class RecordingSession:
    """A stand-in session recording what the scope does with it, in order."""

    def __init__(self, log: list[str], name: str = "session", *, fail_on: str | None = None) -> None:
        self.log = log
        self.name = name
        self.fail_on = fail_on
        self.dirty = True

    def in_transaction(self) -> bool:
        return self.dirty

    async def _step(self, step: str) -> None:
        await asyncio.sleep(0)
        self.log.append(f"{self.name}.{step}")
        if self.fail_on == step:
            raise RuntimeError(f"{self.name} {step} failed")

    async def commit(self) -> None:
        await self._step("commit")

    async def rollback(self) -> None:
        await self._step("rollback")

    async def close(self) -> None:
        await self._step("close")


class RecordingAgent:
    """An agent whose async ``aclose`` is logged (and can be made to fail)."""

    def __init__(self, log: list[str], name: str, *, fail: bool = False) -> None:
        self.log = log
        self.name = name
        self.fail = fail

    async def aclose(self) -> None:
        await asyncio.sleep(0)
        self.log.append(f"{self.name}.aclose")
        if self.fail:
            raise ValueError(f"{self.name} cleanup failed")


def make_factory(agents: dict[str, Callable[..., Any]] | None = None, **options: Any) -> AgentInstanceFactory:
    """A factory whose registry has ``agents`` (name → factory function), frozen."""
    registry = AgentClassRegistry()
    for name, builder in (agents or {}).items():
        registry.register_factory(name, builder)
    registry.freeze()
    return AgentInstanceFactory(registry, **options)


async def no_stray_tasks() -> set[asyncio.Task[Any]]:
    """Tasks other than the current one (after letting finished ones be reaped)."""
    await asyncio.sleep(0)
    return asyncio.all_tasks() - {asyncio.current_task()}
