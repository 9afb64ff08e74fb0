"""``UserWebSocketEmitter``: ordered, bounded, single-user delivery of agent events."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any, Literal

from ._ids import DEFAULT_ID_POLICY, IdPolicy
from ._shield import wait_absorbing_cancel
from .errors import CrossUserEmitError, EmitterClosedError

__all__ = [
    "AGENT_EVENTS",
    "OVERFLOW_CLOSE_CODE",
    "EmitterStats",
    "FrameReceipt",
    "UserWebSocketEmitter",
]

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
Overflow = Literal["close", "drop_oldest"]
AfterClose = Literal["raise", "drop"]

#: WebSocket close code sent when a client cannot keep up ("try again later").
OVERFLOW_CLOSE_CODE = 1013

#: The five standard agent events, then the error event, as sent in ``frame["event"]``.
AGENT_EVENTS = (
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
    "agent_error",
)

# How long aclose() lets a cancelled writer unwind before abandoning it.
_WRITER_UNWIND = 1.0


class FrameReceipt:
    """Returned by every emit: the frame is already queued when the call returns.

    Awaiting it is optional and returns at once with the frame's sequence number,
    so both ``emitter.emit(...)`` and legacy ``await manager.send(...)`` call
    sites work. Use :meth:`UserWebSocketEmitter.flush` to wait for delivery.

    An emitter built with ``after_close="drop"`` returns a dropped receipt for a
    frame emitted after its connection closed: it is false, its ``sequence`` is
    ``None``, and awaiting it returns ``None`` (where legacy ``emit`` returned False).
    """

    __slots__ = ("sequence",)

    def __init__(self, sequence: int | None) -> None:
        self.sequence = sequence

    @property
    def dropped(self) -> bool:
        """True if the frame was not queued because the connection had closed."""
        return self.sequence is None

    def __bool__(self) -> bool:
        return self.sequence is not None

    def __await__(self) -> Generator[Any, None, int | None]:
        yield from ()
        return self.sequence

    def __repr__(self) -> str:
        if self.sequence is None:
            return "<FrameReceipt dropped>"
        return f"<FrameReceipt seq={self.sequence}>"


@dataclass(frozen=True, slots=True)
class EmitterStats:
    """Counters of one connection's emitter (shared by all its bound views)."""

    sent: int
    queued: int
    dropped: int
    cross_user_attempts: int
    closed: bool
    close_code: int | None


class _Channel:
    """The queue, writer task and transport of one connection."""

    def __init__(
        self,
        user_id: str,
        connection_id: str,
        send: Send,
        close: Close | None,
        max_queue: int,
        overflow: Overflow,
        after_close: AfterClose,
        id_policy: IdPolicy,
    ) -> None:
        self.user_id = user_id
        self.connection_id = connection_id
        self.send = send
        self.close = close
        self.max_queue = max_queue
        self.overflow = overflow
        self.after_close = after_close
        self.id_policy = id_policy
        self.queue: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None
        self.closed = False
        self.close_reason = ""
        self.close_code: int | None = None
        self.failure: BaseException | None = None
        self.sequence = 0
        self.in_flight = False
        self.sent = 0
        self.dropped = 0
        self.cross_user_attempts = 0

    def enqueue(self, text: str) -> bool:
        """Queue ``text``; False if it was dropped because the connection just closed."""
        if len(self.queue) >= self.max_queue:
            if self.overflow == "drop_oldest":
                self.queue.popleft()
                self.dropped += 1
            else:
                self.overflow_close()
                if self.after_close == "drop":
                    self.dropped += 1
                    return False
                raise EmitterClosedError(
                    f"the client could not keep up ({self.max_queue} frames queued); "
                    f"its connection was closed with code {OVERFLOW_CLOSE_CODE}"
                )
        self.queue.append(text)
        self.drained.clear()
        if self.writer is None:
            self.writer = _task_without_context(self._write_loop())
        self.wakeup.set()
        return True

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self.queue:
                    self.drained.set()
                    if self.closed:
                        return
                    self.wakeup.clear()
                    await self.wakeup.wait()
                    continue
                text = self.queue.popleft()
                self.in_flight = True
                await self.send(text)
                self.in_flight = False
                self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the transport failed: close this emitter only
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        self.closed = True
        self.close_reason = f"its transport failed ({type(exc).__name__})"
        self.failure = exc
        self.drop_unsent()

    def drop_unsent(self) -> None:
        """Count what will never reach the client (queued, or cut off mid-send)."""
        self.dropped += len(self.queue) + self.in_flight
        self.in_flight = False
        self.queue.clear()
        self.drained.set()

    def overflow_close(self) -> None:
        self.closed = True
        self.close_reason = "its client could not keep up"
        self.close_code = OVERFLOW_CLOSE_CODE
        self.drop_unsent()
        writer = self.writer
        if writer is not None and not writer.done():
            writer.cancel()  # it is most likely blocked on the stalled client
        if self.close is not None:
            self.closer = _task_without_context(self._close_transport(writer, OVERFLOW_CLOSE_CODE, "client too slow"))

    async def _close_transport(self, writer: asyncio.Task[None] | None, code: int, reason: str) -> None:
        if writer is not None:
            await asyncio.wait({writer})
        assert self.close is not None
        try:
            await self.close(code, reason)
        except Exception as exc:  # a dead transport cannot be closed; keep the error
            self.failure = self.failure or exc


