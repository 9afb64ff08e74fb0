"""``AgentClassRegistry``: agent classes and factories by name, never instances."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import DuplicateAgentError, RegistryFrozenError, UnknownAgentError

if TYPE_CHECKING:
    from .context import UserExecutionContext

__all__ = ["AgentClassRegistry", "AgentSpec"]

AgentBuilder = Callable[["UserExecutionContext"], Any]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """How to build one registered agent.

    ``kind`` is ``"class"`` (built as ``target(context)``) or ``"factory"`` (built as
    ``target(context)`` too, but ``target`` is any callable returning a fresh agent).
    """

    name: str
    kind: Literal["class", "factory"]
    target: AgentBuilder
    description: str = ""

    def build(self, context: UserExecutionContext) -> Any:
        """Make a new agent for ``context``."""
        return self.target(context)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the target, so code written for ``get(name)`` returning the class works.

        ``registry.get(name)(context)`` builds an agent exactly like the class (or
        factory) would; build agents through the factory to have them cleaned up.
        """
        return self.target(*args, **kwargs)


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"agent name must be a non-empty str, got {name!r}")
    return name


def _is_plain_callable(fn: object) -> bool:
    # Functions, lambdas, methods, partials and classes build a new object per call.
    # Any other callable object is an instance whose state every request would share.
    return inspect.isroutine(fn) or isinstance(fn, (type, functools.partial))


class AgentClassRegistry:
    """Names → agent classes or factories.

    The registry only holds recipes, never agent instances, so no state can be
    shared between users through it. Build agents with
    ``AgentInstanceFactory.create_agent_instance``. Register everything at start-up,
    then :meth:`freeze`. There is deliberately no module-level default registry:
    create one per application and keep it on the app's state.
    """

    def __init__(self) -> None:
        self._specs: dict[str, AgentSpec] = {}
        self._frozen = False
        self._lock = threading.Lock()

    def register(self, name: str, cls: type, *, description: str = "") -> None:
        """Register agent class ``cls`` under ``name``; it is built as ``cls(context)``.

        Raises ``TypeError`` if ``cls`` is not a class (an instance would be shared),
        :class:`DuplicateAgentError` if ``name`` is taken, and
        :class:`RegistryFrozenError` after :meth:`freeze`.
        """
        _check_name(name)
        if not isinstance(cls, type):
            raise TypeError(
                f"register({name!r}, ...) takes a class, got an instance of "
                f"{type(cls).__name__}; register the class (or use register_factory) so "
                "every request gets its own agent"
            )
        self._add(AgentSpec(name, "class", cls, description))

    def register_factory(self, name: str, fn: AgentBuilder, *, description: str = "") -> None:
        """Register ``fn(context) -> agent`` under ``name``; it must return a new agent per call.

        ``fn`` must be a function, lambda, method, ``functools.partial`` or class;
        other callables are instances and raise ``TypeError``, as do ``async``
        functions (agents are built synchronously).
        """
        _check_name(name)
        if not callable(fn) or not _is_plain_callable(fn):
            raise TypeError(
                f"register_factory({name!r}, ...) takes a function returning a new agent, "
                f"got an instance of {type(fn).__name__}"
            )
        if inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"register_factory({name!r}, ...) takes a plain function; agents are built "
                "synchronously, so an async factory would return a coroutine"
            )
        self._add(AgentSpec(name, "factory", fn, description))

    def _add(self, spec: AgentSpec) -> None:
        with self._lock:
            if self._frozen:
                raise RegistryFrozenError(f"cannot register {spec.name!r}: the registry is frozen")
            if spec.name in self._specs:
                raise DuplicateAgentError(f"an agent named {spec.name!r} is already registered")
            self._specs[spec.name] = spec

    def freeze(self) -> None:
        """Refuse further registrations (idempotent)."""
        with self._lock:
            self._frozen = True

    @property
    def frozen(self) -> bool:
        """Whether :meth:`freeze` was called."""
        return self._frozen

    def get(self, name: str) -> AgentSpec:
        """Return the spec registered under ``name``, or raise :class:`UnknownAgentError`."""
        try:
            return self._specs[name]
        except (KeyError, TypeError):
            raise UnknownAgentError(name, self.names()) from None

    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        state = "frozen" if self._frozen else "open"
        return f"<AgentClassRegistry {state} agents={list(self._specs)!r}>"
