"""SQLAlchemy helpers: request-scoped sessions and a connection-pool leak detector.

Needs the ``runtime-sqlalchemy`` extra (``pip install 'isolint[runtime-sqlalchemy]'``).
"""

from __future__ import annotations

from .errors import MissingExtraError

try:
    import sqlalchemy as _sa
    from sqlalchemy import event as _event
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "isolint.runtime.sqlalchemy",
        "runtime-sqlalchemy",
        "SQLAlchemy 2 with asyncio support",
    ) from _exc

if int(_sa.__version__.split(".")[0]) < 2:  # pragma: no cover
    raise MissingExtraError("isolint.runtime.sqlalchemy", "runtime-sqlalchemy", "SQLAlchemy 2 (found 1.x)")

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ._compat import add_note
from ._shield import run_shielded

__all__ = ["PoolCounts", "PoolLeakDetector", "request_session", "session_dependency"]


class _RequestSession:
    """Async context manager behind :func:`request_session`."""

    __slots__ = ("_close_timeout", "_commit", "_session", "_sessionmaker")

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        commit: bool,
        close_timeout: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._commit = commit
        self._close_timeout = close_timeout
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> AsyncSession:
        if self._session is not None:
            raise RuntimeError("request_session() can be entered only once")
        self._session = self._sessionmaker()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        session = self._session
        assert session is not None
        primary = exc
        cancelled = False
        failures: list[Exception] = []
        commit_still_running = False
        if primary is None and self._commit:
            # Shielded like the factory's commit: a cancel that arrives while COMMIT
            # is in flight waits for its answer instead of leaving it unknown.
            committed = await run_shielded(session.commit, timeout=self._close_timeout, label="session commit")
            cancelled = committed.caller_cancelled
            primary = committed.fatal or committed.error
            commit_still_running = committed.still_running
        steps: tuple[tuple[str, Callable[[], Any]], ...] = (("close", session.close),)
        if commit_still_running:
            # Closing would hand the connection back mid-COMMIT: invalidate it.
            steps = (("invalidate", session.invalidate),)
        elif primary is not None:
            steps = (("rollback", session.rollback), *steps)
        fatal: BaseException | None = None
        for label, step in steps:
            result = await run_shielded(step, timeout=self._close_timeout, label=f"session {label}")
            cancelled |= result.caller_cancelled
            fatal = fatal or result.fatal
            if result.error is not None:
                failures.append(result.error)
        if primary is not None:
            for failure in failures:
                add_note(
                    primary,
                    f"isolint: request_session cleanup also failed: {failure!r}",
                )
        if fatal is not None:
            raise fatal  # only now: the session has been rolled back and closed
        if cancelled and not isinstance(primary, asyncio.CancelledError):
            raise asyncio.CancelledError
        if primary is not None and primary is not exc:
            raise primary
        if primary is None and failures:
            raise failures[0]
        return False


def request_session(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    commit: bool = True,
    close_timeout: float = 5.0,
) -> _RequestSession:
    """``async with request_session(sm) as session:`` — one session for one request.

    Transactional by default: commits if the block succeeds, rolls back if it raises
    (or if the commit fails), and always closes. Commit, rollback and close are
    shielded from cancellation and each bounded by ``close_timeout``; a
    cancellation that arrives meanwhile is re-raised afterwards, after a commit
    already sent has answered. A commit that overruns and ignores its cancellation
    gets its connection invalidated rather than closed under it.
    """
    return _RequestSession(sessionmaker, commit, close_timeout)


def session_dependency(
    sessionmaker: async_sessionmaker[AsyncSession], *, commit: bool = True
) -> Callable[[], AsyncIterator[AsyncSession]]:
    """A FastAPI dependency yielding a :func:`request_session` per request.

    ``SessionDep = Depends(session_dependency(sessionmaker))``.
    """

    async def dependency() -> AsyncIterator[AsyncSession]:
        async with request_session(sessionmaker, commit=commit) as session:
            yield session

    return dependency


@dataclass(frozen=True, slots=True)
class PoolCounts:
    """Pool events counted by :class:`PoolLeakDetector`."""

    checkouts: int
    checkins: int
    invalidations: int
    resets: int

    @property
    def checked_out(self) -> int:
        """Connections checked out and not returned yet."""
        return self.checkouts - self.checkins


class PoolLeakDetector:
    """Counts checkout, checkin, invalidate and reset events of an engine's pool.

    Use it around a workload, then :meth:`assert_clean`: every checked-out
    connection must be back and none invalidated (an invalidation usually means a
    connection was abandoned mid-operation, e.g. by an unshielded cancellation).
    Works with ``AsyncEngine`` and ``Engine``; call :meth:`remove` (or use it as a
    context manager) to detach.
    """

    _EVENTS = ("checkout", "checkin", "invalidate", "soft_invalidate", "reset")

    def __init__(self, engine: AsyncEngine | Engine) -> None:
        self._engine: Engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        self._checkouts = 0
        self._checkins = 0
        self._invalidations = 0
        self._resets = 0
        self._listeners = {
            "checkout": self._on_checkout,
            "checkin": self._on_checkin,
            "invalidate": self._on_invalidate,
            "soft_invalidate": self._on_invalidate,
            "reset": self._on_reset,
        }
        for name, listener in self._listeners.items():
            _event.listen(self._engine, name, listener)

    def _on_checkout(self, *args: Any) -> None:
        self._checkouts += 1

    def _on_checkin(self, *args: Any) -> None:
        self._checkins += 1

    def _on_invalidate(self, *args: Any) -> None:
        self._invalidations += 1

    def _on_reset(self, *args: Any) -> None:
        self._resets += 1

    def counts(self) -> PoolCounts:
        """The counts so far."""
        return PoolCounts(self._checkouts, self._checkins, self._invalidations, self._resets)

    def assert_clean(self) -> None:
        """Raise ``AssertionError`` unless checkouts == checkins and nothing was invalidated."""
        counts = self.counts()
        problems = []
        if counts.checked_out:
            problems.append(
                f"{counts.checked_out} connection(s) still checked out "
                f"({counts.checkouts} checkouts, {counts.checkins} checkins)"
            )
        if counts.invalidations:
            problems.append(f"{counts.invalidations} connection(s) invalidated")
        if problems:
            raise AssertionError("connection pool is not clean: " + "; ".join(problems))

    def remove(self) -> None:
        """Stop listening (idempotent)."""
        for name, listener in self._listeners.items():
            if _event.contains(self._engine, name, listener):
                _event.remove(self._engine, name, listener)

    def __enter__(self) -> PoolLeakDetector:  # not typing.Self: that is 3.11+
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
