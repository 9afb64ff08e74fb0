"""Validation of the identifiers that tie work to one user's request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InvalidContextError

__all__ = ["DEFAULT_ID_POLICY", "DEFAULT_PLACEHOLDERS", "IdPolicy"]

#: Values that reach ids when a caller stringified ``None`` or fell back to a default;
#: each would merge many users' requests into one.
DEFAULT_PLACEHOLDERS: frozenset[str] = frozenset({"none", "null", "undefined", "default"})

# C0 and C1 control characters, DEL included: they break log lines and headers.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class IdPolicy:
    """What counts as a valid request identifier.

    ``placeholders`` are compared case-insensitively after stripping whitespace, so
    ``"None"``, ``"NULL"`` and ``" undefined "`` are all rejected by default. Extend it
    with ``IdPolicy(placeholders=DEFAULT_PLACEHOLDERS | {"anonymous"})``.
    """

    max_length: int = 256
    placeholders: frozenset[str] = field(default=DEFAULT_PLACEHOLDERS)

    def __post_init__(self) -> None:
        if self.max_length < 1:
            raise ValueError("max_length must be at least 1")
        # Normalise once so validation is a single set lookup.
        normalised = frozenset(p.strip().lower() for p in self.placeholders)
        object.__setattr__(self, "placeholders", normalised)

    def validate(self, name: str, value: object) -> str:
        """Return ``value`` if it is a usable id, else raise :class:`InvalidContextError`."""
        if not isinstance(value, str):
            raise InvalidContextError(name, f"must be a str, got {type(value).__name__}")
        stripped = value.strip()
        if not stripped:
            raise InvalidContextError(name, "must not be empty or whitespace")
        if len(value) > self.max_length:
            raise InvalidContextError(name, f"is {len(value)} characters long; the limit is {self.max_length}")
        if _CONTROL.search(value):
            raise InvalidContextError(name, "must not contain control characters")
        if stripped.lower() in self.placeholders:
            raise InvalidContextError(
                name,
                f"{value!r} is a placeholder, not a real id (did a None leak into it?)",
            )
        return value


DEFAULT_ID_POLICY = IdPolicy()
