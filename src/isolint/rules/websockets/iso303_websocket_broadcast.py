"""ISO303 websocket-broadcast: request or agent code sending to every connected user."""

from __future__ import annotations

import re
from typing import Any

from ..._lazy import cst
from ...traversal import walk
from .._helpers import first_param_name, last_name
from ..base import Option, Rule
from ._cst_plumbing import WEBSOCKET_NAMES, IndexesPlumbing, Plumbing


class WebSocketBroadcast(IndexesPlumbing, Rule):
    code = "ISO303"
    name = "websocket-broadcast"
    family = "websockets"
    summary = "Request or agent code broadcasts over the WebSocket plumbing, reaching every connected user"
    prefilter = re.compile(rb"(?!)")  # built from `broadcast-methods` by compile_prefilter
    options = (
        WEBSOCKET_NAMES,
        Option(
            "broadcast-methods",
            "list[str]",
            ["broadcast", "broadcast_to_all", "send_to_all"],
            "Methods of WebSocket plumbing that deliver to every connected user.",
        ),
    )

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        methods = settings.options_for(cls)["broadcast-methods"]
        if not methods:
            return re.compile(rb"(?!)")
        return re.compile(rb"\.\s*(?:" + b"|".join(re.escape(m.encode()) for m in methods) + rb")\s*\(")

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, options["websocket-names"])

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in self.option_values["broadcast-methods"]:
            return
        function = self.file.enclosing(cst.FunctionDef)
        if function is None or self.plumbing.is_internal(function, self.file.enclosing(cst.ClassDef)):
            return
        receiver = self._plumbing_receiver(func.value, function)
        if receiver is None:
            return
        self.report(
            node,
            f"`{receiver}.{func.attr.value}(...)` sends to every connected user from request or agent code: "
            "one request's data reaches all users, and one dead socket in the loop stalls them all",
            manual=(
                "Send this request's events to its own user through `context.websocket_emitter` "
                "(`emit`, `send_to_user`, `notify_*`). A true system-wide announcement belongs in a separate, explicit "
                "channel (an admin-only endpoint with its own fan-out), not in request handling."
            ),
        )

    def _plumbing_receiver(self, receiver: cst.BaseExpression, function: cst.FunctionDef) -> str | None:
        """How `receiver` is shared plumbing, shown as code; None if it is not."""
        shown = self.file.module.code_for_node(receiver)
        if self.plumbing.source(receiver, function) or self.plumbing.is_name(last_name(receiver)):
            return shown
        if isinstance(receiver, cst.Name) and self._bound_locally(receiver.value, function):
            return shown
        if self._captured_attribute(receiver, function):
            return shown
        return None

    def _bound_locally(self, name: str, function: cst.FunctionDef) -> bool:
        """`bridge = get_websocket_bridge()` earlier in the function."""
        return any(
            isinstance(node, cst.Assign)
            and any(isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets)
            and self.plumbing.source(node.value, function) is not None
            for node in walk(function.body)
        )

    def _captured_attribute(self, receiver: cst.BaseExpression, function: cst.FunctionDef) -> bool:
        """`self.websocket` where this class or a direct base stores plumbing in `websocket`."""
        owner = self.file.enclosing(cst.ClassDef)
        if not (
            owner is not None
            and isinstance(receiver, cst.Attribute)
            and isinstance(receiver.value, cst.Name)
            and receiver.value.value == first_param_name(function)
        ):
            return False
        attr = receiver.attr.value
        methods = [m for m in owner.body.body if isinstance(m, cst.FunctionDef) and first_param_name(m)]
        if any(c.target.attr.value == attr for m in methods for c in self.plumbing.captures(m)):
            return True
        return attr in self.plumbing.inherited_captures(owner)
