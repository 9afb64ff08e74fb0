"""Fixes of the family's `ast` rules that write the context class.

Such a fix also imports the class unless the module already does, and removes
top-level imports whose last use it rewrites (the legacy class, `Union`, a
module alias), so it adds neither an undefined name nor an unused import.
Whether it touches imports is decided at check time, from the `ast`: it makes
the fix an "imports" fix (one per pass) and, for the import, changes its
message. The LibCST edits are built only when a run applies or shows them.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..ast_context import AstFile
from ..base import CstEdit, FixSpec
from .edits import context_import_edits
from .family import LegacyStateConfig
from .imports import context_bound, mentioned_names, module_name_uses, name_uses, top_level_import_names

if TYPE_CHECKING:
    from ...cst_view import CstView

# LibCST replacements (old node -> new node), built from a view of the file.
Replacements = Callable[["CstView"], Mapping[Any, Any]]


def context_fix(
    file: AstFile,
    message: str,
    applicability: str,
    replaced: Iterable[ast.AST],
    surviving: set[str],
    build: Replacements,
    *,
    runtime: bool = True,
) -> FixSpec:
    """A fix replacing the `replaced` nodes (by `build`'s LibCST edits) with
    code that names only `surviving` of the names they spelled, plus the context class."""
    config = LegacyStateConfig.of(file.settings)
    needs_import = not context_bound(file.tree, config.context_name, runtime=runtime)
    unused = imports_made_unused(file, replaced, surviving | {config.context_name})
    if not needs_import and not unused:
        return FixSpec(message, applicability, build=lambda view: CstEdit(replace=build(view)))
    transform = context_import_edits(config.context_module, config.context_name, needs_import, unused)
    if needs_import:
        message = f"{message}; import it from `{config.context_module}`"
    return FixSpec(
        message,
        applicability,
        build=lambda view: CstEdit(replace=build(view), transform=transform),
        isolation="imports",
    )


def imports_made_unused(file: AstFile, replaced: Iterable[ast.AST], surviving: set[str]) -> set[str]:
    """Top-level imported names every use of which is inside the `replaced`
    nodes, which the replacements no longer spell."""
    inside: Counter[str] = Counter()
    spelled: set[str] = set()
    for node in replaced:
        inside.update(name_uses(file, node))
        spelled |= mentioned_names(node)
    candidates = (spelled - surviving) & top_level_import_names(file.tree)
    if not candidates:
        return set()
    uses = module_name_uses(file)
    return {name for name in candidates if uses[name] <= inside[name]}
