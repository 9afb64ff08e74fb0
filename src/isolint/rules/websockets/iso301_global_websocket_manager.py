"""ISO301 global-websocket-manager: WebSocket plumbing bound at module level.

Contributes the family's index facts (see `family`), for ISO301-ISO304.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..ast_context import AstFile
from ..ast_helpers import assignment_targets, is_module_level, without_await
from .analysis import IndexFact, Plumbing, call_global_facts, index_facts
from .family import (
    INDEX_PREFILTER,
    SOCKET_WORDS,
    WEBSOCKET_NAMES,
    IndexesPlumbing,
    WebSocketConfig,
    WebSocketRule,
    plumbing_prefilter,
)

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex


class GlobalWebSocketManager(IndexesPlumbing, WebSocketRule):
    code = "ISO301"
    name = "global-websocket-manager"
    family = "websockets"
    summary = "A module-level WebSocket manager routes every user's events through one shared object"
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` and the index by compile_prefilter
    options = (WEBSOCKET_NAMES,)
    index_prefilter = INDEX_PREFILTER

    @classmethod
    def index_module(
        cls, tree: ast.Module, raw: bytes, settings: Settings, module: str, is_package: bool
    ) -> Iterator[IndexFact]:
        config = WebSocketConfig.of_family(settings)
        if SOCKET_WORDS.search(raw) is None:  # passed the index prefilter by `NAME = call()` alone
            return call_global_facts(tree, config, module, is_package)
        return index_facts(tree, config, module, is_package)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # Every finding binds a call: `WebSocketManager(`, `get_websocket_manager(` or an indexed accessor.
        config = WebSocketConfig.of_rule(cls, settings)
        return plumbing_prefilter(config.websocket_names, project, calls_only=True)

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.plumbing = Plumbing(file, self.config)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check(node)

    def _check(self, node: ast.Assign | ast.AnnAssign) -> None:
        if not is_module_level(self.file.ancestors) or not assignment_targets(node):
            return
        value = without_await(node.value)
        if not isinstance(value, ast.Call):
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
