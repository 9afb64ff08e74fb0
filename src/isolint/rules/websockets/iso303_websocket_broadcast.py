"""ISO303 websocket-broadcast: request or agent code sending to every connected user."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...prefilters import NEVER, TextFilter
from ..ast_context import AstFile
from ..ast_helpers import first_param_name, last_name
from .analysis import FUNCTION_NODES, FunctionNode, Plumbing
from .family import BROADCAST_METHODS, WEBSOCKET_NAMES, IndexesPlumbing, WebSocketConfig, WebSocketRule

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex


class WebSocketBroadcast(IndexesPlumbing, WebSocketRule):
    code = "ISO303"
    name = "websocket-broadcast"
    family = "websockets"
    summary = "Request or agent code broadcasts over the WebSocket plumbing, reaching every connected user"
    prefilter = re.compile(rb"(?!)")  # built from `broadcast-methods` by compile_prefilter
    options = (WEBSOCKET_NAMES, BROADCAST_METHODS)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        methods = WebSocketConfig.of_rule(cls, settings).broadcast_methods
        if not methods:
            return NEVER
        return re.compile(rb"\.\s*(?:" + b"|".join(re.escape(m.encode()) for m in methods) + rb")\s*\(")

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, self.config)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in self.config.broadcast_methods:
            return
        function = self.file.enclosing_function()
        if function is None or self.plumbing.is_internal(function, self.file.enclosing(ast.ClassDef)):
            return
        if not self._is_plumbing_receiver(func.value, function):
            return
        self.report(
            node,
            f"`{self._receiver_code(func)}.{func.attr}(...)` sends to every connected user from request or agent code: "
            "one request's data reaches all users, and one dead socket in the loop stalls them all",
            manual=(
                "Send this request's events to its own user through `context.websocket_emitter` "
                "(`emit`, `send_to_user`, `notify_*`). A true system-wide announcement belongs in a separate, explicit "
                "channel (an admin-only endpoint with its own fan-out), not in request handling."
            ),
        )

    def _receiver_code(self, method: ast.Attribute) -> str:
        """The receiver as written, with any parentheses around it (`(await get_bridge())`):
        `ast` spans leave them out, the method's span starts at them."""
        return self.file.segment(method).rpartition(".")[0].rstrip()

    def _is_plumbing_receiver(self, receiver: ast.expr, function: FunctionNode) -> bool:
        if self.plumbing.source(receiver, function) or self.config.is_plumbing_name(last_name(receiver)):
            return True
        if isinstance(receiver, ast.Name) and self._bound_locally(receiver.id, function):
            return True
        return self._captured_attribute(receiver, function)

    def _bound_locally(self, name: str, function: FunctionNode) -> bool:
        """`bridge = get_websocket_bridge()` anywhere in the function."""
        return any(
            isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
            and self.plumbing.source(node.value, function) is not None
            for statement in function.body
            for node in ast.walk(statement)
        )

    def _captured_attribute(self, receiver: ast.expr, function: FunctionNode) -> bool:
        """`self.websocket` where this class or a direct base stores plumbing in `websocket`."""
        owner = self.file.enclosing(ast.ClassDef)
        if not (
            owner is not None
            and isinstance(receiver, ast.Attribute)
            and isinstance(receiver.value, ast.Name)
            and receiver.value.id == first_param_name(function)
        ):
            return False
        methods = [m for m in owner.body if isinstance(m, FUNCTION_NODES) and first_param_name(m)]
        if any(capture.target.attr == receiver.attr for m in methods for capture in self.plumbing.captures(m)):
            return True
        return receiver.attr in self.plumbing.inherited_captures(owner)
