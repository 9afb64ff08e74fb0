"""``simulate_users``: run a handler for many users at once, inject trouble, look for leaks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from functools import partial
from time import perf_counter
from typing import Any

from isolint.runtime import (
    AgentClassRegistry,
    AgentInstanceFactory,
    Job,
    RequestOutcome,
    ScopeCleanupError,
    UserExecutionContext,
    UserWebSocketEmitter,
    run_many,
)

from ._clients import SimulatedClients, secret_for
from ._plan import InjectedFailure, Injection, plan_injections
from ._report import SimulationReport, UnexpectedOutcome

__all__ = ["simulate_users", "simulate_users_async"]

Handler = Callable[[UserExecutionContext], Awaitable[Any]]

# Rounds of the event loop given to tasks a handler spawned before they count as leaked.
_SETTLE_ROUNDS = 20


async def _strike(injection: Injection, index: int) -> None:
    if injection.kind == "fail":
        raise InjectedFailure(index, str(injection.point))
    if injection.kind == "hang":
        await asyncio.Event().wait()  # until the request's timeout cancels it


def _raise(failure: InjectedFailure) -> None:
    raise failure


def _wrap(handler: Handler, factory: AgentInstanceFactory, injection: Injection, index: int) -> Handler:
    async def body(context: UserExecutionContext) -> Any:
        if injection.kind == "fail" and injection.point == "cleanup":
            failure = InjectedFailure(index, "cleanup")
            factory.register_cleanup(context, partial(_raise, failure), label="simulated cleanup failure")
        if injection.point == "before":
            await _strike(injection, index)
        result = await handler(context)
        if injection.point == "after":
            await _strike(injection, index)
        return result

    return body


def _is_own_failure(error: BaseException | None, index: int) -> bool:
    if isinstance(error, ScopeCleanupError):
        return any(_is_own_failure(inner, index) for inner in error.exceptions)
    return isinstance(error, InjectedFailure) and error.user_index == index


def _check(user_id: str, index: int, injection: Injection, outcome: RequestOutcome[Any]) -> UnexpectedOutcome | None:
    expected = injection.expected_status
    detail = "" if outcome.exception is None else repr(outcome.exception)
    if outcome.status != expected:
        return UnexpectedOutcome(user_id, injection, expected, outcome.status, detail)
    if injection.kind == "fail" and not _is_own_failure(outcome.exception, index):
        # Failed, but not with its own injected failure: someone else's failure reached it.
        return UnexpectedOutcome(user_id, injection, "its own injected failure", outcome.status, detail)
    return None


async def _settle_tasks(before: set[asyncio.Task[Any]]) -> int:
    """Let stray tasks finish; cancel and count those still running."""
    current = asyncio.current_task()
    for _ in range(_SETTLE_ROUNDS):
        stray = asyncio.all_tasks() - before - {current}
        if not stray:
            return 0
        await asyncio.sleep(0)
    stray = asyncio.all_tasks() - before - {current}
    for task in stray:
        task.cancel()
    await asyncio.wait(stray)
    return len(stray)


async def simulate_users_async(
    handler: Handler,
    users: int = 200,
    failure_rate: float = 0.3,
    hang_rate: float = 0.05,
    seed: int = 0,
    *,
    factory: AgentInstanceFactory | None = None,
    session_factory: Callable[[], Any] | None = None,
    timeout: float = 30.0,
    hang_timeout: float = 0.2,
    concurrency: int | None = None,
    clients: SimulatedClients | None = None,
    check: bool = True,
) -> SimulationReport:
    """Run ``handler(context)`` once for each of ``users`` simulated users, concurrently.

    Exactly ``round(users * failure_rate)`` users get an injected failure (before the
    handler, after it, or in a cleanup) and ``round(users * hang_rate)`` a hang (before
    or after it); ``seed`` picks who. Hanging requests are cut off after
    ``hang_timeout`` seconds; every other request has ``timeout`` seconds, a budget
    meant never to be reached, so a slow machine cannot turn a success into a
    timeout. Each user has an emitter writing to its inbox in ``clients`` and a
    secret in ``context.metadata["secret"]``.

    Requests run through ``factory`` (default: a fresh one, with ``session_factory``
    if given). The report lists outcomes per user, frames or results carrying another
    user's data, outcomes that don't match the injections, and scopes, sessions and
    tasks left over. With ``check`` (the default), any problem raises
    :class:`IsolationFailure` with a readable summary.
    """
    __tracebackhide__ = True
    plan = plan_injections(users, failure_rate, hang_rate, seed)
    if factory is None:
        factory = AgentInstanceFactory(AgentClassRegistry(), session_factory=session_factory)
    elif session_factory is not None:
        raise ValueError("pass session_factory to your factory, not to simulate_users")
    clients = SimulatedClients() if clients is None else clients
    salt = random.Random(seed).getrandbits(32)
    before = factory.metrics()
    tasks_before = asyncio.all_tasks()

    jobs, emitters, user_ids = [], [], []
    for index, injection in enumerate(plan):
        secret = secret_for(index, salt)
        user_id = clients.add_user(index, secret=secret)
        emitter = UserWebSocketEmitter(user_id, f"sim-connection-{index}", clients.transport(user_id))
        emitters.append(emitter)
        user_ids.append(user_id)
        jobs.append(
            Job(
                handler=_wrap(handler, factory, injection, index),
                user_id=user_id,
                metadata={"simulated_user": index, "secret": secret},
                websocket_emitter=emitter,
                timeout=hang_timeout if injection.kind == "hang" else timeout,
            )
        )
    started = perf_counter()
    outcomes = await run_many(jobs, factory=factory, concurrency=concurrency or users)
    for emitter in emitters:
        await emitter.aclose(timeout=timeout)
    duration = perf_counter() - started
    leaked_tasks = await _settle_tasks(tasks_before)
    after = factory.metrics()

    unexpected, data_leaks = [], []
    for index, (user_id, injection, outcome) in enumerate(zip(user_ids, plan, outcomes, strict=True)):
        mismatch = _check(user_id, index, injection, outcome)
        if mismatch is not None:
            unexpected.append(mismatch)
        seen: list[tuple[Any, str]] = []
        if outcome.result is not None:
            seen.append(("result", repr(outcome.result)))
        if outcome.exception is not None:
            seen.append(("error", repr(outcome.exception)))
        for channel, text in seen:
            leak = clients.leak_in(channel, user_id, text)
            if leak is not None:
                data_leaks.append(leak)

    report = SimulationReport(
        seed=seed,
        users=users,
        injections=dict(zip(user_ids, plan, strict=True)),
        outcomes=dict(zip(user_ids, outcomes, strict=True)),
        cross_user_frames=tuple(clients.cross_user_frames()),
        cross_user_data=tuple(data_leaks),
        misaddressed_frames=len(clients.misaddressed),
        unexpected_outcomes=tuple(unexpected),
        leaked_scopes=after.active_scopes - before.active_scopes,
        leaked_sessions=after.open_sessions - before.open_sessions,
        leaked_tasks=leaked_tasks,
        refused_cross_user_emits=after.cross_user_emit_attempts - before.cross_user_emit_attempts,
        overhead_p50_us=after.overhead_p50_us,
        overhead_p95_us=after.overhead_p95_us,
        duration=duration,
        frames={user_id: clients.frames(user_id) for user_id in user_ids},
    )
    if check:
        report.assert_clean()
    return report


def simulate_users(
    handler: Handler,
    users: int = 200,
    failure_rate: float = 0.3,
    hang_rate: float = 0.05,
    seed: int = 0,
    **options: Any,
) -> SimulationReport:
    """Synchronous :func:`simulate_users_async`, for plain (non-async) tests.

    It runs its own event loop, so resources bound to a loop (database engines, for
    instance) must be created inside the handler's loop: from async code, await
    :func:`simulate_users_async` instead.
    """
    __tracebackhide__ = True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("simulate_users() cannot run inside an event loop; await simulate_users_async()")
    return asyncio.run(simulate_users_async(handler, users, failure_rate, hang_rate, seed, **options))
