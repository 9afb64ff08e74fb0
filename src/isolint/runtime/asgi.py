"""Starlette / FastAPI helpers: per-connection emitters and per-request scopes.

Needs the ``runtime-asgi`` extra (``pip install 'isolint[runtime-asgi]'``).
"""

from __future__ import annotations

from .errors import MissingExtraError

try:
    from starlette.requests import HTTPConnection
    from starlette.websockets import WebSocket
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError(
        "isolint.runtime.asgi", "runtime-asgi", "Starlette"
    ) from _exc

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

from .connections import ConnectionRegistry
from .context import UserExecutionContext
from .emitter import Overflow, UserWebSocketEmitter
from .factory import AgentInstanceFactory

__all__ = [
    "execution_scope_dependency",
    "get_connections",
    "get_factory",
    "install",
    "websocket_connection",
    "websocket_emitter",
]

_FACTORY = "isolint_factory"
_CONNECTIONS = "isolint_connections"


def install(
    app: Any,
    *,
    factory: AgentInstanceFactory,
    connections: ConnectionRegistry[UserWebSocketEmitter] | None = None,
) -> ConnectionRegistry[UserWebSocketEmitter]:
    """Keep ``factory`` and a :class:`ConnectionRegistry` on ``app.state``; return the registry."""
    registry = ConnectionRegistry() if connections is None else connections
    setattr(app.state, _FACTORY, factory)
    setattr(app.state, _CONNECTIONS, registry)
    return registry


def get_factory(connection: HTTPConnection) -> AgentInstanceFactory:
    """The factory :func:`install` put on the app (usable as a FastAPI dependency)."""
    factory = getattr(connection.app.state, _FACTORY, None)
    if factory is None:
        raise RuntimeError(
            "isolint.runtime.asgi.install(app, factory=...) was not called"
        )
    return factory


def get_connections(
    connection: HTTPConnection,
) -> ConnectionRegistry[UserWebSocketEmitter]:
    """The connection registry :func:`install` put on the app."""
    registry = getattr(connection.app.state, _CONNECTIONS, None)
    if registry is None:
        raise RuntimeError(
            "isolint.runtime.asgi.install(app, factory=...) was not called"
        )
    return registry


def websocket_emitter(
    websocket: WebSocket,
    user_id: str,
    *,
    connection_id: str | None = None,
    max_queue: int = 1000,
    overflow: Overflow = "close",
) -> UserWebSocketEmitter:
    """An emitter writing text frames to an accepted Starlette ``websocket``."""

    async def close(code: int, reason: str) -> None:
        await websocket.close(code=code, reason=reason)

    return UserWebSocketEmitter(
        user_id,
        connection_id or str(uuid.uuid4()),
        websocket.send_text,
        close=close,
        max_queue=max_queue,
        overflow=overflow,
    )


class websocket_connection:
    """``async with websocket_connection(ws, user_id=..., connections=...) as emitter:``.

    Creates the connection's emitter, registers it under ``user_id`` and, on exit,
    unregisters it and closes it, letting queued frames go out for at most
    ``close_timeout`` seconds (a stalled client cannot hold the handler forever).
    """

    __slots__ = (
        "_close_timeout",
        "_connections",
        "_emitter",
        "_options",
        "_user_id",
        "_websocket",
    )

    def __init__(
        self,
        websocket: WebSocket,
        *,
        user_id: str,
        connections: ConnectionRegistry[UserWebSocketEmitter],
        close_timeout: float = 5.0,
        max_queue: int = 1000,
        overflow: Overflow = "close",
    ) -> None:
        self._websocket = websocket
        self._user_id = user_id
        self._connections = connections
        self._close_timeout = close_timeout
        self._options = {"max_queue": max_queue, "overflow": overflow}
        self._emitter: UserWebSocketEmitter | None = None

    async def __aenter__(self) -> UserWebSocketEmitter:
        emitter = websocket_emitter(self._websocket, self._user_id, **self._options)  # type: ignore[arg-type]
        self._connections.register(self._user_id, emitter)
        self._emitter = emitter
        return emitter

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        emitter = self._emitter
        assert emitter is not None
        self._connections.unregister(self._user_id, emitter)
        await emitter.aclose(timeout=self._close_timeout)


UserIdOf = Callable[[HTTPConnection], "str | Awaitable[str]"]


def execution_scope_dependency(
    user_id_of: UserIdOf,
) -> Callable[[HTTPConnection], AsyncIterator[UserExecutionContext]]:
    """A FastAPI dependency running the request inside ``user_execution_scope``.

    ``user_id_of(connection)`` (sync or async) returns the authenticated user id; an
    invalid one fails the request before any resource is opened. The factory comes
    from :func:`install`. ``ContextDep = Depends(execution_scope_dependency(user_of))``.
    """

    async def dependency(
        connection: HTTPConnection,
    ) -> AsyncIterator[UserExecutionContext]:
        user_id = user_id_of(connection)
        if inspect.isawaitable(user_id):
            user_id = await user_id
        factory = get_factory(connection)
        async with factory.user_execution_scope(user_id=user_id) as context:
            yield context

    return dependency
