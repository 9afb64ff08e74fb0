"""ISO401 legacy-state-import: importing the legacy `DeepAgentState`."""

from __future__ import annotations

import re
from typing import Any

from .._lazy import cst
from .base import FixSpec, Rule
from ..findings import SAFE

class LegacyStateImport(Rule):
    code = "ISO401"
    name = "legacy-state-import"
    family = "legacy-state"
    summary = "An import of the legacy mutable `DeepAgentState`"
    fix_safety = SAFE
    prefilter = re.compile(rb"(?!)")  # built from [legacy-state] classes by compile_prefilter
    metadata = ("ScopeProvider",)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        classes = settings.legacy_state["classes"]
        return re.compile(b"|".join(re.escape(name.encode()) for name in classes) if classes else b"(?!)")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        from ._imports import is_name_used  # defines LibCST classes: import only once parsing

        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = alias.name.value if isinstance(alias.name, cst.Name) else None
            if name not in self.settings.legacy_state["classes"]:
                continue
            asname = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
            local_name = asname or name
            scope = self.file.get_metadata("ScopeProvider", node)
            used = is_name_used(scope, node, local_name, self.file.module)
            target = self.settings.context_name
            self.report(
                alias,
                f"`{name}` is the legacy mutable per-run state; import `{target}` from "
                f"`{self.settings.context_module}` instead",
                fix=self._fix(node, alias, used),
                manual=(
                    f"Once no annotation, construction or isinstance check uses `{local_name}` "
                    "(ISO402-ISO406 rewrite those), the legacy import goes away."
                )
                if used
                else None,
            )

    def _fix(self, node: cst.ImportFrom, alias: cst.ImportAlias, used: bool) -> FixSpec:
        from ._imports import imports_name

        message = f"Import `{self.settings.context_name}` from `{self.settings.context_module}`"
        if used:
            message += " (the legacy import stays while other references remain)"
        context_imported = imports_name(self.file.module, self.settings.context_module, self.settings.context_name)
        if not used and len(node.names) == 1 and not context_imported:
            # Rewrite in place: keeps the statement's position and its comments.
            rewritten = node.with_changes(
                module=cst.parse_expression(self.settings.context_module),
                names=[cst.ImportAlias(cst.Name(self.settings.context_name))],
                relative=[],
                lpar=None,
                rpar=None,
            )
            return FixSpec(message, SAFE, replace={node: rewritten}, isolation="imports")
        return FixSpec(
            message,
            SAFE,
            transform=lambda module: self._swap_import(module, node, alias, used),
            isolation="imports",
        )

    def _swap_import(self, module: Any, node: cst.ImportFrom, alias: cst.ImportAlias, used: bool) -> Any:
        from ._imports import add_import, remove_import_alias

        if not used:
            module = remove_import_alias(module, node, alias)
        return add_import(module, self.settings.context_module, self.settings.context_name)
