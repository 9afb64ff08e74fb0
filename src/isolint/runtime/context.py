"""``UserExecutionContext``: the immutable identity of one user's request."""

from __future__ import annotations

import copy
import dataclasses
import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ._ids import DEFAULT_ID_POLICY, IdPolicy
from ._lease import ScopeLease
from .errors import InvalidContextError, NoActiveContextError

__all__ = ["MAX_OPERATION_DEPTH", "UserExecutionContext", "current_context"]

_ID_FIELDS = ("user_id", "thread_id", "run_id", "request_id")

#: How deep ``create_child_context`` may nest sub-agents (a runaway recursion guard).
MAX_OPERATION_DEPTH = 10

# Metadata keys whose values never go to logs. Matched as substrings, case-insensitively.
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|auth|cookie|credential|private[_-]?key|session",
    re.IGNORECASE,
)
_REDACTED = "[redacted]"

_current: ContextVar[UserExecutionContext | None] = ContextVar("isolint_current_context", default=None)


def _new_id() -> str:
    return str(uuid.uuid4())


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _freeze(value: Any) -> Any:
    """Deep-copy ``value`` into read-only containers (mappings, tuples, frozensets)."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(item) for item in value)
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return copy.deepcopy(value)


def _for_log(value: Any) -> Any:
    """Turn frozen metadata back into plain JSON-friendly data, redacting secrets."""
    if isinstance(value, Mapping):
        return {str(key): _REDACTED if _SECRET_KEY.search(str(key)) else _for_log(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_for_log(item) for item in value]
    if isinstance(value, frozenset):
        return sorted((_for_log(item) for item in value), key=repr)
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return repr(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class UserExecutionContext:
    """Who a piece of work is for, and the request-scoped resources it may use.

    Build it with :meth:`create` (which fills in missing ids) or let
    ``AgentInstanceFactory.user_execution_scope`` build it. Every id is validated by
    ``id_policy``; ``metadata`` is deep-copied and made read-only, so neither the
    caller's dict nor the context can change it afterwards.

    ``db_session`` and ``websocket_emitter`` are live resources: they are left out of
    ``repr``, equality and :meth:`to_dict`. So is ``services``, a read-only mapping of
    live dependencies (an LLM client, a tool dispatcher) that, unlike ``metadata``,
    are never deep-copied: only the mapping is, so they stay shared objects; keep
    per-user state out of them. ``metadata`` is left out of ``repr`` too,
    because it may hold secrets; :meth:`to_dict` shows it with secrets redacted.
    """

    user_id: str
    thread_id: str
    run_id: str
    request_id: str = field(default_factory=_new_id)
    db_session: Any = field(default=None, repr=False, compare=False)
    websocket_emitter: Any = field(default=None, repr=False, compare=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, repr=False)
    created_at: datetime = field(default_factory=_utcnow)
    parent_request_id: str | None = None
    id_policy: IdPolicy = field(default=DEFAULT_ID_POLICY, repr=False, compare=False)
    services: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # Set by user_execution_scope and inherited by children and copies; not an id.
    _lease: ScopeLease | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        policy = self.id_policy
        if not isinstance(policy, IdPolicy):
            raise InvalidContextError("id_policy", f"must be an IdPolicy, got {type(policy).__name__}")
        for name in _ID_FIELDS:
            policy.validate(name, getattr(self, name))
        if self.parent_request_id is not None:
            policy.validate("parent_request_id", self.parent_request_id)
        if not isinstance(self.created_at, datetime):
            raise InvalidContextError("created_at", "must be a datetime")
        metadata = self.metadata
        if not isinstance(metadata, Mapping):
            raise InvalidContextError("metadata", f"must be a mapping, got {type(metadata).__name__}")
        for key in metadata:
            if not isinstance(key, str):
                raise InvalidContextError("metadata", f"keys must be str, got {type(key).__name__}")
        emitter = self.websocket_emitter
        if emitter is not None:
            owner = getattr(emitter, "user_id", None)
            if owner is None:
                raise InvalidContextError("websocket_emitter", "must expose the user_id it is bound to")
            if owner != self.user_id:
                raise InvalidContextError(
                    "websocket_emitter",
                    "is bound to a different user than this context",
                )
        services = self.services
        if not isinstance(services, Mapping) or not all(isinstance(key, str) for key in services):
            raise InvalidContextError("services", "must be a mapping with str keys")
        # Frozen dataclass: the only way to store the normalised values. Services are
        # live objects (an LLM client, a tool dispatcher): shared, never copied.
        object.__setattr__(self, "metadata", _freeze(metadata))
        object.__setattr__(self, "services", MappingProxyType(dict(services)))

    def __hash__(self) -> int:
        # Identity of the request only; metadata is unhashable and resources don't count.
        return hash((self.user_id, self.thread_id, self.run_id, self.request_id))

    @classmethod
    def create(
        cls,
        *,
        user_id: str,
        thread_id: str | None = None,
        run_id: str | None = None,
        request_id: str | None = None,
        db_session: Any = None,
        websocket_emitter: Any = None,
        metadata: Mapping[str, Any] | None = None,
        parent_request_id: str | None = None,
        id_policy: IdPolicy = DEFAULT_ID_POLICY,
        services: Mapping[str, Any] | None = None,
    ) -> UserExecutionContext:
        """Build a validated context, generating a uuid4 for each id left as ``None``.

        ``user_id`` is never generated: a request without a known user must fail here
        rather than run as somebody.
        """
        return cls(
            user_id=user_id,
            thread_id=_new_id() if thread_id is None else thread_id,
            run_id=_new_id() if run_id is None else run_id,
            request_id=_new_id() if request_id is None else request_id,
            db_session=db_session,
            websocket_emitter=websocket_emitter,
            metadata={} if metadata is None else metadata,
            parent_request_id=parent_request_id,
            id_policy=id_policy,
            services={} if services is None else services,
        )

    @classmethod
    def from_request(
        cls,
        user_id: str,
        thread_id: str | None = None,
        run_id: str | None = None,
        request_id: str | None = None,
        db_session: Any = None,
        websocket_emitter: Any = None,
        metadata: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> UserExecutionContext:
        """:meth:`create` with positional ids, the call shape of migrated code."""
        return cls.create(
            user_id=user_id,
            thread_id=thread_id,
            run_id=run_id,
            request_id=request_id,
            db_session=db_session,
            websocket_emitter=websocket_emitter,
            metadata=metadata,
            **options,
        )

    @property
    def operation_depth(self) -> int:
        """How many ``create_child_context`` calls led to this context (0 at the top)."""
        depth = self.metadata.get("operation_depth", 0)
        return depth if isinstance(depth, int) else 0

    def create_child_context(
        self,
        operation: str,
        additional_metadata: Mapping[str, Any] | None = None,
        *,
        max_depth: int = MAX_OPERATION_DEPTH,
    ) -> UserExecutionContext:
        """:meth:`child`, counting ``operation_depth`` and refusing to nest past ``max_depth``.

        ``additional_metadata`` is merged into the child's metadata.
        """
        depth = self.operation_depth + 1
        if depth > max_depth:
            raise InvalidContextError(
                "operation_depth",
                f"{operation!r} would nest {depth} levels deep; the limit is {max_depth}",
            )
        child = self.child(operation)
        metadata = dict(child.metadata)
        metadata.update(additional_metadata or {})
        metadata["operation_depth"] = depth
        return dataclasses.replace(child, metadata=metadata)

    def get_correlation_id(self) -> str:
        """A short id tying log lines of this request together.

        The first 8 characters of thread, run and request id; the user id is left
        out so that logs correlating requests do not spread it.
        """
        return ":".join(value[:8] for value in (self.thread_id, self.run_id, self.request_id))

    def with_updates(self, **changes: Any) -> UserExecutionContext:
        """Return a copy with ``changes`` applied; the copy is validated again.

        Unknown field names raise ``TypeError``. Changing ``user_id`` while the
        context still carries a session or emitter raises :class:`InvalidContextError`
        unless those are replaced too (``db_session=None``): they belong to the
        original user. The copy still belongs to the original scope, which refuses
        to build agents for another user.
        """
        new_user = changes.get("user_id", self.user_id)
        if new_user != self.user_id:
            kept = [
                name
                for name in ("db_session", "websocket_emitter")
                if name not in changes and getattr(self, name) is not None
            ]
            if kept:
                raise InvalidContextError(
                    "user_id",
                    f"cannot change while the context carries the original user's "
                    f"{' and '.join(kept)}; pass "
                    f"{', '.join(f'{name}=None' for name in kept)} as well",
                )
        return dataclasses.replace(self, **changes)

    def child(self, operation: str) -> UserExecutionContext:
        """Return the context of a sub-agent working on ``operation`` for the same user.

        The child shares the user, thread, run and resources, gets a fresh
        ``request_id`` and points back through ``parent_request_id``. ``operation`` is
        recorded in its metadata (the parent's operation, if any, as
        ``parent_operation``).
        """
        if not isinstance(operation, str) or not operation.strip():
            raise InvalidContextError("operation", "must be a non-empty str")
        metadata = dict(self.metadata)
        if "operation" in metadata:
            metadata["parent_operation"] = metadata["operation"]
        metadata["operation"] = operation
        return dataclasses.replace(
            self,
            request_id=_new_id(),
            parent_request_id=self.request_id,
            metadata=metadata,
            created_at=_utcnow(),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly data for logs.

        It has no session or emitter object (only whether each is present), and
        metadata values under secret-looking keys (password, token, api_key, ...) are
        replaced by ``"[redacted]"``.
        """
        return {
            "user_id": self.user_id,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "request_id": self.request_id,
            "parent_request_id": self.parent_request_id,
            "created_at": self.created_at.isoformat(),
            "metadata": _for_log(self.metadata),
            "has_db_session": self.db_session is not None,
            "has_websocket_emitter": self.websocket_emitter is not None,
        }


def current_context() -> UserExecutionContext:
    """Return the context of the ``user_execution_scope`` the caller runs in.

    Raises :class:`NoActiveContextError` outside a scope, instead of returning a
    default that would attribute the work to nobody (or somebody).
    """
    context = _current.get()
    if context is None:
        raise NoActiveContextError(
            "no user execution scope is active; run this code inside "
            "`async with factory.user_execution_scope(...)` or pass the context explicitly"
        )
    return context
