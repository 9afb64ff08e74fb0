"""``isolint.runtime.compat``: the names and call shapes of migrated agent backends.

Code that went through the migration this runtime comes from calls its registry,
factory and emitter in ways the core API does not accept. This module accepts
them, so such code can adopt the runtime first and be tidied later; every shape
it cannot serve raises a clear error instead of misbehaving quietly.

- :class:`AgentRegistry` — ``register(name, cls, description, *, version=...,
  dependencies=..., metadata=...)``, ``get_agent_class``, ``list_agent_names``,
  ``has_agent_class``, ``is_frozen``, ``get_registry_stats``,
  ``validate_dependencies``. Agents are built as ``cls.create_agent_with_context(
  context)`` if the class has it, else ``cls(...)`` with each ``__init__``
  parameter filled from the context (``context`` / ``user_context``) or from
  ``context.services`` (``llm_manager``, ``tool_dispatcher``, ...): ``cls()``,
  ``cls(context)`` and ``cls(**dependencies)`` all work.
- :class:`CompatAgentInstanceFactory` — ``create_agent_instance`` returns the agent
  behind an :class:`AgentHandle` that may be awaited (``await
  factory.create_agent_instance(name, ctx)``) or used directly;
  ``create_user_execution_context`` / ``cleanup_user_context`` for code that cannot
  use ``async with``; ``get_factory_metrics()`` with the original key names.
- :class:`CompatWebSocketEmitter` — the original ``notify_*`` signatures
  (``notify_agent_error(error)``, a positional ``metadata``), and emits after a
  disconnect dropped and counted rather than raised (``after_close="drop"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any

from ._lease import ScopeLease
from .context import UserExecutionContext
from .emitter import AfterClose, FrameReceipt, UserWebSocketEmitter
from .errors import NoActiveContextError
from .factory import AgentInstanceFactory
from .registry import AgentClassRegistry
from .scope import UserExecutionScope

__all__ = [
    "AgentHandle",
    "AgentInfo",
    "AgentRegistry",
    "CompatAgentInstanceFactory",
    "CompatWebSocketEmitter",
    "construct_agent",
]

# Parameter names under which migrated agents take their context.
_CONTEXT_PARAMETERS = frozenset({"context", "user_context", "execution_context"})


def construct_agent(cls: type, context: UserExecutionContext) -> Any:
    """Build ``cls`` for ``context`` the way its constructor asks to be built."""
    make = getattr(cls, "create_agent_with_context", None)
    if callable(make):
        return make(context)
    arguments: dict[str, Any] = {}
    positional: list[Any] = []
    parameters = list(inspect.signature(cls).parameters.values())
    for position, parameter in enumerate(parameters):
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in _CONTEXT_PARAMETERS:
            value = context
        elif parameter.name in context.services:
            value = context.services[parameter.name]
        elif parameter.default is not parameter.empty:
            continue
        elif position == 0:
            value = context  # `cls(ctx)`, whatever the parameter is called
        else:
            raise TypeError(
                f"cannot build {cls.__name__}: its parameter {parameter.name!r} is "
                "neither the context nor a service; pass it in the factory's "
                f"services={{{parameter.name!r}: ...}}"
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            positional.append(value)
        else:
            arguments[parameter.name] = value
    return cls(*positional, **arguments)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What :meth:`AgentRegistry.register` was told about one agent."""

    name: str
    agent_class: type
    description: str
    version: str
    dependencies: tuple[str, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


class AgentRegistry(AgentClassRegistry):
    """An :class:`AgentClassRegistry` answering the original registry's calls."""

    def __init__(self) -> None:
        super().__init__()
        self._info: dict[str, AgentInfo] = {}

    def register(
        self,
        name: str,
        cls: type,
        description: str = "",
        *,
        version: str = "1.0.0",
        dependencies: Collection[str] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Register ``cls``; ``dependencies`` name the agents it needs (see
        :meth:`validate_dependencies`)."""
        if not isinstance(cls, type):
            raise TypeError(
                f"register({name!r}, ...) takes a class, got an instance of "
                f"{type(cls).__name__}; an instance would be shared by every request"
            )
        if isinstance(dependencies, str):
            raise TypeError("dependencies must be a collection of agent names, not a str")

        def build(context: UserExecutionContext) -> Any:
            return construct_agent(cls, context)

        self.register_factory(name, build, description=description)
        self._info[name] = AgentInfo(
            name,
            cls,
            description,
            version,
            tuple(dependencies),
            MappingProxyType(dict(metadata or {})),
        )

    def get_agent_class(self, name: str) -> type | None:
        """The class registered under ``name``, or ``None``."""
        info = self._info.get(name)
        return None if info is None else info.agent_class

    def agent_info(self, name: str) -> AgentInfo | None:
        return self._info.get(name)

    def list_agent_names(self) -> list[str]:
        return list(self.names())

    def has_agent_class(self, name: str) -> bool:
        return name in self

    def is_frozen(self) -> bool:
        return self.frozen

    def validate_dependencies(self) -> dict[str, list[str]]:
        """Agents whose declared dependencies are not registered: name → missing names."""
        return {
            name: missing
            for name, info in self._info.items()
            if (missing := [dep for dep in info.dependencies if dep not in self])
        }

    def get_registry_stats(self) -> dict[str, Any]:
        return {
            "total_agents": len(self),
            "frozen": self.frozen,
            "agent_names": self.list_agent_names(),
            "agents_with_dependencies": sum(bool(info.dependencies) for info in self._info.values()),
            "missing_dependencies": self.validate_dependencies(),
        }


class AgentHandle:
    """A new agent, usable directly or through ``await`` (which returns the agent itself).

    Attribute access and assignment go to the agent, and ``isinstance`` sees the
    agent's class. Other protocols (``agent()``, ``async with agent``) need the agent
    itself: ``agent = await factory.create_agent_instance(...)``.
    """

    __slots__ = ("_isolint_agent",)

    def __init__(self, agent: object) -> None:
        object.__setattr__(self, "_isolint_agent", agent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._isolint_agent, name)

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self._isolint_agent, name, value)

    # isinstance() and typed code see the agent's own class.
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._isolint_agent)

    def __await__(self) -> Generator[Any, None, Any]:
        yield from ()
        return self._isolint_agent

    def __repr__(self) -> str:
        return f"<AgentHandle of {self._isolint_agent!r}>"


class CompatAgentInstanceFactory(AgentInstanceFactory):
    """An :class:`AgentInstanceFactory` answering the original factory's calls."""

    def __init__(self, registry: AgentClassRegistry, **options: Any) -> None:
        super().__init__(registry, **options)
        # Scopes opened by create_user_execution_context, by their lease: the same
        # object every context of the scope carries, never a caller-supplied id.
        self._open: dict[ScopeLease, UserExecutionScope] = {}
        self._contexts_created = 0

    def create_agent_instance(self, name: str, context: UserExecutionContext) -> AgentHandle:
        return AgentHandle(super().create_agent_instance(name, context))

    create_agent = create_agent_instance

    async def create_user_execution_context(
        self,
        user_id: str,
        thread_id: str | None = None,
        run_id: str | None = None,
        db_session: Any = None,
        websocket_emitter: Any = None,
        metadata: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> UserExecutionContext:
        """Enter a ``user_execution_scope`` and return its context.

        Pair every call with :meth:`cleanup_user_context` (in a ``finally``): until
        then the scope's session, agents and emitter stay open.
        """
        scope = self.user_execution_scope(
            user_id=user_id,
            thread_id=thread_id,
            run_id=run_id,
            request_id=request_id,
            db_session=db_session,
            websocket_emitter=websocket_emitter,
            metadata=metadata,
            services=services,
        )
        context = await scope.__aenter__()
        assert context._lease is not None
        self._open[context._lease] = scope
        self._contexts_created += 1
        return context

    async def cleanup_user_context(self, context: UserExecutionContext, error: BaseException | None = None) -> None:
        """Exit the scope :meth:`create_user_execution_context` opened for ``context``.

        ``error`` is the request's failure, if any: the session then rolls back.
        Raises like ``async with`` would (cleanup failures, cancellation), and
        :class:`NoActiveContextError` for a context this factory did not open or
        already cleaned up.
        """
        scope = self._open.pop(context._lease, None) if context._lease else None
        if scope is None:
            raise NoActiveContextError(
                "cleanup_user_context: this context was not opened by "
                "create_user_execution_context, or was already cleaned up"
            )
        traceback: TracebackType | None = None if error is None else error.__traceback__
        await scope.__aexit__(None if error is None else type(error), error, traceback)

    def get_factory_metrics(self) -> dict[str, Any]:
        """The original factory's metrics dict, from :meth:`metrics` (no user data)."""
        metrics = self.metrics()
        ages = self.active_scope_ages()
        return {
            "total_instances_created": metrics.agents_created,
            "active_contexts": metrics.active_scopes,
            "total_contexts_created": metrics.scopes_created,
            "total_contexts_cleaned": metrics.scopes_cleaned,
            "creation_errors": metrics.creation_errors,
            "cleanup_errors": metrics.cleanup_errors,
            "cleanup_timeouts": metrics.cleanup_timeouts,
            "active_scope_ages_seconds": ages,
            "oldest_active_scope_seconds": ages[0] if ages else 0.0,
            "average_creation_time_ms": _ms(metrics.setup_p50_us),
            "p95_creation_time_ms": _ms(metrics.setup_p95_us),
            "average_cleanup_time_ms": _ms(metrics.cleanup_p50_us),
            "p95_cleanup_time_ms": _ms(metrics.cleanup_p95_us),
            "scopes_refused_by_user_limit": metrics.scopes_refused_by_user_limit,
            "open_sessions": metrics.open_sessions,
        }


def _ms(microseconds: float | None) -> float:
    return 0.0 if microseconds is None else microseconds / 1000.0


class CompatWebSocketEmitter(UserWebSocketEmitter):
    """A :class:`UserWebSocketEmitter` with the original ``notify_*`` signatures.

    Frames are the same as the core emitter's (a positional ``metadata`` lands in
    the payload's ``"metadata"``), so clients need no change. Emits after the
    connection closed are dropped and counted, returning a false receipt, as the
    original ``emit`` returned ``False``; pass ``after_close="raise"`` to raise.
    """

    __slots__ = ()

    def __init__(self, *args: Any, after_close: AfterClose = "drop", **options: Any) -> None:
        super().__init__(*args, after_close=after_close, **options)

    def _notify(self, event: str, payload: dict[str, Any], metadata: Mapping[str, Any] | None) -> FrameReceipt:
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
            payload["metadata"] = dict(metadata)
        return self.emit(event, payload)

    def notify_agent_started(
        self, agent_name: str, metadata: Mapping[str, Any] | None = None, **details: Any
    ) -> FrameReceipt:
        return self._notify("agent_started", {"agent_name": agent_name, **details}, metadata)

    def notify_agent_thinking(  # type: ignore[override]
        self,
        agent_name: str,
        reasoning: str | None = None,
        step_number: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        **details: Any,
    ) -> FrameReceipt:
        payload = {"agent_name": agent_name, "thought": reasoning, **details}
        if step_number is not None:
            payload["step_number"] = step_number
        return self._notify("agent_thinking", payload, metadata)

    def notify_tool_executing(
        self, tool_name: str, metadata: Mapping[str, Any] | None = None, **details: Any
    ) -> FrameReceipt:
        return self._notify("tool_executing", {"tool_name": tool_name, **details}, metadata)

    def notify_tool_completed(
        self,
        tool_name: str,
        result: Any = None,
        metadata: Mapping[str, Any] | None = None,
        **details: Any,
    ) -> FrameReceipt:
        return self._notify(
            "tool_completed",
            {"tool_name": tool_name, "result": result, **details},
            metadata,
        )

    def notify_agent_completed(
        self,
        agent_name: str,
        result: Any = None,
        metadata: Mapping[str, Any] | None = None,
        **details: Any,
    ) -> FrameReceipt:
        return self._notify(
            "agent_completed",
            {"agent_name": agent_name, "result": result, **details},
            metadata,
        )

    def notify_agent_error(  # type: ignore[override]
        self,
        error: BaseException | str,
        agent_name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **details: Any,
    ) -> FrameReceipt:
        """The original form: the error first, then (optionally) the agent's name."""
        if isinstance(error, BaseException):
            described: dict[str, str | None] = {"type": type(error).__name__, "message": str(error)}
        else:
            described = {"type": None, "message": str(error)}
        return self._notify(
            "agent_error",
            {"agent_name": agent_name, "error": described, **details},
            metadata,
        )