def _task_without_context(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Start ``coroutine`` in an empty ``contextvars.Context``.

    The writer and closer live as long as the connection, which serves many runs:
    started in the first run's context, they would keep its context (and, through
    it, its session and metadata) alive and visible to the transport for ever.
    """
    loop = asyncio.get_running_loop()
    return contextvars.Context().run(loop.create_task, coroutine)


class UserWebSocketEmitter:
    """Sends one user's events over one connection, in order, never to anyone else.

    ``send(text)`` writes one text frame; ``close(code, reason)``, if given, closes the
    connection (used on overflow). Frames are JSON objects::

        {"event": ..., "user_id": ..., "thread_id": ..., "run_id": ..., "seq": n,
         "payload": ...}

    Emitting is synchronous: the payload is serialised (so a non-JSON payload raises
    ``TypeError`` at the call site) and queued; one writer task per connection sends
    frames in order. The queue holds at most ``max_queue`` frames. When it is full,
    ``overflow="close"`` closes the connection with code 1013 and raises
    :class:`EmitterClosedError`; ``overflow="drop_oldest"`` drops the oldest frame and
    counts it. A transport error closes this emitter only.

    What a disconnect does to a run still in flight: the run keeps going, and its
    next emit raises :class:`EmitterClosedError` (``after_close="raise"``, the
    default), which fails the run unless it catches it. With ``after_close="drop"``
    emits after the connection closed (disconnect, transport error, overflow or
    ``aclose``) are counted in ``stats().dropped`` and return a false
    :class:`FrameReceipt` instead of raising into agent code. A released run view
    (its scope has ended) raises in both modes.

    ``id_policy`` validates the user, connection, thread and run ids; pass the
    factory's (``factory.id_policy``) so both accept the same ids.

    ``bind(thread_id=..., run_id=...)`` returns a view that stamps frames with one
    run's ids and shares this connection's queue; ``user_execution_scope`` binds
    the emitter it is given and releases the view on exit.
    """

    #: How long :meth:`aclose` lets queued frames go out when no timeout is given.
    DEFAULT_CLOSE_TIMEOUT = 5.0

    __slots__ = (
        "_channel",
        "_is_view",
        "_on_cross_user",
        "_released",
        "_run_id",
        "_thread_id",
    )

    def __init__(
        self,
        user_id: str,
        connection_id: str,
        send: Send,
        *,
        close: Close | None = None,
        max_queue: int = 1000,
        overflow: Overflow = "close",
        after_close: AfterClose = "raise",
        thread_id: str | None = None,
        run_id: str | None = None,
        id_policy: IdPolicy = DEFAULT_ID_POLICY,
    ) -> None:
        id_policy.validate("user_id", user_id)
        id_policy.validate("connection_id", connection_id)
        if not callable(send):
            raise TypeError("send must be an async callable taking one text frame")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if overflow not in ("close", "drop_oldest"):
            raise ValueError(f"overflow must be 'close' or 'drop_oldest', got {overflow!r}")
        if after_close not in ("raise", "drop"):
            raise ValueError(f"after_close must be 'raise' or 'drop', got {after_close!r}")
        self._channel = _Channel(
            user_id,
            connection_id,
            send,
            close,
            max_queue,
            overflow,
            after_close,
            id_policy,
        )
        self._init_view(thread_id, run_id, is_view=False, on_cross_user=None)

    def _init_view(
        self,
        thread_id: str | None,
        run_id: str | None,
        *,
        is_view: bool,
        on_cross_user: Callable[[], None] | None,
    ) -> None:
        for name, value in (("thread_id", thread_id), ("run_id", run_id)):
            if value is not None:
                self._channel.id_policy.validate(name, value)
        self._thread_id = thread_id
        self._run_id = run_id
        self._is_view = is_view
        self._released = False
        self._on_cross_user = on_cross_user

    # -- identity -------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The only user this emitter sends to."""
        return self._channel.user_id

    @property
    def connection_id(self) -> str:
        return self._channel.connection_id

    @property
    def thread_id(self) -> str | None:
        return self._thread_id

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @property
    def closed(self) -> bool:
        """True once this emitter (or, for a view, its run) can no longer send."""
        return self._released or self._channel.closed

    @property
    def close_code(self) -> int | None:
        """The close code the emitter sent (1013 after an overflow), if any."""
        return self._channel.close_code

    @property
    def failure(self) -> BaseException | None:
        """The transport error that closed this emitter, if any."""
        return self._channel.failure

    def bind(
        self,
        *,
        thread_id: str,
        run_id: str,
        on_cross_user: Callable[[], None] | None = None,
    ) -> UserWebSocketEmitter:
        """Return a view stamping frames with ``thread_id``/``run_id`` on this connection.

        ``on_cross_user`` is called (with no arguments, so no ids leak into metrics)
        each time the view refuses a cross-user send. Closing the view only stops
        this run's emits; the connection stays open.
        """
        view = object.__new__(type(self))  # a subclass keeps its own methods
        view._channel = self._channel
        view._init_view(thread_id, run_id, is_view=True, on_cross_user=on_cross_user)
        return view

    # -- sending --------------------------------------------------------------------

    def _check_open(self) -> bool:
        """True if a frame may be queued; False if it is to be dropped (drop mode)."""
        if self._released:
            raise EmitterClosedError("this run's emitter was released when its scope ended")
        channel = self._channel
        if not channel.closed:
            return True
        if channel.after_close == "drop":
            channel.dropped += 1
            return False
        raise EmitterClosedError(f"emitter is closed: {channel.close_reason or 'aclose() was called'}")

    def emit(self, event: str, payload: Any = None) -> FrameReceipt:
        """Queue ``event`` with a JSON-serialisable ``payload``; return its receipt."""
        if not isinstance(event, str) or not event:
            raise ValueError("event must be a non-empty str")
        if not self._check_open():
            return FrameReceipt(None)
        channel = self._channel
        sequence = channel.sequence + 1
        frame = {
            "event": event,
            "user_id": channel.user_id,
            "thread_id": self._thread_id,
            "run_id": self._run_id,
            "seq": sequence,
            "payload": payload,
        }
        try:
            text = json.dumps(frame, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"payload of event {event!r} is not JSON-serialisable: {exc}") from exc
        channel.sequence = sequence
        if not channel.enqueue(text):
            return FrameReceipt(None)
        return FrameReceipt(sequence)

    def send_to_user(self, user_id: str, message: Any, *, event: str = "message") -> FrameReceipt:
        """Send ``message`` to ``user_id``, which must be this emitter's own user.

        Any other user raises :class:`CrossUserEmitError`; the attempt is counted
        and nothing is sent.
        """
        if user_id != self._channel.user_id:
            self._channel.cross_user_attempts += 1
            if self._on_cross_user is not None:
                self._on_cross_user()
            raise CrossUserEmitError(self._channel.user_id, user_id)
        return self.emit(event, message)

    def notify_agent_started(self, agent_name: str, **details: Any) -> FrameReceipt:
        """``agent_started`` with payload ``{"agent_name": agent_name, **details}``."""
        return self.emit("agent_started", {"agent_name": agent_name, **details})

    def notify_agent_thinking(self, agent_name: str, thought: str | None = None, **details: Any) -> FrameReceipt:
        """``agent_thinking`` with payload ``{"agent_name", "thought", **details}``."""
        if thought is not None and not isinstance(thought, str):
            raise TypeError(
                f"thought must be a str, got {type(thought).__name__}; pass extra data "
                "as keyword arguments (or use isolint.runtime.compat's emitter for "
                "a positional metadata argument)"
            )
        return self.emit("agent_thinking", {"agent_name": agent_name, "thought": thought, **details})

    def notify_tool_executing(self, tool_name: str, **details: Any) -> FrameReceipt:
        """``tool_executing`` with payload ``{"tool_name": tool_name, **details}``."""
        return self.emit("tool_executing", {"tool_name": tool_name, **details})

    def notify_tool_completed(self, tool_name: str, result: Any = None, **details: Any) -> FrameReceipt:
        """``tool_completed`` with payload ``{"tool_name", "result", **details}``."""
        return self.emit("tool_completed", {"tool_name": tool_name, "result": result, **details})

    def notify_agent_completed(self, agent_name: str, result: Any = None, **details: Any) -> FrameReceipt:
        """``agent_completed`` with payload ``{"agent_name", "result", **details}``."""
        return self.emit("agent_completed", {"agent_name": agent_name, "result": result, **details})

    def notify_agent_error(
        self, agent_name: str, error: BaseException | str | None = None, **details: Any
    ) -> FrameReceipt:
        """``agent_error`` with payload ``{"agent_name", "error", **details}``.

        An exception is sent as ``{"type": <class name>, "message": str(exc)}``, a str
        as ``{"type": None, "message": error}``. Tracebacks are never sent.
        Passing the exception as the first argument (the legacy one-argument form)
        raises ``TypeError`` instead of sending it as the agent's name.
        """
        if isinstance(agent_name, BaseException) or not isinstance(agent_name, str):
            raise TypeError(
                "notify_agent_error(agent_name, error): the first argument is the "
                f"agent's name, got {type(agent_name).__name__}; for the legacy "
                "notify_agent_error(error) form use isolint.runtime.compat"
            )
        described: dict[str, Any] | None
        if isinstance(error, BaseException):
            described = {"type": type(error).__name__, "message": str(error)}
        elif error is None:
            described = None
        else:
            described = {"type": None, "message": str(error)}
        return self.emit("agent_error", {"agent_name": agent_name, "error": described, **details})

    # -- lifecycle ------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued frame is sent (or the emitter closed); False on timeout."""
        channel = self._channel
        if channel.drained.is_set():
            return True
        try:
            await asyncio.wait_for(channel.drained.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def aclose(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close the emitter; idempotent. Emitting afterwards raises :class:`EmitterClosedError`.

        On a bound view this only releases the run (no waiting). On the connection's
        emitter it lets the writer send what is queued, for at most ``timeout``
        seconds (5 by default; ``None`` waits without limit), then stops it and
        counts the frames that never went out as dropped. The transport itself is
        left to its owner.
        """
        if self._is_view:
            self._release()
            return
        channel = self._channel
        if not channel.closed:
            channel.closed = True
            channel.wakeup.set()
        tasks = {t for t in (channel.writer, channel.closer) if t is not None and not t.done()}
        if not tasks:
            return
        try:
            await asyncio.wait(tasks, timeout=timeout)
        finally:
            leftovers = {task for task in tasks if not task.done()}
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop = asyncio.get_running_loop()
                if await wait_absorbing_cancel(leftovers, loop.time() + _WRITER_UNWIND):
                    raise asyncio.CancelledError
            channel.drop_unsent()

    def _release(self) -> None:
        """End a bound view's run synchronously (used by ``user_execution_scope``)."""
        self._released = True

    def stats(self) -> EmitterStats:
        """Counters of the connection (views share them)."""
        channel = self._channel
        return EmitterStats(
            sent=channel.sent,
            queued=len(channel.queue),
            dropped=channel.dropped,
            cross_user_attempts=channel.cross_user_attempts,
            closed=channel.closed,
            close_code=channel.close_code,
        )

    def __repr__(self) -> str:
        kind = "view" if self._is_view else "connection"
        state = "closed" if self.closed else "open"
        return f"<UserWebSocketEmitter {kind} {state} connection_id={self.connection_id!r}>"
