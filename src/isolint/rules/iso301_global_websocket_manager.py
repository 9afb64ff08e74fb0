"""ISO301 global-websocket-manager: WebSocket plumbing bound at module level.

Contributes the family's index facts (see `_websockets`), for ISO301-ISO304.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from .._lazy import cst
from ._helpers import assignment_targets, is_module_level
from ._websockets import (
    INDEX_PREFILTER,
    WEBSOCKET_NAMES,
    IndexesPlumbing,
    Plumbing,
    index_facts,
    plumbing_prefilter,
)
from .base import Rule


class GlobalWebSocketManager(IndexesPlumbing, Rule):
    code = "ISO301"
    name = "global-websocket-manager"
    family = "websockets"
    summary = "A module-level WebSocket manager routes every user's events through one shared object"
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` and the index by compile_prefilter
    options = (WEBSOCKET_NAMES,)
    index_prefilter = INDEX_PREFILTER

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
        return index_facts(tree, settings.family_options("websockets")["websocket-names"], settings.context_params)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # Every finding binds a call: `WebSocketManager(`, `get_websocket_manager(` or an indexed accessor.
        return plumbing_prefilter(settings.options_for(cls)["websocket-names"], project, calls_only=True)

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, options["websocket-names"])

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node)

    def _check(self, node: cst.Assign | cst.AnnAssign) -> None:
        if not is_module_level(self.file.ancestors) or not assignment_targets(node):
            return
        value = node.value
        if isinstance(value, cst.Await):
            value = value.expression
        if not isinstance(value, cst.Call):
            return
        callee = self.plumbing.builds_shared(value)
        if callee is None:
            return
        self.report(
            node,
            f"module-level `{callee}(...)` runs at import time and gives every user one WebSocket manager; "
            "a wrong user or run id sends one user's events to another",
            manual=(
                "Create a `UserWebSocketEmitter` per connection, carry it on the request context, and emit through "
                "`context.websocket_emitter` at the call sites (ISO302 and ISO304 fix those); then delete this binding."
            ),
        )
