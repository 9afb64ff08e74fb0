"""ISO104 agent-instance-registration: a registry handed agent instances instead of classes or factories.

Two shapes: a registry given an agent built on the spot (`register(name,
DataAgent(...))`), and a function forwarding an agent it was given into a
process-wide registry (`def add(self, agent): registry.register(agent.name,
agent)`, a property setter registering each agent of a list). The second is
reported only when the registry is provably process-wide (`_SharedRegistry`).

Reads the index facts "singletons:accessor", "singletons:cached-getter" and
"singletons:class" (see `family`): a registry fetched from a singleton
accessor is process-wide.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...index import RENAME
from ...prefilters import AllOf, AnyOf, TextFilter
from .._helpers import alternation, glob_to_bytes_regex, matches_patterns, unanchored_alternatives
from ..ast_context import AstRule
from ..ast_helpers import assignment_targets, decorator_names, dotted_name, first_param_name, last_name
from ..base import CstEdit, FixSpec, Option
from .aliases import KIND_ALIAS, through_aliases
from .family import (
    ACCESSOR_KINDS,
    COMPOUND_STATEMENTS,
    FUNCTIONS,
    KIND_CLASS,
    ClassFact,
    Function,
    family_config,
    spelled_names,
    walk,
    walk_body,
)

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView
    from ...index import ProjectIndex

# Parameter names that hold one agent / several, when no annotation says otherwise.
AGENT_PARAMS = ("agent", "*_agent")
AGENTS_PARAMS = ("agents", "*_agents")
MODEL_DECORATORS = frozenset({"dataclass", "define", "frozen", "attrs", "s"})
CONTAINER_TYPES = frozenset(
    {"list", "List", "Sequence", "Iterable", "Collection", "tuple", "Tuple", "set", "Set", "frozenset"}
)
NOT_INSTANCE_TYPES = frozenset({"type", "Type", "Callable"})
# Container methods that keep what they are given: an agent forwarded or
# built into a process-wide registry through them is kept as surely as
# through `register` (`registry.add(name, agent)`, `_pool.append(Agent())`).
# Unlike `register`, they are read only when the container is provably
# process-wide. A queue's `put` is not one: it hands each item to one
# consumer, as a job queue carries a request's own agent to a worker.
STORING_METHODS = frozenset({"add", "append", "insert", "set", "setdefault"})
# Accessors whose result is one process-wide registry, besides those the index knows.
REGISTRY_ACCESSORS = ("get_*registry*", "*.get_instance", "*.instance")
FORWARD_MANUAL = (
    "Register the agent's class or a factory once at start-up (`AgentClassRegistry.register(name, cls)`) and build a "
    "fresh instance per request (`AgentInstanceFactory.create_agent_instance(name, context)`). If this registry only "
    "routes to agents already created per request, keep it per request too (on the context) instead of process-wide."
)


class AgentInstanceRegistration(AstRule):
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

    reads_facts = (*ACCESSOR_KINDS, KIND_CLASS, KIND_ALIAS, RENAME)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        # A finding has an agent construction, `<...Agent>(`, or forwards an
        # agent (the word `agent` or an agent class name is somewhere in the
        # file) through a register call, a container method or a subscript store.
        config = family_config(settings)
        fragments = [glob_to_bytes_regex(glob) for glob in config.agent_classes]
        constructions = alternation(unanchored_alternatives(fragments, rb"\s*\("))
        # `gent` first: `re` skips ahead to a literal, not to a character class;
        # a class name spelling the word (`*Agent`) is found by the word alone.
        others = [f for f in unanchored_alternatives(fragments) if not re.search(rb"[Aa]gent", f)]
        agent_words = alternation([rb"gent(?<=[Aa]gent)"], others)
        storing = rb"\.(?:" + b"|".join(re.escape(m.encode()) for m in sorted(STORING_METHODS)) + rb")\s*\("
        stores = alternation(
            [re.escape(m.encode()) + rb"\s*\(" for m in config.register_methods], [rb"\]\s*=(?!=)", storing]
        )
        forwarding = AllOf(re.compile(agent_words), re.compile(stores))  # both anywhere in the file
        return AnyOf(re.compile(constructions), forwarding)

    # --- detection -------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        method = last_name(node.func)
        registers = method in family_config(self.settings).register_methods
        if not registers and (method not in STORING_METHODS or _sets_one_value(node)):
            return
        arguments = _arguments(node)
        if registers and self._report_constructed(node, arguments):
            return
        if isinstance(node.func, ast.Attribute):
            if not registers and self._report_stored(node, arguments, node.func.value):
                return
            for value in arguments:
                if self._report_forwarded(node, value, node.func.value):
                    return

    def _report_stored(self, node: ast.Call, arguments: list[ast.expr], receiver: ast.expr) -> bool:
        """`_agents.append(SomeAgent(...))` into a process-wide container (a
        container method has no factory form to fix it to)."""
        construction = next((c for c, _ in map(self._agent_argument, arguments) if c is not None), None)
        container = self._shared_registry(receiver, self.file.enclosing_function()) if construction else None
        if construction is None or container is None:
            return False
        agent = last_name(construction.func)
        self.report(
            node,
            f"`{dotted_name(node.func)}(...)` puts one `{agent}` instance into {container}; every request that "
            "takes it from there runs the same object and sees the previous request's state",
            manual=(
                "Keep the agent class or a factory there instead (`lambda context: "
                f"{agent}(...)`) and build one per request, e.g. `AgentClassRegistry.register(name, cls)` + "
                "`AgentInstanceFactory.create_agent_instance(name, context)`."
            ),
        )
        return True

    def _report_constructed(self, node: ast.Call, arguments: list[ast.expr]) -> bool:
        """`register(name, SomeAgent(...))`, or of a local bound to one just before."""
        for position, value in enumerate(arguments):
            construction, binding = self._agent_argument(value)
            if construction is None:
                continue
            agent = last_name(construction.func)
            via = (
                f" (built into `{value.id}` just before)" if binding is not None and isinstance(value, ast.Name) else ""
            )
            self.report(
                node,
                f"`{dotted_name(node.func) or 'register'}(...)` stores one `{agent}` instance{via}; every request "
                "that looks it up runs the same object and sees the previous request's state",
                fix=self._fix(node, position, construction, binding),
                manual=(
                    "Register a factory instead: `registry.register_factory(name, lambda context: "
                    f"{agent}(...))`, built per request inside `user_execution_scope(...)`. Arguments that are "
                    "themselves shared (a module-level session, a client) should come from `context` "
                    "(e.g. `context.db_session`). `isolint fix` makes this change only on a registry known to have "
                    "that method (`factory-registries`)."
                ),
            )
            return True
        return False

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        for target in node.targets:
            if isinstance(target, ast.Subscript) and self._report_forwarded(node, value, target.value):
                return
        if (
            isinstance(value, ast.Call)
            and self._is_agent_construction(value)
            and any(isinstance(t, ast.Subscript) for t in node.targets)
        ):
            self.report(
                node,
                f"a registry entry is set to one `{last_name(value.func)}` instance; every request that looks it up "
                "runs the same object",
                manual="Store the agent class or a factory (`lambda context: Agent(...)`) and build the agent per request.",
            )
            return
        scope = self.file.enclosing(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
        if scope is not None and not isinstance(scope, ast.ClassDef):
            return
        agents = [
            last_name(element.func)
            for element in _collection_values(value)
            if isinstance(element, ast.Call) and self._is_agent_construction(element)
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

    def _is_agent_construction(self, expression: ast.expr) -> bool:
        return isinstance(expression, ast.Call) and matches_patterns(
            last_name(expression.func) or "", family_config(self.settings).agent_classes
        )

    def _agent_argument(self, value: ast.expr) -> tuple[ast.Call | None, ast.Assign | None]:
        """(the agent construction, the statement binding it to a local) for a register call's argument."""
        if isinstance(value, ast.Call) and self._is_agent_construction(value):
            return value, None
        function = self.file.enclosing_function()
        if not isinstance(value, ast.Name) or function is None:
            return None, None
        for statement in walk_body(function.body):
            if (
                isinstance(statement, ast.Assign)
                and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and statement.targets[0].id == value.id
                and isinstance(statement.value, ast.Call)
                and self._is_agent_construction(statement.value)
                and self._line_of(statement) is not None
            ):
                return statement.value, statement
        return None, None

    def _line_of(self, statement: ast.stmt) -> list[ast.stmt] | None:
        """The statements written on the same line(s) as `statement`
        (`a = 1; b = 2`), or None when they follow a compound statement's colon
        (`if x: b = 2`): what LibCST calls a line of small statements, and a
        suite that is not one."""
        siblings = next(
            (
                body
                for body in (getattr(self.file.parent(statement), f, None) for f in ("body", "orelse", "finalbody"))
                if isinstance(body, list) and any(s is statement for s in body)
            ),
            None,
        )
        if siblings is None or isinstance(statement, COMPOUND_STATEMENTS):
            return None
        index = next(i for i, s in enumerate(siblings) if s is statement)
        first = index
        while first > 0 and siblings[first - 1].end_lineno == siblings[first].lineno:
            first -= 1
        last = index
        while last + 1 < len(siblings) and siblings[last + 1].lineno == siblings[last].end_lineno:
            last += 1
        opening = siblings[first]
        if self.file.lines[opening.lineno - 1][: self.file.column(opening.lineno, opening.col_offset)].strip():
            return None
        return siblings[first : last + 1]

    # --- forwarding an agent it was given ----------------------------------------

    def _report_forwarded(self, node: ast.AST, value: ast.expr, receiver: ast.expr) -> bool:
        function = self.file.enclosing_function()
        if function is None:
            return False
        agent = self._forwarded_agent(value, function)
        registry = self._shared_registry(receiver, function) if agent is not None else None
        if registry is None:
            return False
        who = f"the `{function.name}` setter" if _is_setter(function) else f"`{function.name}()`"
        self.report(
            node,
            f"{who} puts {agent} into {registry}; every request that looks it up runs that one object and sees the "
            "previous request's state",
            manual=FORWARD_MANUAL,
        )
        return True

    def _forwarded_agent(self, value: ast.expr, function: Function) -> str | None:
        """How to name the agent instance(s) `value` is, when they came in as a parameter."""
        if not isinstance(value, ast.Name):
            return None
        params = _params(function)
        bindings = _bindings(function, value.id)
        if value.id in params:
            if bindings or not self._holds_agents(params[value.id], plural=False):
                return None  # rebound in the body, or not an agent
            return f"the agent instance it was given (`{value.id}`)"
        if len(bindings) != 1 or not isinstance(bindings[0], ast.For | ast.AsyncFor):
            return None
        loop = bindings[0]
        if not isinstance(loop.target, ast.Name):
            return None
        source = loop.iter
        if not isinstance(source, ast.Name) or source.id not in params or _bindings(function, source.id):
            return None
        param = params[source.id]
        setter_of_agents = _is_setter(function) and _agents_name(function.name) and param.annotation is None
        if self._holds_agents(param, plural=True) or setter_of_agents:
            return f"each agent instance it was given (`{source.id}`)"
        return None

    def _holds_agents(self, param: ast.arg, *, plural: bool) -> bool:
        """An agent (`plural`: a collection of agents) by its annotation, or by its name when it has none."""
        if param.annotation is None:
            return matches_patterns(param.arg, AGENTS_PARAMS if plural else AGENT_PARAMS)
        names = _annotation_words(param.annotation)
        if names & NOT_INSTANCE_TYPES or not any(
            matches_patterns(n, family_config(self.settings).agent_classes) for n in names
        ):
            return False
        return bool(names & CONTAINER_TYPES) == plural

    def _shared_registry(self, receiver: ast.expr, function: Function | None) -> str | None:
        """How to name the registry `receiver` is, when it is provably process-wide
        (`function`: the one the code is in, None at import time)."""
        if isinstance(receiver, ast.Call):
            return (
                f"the process-wide registry `{dotted_name(receiver.func)}()` returns"
                if self._is_accessor(receiver)
                else None
            )
        if isinstance(receiver, ast.Name):
            if function is not None and (receiver.id in _params(function) or _bindings(function, receiver.id)):
                return None
            return f"the module-level registry `{receiver.id}`" if _module_binds(self.file.tree, receiver.id) else None
        klass = self.file.enclosing(ast.ClassDef)
        if klass is None or function is None:
            return None
        if not isinstance(receiver, ast.Attribute) or not isinstance(receiver.value, ast.Name):
            return None
        if receiver.value.id != first_param_name(function) or not first_param_name(function):
            return None
        attribute = receiver.attr
        if _class_attribute(klass, attribute):
            return f"the class attribute `{klass.name}.{attribute}`, which every instance shares"
        values = _instance_assignments(klass, attribute)
        shared = [self._shared_value(v, method) for method, v in values]
        if not shared or None in shared:
            return None  # set per instance somewhere, or never set here
        return f"`{receiver.value.id}.{attribute}`, which holds {shared[0]}"

    def _shared_value(self, value: ast.expr, method: Function) -> str | None:
        if isinstance(value, ast.Call) and self._is_accessor(value):
            return f"the process-wide `{dotted_name(value.func)}()`"
        if isinstance(value, ast.Name) and value.id not in _params(method) and not _bindings(method, value.id):
            return f"the module-level `{value.id}`" if _module_binds(self.file.tree, value.id) else None
        return None

    def _is_accessor(self, call: ast.Call) -> bool:
        callee = dotted_name(call.func)
        if callee is None or call.args or call.keywords:
            return False
        if matches_patterns(callee, REGISTRY_ACCESSORS):
            return True
        project = self.file.project
        for qualname in through_aliases(project, self.file.qualified_names(call.func)):
            if any(project.get(kind, qualname) for kind in ACCESSOR_KINDS):
                return True
            owner, _, method = qualname.rpartition(".")
            fact = project.get(KIND_CLASS, owner)
            if fact is not None and method in ClassFact.read(fact).accessors:
                return True
        return False

    # --- the fix ---------------------------------------------------------------

    def _fix(self, call: ast.Call, position: int, construction: ast.Call, binding: ast.Assign | None) -> FixSpec | None:
        if not isinstance(call.func, ast.Attribute) or self._uses_loop_variable(construction):
            return None  # a bare register function, or a lambda would capture the loop's last value
        if not self._registry_takes_factories(call.func.value):
            return None  # calling a method the registry may not have would break start-up
        if binding is not None:
            binding_line = self._line_of(binding)
            statement = self.file.enclosing(ast.stmt)
            line = self._line_of(statement) if statement is not None else None
            local = binding.targets[0].id if isinstance(binding.targets[0], ast.Name) else ""
            if binding_line is None or len(binding_line) != 1 or line is None or self._local_uses(local) != 2:
                return None  # the local is used elsewhere: a person decides what it becomes
        method = family_config(self.settings).factory_method
        # Unsafe even then: the constructor's arguments are evaluated per request instead of once.
        return FixSpec(
            f"Register a factory: `{method}(name, lambda context: {last_name(construction.func)}(...))`",
            UNSAFE,
            build=_factory_registration(FactoryRegistration(call, position, construction, method, binding)),
        )

    def _uses_loop_variable(self, construction: ast.Call) -> bool:
        names = set(spelled_names(construction))
        for ancestor in self.file.ancestors:
            if isinstance(ancestor, ast.For | ast.AsyncFor | ast.comprehension) and names & set(
                spelled_names(ancestor.target)
            ):
                return True
        return False

    def _local_uses(self, name: str) -> int:
        function = self.file.enclosing_function()
        if function is None:  # a binding outside any function has no local uses to count
            return 0
        return sum(1 for statement in function.body for spelled in spelled_names(statement) if spelled == name)

    def _registry_takes_factories(self, receiver: ast.expr) -> bool:
        wanted = family_config(self.settings).factory_registries
        candidates: set[str] = set()
        for expression in self._registry_type_expressions(receiver):
            for node in walk(expression):
                if isinstance(node, ast.Name | ast.Attribute):
                    candidates |= self.file.qualified_names(node)
                    candidates.add(last_name(node) or "")
        return any(entry in candidates for entry in wanted)

    def _registry_type_expressions(self, receiver: ast.expr) -> list[ast.expr]:
        """Expressions naming the registry's class: its constructor, or annotations of the name."""
        if isinstance(receiver, ast.Call):
            return [receiver.func]
        if not isinstance(receiver, ast.Name):
            return []
        found: list[ast.expr] = []
        function = self.file.enclosing_function()
        if function is not None:
            param = _params(function).get(receiver.id)
            if param is not None and param.annotation is not None:
                found.append(param.annotation)
        scopes: list[ast.AST] = [*(function.body if function is not None else []), self.file.tree]
        for node in (node for scope in scopes for node in walk(scope)):
            if isinstance(node, ast.Assign) and any(_is_name(t, receiver.id) for t in node.targets):
                if isinstance(node.value, ast.Call):
                    found.append(node.value.func)
            elif isinstance(node, ast.AnnAssign) and _is_name(node.target, receiver.id):
                found.append(node.annotation)
        return found


