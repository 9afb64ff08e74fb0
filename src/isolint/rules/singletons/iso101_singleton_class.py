"""ISO101 singleton-class: a class that caches its own instance.

Index facts: "singletons:class" (see `family`), read by ISO103 and ISO106.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import UNSAFE
from ..ast_context import AstRule
from ..ast_helpers import decorator_names, last_name
from ..base import CstEdit, FixSpec, Option
from .evidence import (
    CachingMethod,
    SingletonEvidence,
    can_uncache,
    class_facts,
    is_cache_ref,
    singleton_class,
)
from .family import (
    CLASS_INDEX_PREFILTER,
    DEFAULT_INSTANCE_ATTRIBUTES,
    family_config,
    holds_per_request_state,
    infrastructure_hint,
)
from .per_call import comment
from .uncache import mentions, name_count, uncache_body, with_comment

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView
    from ...index import ProjectIndex

FIX_COMMENT = comment("ISO101")


class SingletonClass(AstRule):
    code = "ISO101"
    name = "singleton-class"
    family = "singletons"
    summary = "A class caches its own instance, so every request shares one object"
    fix_safety = UNSAFE
    prefilter = re.compile(rb"(?!)")  # built from `instance-attributes` by compile_prefilter
    options = (
        Option(
            "instance-attributes",
            "list[str]",
            list(DEFAULT_INSTANCE_ATTRIBUTES),
            "Class attribute names that hold a cached instance.",
        ),
    )
    index_prefilter = CLASS_INDEX_PREFILTER

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # A finding needs an accessor storing the cache (`cls._instance = ...`,
        # `cls._instances[key] = ...`), a Singleton metaclass or `@singleton`.
        names = b"|".join(re.escape(name.encode()) for name in family_config(settings).instance_attributes)
        return re.compile(
            rb"\.(?:" + names + rb")\b\s*(?:\[[^\n]*\]\s*)?(?::[^\n=]*)?=(?!=)"
            rb"|metaclass\s*=\s*[\w.]*Singleton|@\s*(?:[\w.]*\.)?singleton\b"
        )

    @classmethod
    def index(cls, tree: ast.Module, settings: Settings) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return class_facts(tree, family_config(settings).instance_attributes)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        config = family_config(self.settings)
        found = singleton_class(node, config.instance_attributes)
        if found is None:
            return
        reasons = []
        if found.decorator is not None:
            reasons.append("is decorated with `@singleton`")
        if found.metaclass is not None:
            reasons.append(f"uses the metaclass `{last_name(found.metaclass.value)}`")
        for caching in found.caching:
            reasons.append(f"caches its instance in `{caching.attribute}` (via `{caching.method.name}`)")
        message = f"`{node.name}` {' and '.join(reasons)}, so every request shares one object and its state"
        if not holds_per_request_state(node.name, config, node):
            self.report(self.file.definition_name(node), message, manual=infrastructure_hint(node.name))
            return
        self.report(
            self.file.definition_name(node),
            message,
            fix=_fix(found),
            manual=(
                "Register the class once with `AgentClassRegistry.register(...)` and create a fresh "
                "instance per request with `AgentInstanceFactory.create_agent_instance(name, context)` "
                "inside `user_execution_scope(...)`. The unsafe fix only removes the caching: callers that "
                "relied on one shared object (ISO106 lists them) must then get it from the request scope."
            ),
        )


# --- the fix ---------------------------------------------------------------


def _fix(found: SingletonEvidence) -> FixSpec | None:
    """Stop the caching, when every caching method's body can be taken apart."""
    attributes = {caching.attribute for caching in found.caching}
    for caching in found.caching:
        if caching.role == "static-setter":
            return None  # it returns nothing to keep callers working with: a person decides
        receivers = caching.receivers(found.node.name)
        if not can_uncache(caching.method.body, partial(is_cache_ref, receivers=receivers, attributes=attributes)):
            return None
    return FixSpec(
        f"Stop caching `{found.node.name}`: every construction or accessor call returns a new instance",
        UNSAFE,
        build=_uncacher(found),
    )


def _uncacher(found: SingletonEvidence) -> Callable[[CstView], CstEdit]:
    def build(view: CstView) -> CstEdit:
        node = view.node(found.node, cst.ClassDef)
        changes: dict[str, Any] = {}
        if found.decorator is not None:
            singleton_decorator = node.decorators[found.node.decorator_list.index(found.decorator)]
            changes["decorators"] = [d for d in node.decorators if d is not singleton_decorator]
        if found.metaclass is not None:
            metaclass = next(k for k in node.keywords if k.keyword is not None and k.keyword.value == "metaclass")
            changes.update(_without_keyword(node, metaclass))
        if found.decorator is not None or found.metaclass is not None:
            comment_line = cst.EmptyLine(comment=cst.Comment(f"# {FIX_COMMENT}"))
            changes["leading_lines"] = [*node.leading_lines, comment_line]
        body = list(node.body.body)
        attributes = {caching.attribute for caching in found.caching}
        methods = [view.node(caching.method, cst.FunctionDef) for caching in found.caching]
        for caching, method in zip(found.caching, methods, strict=True):
            body[body.index(method)] = _uncached_method(caching, method, found.node.name, attributes)
        for statement in node.body.body:
            declared = _declared_attribute(statement, attributes)
            if declared and name_count(view.module, declared, skip=[*methods, statement]) == 0:
                body = _without_statement(body, statement)  # the now-unused `_instance = None`
        if found.caching:
            changes["body"] = node.body.with_changes(body=body)
        return CstEdit(replace={node: node.with_changes(**changes)})

    return build


