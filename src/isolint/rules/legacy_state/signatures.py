"""Legacy `execute(state, run_id, ...)` signatures and the calls to them, on
the `ast`: what ISO405 reports and its fixes rewrite."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...index import Fact
from ..ast_context import AstFile
from .callees import callee_facts
from .family import RUN_ID, RUN_ID_SIGNATURE, STATE_TYPE, Function, named_parameters
from .references import LegacyNames, LegacyReferences


@dataclass(frozen=True)
class LegacySignature:
    """A function that takes the legacy state (or, half-migrated, the context) and a separate `run_id`."""

    function: Function
    state: ast.arg
    run_id: ast.arg


def legacy_signature(references: LegacyReferences, function: Function) -> LegacySignature | None:
    every = named_parameters(function)
    run_id = next((p for p in every if p.arg == RUN_ID), None)
    if run_id is None:
        return None
    for param in every:
        if param.annotation is None or param is run_id:
            continue
        if references.is_state_type(param.annotation) or references.is_context_type(param.annotation):
            return LegacySignature(function, param, run_id)
    return None


def default_of(function: Function, param: ast.arg) -> ast.expr | None:
    """The default value of a named parameter, if it has one."""
    args = function.args
    if param in args.kwonlyargs:
        return args.kw_defaults[args.kwonlyargs.index(param)]
    positional = [*args.posonlyargs, *args.args]
    offset = len(positional) - len(args.defaults)
    index = positional.index(param)
    return args.defaults[index - offset] if index >= offset else None


def is_none(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def blocker(file: AstFile, signature: LegacySignature) -> str | None:
    """Why the signature cannot be rewritten to take one context, or None."""
    function, state = signature.function, signature.state
    for param in (state, signature.run_id):
        if file.names.binding_count(function, param.arg) != 1:
            return f"`{param.arg}` is reassigned in `{function.name}`"
    if _may_be_none(file, function, state):
        return f"`{state.arg}` may be None, and `context.{RUN_ID}` on None would raise where `{RUN_ID}` did not"
    return None


def _may_be_none(file: AstFile, function: Function, param: ast.arg) -> bool:
    """`x: Optional[State]`, `x: State | None`, or `x=None`."""
    if is_none(default_of(function, param)):
        return True
    annotation = param.annotation
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        text = annotation.value
    else:
        text = file.segment(annotation)
    return "Optional" in text or any(
        part.strip() == "None" for part in text.replace("[", ",").replace("]", ",").replace("|", ",").split(",")
    )


# --- calls ----------------------------------------------------------------------


@dataclass(frozen=True)
class Argument:
    """One argument of a call, as written: `keyword=value`, `*value`, `**value` or `value`."""

    node: ast.expr | ast.keyword
    value: ast.expr
    keyword: str | None
    star: str  # "", "*" or "**"


def call_arguments(call: ast.Call) -> list[Argument]:
    """The call's arguments in the order the source writes them."""
    found = [
        Argument(arg, arg.value, None, "*") if isinstance(arg, ast.Starred) else Argument(arg, arg, None, "")
        for arg in call.args
    ]
    found += [Argument(k, k.value, k.arg, "" if k.arg is not None else "**") for k in call.keywords]
    return sorted(found, key=lambda a: (a.node.lineno, a.node.col_offset))


def state_parameter(data: Mapping[str, Any], names: LegacyNames) -> str | None:
    """The parameter of a run-id signature fact that takes the state."""
    for param, annotation_names in data["annotations"].items():
        if any(n == STATE_TYPE or n in names.aliases for n in annotation_names):
            return param
    return None


def legacy_signature_facts(file: AstFile, names: LegacyNames, func: ast.expr) -> list[Fact]:
    """The run-id signatures a call's `func` may call, with a state parameter this file can name."""
    return [f for f in callee_facts(file, RUN_ID_SIGNATURE, func) if state_parameter(f.data, names) is not None]


def located_arguments(
    arguments: list[Argument], data: Mapping[str, Any], names: LegacyNames
) -> tuple[int, int, str] | None:
    """Indices of the state and run_id arguments, and the state parameter's name."""
    state_param = state_parameter(data, names)
    if state_param is None or any(arg.star for arg in arguments):
        return None
    positional = data["positional"]
    supplied = sum(1 for arg in arguments if arg.keyword is None or arg.keyword in positional)
    if supplied < data["required"]:
        return None  # too few arguments for the legacy signature: already migrated, or another function

    def index_of(param: str) -> int | None:
        for index, arg in enumerate(arguments):
            if arg.keyword == param:
                return index
        if param in positional:
            position = positional.index(param)
            if position < len(arguments) and arguments[position].keyword is None:
                return position
        return None

    state_index, run_id_index = index_of(state_param), index_of(RUN_ID)
    if state_index is None or run_id_index is None:
        return None
    return state_index, run_id_index, state_param


def is_name_in(value: ast.expr, names: set[str]) -> bool:
    return isinstance(value, ast.Name) and value.id in names


def mentions_run_id(value: ast.expr) -> bool:
    return (isinstance(value, ast.Name) and value.id == RUN_ID) or (
        isinstance(value, ast.Attribute) and value.attr == RUN_ID
    )


def is_run_id_of(value: ast.expr, state_name: str) -> bool:
    return (
        isinstance(value, ast.Attribute)
        and value.attr == RUN_ID
        and isinstance(value.value, ast.Name)
        and value.value.id == state_name
    )


def run_id_comes_from(caller: Function, call: ast.Call, run_id_name: str, state_name: str) -> bool:
    """Whether, where `call` runs, `run_id_name` still holds `state_name.run_id`:
    the last statement of the function body before the one holding the call
    that assigns it is `run_id = state.run_id`, and neither name changes after it."""
    source = None
    for statement in caller.body:
        if any(child is call for child in ast.walk(statement)):
            return source == state_name and not ({run_id_name, state_name} & _assigned_names(statement))
        assigned = _assigned_names(statement)
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and is_name_in(statement.targets[0], {run_id_name})
            and is_run_id_of(statement.value, state_name)
        ):
            source = state_name
        elif run_id_name in assigned or state_name in assigned:
            source = None
    return False


def _assigned_names(node: ast.AST) -> set[str]:
    """Names bound anywhere inside `node` by assignment-like statements."""
    bound: set[str] = set()
    for child in ast.walk(node):
        targets: list[ast.AST] = []
        if isinstance(child, ast.Assign):
            targets = list(child.targets)
        elif isinstance(child, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor, ast.comprehension, ast.NamedExpr)):
            targets = [child.target]
        elif isinstance(child, ast.withitem) and child.optional_vars is not None:
            targets = [child.optional_vars]
        elif isinstance(child, ast.ExceptHandler) and child.name:
            bound.add(child.name)
        elif isinstance(child, ast.alias) and child.asname:
            bound.add(child.asname)
        for target in targets:
            bound |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return bound