@dataclass(frozen=True)
class FactoryRegistration:
    """What the fix rewrites: `registry.register(name, Agent(...))` to
    `registry.register_factory(name, lambda context: Agent(...))`."""

    call: ast.Call
    position: int  # of the agent among the call's arguments
    construction: ast.Call
    method: str  # the factory method
    binding: ast.Assign | None  # `agent = Agent(...)` before the call, which goes


def _factory_registration(fix: FactoryRegistration) -> Callable[[CstView], CstEdit]:
    def build(view: CstView) -> CstEdit:
        call = view.node(fix.call, cst.Call)
        arg = call.args[fix.position]
        construction = view.node(fix.construction, cst.Call)
        factory = cst.Lambda(params=cst.Parameters(params=[cst.Param(cst.Name("context"))]), body=construction)
        new_call = call.with_changes(
            func=call.func.with_changes(attr=cst.Name(fix.method)),
            args=[a.with_changes(value=factory) if a is arg else a for a in call.args],
        )
        if fix.binding is None:
            return CstEdit(replace={call: new_call})
        binding = _line_holding(view, view.node(fix.binding, cst.Assign))
        line = _line_holding(view, call)
        # The binding goes; comments above it move to the registration.
        comments = [entry for entry in binding.leading_lines if entry.comment is not None]
        return CstEdit(
            replace={
                binding: cst.RemoveFromParent(),
                line: line.deep_replace(call, new_call).with_changes(leading_lines=[*line.leading_lines, *comments]),
            }
        )

    return build


