"""The isolint pytest plugin (entry point ``pytest11``).

It is loaded into every pytest run of every project that installs isolint, so at
import time it uses only the standard library, pytest and :mod:`isolint.testing`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ._harness import simulate_users as _simulate_users
from ._report import IsolationFailure, SimulationReport

__all__ = ["simulate_users"]


@pytest.fixture
def simulate_users() -> Callable[..., SimulationReport]:
    """``simulate_users(handler, users=200, failure_rate=0.3, hang_rate=0.05, seed=0, **options)``.

    Runs ``handler(context)`` for many simulated users through ``isolint.runtime``
    with injected failures and hangs, and fails the test with a readable report on
    any leak. Pass ``check=False`` to get the report without failing. From an async
    test, await ``isolint.testing.simulate_users_async`` instead.
    """

    def run(*args: Any, **kwargs: Any) -> SimulationReport:
        __tracebackhide__ = True
        try:
            return _simulate_users(*args, **kwargs)
        except IsolationFailure as failure:
            pytest.fail(str(failure), pytrace=False)

    return run
