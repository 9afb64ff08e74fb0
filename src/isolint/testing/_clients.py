"""Simulated clients: one inbox per user, and the scan that spots another user's data."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CrossUserLeak", "SimulatedClients", "secret_for", "user_id_for"]

# Every simulated user id and secret embeds the user's index; finding another index in
# what a user received is proof that data crossed users. Case is ignored: an
# upper-cased secret is still the secret.
_MARKER = re.compile(r"isolint-sim-(?:user|secret)-(\d+)", re.IGNORECASE)
_EXCERPT = 160
# Transformed leaks: the part of a secret unique to its user, and common hex digests
# of each user's id and secret, found as runs of hex digits in lower-cased text.
_DIGESTS = ("md5", "sha1", "sha256", "sha512")
_TOKEN_BYTES = 6
_HEX_RUN = re.compile(r"[0-9a-f]{12,}")


def user_id_for(index: int) -> str:
    """The simulated user id of user ``index``."""
    return f"isolint-sim-user-{index:04d}"


def secret_for(index: int, salt: int) -> str:
    """A per-user secret placed in the user's context metadata.

    Its last part is a token unique to the user (derived from ``salt`` and
    ``index``), so even that part alone, or a digest of it, identifies its owner.
    """
    token = hashlib.blake2s(f"{salt}:{index}".encode(), digest_size=_TOKEN_BYTES).hexdigest()
    return f"isolint-sim-secret-{index:04d}-{token}"


def _fingerprints(markers: tuple[str, ...]) -> set[str]:
    """Lower-case hex forms that betray ``markers``: their digests, and secret tokens."""
    found = set()
    for marker in markers:
        for name in _DIGESTS:
            found.add(hashlib.new(name, marker.encode()).hexdigest())
        tail = marker.rsplit("-", 1)[-1]
        if len(tail) == 2 * _TOKEN_BYTES and _HEX_RUN.fullmatch(tail):
            found.add(tail)
    return found


def _excerpt(text: str, around: str | None) -> str:
    """At most ``_EXCERPT`` characters of ``text``, centred on ``around`` if present."""
    if len(text) <= _EXCERPT:
        return text
    position = text.find(around) if around else -1
    start = 0 if position < 0 else max(0, position - _EXCERPT // 2)
    end = min(len(text), start + _EXCERPT)
    start = max(0, end - _EXCERPT)
    return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")


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
        # Fingerprint (a digest or secret token) -> index of the user it betrays.
        self._fingerprints: dict[str, int] = {}
        self._fingerprint_lengths: set[int] = set()

    def add_user(self, index: int, *, secret: str | None = None) -> str:
        """Create the inbox of user ``index``; return its user id.

        The user's id and ``secret`` are then recognised in what other users
        receive, also upper-cased, hashed (md5, sha1, sha256, sha512) or, for the
        secret, reduced to the token unique to its user.
        """
        user_id = user_id_for(index)
        self._inboxes[user_id] = []
        self._index[user_id] = index
        markers = (user_id,) if secret is None else (user_id, secret)
        for fingerprint in _fingerprints(markers):
            self._fingerprints[fingerprint] = index
            self._fingerprint_lengths.add(len(fingerprint))
        return user_id

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(self._inboxes)

    def deliver(self, user_id: object, message: Any) -> None:
        """Record ``message`` (a str, or anything JSON-able) as received by ``user_id``."""
        text = message if isinstance(message, str) else json.dumps(message, default=repr)
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
        found |= self._fingerprinted(text)
        found.discard(own)
        return tuple(user_id_for(index) for index in sorted(found))

    def _fingerprinted(self, text: str) -> set[int]:
        """Users whose digest or secret token appears in ``text`` (any case)."""
        found = set()
        for match in _HEX_RUN.finditer(text.lower()):
            run = match.group(0)
            for length in self._fingerprint_lengths:
                # A run may hold a fingerprint with other hex digits around it.
                for start in range(len(run) - length + 1):
                    index = self._fingerprints.get(run[start : start + length])
                    if index is not None:
                        found.add(index)
        return found

    def leak_in(self, channel: Literal["frame", "result", "error"], recipient: str, text: str) -> CrossUserLeak | None:
        """A :class:`CrossUserLeak` if ``text`` seen by ``recipient`` carries other users' data."""
        others = self.foreign_users(recipient, text)
        if channel == "frame":
            stamp = _stamped_user(text)
            if stamp is not None and stamp != recipient and stamp not in others:
                others = tuple(sorted((*others, str(stamp))))
        if not others:
            return None
        return CrossUserLeak(channel, recipient, others, _excerpt(text, _marker_of(text, others)))

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
    return None  # a transformed leak: the excerpt starts at the beginning


def _stamped_user(text: str) -> object:
    """The ``user_id`` a runtime frame is stamped with, if it is one."""
    if not text.startswith("{"):
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    return frame.get("user_id") if isinstance(frame, dict) else None
