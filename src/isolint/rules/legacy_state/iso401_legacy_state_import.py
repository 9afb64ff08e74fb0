"""ISO401 legacy-state-import: importing the legacy `DeepAgentState`."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import SAFE
from ..ast_helpers import exported_names, is_name_used
from ..base import CstEdit, FixSpec
from .edits import add_needed_import
from .family import (
    INDEX_PREFILTER,
    IndexFact,
    LegacyStateConfig,
    LegacyStateRule,
    compile_index_prefilter,
    index_facts,
)
from .imports import imports_name
from .references import legacy_references

if TYPE_CHECKING:
    from ...cst_view import CstView


class LegacyStateImport(LegacyStateRule):
    code = "ISO401"
    name = "legacy-state-import"
    summary = "An import of the legacy mutable `DeepAgentState`"
    fix_safety = SAFE
    index_prefilter = INDEX_PREFILTER

    @classmethod
    def compile_index_prefilter(cls, settings: Any) -> Any:
        return compile_index_prefilter(settings)

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterator[IndexFact]:
        return index_facts(tree, settings)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        aliases = legacy_references(self.file).names.aliases
        config = LegacyStateConfig.of(self.settings)
        for alias in node.names:
            local_name = alias.asname or alias.name
            if alias.name == "*" or local_name not in aliases:
                continue
            legacy = aliases[local_name]
            shown = f"`{legacy}`" if legacy == local_name else f"`{local_name}` (`{legacy}`)"
            message = (
                f"{shown} is the legacy mutable per-run state; import `{config.context_name}` "
                f"from `{config.context_module}` instead"
            )
            if not is_name_used(self.file, node, local_name):
                self.report(alias, message, fix=self._fix(node, alias, config))
            elif local_name in exported_names(self.file.tree):
                self.report(
                    alias,
                    message,
                    manual=(
                        f"This module re-exports `{local_name}` in `__all__`: point its importers at "
                        f"`{config.context_name}`, then drop it from `__all__` and this import."
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

    def _fix(self, node: ast.ImportFrom, alias: ast.alias, config: LegacyStateConfig) -> FixSpec:
        """Import the context class instead of the dead legacy import."""
        message = f"Import `{config.context_name}` from `{config.context_module}` instead"
        in_place = len(node.names) == 1 and not imports_name(self.file.tree, config.context_module, config.context_name)
        return FixSpec(
            message, SAFE, build=_import_swap(node, node.names.index(alias), config, in_place), isolation="imports"
        )


def _import_swap(
    node: ast.ImportFrom, index: int, config: LegacyStateConfig, in_place: bool
) -> Callable[[CstView], CstEdit]:
    """The fix's edit: the import statement rewritten in place (which keeps its
    position and comments), or the legacy name dropped and the context class imported."""

    def build(view: CstView) -> CstEdit:
        from .._imports import remove_import_alias  # defines LibCST classes: import only once parsing

        statement = view.node(node, cst.ImportFrom)
        if isinstance(statement.names, cst.ImportStar):
            raise LookupError("a star import has no alias to swap")
        if in_place:
            rewritten = statement.with_changes(
                module=cst.parse_expression(config.context_module),
                names=[cst.ImportAlias(cst.Name(config.context_name))],
                relative=[],
                lpar=None,
                rpar=None,
            )
            return CstEdit(replace={statement: rewritten})
        alias = statement.names[index]

        def swap(module: cst.Module) -> cst.Module:
            module = remove_import_alias(module, statement, alias)
            return add_needed_import(module, config.context_module, config.context_name)

        return CstEdit(transform=swap)

    return build