def _line_holding(view: CstView, node: Any) -> Any:
    """The LibCST line of small statements holding `node`."""
    while not isinstance(node, cst.SimpleStatementLine):
        node = view.parents.get(id(node))
        if node is None:
            raise LookupError("no line of simple statements around the registration")
    return node


def _arguments(call: ast.Call) -> list[ast.expr]:
    """A call's argument values in the order written, `*x` and `**x` as `x`
    (LibCST's `Call.args`)."""
    written = [(a.lineno, a.col_offset, a.value if isinstance(a, ast.Starred) else a) for a in call.args]
    written += [(k.lineno, k.col_offset, k.value) for k in call.keywords]
    return [value for _, _, value in sorted(written, key=lambda w: w[:2])]


def _collection_values(value: ast.expr) -> list[ast.expr]:
    """The values a literal dict, list, tuple or set holds (not `*x` / `**x`)."""
    if isinstance(value, ast.Dict):
        return [v for k, v in zip(value.keys, value.values, strict=True) if k is not None]
    if isinstance(value, ast.List | ast.Tuple | ast.Set):
        return [e for e in value.elts if not isinstance(e, ast.Starred)]
    return []


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _params(function: Function) -> dict[str, ast.arg]:
    arguments = function.args
    return {param.arg: param for param in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)}


