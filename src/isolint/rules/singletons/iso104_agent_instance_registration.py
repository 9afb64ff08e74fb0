"""ISO104 agent-instance-registration: a registry handed agent instances instead of classes or factories.

Two shapes: a registry given an agent built on the spot (`register(name,
DataAgent(...))`), and a function forwarding an agent it was given into a
process-wide registry (`def add(self, agent): registry.register(agent.name,
agent)`, a property setter registering each agent of a list). The second is
reported only when the registry is provably process-wide (`_SharedRegistry`).

Reads the index facts "singletons:accessor", "singletons:cached-getter" and
"singletons:class" (see `_singletons`): a registry fetched from a singleton
accessor is process-wide.
"""

from __future__ import annotations

import re
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk
from .._helpers import (
    alternation,
    assignment_targets,
    decorator_names,
    dotted_name,
    first_param_name,
    glob_to_bytes_regex,
    last_name,
    matches_patterns,
    unanchored_alternatives,
)
from ..base import FixSpec, Option, Rule
from . import family as _family

# Parameter names that hold one agent / several, when no annotation says otherwise.
AGENT_PARAMS = ("agent", "*_agent")
AGENTS_PARAMS = ("agents", "*_agents")
MODEL_DECORATORS = frozenset({"dataclass", "define", "frozen", "attrs", "s"})
CONTAINER_TYPES = frozenset(
    {"list", "List", "Sequence", "Iterable", "Collection", "tuple", "Tuple", "set", "Set", "frozenset"}
)
NOT_INSTANCE_TYPES = frozenset({"type", "Type", "Callable"})
# Accessors whose result is one process-wide registry, besides those the index knows.
REGISTRY_ACCESSORS = ("get_*registry*", "*.get_instance", "*.instance")
FORWARD_MANUAL = (
    "Register the agent's class or a factory once at start-up (`AgentClassRegistry.register(name, cls)`) and build a "
    "fresh instance per request (`AgentInstanceFactory.create_agent_instance(name, context)`). If this registry only "
    "routes to agents already created per request, keep it per request too (on the context) instead of process-wide."
)


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

    reads_facts = (*_family.ACCESSOR_KINDS, _family.KIND_CLASS)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A finding has an agent construction, `<...Agent>(`, or forwards an
        # agent (the word `agent` or an agent class name is somewhere in the
        # file) through a register call or a subscript store.
        options = settings.options_for(cls)
        fragments = [glob_to_bytes_regex(glob) for glob in options["agent-classes"]]
        constructions = unanchored_alternatives(fragments, rb"\s*\(")
        agent_words = alternation([rb"[Aa]gent"], unanchored_alternatives(fragments))
        stores = alternation(
            [re.escape(m.encode()) + rb"\s*\(" for m in options["register-methods"]], [rb"\]\s*=(?!=)"]
        )
        # Both anywhere in the file, scanned a line at a time from its start:
        # one linear pass, far cheaper in `re` than a lazy scan byte by byte.
        forwarding = rb"\A(?=(?:[^\n]*\n)*?[^\n]*" + agent_words + rb")(?:[^\n]*\n)*?[^\n]*?" + stores
        return re.compile(alternation(constructions, [forwarding]))

    # --- detection -------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if last_name(node.func) not in self.option_values["register-methods"]:
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
        if isinstance(node.func, cst.Attribute):
            for arg in node.args:
                if self._report_forwarded(node, arg.value, node.func.value):
                    return

    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        for target in node.targets:
            if isinstance(target.target, cst.Subscript) and self._report_forwarded(node, value, target.target.value):
                return
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
        return isinstance(expression, cst.Call) and matches_patterns(
            last_name(expression.func) or "", self.option_values["agent-classes"]
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

    # --- forwarding an agent it was given ----------------------------------------

    def _report_forwarded(self, node: cst.CSTNode, value: cst.BaseExpression, receiver: cst.BaseExpression) -> bool:
        function = self.file.enclosing(cst.FunctionDef)
        if function is None:
            return False
        agent = self._forwarded_agent(value, function)
        registry = self._shared_registry(receiver, function) if agent is not None else None
        if registry is None:
            return False
        who = f"the `{function.name.value}` setter" if _is_setter(function) else f"`{function.name.value}()`"
        self.report(
            node,
            f"{who} puts {agent} into {registry}; every request that looks it up runs that one object and sees the "
            "previous request's state",
            manual=FORWARD_MANUAL,
        )
        return True

    def _forwarded_agent(self, value: cst.BaseExpression, function: cst.FunctionDef) -> str | None:
        """How to name the agent instance(s) `value` is, when they came in as a parameter."""
        if not isinstance(value, cst.Name):
            return None
        params = _params(function)
        bindings = _bindings(function, value.value)
        if value.value in params:
            if bindings or not self._holds_agents(params[value.value], plural=False):
                return None  # rebound in the body, or not an agent
            return f"the agent instance it was given (`{value.value}`)"
        if len(bindings) != 1 or not isinstance(bindings[0], cst.For) or not isinstance(bindings[0].target, cst.Name):
            return None
        source = bindings[0].iter
        if not isinstance(source, cst.Name) or source.value not in params or _bindings(function, source.value):
            return None
        param = params[source.value]
        setter_of_agents = _is_setter(function) and _agents_name(function.name.value) and param.annotation is None
        if self._holds_agents(param, plural=True) or setter_of_agents:
            return f"each agent instance it was given (`{source.value}`)"
        return None

    def _holds_agents(self, param: cst.Param, *, plural: bool) -> bool:
        """An agent (`plural`: a collection of agents) by its annotation, or by its name when it has none."""
        if param.annotation is None:
            return matches_patterns(param.name.value, AGENTS_PARAMS if plural else AGENT_PARAMS)
        names = _annotation_words(param.annotation.annotation)
        if names & NOT_INSTANCE_TYPES or not any(
            matches_patterns(n, self.option_values["agent-classes"]) for n in names
        ):
            return False
        return bool(names & CONTAINER_TYPES) == plural

    def _shared_registry(self, receiver: cst.BaseExpression, function: cst.FunctionDef) -> str | None:
        """How to name the registry `receiver` is, when it is provably process-wide."""
        if isinstance(receiver, cst.Call):
            return (
                f"the process-wide registry `{dotted_name(receiver.func)}()` returns"
                if self._is_accessor(receiver)
                else None
            )
        if isinstance(receiver, cst.Name):
            if receiver.value in _params(function) or _bindings(function, receiver.value):
                return None
            return (
                f"the module-level registry `{receiver.value}`"
                if _module_binds(self.file.module, receiver.value)
                else None
            )
        klass = self.file.enclosing(cst.ClassDef)
        if klass is None or not isinstance(receiver, cst.Attribute) or not isinstance(receiver.value, cst.Name):
            return None
        if receiver.value.value != first_param_name(function) or not first_param_name(function):
            return None
        attribute = receiver.attr.value
        if _class_attribute(klass, attribute):
            return f"the class attribute `{klass.name.value}.{attribute}`, which every instance shares"
        values = _instance_assignments(klass, attribute)
        shared = [self._shared_value(v, method) for method, v in values]
        if not shared or None in shared:
            return None  # set per instance somewhere, or never set here
        return f"`{receiver.value.value}.{attribute}`, which holds {shared[0]}"

    def _shared_value(self, value: cst.BaseExpression, method: cst.FunctionDef) -> str | None:
        if isinstance(value, cst.Call) and self._is_accessor(value):
            return f"the process-wide `{dotted_name(value.func)}()`"
        if isinstance(value, cst.Name) and value.value not in _params(method) and not _bindings(method, value.value):
            return f"the module-level `{value.value}`" if _module_binds(self.file.module, value.value) else None
        return None

    def _is_accessor(self, call: cst.Call) -> bool:
        callee = dotted_name(call.func)
        if callee is None or call.args:
            return False
        if matches_patterns(callee, REGISTRY_ACCESSORS):
            return True
        project = self.file.project
        for qualname in self.file.qualified_names(call.func):
            if any(project.get(kind, qualname) for kind in _family.ACCESSOR_KINDS):
                return True
            owner, _, method = qualname.rpartition(".")
            fact = project.get(_family.KIND_CLASS, owner)
            if fact is not None and method in fact.data.get("accessors", ()):
                return True
        return False

    # --- the fix ---------------------------------------------------------------

    def _fix(
        self, call: cst.Call, arg: cst.Arg, construction: cst.Call, binding: cst.SimpleStatementLine | None
    ) -> FixSpec | None:
        if not isinstance(call.func, cst.Attribute) or self._uses_loop_variable(construction):
            return None  # a bare register function, or a lambda would capture the loop's last value
        if not self._registry_takes_factories(call.func.value):
            return None  # calling a method the registry may not have would break start-up
        factory = cst.Lambda(params=cst.Parameters(params=[cst.Param(cst.Name("context"))]), body=construction)
        method = self.option_values["factory-method"]
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
            if isinstance(ancestor, (cst.For, cst.CompFor)) and names & {
                n.value for n in walk(ancestor.target) if isinstance(n, cst.Name)
            }:
                return True
        return False

    def _local_uses(self, name: str) -> int:
        function = self.file.enclosing(cst.FunctionDef)
        if function is None:  # a binding outside any function has no local uses to count
            return 0
        return sum(1 for n in walk(function.body) if isinstance(n, cst.Name) and n.value == name)

    def _registry_takes_factories(self, receiver: cst.BaseExpression) -> bool:
        wanted = self.option_values["factory-registries"]
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
                elif (
                    isinstance(node, cst.AnnAssign)
                    and isinstance(node.target, cst.Name)
                    and node.target.value == receiver.value
                ):
                    found.append(node.annotation.annotation)
        return found


def _params(function: cst.FunctionDef) -> dict[str, cst.Param]:
    p = function.params
    return {param.name.value: param for param in (*p.posonly_params, *p.params, *p.kwonly_params)}


def _bindings(function: cst.FunctionDef, name: str) -> list[cst.CSTNode]:
    """The statements of the function's body that bind `name`: assignments and `for` loops."""
    found: list[cst.CSTNode] = []
    for node in walk(function.body):
        if isinstance(node, cst.Assign):
            if any(_binds(t.target, name) for t in node.targets):
                found.append(node)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.For)) and _binds(node.target, name):
            found.append(node)
    return found


