"""``ensure_context``: the adapter behind ``isolint fix``'s transitional signatures.

When ``isolint fix`` cannot see every caller of a function that takes the legacy
state and a separate ``run_id`` (a framework calls it, or another service), it
does not change the signature. It widens it instead, so every old caller keeps
working while new callers pass the context::

    async def execute(self, state: DeepAgentState | UserExecutionContext,
                      run_id: str | None = None, stream_updates: bool = False) -> None:
        context = ensure_context(state, run_id=run_id)
        print(context.user_id, context.run_id)

A context passes through unchanged; given with another ``run_id``, a copy runs
under that run id (as the old code did) with a warning. A legacy state object is adapted with a
:class:`DeprecationWarning` that names its caller: the adapted context carries
the legacy object's ids exactly as they are, unvalidated, because validating
them would make old callers fail where they used to work (a legacy state may hold
``None`` ids). Such a context is for reading ids only; it has no session, emitter,
metadata or services, and it is no substitute for a context built for the request.

The fields read are ``DEFAULT_FIELD_MAP`` (legacy attribute -> context field), the
default of ``[tool.isolint.legacy-state] field-map``. A project with another
field map or its own context class builds its own adapter with
:func:`legacy_adapter` and names it in ``[tool.isolint.legacy-state] adapter``.
"""

from __future__ import annotations

import dataclasses
import uuid
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Protocol

from ._ids import DEFAULT_ID_POLICY
from .context import UserExecutionContext

__all__ = ["DEFAULT_FIELD_MAP", "ContextAdapter", "ensure_context", "legacy_adapter"]

DEFAULT_FIELD_MAP: Mapping[str, str] = MappingProxyType(
    {"user_id": "user_id", "chat_thread_id": "thread_id", "thread_id": "thread_id", "run_id": "run_id"}
)
_ID_FIELDS = ("user_id", "thread_id", "run_id")


class ContextAdapter(Protocol):
    def __call__(self, value: object, *, run_id: str | None = None) -> UserExecutionContext: ...


def legacy_adapter(field_map: Mapping[str, str] = DEFAULT_FIELD_MAP) -> ContextAdapter:
    """An ``ensure_context`` that reads a legacy object's ids through ``field_map``
    (legacy attribute -> ``user_id``, ``thread_id`` or ``run_id``)."""
    unknown = sorted(set(field_map.values()) - set(_ID_FIELDS))
    if unknown:
        raise ValueError(f"field_map targets must be among {_ID_FIELDS}, got {unknown}")
    sources = {target: [legacy for legacy, mapped in field_map.items() if mapped == target] for target in _ID_FIELDS}

    def ensure(value: object, *, run_id: str | None = None) -> UserExecutionContext:
        if isinstance(value, UserExecutionContext):
            if run_id is None or run_id == value.run_id:
                return value
            # The old code ran under the run id it was given, whatever the object
            # said: so does this call, loudly.
            warnings.warn(
                f"run_id {run_id!r} disagrees with the context's run_id {value.run_id!r}; using {run_id!r} as the "
                "old signature did. Pass the context alone: it carries its run id",
                DeprecationWarning,
                stacklevel=3,
            )
            return _unvalidated(
                {**{f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, "run_id": run_id}
            )
        if value is None:
            raise TypeError("ensure_context() needs a context or a legacy state object, got None")
        warnings.warn(
            f"passing a {type(value).__name__} and a separate run_id is deprecated; "
            "pass a UserExecutionContext instead",
            DeprecationWarning,
            stacklevel=3,  # the caller of the transitional function, not its body
        )
        ids = {target: _first_present(value, names) for target, names in sources.items()}
        if run_id is not None:
            ids["run_id"] = run_id
        return _unvalidated(ids)

    return ensure


def _first_present(value: object, names: list[str]) -> Any:
    """The first of ``names`` that ``value`` has, as the legacy code read it."""
    for name in names:
        if hasattr(value, name):
            return getattr(value, name)
    return None


def _unvalidated(values: Mapping[str, Any]) -> UserExecutionContext:
    # A context holding the ids the old code read, verbatim. Building it through
    # the constructor would validate them and raise where the old code did not.
    context = object.__new__(UserExecutionContext)
    values = {
        "request_id": str(uuid.uuid4()),
        "db_session": None,
        "websocket_emitter": None,
        "metadata": MappingProxyType({}),
        "created_at": datetime.now(timezone.utc),
        "parent_request_id": None,
        "id_policy": DEFAULT_ID_POLICY,
        "services": MappingProxyType({}),
        "_lease": None,
        **values,
    }
    for name, value in values.items():
        object.__setattr__(context, name, value)
    return context


ensure_context: ContextAdapter = legacy_adapter()
