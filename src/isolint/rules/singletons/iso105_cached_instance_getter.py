"""ISO105 cached-instance-getter: `@lru_cache` on a zero-argument function that builds an object.

Index facts: "singletons:cached-getter" (see `family`), read by ISO103 and ISO106.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..._lazy import cst
from ...findings import UNSAFE
from ..ast_context import AstRule
from ..ast_helpers import dotted_name, exported_names
from ..base import CstEdit, FixSpec, Option
from .evidence import (
    CachedGetter,
    cached_getter,
    cached_getter_facts,
    indexed_file,
)
from .family import (
    CACHED_INDEX_PREFILTER,
    DEFAULT_GETTER_ALLOW,
    family_config,
    holds_per_request_state,
    infrastructure_hint,
    module_class,
)
from .per_call import comment
from .uncache import with_comment

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView
    from ...scopes import NameResolver


class CachedInstanceGetter(AstRule):
    code = "ISO105"
    name = "cached-instance-getter"
    family = "singletons"
    summary = "An `@lru_cache` getter builds one object and hands it to every request"
    fix_safety = UNSAFE
    prefilter = CACHED_INDEX_PREFILTER
    options = (
        Option(
            "allow",
            "list[str]",
            list(DEFAULT_GETTER_ALLOW),
            "Globs for classes (or their qualified names) a cached getter may build: immutable configuration.",
        ),
    )
    index_prefilter = CACHED_INDEX_PREFILTER

    @classmethod
    def index_source(
        cls, tree: ast.Module, raw: bytes, settings: Settings
    ) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return cached_getter_facts(indexed_file(tree, raw, settings), family_config(settings).getter_allow)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        config = family_config(self.settings)
        getter = cached_getter(node, self.file, config.getter_allow)
        if getter is None:
            return
        built = getter.built or "object"
        spelled = dotted_name(getter.expression) or "lru_cache"
        what = f"`{built}` it builds" if built[:1].isupper() else f"object `{built}()` returns"
        message = (
            f"`{node.name}()` is cached with `@{spelled}`, so the {what} is created once and shared by every request"
        )
        if not built[:1].isupper():
            # A factory function: what it builds, per-user state or infrastructure, is not known here.
            self.report(
                self.file.definition_name(node),
                message,
                manual=(
                    f"isolint cannot tell what `{built}()` builds. If it is process-wide infrastructure (a registry, "
                    "manager, client or pool), create it once at application start-up, keep it in app state and pass "
                    "it in; if it holds per-user state, build it per request (through the factory or the request "
                    "context) and drop the cache. No automatic fix."
                ),
            )
            return
        if not holds_per_request_state(getter.built, config, module_class(self.file.tree, built)):
            self.report(self.file.definition_name(node), message, manual=infrastructure_hint(getter.built))
            return
        self.report(
            self.file.definition_name(node),
            message,
            fix=FixSpec(
                f"Remove `@{spelled}` from `{node.name}()`",
                UNSAFE,
                build=_remover(getter, self.file.names),
                isolation="imports",
            ),
            manual=(
                "If the object holds no user state, create it once at startup and keep it in app state; otherwise "
                "build it per request (through the factory or the request context). Callers of the getter are "
                "listed by ISO106."
            ),
        )


@dataclass(frozen=True)
class UnusedImport:
    """The import binding the decorator's name, when the decorator is its only
    use: the fix removes it with the decorator."""

    statement: ast.Import | ast.ImportFrom
    alias: ast.alias
    name: str


def _remover(getter: CachedGetter, names: NameResolver) -> Callable[[CstView], CstEdit]:
    """Drop the decorator, and its import when nothing else uses it (nor `__all__` exports it)."""

    def build(view: CstView) -> CstEdit:
        from .._imports import remove_import_alias  # LibCST: imported once edits are built

        unused_import = _unused_import_of(names, getter.expression)
        function = view.node(getter.function, cst.FunctionDef)
        decorator = function.decorators[getter.function.decorator_list.index(getter.decorator)]
        import_removal = None
        if unused_import is not None and unused_import.name not in exported_names(view.file.tree):
            if isinstance(unused_import.statement, ast.ImportFrom):
                statement = view.node(unused_import.statement, cst.ImportFrom)
            else:  # `remove_import_alias` drops an `import x as y` statement too (its one alias)
                statement = cast(cst.ImportFrom, view.node(unused_import.statement, cst.Import))
            import_removal = (statement, view.node(unused_import.alias, cst.ImportAlias))

        def transform(module: cst.Module) -> cst.Module:
            if import_removal is not None:
                first = module.body[0] if module.body else None
                module = remove_import_alias(module, *import_removal)
                # The file's first line went: the new first statement keeps only its comments.
                if module.body and (first is None or not module.body[0].deep_equals(first)):
                    opening = module.body[0]
                    kept = [line for line in opening.leading_lines if line.comment is not None]
                    module = module.with_changes(body=[opening.with_changes(leading_lines=kept), *module.body[1:]])
            return module.visit(_decorator_dropper(function, decorator))

        return CstEdit(transform=transform)

    return build


def _unused_import_of(names: NameResolver, expression: ast.expr) -> UnusedImport | None:
    """The import that binds the decorator's name, if the decorator is its only use."""
    while isinstance(expression, ast.Attribute):
        expression = expression.value
    if not isinstance(expression, ast.Name):
        return None
    name = expression.id
    # Only an import in the scope the decorator is evaluated in (a method's is its class: never).
    owner = names.innermost_owner(expression)
    statements = [s for s in names.imports_of(owner, name) if not (isinstance(s, ast.Import) and len(s.names) != 1)]
    if (
        not statements
        or any(read is not expression for read in names.reads(owner, name))
        or names.in_string_annotation(owner, name)
    ):
        return None
    for statement in statements:
        for alias in statement.names:
            if (alias.asname or alias.name) == name:
                return UnusedImport(statement, alias, name)
    return None


def _decorator_dropper(function: cst.FunctionDef, decorator: cst.Decorator) -> cst.CSTTransformer:
    """A transformer removing `decorator` from the function equal to `function`
    (the module may have been rebuilt, so nodes are matched by structure)."""

    class _Dropper(cst.CSTTransformer):
        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
            if original.name.value != function.name.value or not original.deep_equals(function):
                return updated
            decorators = [d for d in updated.decorators if not d.deep_equals(decorator)]
            body = updated.body
            if isinstance(body, cst.IndentedBlock):  # ISO106 keeps listing the callers (see per_call)
                body = body.with_changes(body=with_comment(list(body.body), comment("ISO105")))
            return updated.with_changes(decorators=decorators, body=body)

    return _Dropper()
