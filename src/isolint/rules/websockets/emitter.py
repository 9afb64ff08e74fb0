"""Moving emission onto the request context's emitter (the ISO302 and ISO304 fixes).

Whether uses of the shared manager can become `context.websocket_emitter`
is decided on `ast`, during the check (`plan_swap`), so that a plain check
knows which findings offer a fix. The LibCST edits that make the swap are
built only when a run applies or shows edits (`EmitterSwap.replacements`,
`without_statement`), on nodes found by span in a `CstView`.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from ...config import RUNTIME_MODULE
from ...semantic import Parameter, Signature, call_shape
from .analysis import FunctionNode, own_nodes
from .family import EMITTER_ATTRIBUTE

if TYPE_CHECKING:
    import libcst as cst

    from ...cst_view import CstView
else:
    from ..._lazy import cst

Parents = Mapping[ast.AST, ast.AST]  # node -> parent, as `AstFile.parents`
Replacement = Union["cst.CSTNode", "cst.RemovalSentinel"]


@dataclass(frozen=True)
class EmitterSwap:
    """Uses of the shared manager that become `<context>.websocket_emitter`."""

    context: str  # the parameter carrying the request context
    replaced: tuple[ast.expr, ...]  # each use, with the `await` in front of it when it has one

    def replacements(self, view: CstView) -> dict[cst.CSTNode, Replacement]:
        """The LibCST edits. Raises LookupError when a use has no LibCST
        expression at its span (a parenthesised one): the fix is then dropped."""
        emitter = cst.Attribute(value=cst.Name(self.context), attr=cst.Name(EMITTER_ATTRIBUTE))
        return {view.node(use, _cst_class(use)): emitter for use in self.replaced}


def _cst_class(use: ast.expr) -> type[cst.BaseExpression]:
    """The LibCST class of a use: a call, a name or an attribute, or the `await` of one."""
    classes: dict[type[ast.expr], type[cst.BaseExpression]] = {
        ast.Call: cst.Call,
        ast.Name: cst.Name,
        ast.Attribute: cst.Attribute,
        ast.Await: cst.Await,
    }
    return classes[type(use)]


def plan_swap(
    uses: Sequence[ast.expr],
    function: FunctionNode,
    parents: Parents,
    context: str,
    supported: Collection[str],
    signatures: Mapping[str, Signature] | None = None,
) -> EmitterSwap | str:
    """The swap that makes `context.websocket_emitter` stand where each use
    of the shared manager stood in `function`, or why there is none.

    A use qualifies as the receiver of a method call (`use.send_to_user(...)`)
    or as the value of a local binding (`bridge = use`) whose every later use
    is such a receiver or a truth test; every method called must be supported.
    With the emitter's `signatures` known (isolint's runtime), each call must
    also be one the emitter's method takes: a manager's
    `send_to_user(user_id, event, payload)` is not the emitter's
    `send_to_user(user_id, message, *, event)`, and would raise TypeError.
    """
    body = own_nodes(function)
    if _rebinds(context, body):
        return f"`{context}` is reassigned in this function"
    calls: list[ast.Call] = []
    replaced = []
    for use in uses:
        parent = parents.get(use)
        if isinstance(parent, ast.Await):  # `bridge = await get_bridge()`: the await goes too
            use, parent = parent, parents.get(parent)
        call = _method_call(use, parents)
        if call is not None:
            calls.append(call)
        elif isinstance(parent, ast.Assign) and parent.value is use and len(parent.targets) == 1:
            target = parent.targets[0]
            if not isinstance(target, ast.Name):
                return "its value is stored, not just called"
            local_calls = _calls_on_local(target, body, parents)
            if isinstance(local_calls, str):
                return local_calls
            calls += local_calls
        else:
            return "it is passed, returned or stored rather than called"
        replaced.append(use)
    methods = {_method_name(call) for call in calls}
    known = set(supported) if signatures is None else set(supported) & set(signatures)
    unsupported = sorted(methods - known)
    if unsupported:
        names = ", ".join(f"`{m}`" for m in unsupported)
        return f"the per-user emitter has no {names} (supported: see `emitter-methods`)"
    if signatures is not None:
        for call in calls:
            problem = _unlike_the_emitter(call, signatures[_method_name(call)])
            if problem is not None:
                return problem
    for call in calls:
        if _method_name(call) == "send_to_user" and not _sends_to_the_request_user(call, context, function, body):
            recipient = _recipient(call)
            shown = f"`{ast.unparse(recipient)}`" if recipient is not None else "a recipient it cannot name"
            return (
                f"`.send_to_user(...)` sends to {shown}, which may be another user than the request's: the per-user "
                f"emitter sends only to `{context}.user_id` and refuses anyone else (CrossUserEmitError); a "
                "message for another user belongs on a channel that user's own connection reads"
            )
    return EmitterSwap(context, tuple(replaced))


def _recipient(call: ast.Call) -> ast.expr | None:
    """The `user_id` a `send_to_user(...)` call passes (first, or by name); None when unpacked."""
    if call.args:
        return None if isinstance(call.args[0], ast.Starred) else call.args[0]
    return next((keyword.value for keyword in call.keywords if keyword.arg == "user_id"), None)


def _sends_to_the_request_user(call: ast.Call, context: str, function: FunctionNode, body: list[ast.AST]) -> bool:
    """Whether a `send_to_user(...)` call's recipient is the request's own
    user: `<context>.user_id`, or a local bound once, to that, and never
    again. A manager sends to any user; the emitter only to its own, so a
    swap of a send to anyone else (an admin, a ticket's owner, a parameter)
    would raise where the program sent before."""
    recipient = _recipient(call)
    if recipient is None or _is_user_id_of(recipient, context):
        return recipient is not None
    if not isinstance(recipient, ast.Name) or recipient.id in _parameter_names(function):
        return False
    bindings = _bindings(recipient.id, body)
    return (
        len(bindings) == 1
        and isinstance(bindings[0], ast.Assign)
        and len(bindings[0].targets) == 1
        and _is_user_id_of(bindings[0].value, context)
    )


def _is_user_id_of(expr: ast.expr, context: str) -> bool:
    return (
        isinstance(expr, ast.Attribute)
        and expr.attr == "user_id"
        and isinstance(expr.value, ast.Name)
        and expr.value.id == context
    )


def _parameter_names(function: FunctionNode) -> set[str]:
    args = function.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {arg.arg for arg in every if arg is not None}


def _method_call(expr: ast.AST, parents: Parents) -> ast.Call | None:
    """The call `expr.send(...)` when `expr` is the receiver of one."""
    parent = parents.get(expr)
    if isinstance(parent, ast.Attribute) and parent.value is expr:
        call = parents.get(parent)
        if isinstance(call, ast.Call) and call.func is parent:
            return call
    return None


def _method_name(call: ast.Call) -> str:
    assert isinstance(call.func, ast.Attribute)  # as _method_call found it
    return call.func.attr


def _unlike_the_emitter(call: ast.Call, signature: Signature) -> str | None:
    """Why the emitter's method would not take `call` as the manager's did, or None."""
    method = _method_name(call)
    if signature.bind(call_shape(call)) is None:
        return f"`.{method}(...)` is called in a way the emitter's `{method}{signature.text()}` does not take"
    lone = call.args[0] if len(call.args) == 1 and not call.keywords else None
    if method == "notify_agent_error" and lone is not None and not _is_text(lone):
        # The emitter raises TypeError on a first argument that is not the agent's name.
        return (
            "`.notify_agent_error(...)` with one argument may be the legacy `notify_agent_error(error)` form, "
            "which the emitter refuses (it takes the agent's name first; `isolint.runtime.compat` keeps the old form)"
        )
    return None


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _parameters(names: str) -> tuple[Parameter, ...]:
    """`"a b=` ...": parameters, `=` marking one with a default."""
    return tuple(Parameter(name.rstrip("="), "", name.endswith("=")) for name in names.split())


# The methods of `isolint.runtime.UserWebSocketEmitter` and how they are
# called (a test checks this table against the runtime; the rules never import it).
EMITTER_SIGNATURES: Mapping[str, Signature] = {
    "emit": Signature(_parameters("event payload="), 0, (), False, False),
    "send_to_user": Signature(_parameters("user_id message"), 0, _parameters("event="), False, False),
    "notify_agent_started": Signature(_parameters("agent_name"), 0, (), False, True),
    "notify_agent_thinking": Signature(_parameters("agent_name thought="), 0, (), False, True),
    "notify_tool_executing": Signature(_parameters("tool_name"), 0, (), False, True),
    "notify_tool_completed": Signature(_parameters("tool_name result="), 0, (), False, True),
    "notify_agent_completed": Signature(_parameters("agent_name result="), 0, (), False, True),
    "notify_agent_error": Signature(_parameters("agent_name error="), 0, (), False, True),
}


def emitter_signatures(context_module: str) -> Mapping[str, Signature] | None:
    """The emitter's signatures when the context is isolint's (`context-class`
    names another: its emitter is known only by `emitter-methods`)."""
    return EMITTER_SIGNATURES if context_module == RUNTIME_MODULE else None


def _is_truth_test(name: ast.Name, parents: Parents) -> bool:
    """`if bridge:`, `while bridge:`, `not bridge`, `bridge is None`, `bridge is not None`."""
    parent = parents.get(name)
    if isinstance(parent, (ast.If, ast.While)) and parent.test is name:
        return True
    if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        return True
    return (
        isinstance(parent, ast.Compare)
        and parent.left is name
        and len(parent.ops) == 1
        and isinstance(parent.ops[0], (ast.Is, ast.IsNot))
        and isinstance(parent.comparators[0], ast.Constant)
        and parent.comparators[0].value is None
    )


def _calls_on_local(target: ast.Name, body: list[ast.AST], parents: Parents) -> list[ast.Call] | str:
    """The method calls on the local `target` elsewhere in the body, or why it is not only called."""
    calls: list[ast.Call] = []
    for node in body:
        if not isinstance(node, ast.Name) or node.id != target.id or node is target:
            continue
        call = _method_call(node, parents)
        if call is not None:
            calls.append(call)
        elif not _is_truth_test(node, parents):
            return f"`{target.id}` is used other than by calling its methods"
    return calls


def _rebinds(name: str, body: list[ast.AST]) -> bool:
    """Whether the body binds `name` itself (see `_bindings`)."""
    return bool(_bindings(name, body))


def _bindings(name: str, body: list[ast.AST]) -> list[ast.AST]:
    """The nodes of the body that bind `name` itself: assignment, loop, `with
    ... as`, `except ... as`, `import ... as` or walrus; a binding in an
    unpacking target counts too (`a, name = ...`), as one that is not a
    plain assignment of the name."""
    found: list[ast.AST] = []
    for node in body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr)):
            targets = [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        elif isinstance(node, ast.ExceptHandler):
            targets = []
            if node.name == name:
                found.append(node)
        elif isinstance(node, ast.alias):
            targets = []
            if node.asname == name:
                found.append(node)
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            found.append(node)
        elif any(
            isinstance(element, ast.Name) and element.id == name
            for target in targets
            if isinstance(target, (ast.Tuple, ast.List))
            for element in ast.walk(target)
        ):
            found.append(node)  # unpacked: not `name = <value>`
    return found


def without_statement(assign: cst.CSTNode, parents: Mapping[int, cst.CSTNode]) -> dict[cst.CSTNode, Replacement]:
    """Replacements deleting the small statement `assign`, leaving `pass`
    where the block would be empty (`parents`: `CstView.parents`)."""
    line = parents[id(assign)]
    if isinstance(line, cst.SimpleStatementLine) and len(line.body) > 1:
        return {assign: cst.RemoveFromParent()}
    block = parents.get(id(line))
    if isinstance(line, cst.SimpleStatementLine) and isinstance(block, cst.IndentedBlock) and len(block.body) == 1:
        # the statement's own trailing comment goes with it
        return {line: line.with_changes(body=[cst.Pass()], trailing_whitespace=cst.TrailingWhitespace())}
    return {line: cst.RemoveFromParent()}
