"""ISO104 agent-instance-registration: a registry handed agent instances instead of classes or factories."""

from __future__ import annotations

import re
from typing import Any

from .._lazy import cst
from ..findings import UNSAFE
from ..traversal import walk
from ._helpers import (
    alternation,
    dotted_name,
    glob_to_bytes_regex,
    last_name,
    matches_patterns,
    unanchored_alternatives,
)
from .base import FixSpec, Option, Rule


class AgentInstanceRegistration(Rule):
    code = "ISO104"
    name = "agent-instance-registration"
    family = "singletons"
    summary = "A registry holds agent instances, so every request runs the same agent objects"
    fix_safety = UNSAFE  # offered only where the registry is known to take factories
    prefilter = re.compile(rb"(?!)")  # built from `agent-classes` by compile_prefilter
    options = (
        Option("agent-classes", "list[str]", ["*Agent"], "Globs for agent class names."),
        Option(
            "register-methods",
            "list[str]",
            ["register", "register_agent", "add_agent"],
            "Function or method names that put an agent into a registry.",
        ),
        Option("factory-method", "str", "register_factory", "The registry method the fix calls with a factory."),
        Option(
            "factory-registries",
            "list[str]",
            ["isolint.runtime.AgentClassRegistry", "isolint.runtime.registry.AgentClassRegistry"],
            "Registry classes (qualified, or bare class names) known to have the factory method: the fix is offered only for them.",
        ),
    )

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # Every finding has an agent construction: `<...Agent>(`.
        fragments = (glob_to_bytes_regex(glob) for glob in settings.options_for(cls)["agent-classes"])
        return re.compile(alternation(unanchored_alternatives(fragments, rb"\s*\(")))

    # --- detection -------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if last_name(node.func) not in self.options["register-methods"]:
            return
        for arg in node.args:
            construction, binding = self._agent_argument(arg.value)
            if construction is None:
                continue
            agent = last_name(construction.func)
            via = f" (built into `{arg.value.value}` just before)" if binding is not None else ""
            self.report(
                node,
                f"`{dotted_name(node.func) or 'register'}(...)` stores one `{agent}` instance{via}; every request "
                "that looks it up runs the same object and sees the previous request's state",
                fix=self._fix(node, arg, construction, binding),
                manual=(
                    "Register a factory instead: `registry.register_factory(name, lambda context: "
                    f"{agent}(...))`, built per request inside `user_execution_scope(...)`. Arguments that are "
                    "themselves shared (a module-level session, a client) should come from `context` "
                    "(e.g. `context.db_session`). `isolint fix` makes this change only on a registry known to have "
                    "that method (`factory-registries`)."
                ),
            )
            return

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if self._is_agent_construction(value) and any(isinstance(t.target, cst.Subscript) for t in node.targets):
            self.report(
                node,
                f"a registry entry is set to one `{last_name(value.func)}` instance; every request that looks it up "
                "runs the same object",
                manual="Store the agent class or a factory (`lambda context: Agent(...)`) and build the agent per request.",
            )
            return
        scope = self.file.enclosing(cst.FunctionDef, cst.ClassDef, cst.Lambda)
        if scope is not None and not isinstance(scope, cst.ClassDef):
            return
        if not isinstance(value, (cst.Dict, cst.List, cst.Tuple, cst.Set)):
            return
        agents = [
            last_name(element.value.func)
            for element in value.elements
            if isinstance(element, (cst.DictElement, cst.Element)) and self._is_agent_construction(element.value)
        ]
        if agents:
            where = "module" if scope is None else "class"
            self.report(
                value,
                f"a {where}-level collection holds agent instances (`{agents[0]}`"
                f"{', ...' if len(agents) > 1 else ''}); every request that takes one runs the same object",
                manual=(
                    "Hold the agent classes (or factories) instead and build one per request, e.g. "
                    "`AgentClassRegistry.register(name, cls)` + `AgentInstanceFactory.create_agent_instance(name, context)`."
                ),
            )

    def _is_agent_construction(self, expression: cst.BaseExpression) -> bool:
        return (
            isinstance(expression, cst.Call)
            and matches_patterns(last_name(expression.func) or "", self.options["agent-classes"])
        )

    def _agent_argument(self, value: cst.BaseExpression) -> tuple[cst.Call | None, cst.SimpleStatementLine | None]:
        """(the agent construction, the line binding it to a local) for a register call's argument."""
        if self._is_agent_construction(value):
            return value, None
        function = self.file.enclosing(cst.FunctionDef)
        if not isinstance(value, cst.Name) or function is None:
            return None, None
        for statement in walk(function.body):
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if (
                    isinstance(small, cst.Assign)
                    and len(small.targets) == 1
                    and isinstance(small.targets[0].target, cst.Name)
                    and small.targets[0].target.value == value.value
                    and self._is_agent_construction(small.value)
                ):
                    return small.value, statement
        return None, None

    # --- the fix ---------------------------------------------------------------

    def _fix(
        self, call: cst.Call, arg: cst.Arg, construction: cst.Call, binding: cst.SimpleStatementLine | None
    ) -> FixSpec | None:
        if not isinstance(call.func, cst.Attribute) or self._uses_loop_variable(construction):
            return None  # a bare register function, or a lambda would capture the loop's last value
        if not self._registry_takes_factories(call.func.value):
            return None  # calling a method the registry may not have would break start-up
        factory = cst.Lambda(params=cst.Parameters(params=[cst.Param(cst.Name("context"))]), body=construction)
        method = self.options["factory-method"]
        new_call = call.with_changes(
            func=call.func.with_changes(attr=cst.Name(method)),
            args=[a.with_changes(value=factory) if a is arg else a for a in call.args],
        )
        replace: dict[Any, Any] = {call: new_call}
        if binding is not None:
            line = self.file.enclosing(cst.SimpleStatementLine)
            if len(binding.body) != 1 or line is None or self._local_uses(arg.value.value) != 2:
                return None  # the local is used elsewhere: a person decides what it becomes
            # The binding goes; comments above it move to the registration.
            comments = [entry for entry in binding.leading_lines if entry.comment is not None]
            replace = {
                binding: cst.RemoveFromParent(),
                line: line.deep_replace(call, new_call).with_changes(leading_lines=[*line.leading_lines, *comments]),
            }
        # Unsafe even then: the constructor's arguments are evaluated per request instead of once.
        return FixSpec(
            f"Register a factory: `{method}(name, lambda context: {last_name(construction.func)}(...))`",
            UNSAFE,
            replace=replace,
        )

    def _uses_loop_variable(self, construction: cst.Call) -> bool:
        names = {n.value for n in walk(construction) if isinstance(n, cst.Name)}
        for ancestor in self.file.ancestors:
            if isinstance(ancestor, (cst.For, cst.CompFor)):
                if names & {n.value for n in walk(ancestor.target) if isinstance(n, cst.Name)}:
                    return True
        return False

    def _local_uses(self, name: str) -> int:
        function = self.file.enclosing(cst.FunctionDef)
        return sum(1 for n in walk(function.body) if isinstance(n, cst.Name) and n.value == name)

    def _registry_takes_factories(self, receiver: cst.BaseExpression) -> bool:
        wanted = self.options["factory-registries"]
        candidates: set[str] = set()
        for expression in self._registry_type_expressions(receiver):
            for node in walk(expression):
                if isinstance(node, (cst.Name, cst.Attribute)):
                    candidates |= self.file.qualified_names(node)
                    candidates.add(last_name(node) or "")
        return any(entry in candidates for entry in wanted)

    def _registry_type_expressions(self, receiver: cst.BaseExpression) -> list[cst.BaseExpression]:
        """Expressions naming the registry's class: its constructor, or annotations of the name."""
        if isinstance(receiver, cst.Call):
            return [receiver.func]
        if not isinstance(receiver, cst.Name):
            return []
        found: list[cst.BaseExpression] = []
        function = self.file.enclosing(cst.FunctionDef)
        if function is not None:
            params = function.params
            for param in (*params.posonly_params, *params.params, *params.kwonly_params):
                if param.name.value == receiver.value and param.annotation is not None:
                    found.append(param.annotation.annotation)
        for scope in ([function.body] if function is not None else []) + [self.file.module]:
            for node in walk(scope):
                if isinstance(node, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == receiver.value for t in node.targets
                ):
                    if isinstance(node.value, cst.Call):
                        found.append(node.value.func)
                elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.target.value == receiver.value:
                    found.append(node.annotation.annotation)
        return found
