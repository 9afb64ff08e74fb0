"""Simulated clients: one inbox per user, and the scan that spots another user's data."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CrossUserLeak", "SimulatedClients", "secret_for", "user_id_for"]

# Every simulated user id and secret embeds the user's index; finding another index in
# what a user received is proof that data crossed users.
_MARKER = re.compile(r"isolint-sim-(?:user|secret)-(\d+)")
_EXCERPT = 160


def user_id_for(index: int) -> str:
    """The simulated user id of user ``index``."""
    return f"isolint-sim-user-{index:04d}"


def secret_for(index: int, salt: int) -> str:
    """A per-user secret placed in the user's context metadata."""
    return f"isolint-sim-secret-{index:04d}-{salt:08x}"


def _excerpt(text: str, around: str | None) -> str:
    """At most ``_EXCERPT`` characters of ``text``, centred on ``around`` if present."""
    if len(text) <= _EXCERPT:
        return text
    position = text.find(around) if around else -1
    start = 0 if position < 0 else max(0, position - _EXCERPT // 2)
    end = min(len(text), start + _EXCERPT)
    start = max(0, end - _EXCERPT)
    return (
        ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")
    )


@dataclass(frozen=True, slots=True)
class CrossUserLeak:
    """Data of ``leaked_from`` users seen by ``recipient``.

    ``channel`` is where: a ``frame`` the recipient received, the ``result`` its
    request returned, or the ``error`` its request raised.
    """

    channel: Literal["frame", "result", "error"]
    recipient: str
    leaked_from: tuple[str, ...]
    excerpt: str

    def __str__(self) -> str:
        others = ", ".join(self.leaked_from)
        return f"{self.recipient} got a {self.channel} carrying data of {others}: {self.excerpt}"


class SimulatedClients:
    """Inboxes of the simulated users.

    ``simulate_users`` gives each user an emitter writing to its inbox. Code that has
    its own transport (a legacy WebSocket manager, for instance) can route it here
    with :meth:`deliver` or :meth:`send`, so its frames are checked as well.
    """

    def __init__(self) -> None:
        self._inboxes: dict[str, list[str]] = {}
        self._index: dict[str, int] = {}
        self._misaddressed: list[tuple[object, str]] = []

    def add_user(self, index: int) -> str:
        """Create the inbox of user ``index``; return its user id."""
        user_id = user_id_for(index)
        self._inboxes[user_id] = []
        self._index[user_id] = index
        return user_id

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(self._inboxes)

    def deliver(self, user_id: object, message: Any) -> None:
        """Record ``message`` (a str, or anything JSON-able) as received by ``user_id``."""
        text = (
            message if isinstance(message, str) else json.dumps(message, default=repr)
        )
        inbox = self._inboxes.get(user_id) if isinstance(user_id, str) else None
        if inbox is None:
            self._misaddressed.append((user_id, text))
        else:
            inbox.append(text)

    async def send(self, user_id: object, message: Any) -> None:
        """Async form of :meth:`deliver`, for code that awaits its transport."""
        self.deliver(user_id, message)

    def transport(self, user_id: str) -> Callable[[str], Awaitable[None]]:
        """A ``send(text)`` callable delivering to ``user_id``'s inbox."""

        async def send(text: str) -> None:
            self.deliver(user_id, text)

        return send

    def frames(self, user_id: str) -> tuple[str, ...]:
        """Raw frames ``user_id`` received, in order."""
        return tuple(self._inboxes.get(user_id, ()))

    def decoded_frames(self, user_id: str) -> list[Any]:
        """Frames of ``user_id`` parsed as JSON."""
        return [json.loads(text) for text in self.frames(user_id)]

    @property
    def misaddressed(self) -> tuple[tuple[object, str], ...]:
        """Frames sent to someone who is not a simulated user (``None``, ``"default"``, ...)."""
        return tuple(self._misaddressed)

    def foreign_users(self, recipient: str, text: str) -> tuple[str, ...]:
        """Other simulated users whose id or secret appears in ``text``."""
        own = self._index.get(recipient)
        found = {int(match) for match in _MARKER.findall(text)}
        found.discard(own)  # type: ignore[arg-type]
        return tuple(user_id_for(index) for index in sorted(found))

    def leak_in(
        self, channel: Literal["frame", "result", "error"], recipient: str, text: str
    ) -> CrossUserLeak | None:
        """A :class:`CrossUserLeak` if ``text`` seen by ``recipient`` carries other users' data."""
        others = self.foreign_users(recipient, text)
        if channel == "frame":
            stamp = _stamped_user(text)
            if stamp is not None and stamp != recipient and stamp not in others:
                others = tuple(sorted((*others, str(stamp))))
        if not others:
            return None
        return CrossUserLeak(
            channel, recipient, others, _excerpt(text, _marker_of(text, others))
        )

    def cross_user_frames(self) -> list[CrossUserLeak]:
        """Every received frame that carries another user's stamp, id or secret."""
        leaks = []
        for recipient, inbox in self._inboxes.items():
            for text in inbox:
                leak = self.leak_in("frame", recipient, text)
                if leak is not None:
                    leaks.append(leak)
        return leaks


def _marker_of(text: str, users: tuple[str, ...]) -> str | None:
    """The first marker in ``text`` belonging to one of ``users``."""
    wanted = {user.rsplit("-", 1)[-1] for user in users}
    for match in _MARKER.finditer(text):
        if match.group(1) in wanted:
            return match.group(0)
    return users[0] if users else None


def _stamped_user(text: str) -> object:
    """The ``user_id`` a runtime frame is stamped with, if it is one."""
    if not text.startswith("{"):
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame.get("user_id") if isinstance(frame, dict) else None