def _bindings(function: Function, name: str) -> list[ast.stmt | ast.expr]:
    """The statements of the function's body that bind `name`: assignments and `for` loops."""
    found: list[ast.stmt | ast.expr] = []
    for node in walk_body(function.body):
        if isinstance(node, ast.Assign):
            if any(_binds(t, name) for t in node.targets):
                found.append(node)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr | ast.For | ast.AsyncFor) and _binds(
            node.target, name
        ):
            found.append(node)
    return found


def _binds(target: ast.expr, name: str) -> bool:
    if isinstance(target, ast.Name):
        return target.id == name
    if isinstance(target, ast.Starred):
        return _binds(target.value, name)
    if isinstance(target, ast.Tuple | ast.List):
        return any(_binds(element, name) for element in target.elts)
    return False


def _is_setter(function: Function) -> bool:
    return any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in function.decorator_list)


def _agents_name(name: str) -> bool:
    return matches_patterns(name, AGENTS_PARAMS)


def _annotation_words(annotation: ast.expr) -> set[str]:
    """Identifiers in an annotation, quoted ones included (`"list[BaseAgent]"`)."""
    words = set()
    for node in walk(annotation):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words |= set(re.findall(r"\w+", node.value))
    return words


def _sets_one_value(call: ast.Call) -> bool:
    """`var.set(value)`: a `ContextVar` keeps one value per context (the
    per-request pattern itself), unlike `registry.set(name, agent)`."""
    return last_name(call.func) == "set" and len(call.args) + len(call.keywords) < 2


