"""isolint.runtime: the reference runtime that isolates one user's request from another's.

Code rewritten by ``isolint fix`` imports from here. This package uses the standard
library only; the SQLAlchemy and Starlette/FastAPI helpers live in
:mod:`isolint.runtime.sqlalchemy` and :mod:`isolint.runtime.asgi`, behind the
``runtime-sqlalchemy`` and ``runtime-asgi`` extras.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._ids import DEFAULT_ID_POLICY, DEFAULT_PLACEHOLDERS, IdPolicy
from .connections import ConnectionRegistry
from .containment import (
    MAX_RECANCELS,
    Job,
    OutcomeStatus,
    RequestOutcome,
    run_isolated,
    run_many,
)
from .context import MAX_OPERATION_DEPTH, UserExecutionContext, current_context
from .emitter import (
    AGENT_EVENTS,
    OVERFLOW_CLOSE_CODE,
    EmitterStats,
    FrameReceipt,
    UserWebSocketEmitter,
)
from .errors import (
    CleanupTimeoutError,
    CrossUserEmitError,
    DuplicateAgentError,
    EmitterClosedError,
    InvalidContextError,
    MissingExtraError,
    NoActiveContextError,
    RegistryFrozenError,
    ScopeCleanupError,
    SharedAgentInstanceError,
    StaleContextError,
    UnknownAgentError,
    UserConcurrencyLimitError,
)
from .factory import AgentInstanceFactory
from .legacy import ensure_context, legacy_adapter
from .metrics import RuntimeMetrics
from .registry import AgentClassRegistry, AgentSpec
from .scope import Transaction, UserExecutionScope

__all__ = [
    "AGENT_EVENTS",
    "DEFAULT_ID_POLICY",
    "DEFAULT_PLACEHOLDERS",
    "MAX_OPERATION_DEPTH",
    "MAX_RECANCELS",
    "OVERFLOW_CLOSE_CODE",
    "AgentClassRegistry",
    "AgentInstanceFactory",
    "AgentSpec",
    "CleanupTimeoutError",
    "ConnectionRegistry",
    "CrossUserEmitError",
    "DuplicateAgentError",
    "EmitterClosedError",
    "EmitterStats",
    "FrameReceipt",
    "IdPolicy",
    "InvalidContextError",
    "Job",
    "MissingExtraError",
    "NoActiveContextError",
    "OutcomeStatus",
    "RegistryFrozenError",
    "RequestOutcome",
    "RuntimeMetrics",
    "ScopeCleanupError",
    "SharedAgentInstanceError",
    "StaleContextError",
    "Transaction",
    "UnknownAgentError",
    "UserConcurrencyLimitError",
    "UserExecutionContext",
    "UserExecutionScope",
    "UserWebSocketEmitter",
    "current_context",
    "ensure_context",
    "legacy_adapter",
    "run_isolated",
    "run_many",
]

_OPTIONAL = ("sqlalchemy", "asgi")


def __getattr__(name: str) -> ModuleType:
    # `isolint.runtime.sqlalchemy` works as an attribute too, importing on first use
    # (and raising MissingExtraError with the pip command if the extra is missing).
    if name in _OPTIONAL:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
