"""ISO401 legacy-state-import: importing the legacy `DeepAgentState`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from ..._lazy import cst
from ...findings import SAFE
from ..base import FixSpec, Rule
from .cst_references import legacy_names
from .edits import add_needed_import
from .family import INDEX_PREFILTER, LegacyStateFamily, compile_index_prefilter, index_facts


class LegacyStateImport(LegacyStateFamily, Rule):
    code = "ISO401"
    name = "legacy-state-import"
    summary = "An import of the legacy mutable `DeepAgentState`"
    fix_safety = SAFE
    index_prefilter = INDEX_PREFILTER

    @classmethod
    def compile_index_prefilter(cls, settings: Any) -> Any:
        return compile_index_prefilter(settings)

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
        return index_facts(tree, settings)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        from .._imports import (  # defines LibCST classes: import only once parsing
            exported_names,
            is_name_used,
        )

        if isinstance(node.names, cst.ImportStar):
            return
        names = legacy_names(self.file)
        for alias in node.names:
            local_name = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
            local_name = local_name or (alias.name.value if isinstance(alias.name, cst.Name) else None)
            if local_name not in names.local:
                continue
            legacy = names.local[local_name]
            shown = f"`{legacy}`" if legacy == local_name else f"`{local_name}` (`{legacy}`)"
            message = (
                f"{shown} is the legacy mutable per-run state; import `{self.settings.context_name}` "
                f"from `{self.settings.context_module}` instead"
            )
            if not is_name_used(self.file, node, local_name):
                self.report(alias, message, fix=self._fix(node, alias))
            elif local_name in exported_names(self.file.module):
                self.report(
                    alias,
                    message,
                    manual=(
                        f"This module re-exports `{local_name}` in `__all__`: point its importers at "
                        f"`{self.settings.context_name}`, then drop it from `__all__` and this import."
                    ),
                )
            else:
                self.report(
                    alias,
                    message,
                    manual=(
                        f"`{local_name}` is still used here. Rewrite its annotations, constructions, attribute "
                        "accesses and isinstance checks (ISO402-ISO406 fix most of them, importing the context "
                        "class as they go); the fix then removes this import."
                    ),
                )

    def _fix(self, node: cst.ImportFrom, alias: cst.ImportAlias) -> FixSpec:
        """Import the context class instead of the dead legacy import."""
        from .._imports import imports_name

        settings = self.settings
        message = f"Import `{settings.context_name}` from `{settings.context_module}` instead"
        if len(node.names) == 1 and not imports_name(self.file.module, settings.context_module, settings.context_name):
            # Rewrite in place: keeps the statement's position and its comments.
            rewritten = node.with_changes(
                module=cst.parse_expression(settings.context_module),
                names=[cst.ImportAlias(cst.Name(settings.context_name))],
                relative=[],
                lpar=None,
                rpar=None,
            )
            return FixSpec(message, SAFE, replace={node: rewritten}, isolation="imports")
        return FixSpec(
            message, SAFE, transform=lambda module: self._swap_import(module, node, alias), isolation="imports"
        )

    def _swap_import(self, module: Any, node: cst.ImportFrom, alias: cst.ImportAlias) -> Any:
        from .._imports import remove_import_alias

        module = remove_import_alias(module, node, alias)
        return add_needed_import(module, self.settings.context_module, self.settings.context_name)