def _binds(target: cst.BaseExpression, name: str) -> bool:
    if isinstance(target, cst.Name):
        return target.value == name
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_binds(element.value, name) for element in target.elements)
    return False


def _is_setter(function: cst.FunctionDef) -> bool:
    return any(
        isinstance(d.decorator, cst.Attribute) and d.decorator.attr.value == "setter" for d in function.decorators
    )


def _agents_name(name: str) -> bool:
    return matches_patterns(name, AGENTS_PARAMS)


def _annotation_words(annotation: cst.BaseExpression) -> set[str]:
    """Identifiers in an annotation, quoted ones included (`"list[BaseAgent]"`)."""
    words = set()
    for node in walk(annotation):
        if isinstance(node, cst.Name):
            words.add(node.value)
        elif isinstance(node, cst.Attribute):
            words.add(node.attr.value)
        elif isinstance(node, cst.SimpleString):
            words |= set(re.findall(r"\w+", node.raw_value))
    return words


def _module_binds(module: cst.Module, name: str) -> bool:
    """Whether the module binds `name` at its top level (an assignment, import, class or function)."""
    for statement in module.body:
        if isinstance(statement, (cst.ClassDef, cst.FunctionDef)) and statement.name.value == name:
            return True
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, (cst.Assign, cst.AnnAssign)) and any(
                _binds(t, name) for t in assignment_targets(small)
            ):
                return True
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    while isinstance(bound, cst.Attribute):
                        bound = bound.value  # `import a.b` binds `a`
                    if isinstance(bound, cst.Name) and bound.value == name:
                        return True
    return False


