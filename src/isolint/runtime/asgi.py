"""Starlette / FastAPI helpers: per-connection emitters and per-request scopes.

Needs the ``runtime-asgi`` extra (``pip install 'isolint[runtime-asgi]'``).
"""

from __future__ import annotations

from .errors import MissingExtraError

try:
    from starlette.exceptions import HTTPException, WebSocketException
    from starlette.requests import HTTPConnection
    from starlette.websockets import WebSocket
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("isolint.runtime.asgi", "runtime-asgi", "Starlette") from _exc

import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from ._ids import DEFAULT_ID_POLICY, IdPolicy
from .connections import ConnectionRegistry
from .context import UserExecutionContext
from .emitter import AfterClose, Overflow, UserWebSocketEmitter
from .errors import InvalidContextError
from .factory import AgentInstanceFactory

__all__ = [
    "POLICY_VIOLATION",
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
    """Keep ``factory`` and a :class:`ConnectionRegistry` on ``app.state``; return the registry.

    The registry created here validates user ids with the factory's ``id_policy``,
    so a connection and a scope accept exactly the same ids.
    """
    registry = ConnectionRegistry(id_policy=factory.id_policy) if connections is None else connections
    setattr(app.state, _FACTORY, factory)
    setattr(app.state, _CONNECTIONS, registry)
    return registry


def get_factory(connection: HTTPConnection) -> AgentInstanceFactory:
    """The factory :func:`install` put on the app (usable as a FastAPI dependency)."""
    factory: AgentInstanceFactory | None = getattr(connection.app.state, _FACTORY, None)
    if factory is None:
        raise RuntimeError("isolint.runtime.asgi.install(app, factory=...) was not called")
    return factory


def get_connections(
    connection: HTTPConnection,
) -> ConnectionRegistry[UserWebSocketEmitter]:
    """The connection registry :func:`install` put on the app."""
    registry: ConnectionRegistry[UserWebSocketEmitter] | None = getattr(connection.app.state, _CONNECTIONS, None)
    if registry is None:
        raise RuntimeError("isolint.runtime.asgi.install(app, factory=...) was not called")
    return registry


def websocket_emitter(
    websocket: WebSocket,
    user_id: str,
    *,
    connection_id: str | None = None,
    max_queue: int = 1000,
    overflow: Overflow = "close",
    after_close: AfterClose = "raise",
    id_policy: IdPolicy = DEFAULT_ID_POLICY,
) -> UserWebSocketEmitter:
    """An emitter writing text frames to an accepted Starlette ``websocket``.

    ``after_close="drop"`` makes emits after the client went away count and drop
    instead of raising into agent code (see :class:`UserWebSocketEmitter`).
    """

    async def close(code: int, reason: str) -> None:
        await websocket.close(code=code, reason=reason)

    return UserWebSocketEmitter(
        user_id,
        connection_id or str(uuid.uuid4()),
        websocket.send_text,
        close=close,
        max_queue=max_queue,
        overflow=overflow,
        after_close=after_close,
        id_policy=id_policy,
    )


class websocket_connection:
    """``async with websocket_connection(ws, user_id=..., connections=...) as emitter:``.

    Creates the connection's emitter (validating ids with the registry's
    ``id_policy``), registers it under ``user_id`` and, on exit, unregisters it and
    closes it, letting queued frames go out for at most ``close_timeout`` seconds (a
    stalled client cannot hold the handler forever).
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
        after_close: AfterClose = "raise",
    ) -> None:
        self._websocket = websocket
        self._user_id = user_id
        self._connections = connections
        self._close_timeout = close_timeout
        self._options = {
            "max_queue": max_queue,
            "overflow": overflow,
            "after_close": after_close,
            "id_policy": connections.id_policy,
        }
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


T = TypeVar("T")
#: ``fn(connection)`` returning a value, or an awaitable of one.
FromConnection = Callable[[HTTPConnection], "T | Awaitable[T]"]

# RFC 6455 "policy violation": the close code for an unauthenticated WebSocket.
POLICY_VIOLATION = 1008


async def _value_of(fn: FromConnection[T] | None, connection: HTTPConnection) -> T | None:
    if fn is None:
        return None
    value = fn(connection)
    if inspect.isawaitable(value):
        value = await value
    return value


def _refuse(connection: HTTPConnection, error: InvalidContextError) -> Exception:
    """401 over HTTP, close code 1008 over a WebSocket: a bad user id is the client's fault."""
    reason = f"not authenticated ({error.field})"
    if connection.scope.get("type") == "websocket":
        return WebSocketException(code=POLICY_VIOLATION, reason=reason)
    return HTTPException(status_code=401, detail=reason)


def execution_scope_dependency(
    user_id_of: FromConnection[str | None],
    *,
    thread_id_of: FromConnection[str | None] | None = None,
    run_id_of: FromConnection[str | None] | None = None,
    metadata_of: FromConnection[Mapping[str, Any] | None] | None = None,
    emitter_of: FromConnection[UserWebSocketEmitter | None] | None = None,
) -> Callable[[HTTPConnection], AsyncIterator[UserExecutionContext]]:
    """A FastAPI dependency running the request inside ``user_execution_scope``.

    ``user_id_of(connection)`` (sync or async) returns the authenticated user id.
    An invalid one (``None``, empty, a placeholder such as ``"undefined"``) fails
    the request before any resource is opened: HTTP 401, or WebSocket close code
    1008. ``thread_id_of``, ``run_id_of``, ``metadata_of`` and ``emitter_of`` (each
    optional, sync or async) supply the rest of the scope's arguments; missing ids
    are generated. The factory comes from :func:`install`.
    ``ContextDep = Depends(execution_scope_dependency(user_of))``.
    """

    async def dependency(
        connection: HTTPConnection,
    ) -> AsyncIterator[UserExecutionContext]:
        factory = get_factory(connection)
        user_id = await _value_of(user_id_of, connection)
        try:
            factory.id_policy.validate("user_id", user_id)
        except InvalidContextError as error:
            raise _refuse(connection, error) from error
        scope = factory.user_execution_scope(
            user_id=user_id,  # type: ignore[arg-type]  # validated just above
            thread_id=await _value_of(thread_id_of, connection),
            run_id=await _value_of(run_id_of, connection),
            metadata=await _value_of(metadata_of, connection),
            websocket_emitter=await _value_of(emitter_of, connection),
        )
        async with scope as context:
            yield context

    return dependency