def _module_binds(tree: ast.Module, name: str) -> bool:
    """Whether the module binds `name` at its top level (an assignment, import, class or function)."""
    for statement in tree.body:
        if isinstance(statement, (*FUNCTIONS, ast.ClassDef)) and statement.name == name:
            return True
        if isinstance(statement, ast.Assign | ast.AnnAssign) and any(
            _binds(t, name) for t in assignment_targets(statement)
        ):
            return True
        if isinstance(statement, ast.Import | ast.ImportFrom):
            for alias in statement.names:
                if alias.name != "*" and (alias.asname or alias.name.partition(".")[0]) == name:
                    return True  # `import a.b` binds `a`
    return False


def _class_attribute(klass: ast.ClassDef, attribute: str) -> bool:
    """`attribute = ...` directly in the class body, one object for every
    instance. Annotated ones count only as `ClassVar[...]`: dataclass, attrs
    and pydantic fields (`agents: dict = field(default_factory=dict)`) are per instance."""
    if decorator_names(klass) & MODEL_DECORATORS:
        return False
    for statement in klass.body:
        if isinstance(statement, ast.Assign) and any(_binds(t, attribute) for t in statement.targets):
            return True
        if (
            isinstance(statement, ast.AnnAssign)
            and statement.value is not None
            and _binds(statement.target, attribute)
            and "ClassVar" in _annotation_words(statement.annotation)
        ):
            return True
    return False


def _instance_assignments(klass: ast.ClassDef, attribute: str) -> Iterator[tuple[Function, ast.expr]]:
    """(method, value) for every `self.<attribute> = value` in the class's methods."""
    for method in klass.body:
        if not isinstance(method, FUNCTIONS) or not first_param_name(method):
            continue
        receiver = first_param_name(method)
        for node in walk_body(method.body):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                for target in assignment_targets(node):
                    if (
                        isinstance(target, ast.Attribute)
                        and target.attr == attribute
                        and isinstance(target.value, ast.Name)
                        and target.value.id == receiver
                    ):
                        yield method, node.value
