"""Ties the contexts a scope built to that scope, and refuses them once it has ended."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import StaleContextError

if TYPE_CHECKING:
    from .factory import UserExecutionScope

__all__ = ["GuardedSession", "ScopeLease"]


class ScopeLease:
    """Held by every context of one scope (children included), never by another scope's.

    Scopes are found through their lease, not through a caller-supplied id, so two
    requests sending the same ``X-Request-ID`` can never reach each other's scope.
    """

    __slots__ = ("scope",)

    def __init__(self, scope: UserExecutionScope) -> None:
        self.scope: UserExecutionScope | None = scope

    @property
    def ended(self) -> bool:
        return self.scope is None

    def end(self) -> None:
        # Dropping the reference also lets the scope (and its session) be collected
        # while stale contexts are still around.
        self.scope = None

    def check(self, what: str) -> None:
        if self.scope is None:
            raise StaleContextError(
                f"{what}: the user_execution_scope of this context has ended; "
                "use the context of the request that is running now"
            )


class GuardedSession:
    """A scope-owned session as the request sees it: refused once the scope has ended.

    Every attribute is the session's own while the scope runs, and ``isinstance``
    sees the session's class, so typed code keeps working. After the scope, any use
    raises :class:`StaleContextError` instead of checking a connection out again.
    """

    __slots__ = ("_isolint_lease", "_isolint_session")

    def __init__(self, session: object, lease: ScopeLease) -> None:
        object.__setattr__(self, "_isolint_session", session)
        object.__setattr__(self, "_isolint_lease", lease)

    def __getattr__(self, name: str) -> Any:
        self._isolint_lease.check(f"db_session.{name}")
        return getattr(self._isolint_session, name)

    def __setattr__(self, name: str, value: object) -> None:
        self._isolint_lease.check(f"db_session.{name}")
        setattr(self._isolint_session, name, value)

    # isinstance() and typed code see the session's own class.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._isolint_session)

    # Operators look dunders up on the type, past __getattr__: forward the ones a
    # request uses on a session (`obj in session`, iterating its objects).
    def __contains__(self, instance: object) -> bool:
        self._isolint_lease.check("db_session.__contains__")
        return instance in self._isolint_session

    def __iter__(self) -> Iterator[object]:
        self._isolint_lease.check("db_session.__iter__")
        return iter(self._isolint_session)

    def __repr__(self) -> str:
        return f"<GuardedSession of {self._isolint_session!r}>"
