"""LibCST helpers of the rules not yet ported to `ast` (removed with the last of them)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ..._lazy import cst
from ...traversal import walk
from .family import PER_RUN_ATTRIBUTES


def holds_per_request_state(class_name: str | None, settings: Any, class_node: Any = None) -> bool:
    """Whether a singleton of this class holds per-user state (an agent, a
    conversation), so one object per call is the fix; otherwise it is
    process-wide infrastructure (a registry, a connection manager, a limiter,
    a breaker, a pool, a locator, config), whose one object is its point."""
    if class_name is None:
        return False
    if any(fnmatchcase(class_name, pattern) for pattern in settings.singletons["per-request-classes"]):
        return True
    if class_node is None:
        return False
    return any(
        isinstance(node, cst.Attribute)
        and node.attr.value in PER_RUN_ATTRIBUTES
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
        for node in walk(class_node)
    )


def module_class(module: Any, name: str | None) -> Any:
    """The module-level class `name` defined in this module, if any."""
    return next((s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == name), None)


def cache_receivers(role: str, decorators: set[str], first_param: str | None, class_name: str) -> set[str]:
    """Names through which `role`'s method reaches the class: its name, and `cls`."""
    receivers = {class_name}
    if first_param and (role == "new" or "classmethod" in decorators):
        receivers.add(first_param)
    return receivers
