"""Small shims so the runtime behaves the same on Python 3.10 and 3.11+."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["ExceptionGroupBase", "add_note"]

if sys.version_info >= (3, 11):
    ExceptionGroupBase = ExceptionGroup  # noqa: F821 - builtin since 3.11
else:  # pragma: no cover - exercised only on 3.10

    class ExceptionGroupBase(Exception):
        """Minimal stand-in for ``ExceptionGroup`` on Python 3.10.

        It carries ``message`` and ``exceptions`` like the builtin, which is all the
        runtime and its callers rely on. ``except*`` does not exist on 3.10, so nothing
        else of the builtin's protocol is needed.
        """

        def __init__(self, message: str, exceptions: Sequence[Exception]) -> None:
            if not exceptions:
                raise ValueError("second argument (exceptions) must be a non-empty sequence")
            super().__init__(message, tuple(exceptions))
            self.message = message
            self.exceptions = tuple(exceptions)

        def __str__(self) -> str:
            count = len(self.exceptions)
            return f"{self.message} ({count} sub-exception{'s' if count != 1 else ''})"


def add_note(exc: BaseException, note: str) -> None:
    """Attach ``note`` to ``exc`` (``BaseException.add_note`` is 3.11+).

    On 3.10 the note is stored in ``__notes__`` exactly as 3.11 does, so code that
    reads ``__notes__`` works on both; only 3.10's traceback printer ignores it.
    """
    if sys.version_info >= (3, 11):
        exc.add_note(note)
        return
    notes = getattr(exc, "__notes__", None)  # pragma: no cover - 3.10 only
    if notes is None:  # pragma: no cover
        notes = []
        exc.__notes__ = notes
    notes.append(note)  # pragma: no cover
