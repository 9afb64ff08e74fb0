"""Which simulated users get a failure or a hang, and where."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FAILURE_POINTS",
    "HANG_POINTS",
    "InjectedFailure",
    "Injection",
    "plan_injections",
]

InjectionKind = Literal["none", "fail", "hang"]
InjectionPoint = Literal["before", "after", "cleanup"]

#: Failures strike before the handler, after it (its work done, not committed), or in
#: a cleanup of its scope; hangs strike before or after the handler.
FAILURE_POINTS: tuple[InjectionPoint, ...] = ("before", "after", "cleanup")
HANG_POINTS: tuple[InjectionPoint, ...] = ("before", "after")


class InjectedFailure(Exception):
    """The failure ``simulate_users`` injects; it names the user it was meant for."""

    def __init__(self, user_index: int, point: str) -> None:
        super().__init__(f"injected failure for simulated user #{user_index} ({point})")
        self.user_index = user_index
        self.point = point


@dataclass(frozen=True, slots=True)
class Injection:
    """What the harness does to one user's request."""

    kind: InjectionKind = "none"
    point: InjectionPoint | None = None

    @property
    def expected_status(self) -> str:
        """The outcome status an isolating runtime must report for this user."""
        return {"none": "ok", "fail": "error", "hang": "timeout"}[self.kind]

    def __str__(self) -> str:
        return "nothing injected" if self.kind == "none" else f"{self.kind} {self.point}"


def plan_injections(users: int, failure_rate: float, hang_rate: float, seed: int) -> list[Injection]:
    """Pick exactly ``round(users * rate)`` users for each injection, spread over its points."""
    if users < 1:
        raise ValueError("users must be at least 1")
    for name, rate in (("failure_rate", failure_rate), ("hang_rate", hang_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {rate}")
    failures = round(users * failure_rate)
    hangs = round(users * hang_rate)
    if failures + hangs > users:
        raise ValueError("failure_rate + hang_rate must not exceed 1")
    rng = random.Random(seed)
    chosen = rng.sample(range(users), failures + hangs)
    plan = [Injection()] * users
    # Random users, points in rotation: every point gets its share of the injections.
    for order, index in enumerate(chosen[:failures]):
        plan[index] = Injection("fail", FAILURE_POINTS[order % len(FAILURE_POINTS)])
    for order, index in enumerate(chosen[failures:]):
        plan[index] = Injection("hang", HANG_POINTS[order % len(HANG_POINTS)])
    return plan
