"""Exceptions raised by :mod:`isolint.runtime`.

Every error a caller might want to catch separately has its own class; each
subclasses the builtin that best describes it, so generic handlers keep working.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._compat import ExceptionGroupBase

__all__ = [
    "CleanupTimeoutError",
    "CrossUserEmitError",
    "DuplicateAgentError",
    "EmitterClosedError",
    "InvalidContextError",
    "MissingExtraError",
    "NoActiveContextError",
    "RegistryFrozenError",
    "ScopeCleanupError",
    "SharedAgentInstanceError",
    "StaleContextError",
    "UnknownAgentError",
    "UserConcurrencyLimitError",
]


class InvalidContextError(ValueError):
    """A request context was built from an id or value that cannot identify a user's request.

    ``field`` names the offending field (``"user_id"``, ``"metadata"``, ...); the
    message starts with it too, so logs point at the culprit.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class NoActiveContextError(RuntimeError):
    """``current_context()`` was called outside ``user_execution_scope``."""


class StaleContextError(NoActiveContextError):
    """A context was used after the scope that built it ended.

    Its agents would never be closed and its session would check a pool connection
    out again that nobody returns, so both are refused.
    """


class UserConcurrencyLimitError(RuntimeError):
    """A user already runs ``max_scopes_per_user`` requests; nothing was opened.

    One user with many tabs must not take the whole pool from everybody else.
    """


class DuplicateAgentError(ValueError):
    """An agent name was registered twice in the same registry."""


class RegistryFrozenError(RuntimeError):
    """A registry was changed after ``freeze()``."""


class UnknownAgentError(KeyError):
    """No agent is registered under the requested name.

    ``known`` lists the registered names, so typos are easy to spot.
    """

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(known)
        listing = ", ".join(repr(n) for n in self.known) or "none"
        self.message = f"no agent named {name!r}; registered agents: {listing}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError's str() would wrap the message in quotes.
        return self.message


class SharedAgentInstanceError(RuntimeError):
    """An agent factory returned an object it had already handed out.

    Returning the same instance twice shares its state between requests, which is
    exactly the leak the registry exists to prevent.
    """


class CrossUserEmitError(PermissionError):
    """An emitter was asked to send a frame to a user other than its own.

    The message never contains the target id (it might reach the wrong user through
    an error event); the target is kept on ``target_user_id`` for debugging.
    """

    def __init__(self, owner_user_id: str, target_user_id: object) -> None:
        super().__init__(
            f"emitter of user {owner_user_id!r} refused a frame addressed to another user; nothing was sent"
        )
        self.owner_user_id = owner_user_id
        self.target_user_id = target_user_id


class EmitterClosedError(RuntimeError):
    """A frame was emitted on a closed emitter (after ``aclose``, overflow or transport failure)."""


class CleanupTimeoutError(TimeoutError):
    """A scope cleanup did not finish within ``cleanup_timeout`` and was cancelled."""


class ScopeCleanupError(ExceptionGroupBase):
    """One or more cleanups failed after the request body itself succeeded.

    It is an ``ExceptionGroup`` (a look-alike on Python 3.10); ``exceptions`` holds
    each cleanup's failure, in the order the cleanups ran.
    """

    # Narrower than BaseExceptionGroup's overloads: this group only ever holds Exceptions.
    def derive(self, excs: Sequence[Exception]) -> ScopeCleanupError:  # type: ignore[override]
        """Keep the subclass when ``except*`` splits the group."""
        return ScopeCleanupError(self.message, excs)


class MissingExtraError(ImportError):
    """An optional integration was imported without its extra installed.

    The message ends with the exact ``pip install`` command; it is also on
    ``install_command``.
    """

    def __init__(self, module: str, extra: str, missing: str) -> None:
        self.install_command = f"pip install 'isolint[{extra}]'"
        super().__init__(
            f"{module} needs {missing}, which is not installed. Install it with: {self.install_command}",
            name=module,
        )
        self.extra = extra
