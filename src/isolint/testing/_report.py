"""``SimulationReport``: what ``simulate_users`` saw, and a readable verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from isolint.runtime import RequestOutcome

from ._clients import CrossUserLeak
from ._plan import Injection

__all__ = ["IsolationFailure", "SimulationReport", "UnexpectedOutcome"]

# How many examples of each problem the failure message shows.
_SHOWN = 5


class IsolationFailure(AssertionError):
    """``simulate_users`` found a leak; the message is the report's summary."""

    def __init__(self, report: SimulationReport) -> None:
        super().__init__(report.summary())
        self.report = report


@dataclass(frozen=True, slots=True)
class UnexpectedOutcome:
    """A user whose request did not end the way its injection dictates."""

    user_id: str
    injection: Injection
    expected: str
    actual: str
    detail: str

    def __str__(self) -> str:
        return (
            f"{self.user_id} ({self.injection}): expected {self.expected}, "
            f"got {self.actual}{': ' + self.detail if self.detail else ''}"
        )


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """The result of one ``simulate_users`` run.

    ``outcomes`` and ``injections`` are keyed by simulated user id. Isolation holds
    when :attr:`problems` is empty: no frame, result or error of one user carries
    another's data, every outcome matches its injection (no cascade, nothing
    swallowed), and no scope, session or task outlives the run.
    """

    seed: int
    users: int
    injections: Mapping[str, Injection]
    outcomes: Mapping[str, RequestOutcome[Any]]
    cross_user_frames: tuple[CrossUserLeak, ...]
    cross_user_data: tuple[CrossUserLeak, ...]
    misaddressed_frames: int
    unexpected_outcomes: tuple[UnexpectedOutcome, ...]
    leaked_scopes: int
    leaked_sessions: int
    leaked_tasks: int
    refused_cross_user_emits: int
    overhead_p50_us: float | None
    overhead_p95_us: float | None
    duration: float
    frames: Mapping[str, tuple[str, ...]] = field(repr=False)

    def status_counts(self) -> Counter[str]:
        """How many requests ended ``ok`` / ``error`` / ``timeout`` / ``cancelled``."""
        return Counter(outcome.status for outcome in self.outcomes.values())

    @property
    def problems(self) -> list[str]:
        """One line per kind of isolation problem found (empty when clean)."""
        found = []
        if self.cross_user_frames:
            found.append(f"{len(self.cross_user_frames)} cross-user frame(s)")
        if self.cross_user_data:
            found.append(f"{len(self.cross_user_data)} result(s)/error(s) carrying another user's data")
        if self.misaddressed_frames:
            found.append(f"{self.misaddressed_frames} frame(s) sent to a non-user (None, 'default', ...)")
        if self.unexpected_outcomes:
            found.append(
                f"{len(self.unexpected_outcomes)} outcome(s) not matching the injections "
                "(cascading or swallowed failures)"
            )
        if self.leaked_scopes:
            found.append(f"{self.leaked_scopes} scope(s) still open")
        if self.leaked_sessions:
            found.append(f"{self.leaked_sessions} session(s) never closed")
        if self.leaked_tasks:
            found.append(f"{self.leaked_tasks} task(s) still running after every request ended")
        return found

    @property
    def clean(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """A readable verdict, with a few examples of each problem."""
        counts = self.status_counts()
        statuses = ", ".join(f"{counts[s]} {s}" for s in ("ok", "error", "timeout", "cancelled"))
        p95 = "n/a" if self.overhead_p95_us is None else f"{self.overhead_p95_us:.0f} µs"
        head = (
            f"simulate_users(seed={self.seed}, users={self.users}): {statuses}; "
            f"scope overhead p95 {p95}; {self.duration:.2f}s"
        )
        problems = self.problems
        if not problems:
            return head + "\nisolation held: no leaks"
        lines = [head, "ISOLATION BROKEN:"] + [f"  - {problem}" for problem in problems]
        for title, items in (
            ("cross-user frames", self.cross_user_frames),
            ("cross-user results/errors", self.cross_user_data),
            ("unexpected outcomes", self.unexpected_outcomes),
        ):
            if items:
                lines.append(f"{title} (first {min(len(items), _SHOWN)} of {len(items)}):")
                lines.extend(f"    {item}" for item in items[:_SHOWN])
        return "\n".join(lines)

    def assert_clean(self) -> None:
        """Raise :class:`IsolationFailure` (an ``AssertionError``) unless :attr:`clean`."""
        __tracebackhide__ = True
        if not self.clean:
            raise IsolationFailure(self)
