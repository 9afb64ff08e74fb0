"""Process-level counters of a factory. They hold counts and durations only, never ids."""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["RuntimeMetrics"]

# Enough samples for a stable p95 while keeping metrics() cheap to call.
_OVERHEAD_WINDOW = 8192


@dataclass(frozen=True, slots=True)
class RuntimeMetrics:
    """A snapshot of one ``AgentInstanceFactory``'s counters.

    ``overhead_p50_us`` / ``overhead_p95_us`` are percentiles, in microseconds, of the
    time spent entering and leaving ``user_execution_scope`` (the body excluded) over
    the last scopes; ``None`` before any scope has finished.
    ``sessions_invalidated`` counts sessions whose connection was invalidated
    instead of closed because a commit or rollback overran and was still running;
    ``transport_close_errors`` counts emitters that failed to close after their
    request ended (they never change the request's outcome).
    ``abandoned_requests`` counts handlers that kept swallowing their cancellation.
    ``loop_blocks`` counts handler steps that held the event loop longer than the
    factory's ``loop_block_threshold``; ``loop_blockers`` maps each such handler's
    qualified name to its count (code names only, never user data).
    ``creation_errors`` counts scopes whose setup failed (session or emitter factory)
    and agents whose construction raised. ``setup_*`` and ``cleanup_*`` split the
    overhead into entering and leaving the scope. ``scopes_refused_by_user_limit``
    counts scopes refused by ``max_scopes_per_user``.
    """

    active_scopes: int
    scopes_created: int
    scopes_cleaned: int
    cleanup_errors: int
    cleanup_timeouts: int
    cross_user_emit_attempts: int
    agents_created: int
    sessions_opened: int
    sessions_closed: int
    sessions_invalidated: int
    transport_close_errors: int
    abandoned_requests: int
    loop_blocks: int
    loop_blockers: Mapping[str, int]
    overhead_p50_us: float | None
    overhead_p95_us: float | None
    overhead_samples: int
    creation_errors: int = 0
    setup_p50_us: float | None = None
    setup_p95_us: float | None = None
    cleanup_p50_us: float | None = None
    cleanup_p95_us: float | None = None
    scopes_refused_by_user_limit: int = 0

    @property
    def open_sessions(self) -> int:
        """Sessions the factory opened and has not closed yet."""
        return self.sessions_opened - self.sessions_closed


def _percentile(ordered: list[int], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    # round() absorbs float noise such as 0.95 * 20 == 18.999...
    rank = math.ceil(round(fraction * len(ordered), 9))
    return float(ordered[min(max(rank, 1), len(ordered)) - 1])


def _p50_p95_us(samples: deque[int]) -> tuple[float | None, float | None]:
    if not samples:
        return None, None
    ordered = sorted(samples)
    return _percentile(ordered, 0.50) / 1000.0, _percentile(ordered, 0.95) / 1000.0


class _MetricsRecorder:
    """Mutable counters behind :class:`RuntimeMetrics` (single event loop, no locking)."""

    __slots__ = (
        "_cleanup_ns",
        "_loop_blockers",
        "_overhead_ns",
        "_setup_ns",
        "abandoned_requests",
        "active_scopes",
        "agents_created",
        "cleanup_errors",
        "cleanup_timeouts",
        "creation_errors",
        "cross_user_emit_attempts",
        "scopes_cleaned",
        "scopes_created",
        "scopes_refused_by_user_limit",
        "sessions_closed",
        "sessions_invalidated",
        "sessions_opened",
        "transport_close_errors",
    )

    def __init__(self) -> None:
        self.active_scopes = 0
        self.scopes_created = 0
        self.scopes_cleaned = 0
        self.cleanup_errors = 0
        self.cleanup_timeouts = 0
        self.cross_user_emit_attempts = 0
        self.agents_created = 0
        self.sessions_opened = 0
        self.sessions_closed = 0
        self.sessions_invalidated = 0
        self.transport_close_errors = 0
        self.abandoned_requests = 0
        self._loop_blockers: Counter[str] = Counter()
        self.creation_errors = 0
        self.scopes_refused_by_user_limit = 0
        self._overhead_ns: deque[int] = deque(maxlen=_OVERHEAD_WINDOW)
        self._setup_ns: deque[int] = deque(maxlen=_OVERHEAD_WINDOW)
        self._cleanup_ns: deque[int] = deque(maxlen=_OVERHEAD_WINDOW)

    def record_overhead(self, setup_ns: int, cleanup_ns: int) -> None:
        self._overhead_ns.append(setup_ns + cleanup_ns)
        self._setup_ns.append(setup_ns)
        self._cleanup_ns.append(cleanup_ns)

    def record_loop_block(self, handler_name: str) -> None:
        self._loop_blockers[handler_name] += 1

    def count_cross_user_attempt(self) -> None:
        self.cross_user_emit_attempts += 1

    def snapshot(self) -> RuntimeMetrics:
        p50, p95 = _p50_p95_us(self._overhead_ns)
        setup_p50, setup_p95 = _p50_p95_us(self._setup_ns)
        cleanup_p50, cleanup_p95 = _p50_p95_us(self._cleanup_ns)
        return RuntimeMetrics(
            active_scopes=self.active_scopes,
            scopes_created=self.scopes_created,
            scopes_cleaned=self.scopes_cleaned,
            cleanup_errors=self.cleanup_errors,
            cleanup_timeouts=self.cleanup_timeouts,
            cross_user_emit_attempts=self.cross_user_emit_attempts,
            agents_created=self.agents_created,
            sessions_opened=self.sessions_opened,
            sessions_closed=self.sessions_closed,
            sessions_invalidated=self.sessions_invalidated,
            transport_close_errors=self.transport_close_errors,
            abandoned_requests=self.abandoned_requests,
            loop_blocks=sum(self._loop_blockers.values()),
            loop_blockers=MappingProxyType(dict(self._loop_blockers)),
            overhead_p50_us=p50,
            overhead_p95_us=p95,
            overhead_samples=len(self._overhead_ns),
            creation_errors=self.creation_errors,
            setup_p50_us=setup_p50,
            setup_p95_us=setup_p95,
            cleanup_p50_us=cleanup_p50,
            cleanup_p95_us=cleanup_p95,
            scopes_refused_by_user_limit=self.scopes_refused_by_user_limit,
        )
