"""ISO105 cached-instance-getter: `@lru_cache` on a zero-argument function that builds an object.

Index facts: "singletons:cached-getter" (see `_singletons`), read by ISO103 and ISO106.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk
from .._helpers import dotted_name, last_name, matches_patterns
from ..base import FixSpec, Option, Rule
from . import _cst_legacy, per_call, uncache
from . import family as _family


class CachedInstanceGetter(Rule):
    code = "ISO105"
    name = "cached-instance-getter"
    family = "singletons"
    summary = "An `@lru_cache` getter builds one object and hands it to every request"
    fix_safety = UNSAFE
    prefilter = _family.CACHED_INDEX_PREFILTER
    options = (
        Option(
            "allow",
            "list[str]",
            list(_family.DEFAULT_GETTER_ALLOW),
            "Globs for classes (or their qualified names) a cached getter may build: immutable configuration.",
        ),
    )
    index_prefilter = _family.CACHED_INDEX_PREFILTER

    @classmethod
    def index_source(
        cls, tree: ast.Module, raw: bytes, settings: Any
    ) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return _family.cached_getter_facts(
            _family.indexed_file(tree, raw, settings), _family.family_config(settings).getter_allow
        )

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        params = node.params
        if node.asynchronous or params.params or params.posonly_params or params.kwonly_params:
            return
        if not isinstance(params.star_arg, cst.MaybeSentinel) or params.star_kwarg is not None:
            return
        decorator = self._cache_decorator(node)
        if decorator is None:
            return
        constructed = _returned_call(node)
        if constructed is None or self._allowed(constructed.func):
            return
        built = last_name(constructed.func) or "object"
        spelled = dotted_name(_decorator_expression(decorator)) or "lru_cache"
        what = f"`{built}` it builds" if built[:1].isupper() else f"object `{built}()` returns"
        message = f"`{node.name.value}()` is cached with `@{spelled}`, so the {what} is created once and shared by every request"
        if not built[:1].isupper():
            # A factory function: what it builds, per-user state or infrastructure, is not known here.
            self.report(
                node.name,
                message,
                manual=(
                    f"isolint cannot tell what `{built}()` builds. If it is process-wide infrastructure (a registry, "
                    "manager, client or pool), create it once at application start-up, keep it in app state and pass "
                    "it in; if it holds per-user state, build it per request (through the factory or the request "
                    "context) and drop the cache. No automatic fix."
                ),
            )
            return
        local = _cst_legacy.module_class(self.file.module, built)
        if not _cst_legacy.holds_per_request_state(last_name(constructed.func), self.settings, local):
            self.report(node.name, message, manual=_family.infrastructure_hint(last_name(constructed.func)))
            return
        self.report(
            node.name,
            message,
            fix=FixSpec(
                f"Remove `@{spelled}` from `{node.name.value}()`",
                UNSAFE,
                transform=self._remover(node, decorator),
                isolation="imports",
            ),
            manual=(
                "If the object holds no user state, create it once at startup and keep it in app state; otherwise "
                "build it per request (through the factory or the request context). Callers of the getter are "
                "listed by ISO106."
            ),
        )

    def _cache_decorator(self, node: cst.FunctionDef) -> cst.Decorator | None:
        spellings = {name.rpartition(".")[2] for name in _family.CACHE_DECORATORS}
        for decorator in node.decorators:
            expression = _decorator_expression(decorator)
            if not self.file.may_be_named(expression, spellings):
                continue  # resolving names costs a scope pass: only for `lru_cache`, `ft.cache`, `as` aliases
            if self.file.qualified_names(expression) & _family.CACHE_DECORATORS:
                return decorator
        return None

    def _allowed(self, func: cst.BaseExpression) -> bool:
        name = last_name(func)
        if name in _family.BUILTIN_CONSTANTS:
            return True
        return any(
            matches_patterns(candidate, self.option_values["allow"])
            for candidate in {name or "", *self.file.qualified_names(func)}
        )

    def _remover(self, node: cst.FunctionDef, decorator: cst.Decorator) -> Any:
        """Drop the decorator, and its import when nothing else uses it."""
        import_removal = self._unused_import_after(decorator)

        def transform(module: cst.Module) -> cst.Module:
            if import_removal is not None:
                from .._imports import remove_import_alias

                first = module.body[0] if module.body else None
                module = remove_import_alias(module, *import_removal)
                if module.body and not module.body[0].deep_equals(first):  # the file's first line went
                    opening = module.body[0]
                    kept = [line for line in opening.leading_lines if line.comment is not None]
                    module = module.with_changes(body=[opening.with_changes(leading_lines=kept), *module.body[1:]])
            return module.visit(_decorator_dropper(node, decorator))

        return transform

    def _unused_import_after(self, decorator: cst.Decorator) -> tuple[Any, Any] | None:
        """(import statement, alias) that binds the decorator's name, if the decorator is its only use."""
        from .._imports import exported_names

        expression = _decorator_expression(decorator)
        while isinstance(expression, cst.Attribute):
            expression = expression.value
        if not isinstance(expression, cst.Name):
            return None
        names = self.file.names
        name = expression.value
        if name in exported_names(self.file.module):
            return None
        # Only an import in the scope the decorator is evaluated in (a method's is its class: never).
        owner = names.innermost_owner(expression)
        statements = [s for s in names.imports_of(owner, name) if not (isinstance(s, cst.Import) and len(s.names) != 1)]
        if (
            not statements
            or any(read is not expression for read in names.reads(owner, name))
            or names.in_string_annotation(owner, name)
        ):
            return None
        for statement in statements:
            for alias in statement.names:
                local = alias.asname.name if alias.asname else alias.name
                if (isinstance(local, cst.Name) and local.value == name) or dotted_name(local) == name:
                    return statement, alias
        return None


def _decorator_expression(decorator: cst.Decorator) -> cst.BaseExpression:
    """`lru_cache` for `@lru_cache` and `@lru_cache(maxsize=None)`."""
    return decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator


def _returned_call(function: cst.FunctionDef) -> cst.Call | None:
    """The call whose result `function` returns, directly or through a local name."""
    bound = {}
    for child in walk(function.body):
        if isinstance(child, cst.Assign) and len(child.targets) == 1 and isinstance(child.targets[0].target, cst.Name):
            bound[child.targets[0].target.value] = child.value
    for child in walk(function.body):
        if isinstance(child, cst.Return) and child.value is not None:
            value = child.value
            if isinstance(value, cst.Name):
                value = bound.get(value.value, value)
            if isinstance(value, cst.Call):
                return value
    return None


def _decorator_dropper(function: cst.FunctionDef, decorator: cst.Decorator) -> Any:
    """A transformer removing `decorator` from the function equal to `function`
    (the module may have been rebuilt, so nodes are matched by structure)."""

    class _Dropper(cst.CSTTransformer):
        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
            if original.name.value != function.name.value or not original.deep_equals(function):
                return updated
            decorators = [d for d in updated.decorators if not d.deep_equals(decorator)]
            body = updated.body
            if isinstance(body, cst.IndentedBlock):  # ISO106 keeps listing the callers (see _per_call)
                body = body.with_changes(body=uncache.with_comment(list(body.body), per_call.comment("ISO105")))
            return updated.with_changes(decorators=decorators, body=body)

    return _Dropper()
