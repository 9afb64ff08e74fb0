"""isolint.testing: prove that your own handlers keep users apart.

``simulate_users(handler, users=200, failure_rate=0.3, hang_rate=0.05, seed=...)``
runs ``handler`` for many simulated users at once through
``isolint.runtime``, with injected failures and hangs, and fails with a readable
message on any cross-user frame, cascading failure or leaked scope, session or
task. Installed as a pytest plugin, it is also the ``simulate_users`` fixture.

Only the standard library and :mod:`isolint.runtime` are imported here.
"""

from __future__ import annotations

from ._clients import CrossUserLeak, SimulatedClients, secret_for, user_id_for
from ._harness import simulate_users, simulate_users_async
from ._plan import (
    FAILURE_POINTS,
    HANG_POINTS,
    InjectedFailure,
    Injection,
    plan_injections,
)
from ._report import IsolationFailure, SimulationReport, UnexpectedOutcome

__all__ = [
    "FAILURE_POINTS",
    "HANG_POINTS",
    "CrossUserLeak",
    "InjectedFailure",
    "Injection",
    "IsolationFailure",
    "SimulatedClients",
    "SimulationReport",
    "UnexpectedOutcome",
    "plan_injections",
    "secret_for",
    "simulate_users",
    "simulate_users_async",
    "user_id_for",
]