def _uncached_method(
    caching: CachingMethod, method: cst.FunctionDef, class_name: str, attributes: set[str]
) -> cst.FunctionDef:
    receivers = caching.receivers(class_name)
    is_ref: Callable[[cst.CSTNode], bool] = lambda expression: _is_cache_ref(expression, receivers, attributes)  # noqa: E731
    body = uncache_body(method.body.body, is_ref, "instance")
    if body is None or any(mentions(statement, is_ref) for statement in body):
        raise LookupError(f"the caching in `{method.name.value}` is not in a shape the edit can take apart")
    changes: dict[str, Any] = {}
    if caching.role == "accessor":
        body = [_return_cls_call(statement, receivers) for statement in body]
        # Keep the accessor working: a classmethod returning cls().
        if "staticmethod" in decorator_names(caching.method):
            changes["decorators"] = [_classmethod_for(d) for d in method.decorators]
            changes["params"] = method.params.with_changes(params=[cst.Param(cst.Name("cls")), *method.params.params])
    body = with_comment(body, FIX_COMMENT)
    return method.with_changes(body=method.body.with_changes(body=body), **changes)


def _is_cache_ref(expression: Any, receivers: set[str], attributes: set[str]) -> bool:
    """`cls._instance` / `Registry._instances` for one of `receivers`, on
    LibCST nodes (the edit's side of `evidence.is_cache_ref`)."""
    return (
        isinstance(expression, cst.Attribute)
        and expression.attr.value in attributes
        and isinstance(expression.value, cst.Name)
        and expression.value.value in receivers
    )


def _return_cls_call(statement: cst.BaseStatement, receivers: set[str]) -> cst.BaseStatement:
    """`return Registry(...)` -> `return cls(...)`, so subclasses still get their own class."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return statement
    smalls = []
    for small in statement.body:
        if (
            isinstance(small, cst.Return)
            and isinstance(small.value, cst.Call)
            and isinstance(small.value.func, cst.Name)
            and small.value.func.value in receivers
        ):
            small = small.with_changes(value=small.value.with_changes(func=cst.Name("cls")))
        smalls.append(small)
    return statement.with_changes(body=smalls)


def _classmethod_for(decorator: cst.Decorator) -> cst.Decorator:
    if isinstance(decorator.decorator, cst.Name) and decorator.decorator.value == "staticmethod":
        return decorator.with_changes(decorator=cst.Name("classmethod"))
    return decorator


def _without_keyword(node: cst.ClassDef, keyword: cst.Arg) -> dict[str, Any]:
    keywords = [k for k in node.keywords if k is not keyword]
    arguments = [*node.bases, *keywords]
    if not arguments:  # `class A(metaclass=M):` -> `class A:`
        return {"keywords": [], "lpar": cst.MaybeSentinel.DEFAULT, "rpar": cst.MaybeSentinel.DEFAULT}
    if keyword is node.keywords[-1]:  # the new last argument loses its trailing comma
        last = arguments[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        if keywords:
            keywords[-1] = last
        else:
            return {"keywords": [], "bases": [*node.bases[:-1], last]}
    return {"keywords": keywords}


def _without_statement(body: list[cst.BaseStatement], statement: cst.BaseStatement) -> list[cst.BaseStatement]:
    """`body` without `statement`; the next statement keeps the blank lines that
    separated the removed one (none at the top of the class body)."""
    position = body.index(statement)
    body = body[:position] + body[position + 1 :]
    if position == len(body):
        return body
    following = body[position]
    comments = [line for line in following.leading_lines if line.comment is not None]
    blanks = [] if position == 0 else [line for line in statement.leading_lines if line.comment is None]
    if position == 0 or len(following.leading_lines) - len(comments) < len(blanks):
        body[position] = following.with_changes(
            leading_lines=[*blanks, *comments] if position == 0 else [*blanks, *following.leading_lines]
        )
    return body


def _declared_attribute(statement: cst.BaseStatement, attributes: set[str]) -> str | None:
    """`_instance` for a class-body line that only declares it (`_instance = None`)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    target = (
        small.targets[0].target
        if isinstance(small, cst.Assign) and len(small.targets) == 1
        else getattr(small, "target", None)
    )
    if isinstance(small, (cst.Assign, cst.AnnAssign)) and isinstance(target, cst.Name) and target.value in attributes:
        return target.value
    return None
