"""``ConnectionRegistry``: which connections belong to which user, kept on app state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from ._ids import DEFAULT_ID_POLICY, IdPolicy
from .errors import InvalidContextError

__all__ = ["ConnectionRegistry"]

C = TypeVar("C")


class ConnectionRegistry(Generic[C]):
    """Maps ``user_id`` → that user's open connections (usually emitters).

    Create one per application and keep it on the app's state (for example
    ``app.state.connections``); it is deliberately not a module global. User ids are
    validated like context ids, so ``None``, ``""`` or ``"null"`` can never become a
    bucket that collects several users' connections. A connection that carries a
    ``user_id`` of its own must match the user it is registered under.
    """

    def __init__(self, *, id_policy: IdPolicy = DEFAULT_ID_POLICY) -> None:
        self._by_user: dict[str, list[C]] = {}
        self._id_policy = id_policy

    @property
    def id_policy(self) -> IdPolicy:
        """The policy user ids are validated with (``install`` passes the factory's)."""
        return self._id_policy

    def _check(self, user_id: object, connection: C) -> str:
        user = self._id_policy.validate("user_id", user_id)
        owner = getattr(connection, "user_id", user)
        if owner != user:
            raise InvalidContextError("connection", "belongs to a different user")
        return user

    def register(self, user_id: str, connection: C) -> None:
        """Add ``connection`` to ``user_id``'s connections (idempotent)."""
        user = self._check(user_id, connection)
        connections = self._by_user.setdefault(user, [])
        if not any(existing is connection for existing in connections):
            connections.append(connection)

    def unregister(self, user_id: str, connection: C) -> bool:
        """Remove ``connection``; return whether it was registered."""
        user = self._id_policy.validate("user_id", user_id)
        connections = self._by_user.get(user)
        if not connections:
            return False
        for index, existing in enumerate(connections):
            if existing is connection:
                del connections[index]
                if not connections:
                    del self._by_user[user]  # no empty buckets: len() stays meaningful
                return True
        return False

    def connections(self, user_id: str) -> tuple[C, ...]:
        """``user_id``'s open connections, oldest first (empty if none)."""
        user = self._id_policy.validate("user_id", user_id)
        return tuple(self._by_user.get(user, ()))

    def user_ids(self) -> tuple[str, ...]:
        """Users with at least one open connection."""
        return tuple(self._by_user)

    def connection_count(self) -> int:
        """Open connections over all users."""
        return sum(len(connections) for connections in self._by_user.values())

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._by_user

    def __len__(self) -> int:
        """Number of users with open connections."""
        return len(self._by_user)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._by_user))

    def __repr__(self) -> str:
        return f"<ConnectionRegistry users={len(self)} connections={self.connection_count()}>"
