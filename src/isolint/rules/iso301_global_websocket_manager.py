"""ISO301 global-websocket-manager: WebSocket plumbing created at module level."""

from __future__ import annotations

import re
from typing import Any

from .._lazy import cst
from ._helpers import assignment_targets, glob_to_bytes_regex, is_module_level, last_name, matches_patterns
from .base import Option, Rule


class GlobalWebSocketManager(Rule):
    code = "ISO301"
    name = "global-websocket-manager"
    family = "websockets"
    summary = "A module-level WebSocket manager routes every user's events through one shared object"
    prefilter = re.compile(rb"(?!)")  # built from `websocket-names` by compile_prefilter
    options = (
        Option(
            "websocket-names",
            "list[str]",
            ["*WebSocket*", "*Websocket*", "*websocket*", "*ws_manager*"],
            "Globs for classes and accessors that are WebSocket plumbing.",
        ),
    )

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # Every finding is a call of a name matching a glob: `<...name...>(`.
        fragments = sorted({glob_to_bytes_regex(glob) for glob in settings.options_for(cls)["websocket-names"]})
        return re.compile(rb"(?:" + b"|".join(fragments) + rb")\w*\s*\(")

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
        callee = last_name(value.func)
        if callee is None or not matches_patterns(callee, self.options["websocket-names"]):
            return
        self.report(
            node,
            f"module-level `{callee}(...)` is one WebSocket manager for every user; a wrong user or run id "
            "sends one user's events to another",
            manual=(
                "Create a `UserWebSocketEmitter` per connection, carry it on the request context, and emit through "
                "`context.websocket_emitter` at the call sites (ISO302/ISO304 fix those)."
            ),
        )
