"""ISO101 singleton-class: a class that caches its own instance.

Index facts: "singletons:class" (see `_singletons`), read by ISO103 and ISO106.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk
from .._helpers import decorator_names, first_param_name, last_name
from ..base import FixSpec, Option, Rule
from . import _cst_legacy, per_call, uncache
from . import family as _family

FIX_COMMENT = per_call.comment("ISO101")


class SingletonClass(Rule):
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
            list(_family.DEFAULT_INSTANCE_ATTRIBUTES),
            "Class attribute names that hold a cached instance.",
        ),
    )
    index_prefilter = _family.CLASS_INDEX_PREFILTER

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A finding needs an accessor storing the cache (`cls._instance = ...`,
        # `cls._instances[key] = ...`), a Singleton metaclass or `@singleton`.
        names = b"|".join(re.escape(name.encode()) for name in settings.options_for(cls)["instance-attributes"])
        return re.compile(
            rb"\.(?:" + names + rb")\b\s*(?:\[[^\n]*\]\s*)?(?::[^\n=]*)?=(?!=)"
            rb"|metaclass\s*=\s*[\w.]*Singleton|@\s*(?:[\w.]*\.)?singleton\b"
        )

    @classmethod
    def index(cls, tree: ast.Module, settings: Any) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        return _family.class_facts(tree, settings.options_for(cls)["instance-attributes"])

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        reasons = []
        singleton_decorator = self._singleton_decorator(node)
        if singleton_decorator is not None:
            reasons.append("is decorated with `@singleton`")
        metaclass = self._singleton_metaclass(node)
        if metaclass is not None:
            reasons.append(f"uses the metaclass `{last_name(metaclass.value)}`")
        caching = self._caching_methods(node)
        for method, attribute, _ in caching:
            reasons.append(f"caches its instance in `{attribute}` (via `{method.name.value}`)")
        if not reasons:
            return
        message = f"`{node.name.value}` {' and '.join(reasons)}, so every request shares one object and its state"
        if not _cst_legacy.holds_per_request_state(node.name.value, self.settings, node):
            self.report(node.name, message, manual=_family.infrastructure_hint(node.name.value))
            return
        self.report(
            node.name,
            message,
            fix=self._fix(node, singleton_decorator, metaclass, caching),
            manual=(
                "Register the class once with `AgentClassRegistry.register(...)` and create a fresh "
                "instance per request with `AgentInstanceFactory.create_agent_instance(name, context)` "
                "inside `user_execution_scope(...)`. The unsafe fix only removes the caching: callers that "
                "relied on one shared object (ISO106 lists them) must then get it from the request scope."
            ),
        )

    @staticmethod
    def _singleton_decorator(node: cst.ClassDef) -> cst.Decorator | None:
        for decorator in node.decorators:
            expression = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
            if last_name(expression) == "singleton":
                return decorator
        return None

    @staticmethod
    def _singleton_metaclass(node: cst.ClassDef) -> cst.Arg | None:
        for keyword in node.keywords:
            if (
                keyword.keyword
                and keyword.keyword.value == "metaclass"
                and _family.is_singleton_metaclass(last_name(keyword.value))
            ):
                return keyword
        return None

    def _caching_methods(self, node: cst.ClassDef) -> list[tuple[cst.FunctionDef, str, str]]:
        """(method, cache attribute, role) for each method that stores the class's own instance."""
        attributes = set(self.option_values["instance-attributes"])
        bases = {name for name in (last_name(arg.value) for arg in node.bases) if name}
        found = []
        for method in node.body.body:
            if not isinstance(method, cst.FunctionDef):
                continue
            decorators = decorator_names(method)
            role = _family.method_role(method.name.value, decorators, bases)
            if role is None:
                continue
            receivers = _cst_legacy.cache_receivers(role, decorators, first_param_name(method), node.name.value)
            attribute = self._cache_attribute(method, receivers, attributes)
            if attribute:
                found.append((method, attribute, role))
        return found

    @staticmethod
    def _cache_attribute(method: cst.FunctionDef, receivers: set[str], attributes: set[str]) -> str | None:
        """The cache attribute `method` stores a value (not None) into."""
        for child in walk(method.body):
            if isinstance(child, cst.Assign):
                targets, value = [t.target for t in child.targets], child.value
            elif isinstance(child, cst.AnnAssign) and child.value is not None:
                targets, value = [child.target], child.value
            else:
                continue
            if isinstance(value, cst.Name) and value.value == "None":
                continue
            for target in targets:
                if isinstance(target, cst.Subscript):
                    target = target.value
                if _is_cache_ref(target, receivers, attributes):
                    return target.attr.value
        return None

    # --- the fix ---------------------------------------------------------------

    def _fix(
        self,
        node: cst.ClassDef,
        singleton_decorator: cst.Decorator | None,
        metaclass: cst.Arg | None,
        caching: list[tuple[cst.FunctionDef, str, str]],
    ) -> FixSpec | None:
        changes: dict[str, Any] = {}
        if singleton_decorator is not None:
            changes["decorators"] = [d for d in node.decorators if d is not singleton_decorator]
        if metaclass is not None:
            changes.update(_without_keyword(node, metaclass))
        if singleton_decorator is not None or metaclass is not None:
            comment = cst.EmptyLine(comment=cst.Comment(f"# {FIX_COMMENT}"))
            changes["leading_lines"] = [*node.leading_lines, comment]
        body = list(node.body.body)
        attributes = {attribute for _, attribute, _ in caching}
        for method, _, role in caching:
            rewritten = self._uncached_method(node, method, role, attributes)
            if rewritten is None:
                return None
            body[body.index(method)] = rewritten
        skip = [method for method, _, _ in caching]
        for statement in node.body.body:
            declared = _declared_attribute(statement, attributes)
            if declared and uncache.name_count(self.file.module, declared, skip=[*skip, statement]) == 0:
                body = _without_statement(body, statement)  # the now-unused `_instance = None`
        if caching:
            changes["body"] = node.body.with_changes(body=body)
        return FixSpec(
            f"Stop caching `{node.name.value}`: every construction or accessor call returns a new instance",
            UNSAFE,
            replace={node: node.with_changes(**changes)},
        )

    def _uncached_method(
        self, node: cst.ClassDef, method: cst.FunctionDef, role: str, attributes: set[str]
    ) -> cst.FunctionDef | None:
        if role == "static-setter":
            return None  # it returns nothing to keep callers working with: a person decides
        decorators = decorator_names(method)
        receivers = _cst_legacy.cache_receivers(role, decorators, first_param_name(method), node.name.value)
        is_ref = lambda expression: _is_cache_ref(expression, receivers, attributes)  # noqa: E731
        body = uncache.uncache_body(method.body.body, is_ref, "instance")
        if body is None or any(uncache.mentions(statement, is_ref) for statement in body):
            return None
        changes: dict[str, Any] = {}
        if role == "accessor":
            body = [_return_cls_call(statement, receivers) for statement in body]
            if "staticmethod" in decorators:  # keep the accessor working: a classmethod returning cls()
                changes["decorators"] = [_classmethod_for(d) for d in method.decorators]
                changes["params"] = method.params.with_changes(
                    params=[cst.Param(cst.Name("cls")), *method.params.params]
                )
        body = uncache.with_comment(body, FIX_COMMENT)
        return method.with_changes(body=method.body.with_changes(body=body), **changes)


def _is_cache_ref(expression: Any, receivers: set[str], attributes: set[str]) -> bool:
    """`cls._instance` / `Registry._instances` for one of `receivers`."""
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
