"""ISO101 singleton-class: a class that caches its own instance."""

from __future__ import annotations

import re
from typing import Any

from .._lazy import cst
from ._helpers import assignment_targets, decorator_names, walk
from .base import Option, Rule

ACCESSOR_METHODS = ("__new__", "get_instance", "instance", "get")


class SingletonClass(Rule):
    code = "ISO101"
    name = "singleton-class"
    family = "singletons"
    summary = "A class caches its own instance, so every request shares one object"
    prefilter = re.compile(rb"(?!)")  # built from `instance-attributes` by compile_prefilter
    options = (
        Option(
            "instance-attributes",
            "list[str]",
            ["_instance", "__instance", "_instances", "_singleton", "_shared_instance"],
            "Class attribute names that hold a cached instance.",
        ),
    )

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # Every finding needs an accessor storing the cache: `cls._instance = ...`
        # or `cls._instances[key] = ...`.
        names = b"|".join(re.escape(name.encode()) for name in settings.options_for(cls)["instance-attributes"])
        return re.compile(rb"\.(?:" + names + rb")\b\s*(?:\[[^\n]*\]\s*)?(?::[^\n=]*)?=(?!=)")

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        cache_attrs = self._declared_cache_attributes(node)
        if not cache_attrs:
            return
        for method in node.body.body:
            if not isinstance(method, cst.FunctionDef) or method.name.value not in ACCESSOR_METHODS:
                continue
            if method.name.value != "__new__" and not decorator_names(method) & {"classmethod", "staticmethod"}:
                continue
            attr = self._cached_attribute_assigned(method, cache_attrs)
            if attr:
                self.report(
                    node.name,
                    f"`{node.name.value}` caches its instance in `{attr}` (via `{method.name.value}`), "
                    "so every request shares one object and its state",
                    manual=(
                        "Register the class once with `AgentClassRegistry.register(...)` and create a fresh "
                        "instance per request with `AgentInstanceFactory.create_agent_instance(name, context)` "
                        "inside `user_execution_scope(...)`."
                    ),
                )
                return

    def _declared_cache_attributes(self, node: cst.ClassDef) -> set[str]:
        wanted = set(self.options["instance-attributes"])
        declared = set()
        for statement in node.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    for target in assignment_targets(small):
                        if isinstance(target, cst.Name) and target.value in wanted:
                            declared.add(target.value)
        return declared

    @staticmethod
    def _cached_attribute_assigned(method: cst.FunctionDef, cache_attrs: set[str]) -> str | None:
        """The cache attribute that `method` stores into (`cls._instance = ...`, `cls._instances[k] = ...`)."""
        for child in walk(method.body):
            if not isinstance(child, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                continue
            targets = assignment_targets(child) or ([child.target] if isinstance(child, cst.AugAssign) else [])
            for target in targets:
                if isinstance(target, cst.Subscript):
                    target = target.value
                if isinstance(target, cst.Attribute) and target.attr.value in cache_attrs:
                    return target.attr.value
        return None
