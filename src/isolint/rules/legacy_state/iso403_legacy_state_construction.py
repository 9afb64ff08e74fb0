"""ISO403 legacy-state-construction: building a legacy state object."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...config import RUNTIME_MODULE
from ...findings import UNSAFE
from ..base import Option
from .context_fix import context_fix
from .family import LegacyStateConfig, LegacyStateRule
from .imports import mentioned_names
from .references import legacy_references, source_code

if TYPE_CHECKING:
    from ...cst_view import CstView

CREATE = "create"


@dataclass(frozen=True)
class ArgumentPlan:
    """Where one argument of the legacy construction goes in `create(...)`."""

    keyword: str | None = None  # a field the context has, under its name there
    metadata: bool = False  # a literal `metadata={...}`: its entries join the new metadata
    extra: str | None = None  # a literal value for another field: a metadata entry under this key


class LegacyStateConstruction(LegacyStateRule):
    code = "ISO403"
    name = "legacy-state-construction"
    summary = "A legacy mutable `DeepAgentState` is constructed"
    fix_safety = UNSAFE
    options = (
        Option(
            "constructors",
            "list[str]",
            ["model_validate", "parse_obj"],
            "Class methods of the legacy class that build an instance from data.",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._constructors = tuple(self.option_values["constructors"])
        self._config = LegacyStateConfig.of(self.settings)

    def visit_Call(self, node: ast.Call) -> None:
        references = legacy_references(self.file)
        if not references.is_construction(node, self._constructors) or references.in_class_body(self.file.ancestors):
            return
        target = self._config.context_name
        shown = source_code(self.file, node.func)
        message = (
            f"`{shown}(...)` builds a mutable per-run state object; per-request code builds an immutable `{target}`"
        )
        create = f"`{target}.create(user_id=..., thread_id=..., run_id=..., metadata={{...}})`"
        if not references.is_reference(node.func):
            self.report(
                node,
                message,
                manual=f"`{shown}` builds the state from data isolint cannot see: build {create} from the request instead.",
            )
            return
        plans, problems = self._plan_arguments(node)
        if problems:
            self.report(node, message, manual=f"Build {create} by hand: {'; '.join(problems)}.")
            return
        escape = self._escape(node)
        if escape is not None:
            self.report(node, message, manual=f"Build {create} by hand: {escape}.")
            return
        surviving = {CREATE, *(name for plan in plans for name in (plan.keyword, plan.extra) if name)}
        for argument in [*node.args, *node.keywords]:
            surviving |= mentioned_names(argument.value if isinstance(argument, ast.keyword) else argument)
        if any(plan.metadata or plan.extra for plan in plans):
            surviving.add("metadata")
        fix = context_fix(
            self.file,
            f"Build the context with `{target}.create(...)`",
            UNSAFE,
            [node],
            surviving,
            _create_call(node, plans, target),
        )
        self.report(node, message, fix=fix)

    def _plan_arguments(self, node: ast.Call) -> tuple[list[ArgumentPlan], list[str]]:
        """Where each argument goes in `create(...)`, in source order, or what stops the mapping."""
        field_map = self._config.field_map
        plans: list[ArgumentPlan] = []
        problems: list[str] = []
        arguments: list[ast.expr | ast.keyword] = [*node.args, *node.keywords]
        arguments.sort(key=lambda a: (a.lineno, a.col_offset))  # as written: `f(a=1, *rest)` keeps its order
        for argument in arguments:
            if isinstance(argument, ast.Starred):
                problems.append(f"`*{source_code(self.file, argument.value)}` hides which fields are set")
            elif not isinstance(argument, ast.keyword):
                problems.append(f"the positional argument `{source_code(self.file, argument)}` has no field name")
            elif argument.arg is None:
                problems.append(f"`**{source_code(self.file, argument.value)}` hides which fields are set")
            elif argument.arg in field_map:
                keyword = field_map[argument.arg]
                rejected = self._rejected_id(keyword, argument.value)
                if rejected is not None:
                    problems.append(
                        f"`{argument.arg}={source_code(self.file, argument.value)}` is no id the context accepts "
                        f"({rejected}): give it the real one"
                    )
                plans.append(ArgumentPlan(keyword=keyword))
            elif argument.arg == "metadata" and isinstance(argument.value, ast.Dict) and _is_literal(argument.value):
                plans.append(ArgumentPlan(metadata=True))
            elif _is_literal(argument.value):
                plans.append(ArgumentPlan(extra=argument.arg))
            else:
                problems.append(
                    f"`{argument.arg}={source_code(self.file, argument.value)}` is neither in `[legacy-state] "
                    "field-map` nor a literal (pass it to the agent that needs it, or put it in `metadata`)"
                )
        targets = [plan.keyword for plan in plans if plan.keyword is not None]
        duplicated = sorted({t for t in targets if targets.count(t) > 1})
        if duplicated:
            problems.append(f"several fields map onto `{duplicated[0]}`")
        hides_fields = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        if "user_id" not in targets and not hides_fields:
            problems.append("no `user_id` is given, and a context always belongs to a user")
        return plans, problems

    def _escape(self, node: ast.Call) -> str | None:
        """Where the built state goes that `isolint fix`'s verification cannot
        follow, or None. It follows a state passed to a call, returned, kept
        on an attribute or bound to a variable whose every use is one of
        those or an attribute of it; the fix is refused there if the context
        would not do. Kept anywhere else (a dict, a tuple, a closure), what
        reads it later is not known."""
        file = self.file
        parent = file.parent(node)
        if isinstance(parent, ast.keyword):
            parent = file.parent(parent)
        if (isinstance(parent, ast.Call) and parent.func is not node) or isinstance(parent, ast.Return):
            return None
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is node:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Attribute):
                return None
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return self._variable_escape(targets[0], parent)
        return f"the new state would be kept in {_described(parent)}, where what reads it is not followed"

    def _variable_escape(self, target: ast.Name, binding: ast.stmt) -> str | None:
        """`_escape` for a state bound to a variable: each read of it must be followed."""
        names = self.file.names
        owner = names.innermost_owner(binding)
        if isinstance(owner, ast.Module):
            return None  # built at import time: refused as such
        for read in names.reads(owner, target.id):
            if names.innermost_owner(read) is not owner:
                return f"`{target.id}` is read in a nested function, which `isolint fix` does not follow"
            use = self.file.parent(read)
            if isinstance(use, ast.keyword):
                use = self.file.parent(use)
            followed = (
                isinstance(use, ast.Attribute)
                or (isinstance(use, ast.Call) and use.func is not read)
                or isinstance(use, ast.Return)
                or (isinstance(use, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in use.ops))
            )
            if not followed:
                return f"`{target.id}` is also kept in {_described(use)}, where what reads it is not followed"
        return None

    def _rejected_id(self, keyword: str, value: ast.expr) -> str | None:
        """Why isolint's context would reject the literal `value` for the id
        `keyword` when it is built (`UserExecutionContext.create` raises), or
        None: a placeholder such as `"default"`, an empty id, a `None` user."""
        if self._config.context_module != RUNTIME_MODULE or keyword not in _VALIDATED_IDS:
            return None
        if not isinstance(value, ast.Constant) or (value.value is None and keyword != "user_id"):
            return None  # not known before it runs; a missing optional id is generated
        from isolint.runtime import DEFAULT_ID_POLICY  # the rule that judges ids at run time
        from isolint.runtime.errors import InvalidContextError

        try:
            DEFAULT_ID_POLICY.validate(keyword, value.value)
        except InvalidContextError as error:
            return error.problem
        return None


# The ids `UserExecutionContext.create` validates.
_VALIDATED_IDS = frozenset({"user_id", "thread_id", "run_id", "request_id", "parent_request_id"})


_DESCRIBED = {
    ast.Dict: "a dict",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Yield: "a `yield`",
    ast.YieldFrom: "a `yield from`",
    ast.Lambda: "a lambda",
    ast.Subscript: "an item",
    ast.Starred: "a starred expression",
    ast.NamedExpr: "an assignment expression",
}


def _described(node: ast.AST | None) -> str:
    return _DESCRIBED.get(type(node), "an expression") if node is not None else "an expression"


def _create_call(node: ast.Call, plans: list[ArgumentPlan], target: str) -> Any:
    """The fix's edit: `<target>.create(...)` with the arguments placed by `plans`."""

    def build(view: CstView) -> Mapping[Any, Any]:
        call = view.node(node, cst.Call)
        identity: list[cst.Arg] = []
        extras: list[cst.BaseDictElement] = []
        for arg, plan in zip(call.args, plans, strict=True):
            if plan.keyword is not None:
                identity.append(arg.with_changes(keyword=cst.Name(plan.keyword)))
            elif plan.metadata and isinstance(arg.value, cst.Dict):
                extras.extend(arg.value.elements)
            elif plan.extra is not None:
                extras.append(cst.DictElement(cst.SimpleString(f'"{plan.extra}"'), arg.value))
        args = [arg.with_changes(comma=cst.MaybeSentinel.DEFAULT) for arg in identity]
        if extras:
            elements = [e.with_changes(comma=cst.MaybeSentinel.DEFAULT) for e in extras]
            args.append(cst.Arg(cst.Dict(elements), keyword=cst.Name("metadata"), equal=_equal(call)))
        last_comma = call.args[-1].comma if call.args else cst.MaybeSentinel.DEFAULT
        args = [arg.with_changes(comma=original.comma) for arg, original in zip(args, call.args, strict=False)] + args[
            len(call.args) :
        ]
        args[-1] = args[-1].with_changes(comma=last_comma)
        return {call: call.with_changes(func=cst.Attribute(cst.Name(target), cst.Name(CREATE)), args=args)}

    return build


def _equal(call: cst.Call) -> Any:
    """The `=` of the first keyword argument, spacing included, for the added `metadata=`."""
    for arg in call.args:
        if arg.keyword is not None:
            return arg.equal
    return cst.MaybeSentinel.DEFAULT


def _is_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return node.value is not Ellipsis
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = node.operand
        return (
            isinstance(operand, ast.Constant)
            and isinstance(operand.value, (int, float))
            and not isinstance(operand.value, bool)
        )
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(not isinstance(e, ast.Starred) and _is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(
            k is not None and _is_literal(k) and _is_literal(v) for k, v in zip(node.keys, node.values, strict=True)
        )
    return False