def _class_attribute(klass: cst.ClassDef, attribute: str) -> bool:
    """`attribute = ...` directly in the class body, one object for every
    instance. Annotated ones count only as `ClassVar[...]`: dataclass, attrs
    and pydantic fields (`agents: dict = field(default_factory=dict)`) are per instance."""
    if decorator_names(klass) & MODEL_DECORATORS:
        return False
    for statement in klass.body.body:
        for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
            if isinstance(small, cst.Assign) and any(_binds(t.target, attribute) for t in small.targets):
                return True
            if (
                isinstance(small, cst.AnnAssign)
                and small.value is not None
                and _binds(small.target, attribute)
                and "ClassVar" in _annotation_words(small.annotation.annotation)
            ):
                return True
    return False


def _instance_assignments(klass: cst.ClassDef, attribute: str) -> list[tuple[cst.FunctionDef, cst.BaseExpression]]:
    """(method, value) for every `self.<attribute> = value` in the class's methods."""
    found = []
    for method in klass.body.body:
        if not isinstance(method, cst.FunctionDef) or not first_param_name(method):
            continue
        receiver = first_param_name(method)
        for node in walk(method.body):
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                for target in assignment_targets(node):
                    if (
                        isinstance(target, cst.Attribute)
                        and target.attr.value == attribute
                        and isinstance(target.value, cst.Name)
                        and target.value.value == receiver
                    ):
                        found.append((method, node.value))
    return found
