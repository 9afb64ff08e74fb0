"""ISO305 connections-keyed-by-optional-user: a shared connections dict indexed by a maybe-None key."""

from __future__ import annotations

import re
from typing import Any

from ..._lazy import cst
from ...traversal import walk
from .._helpers import (
    alternation,
    assignment_targets,
    first_param_name,
    glob_to_bytes_regex,
    last_name,
    matches_patterns,
    unanchored_alternatives,
)
from ..base import Option, Rule
from ._cst_plumbing import WEBSOCKET_NAMES, is_plumbing_name

LOOKUP_METHODS = ("get", "setdefault", "pop")
DICT_FACTORIES = ("dict", "defaultdict", "OrderedDict", "WeakValueDictionary")
DICT_ANNOTATIONS = ("Dict", "dict", "DefaultDict", "defaultdict", "MutableMapping", "Mapping", "OrderedDict")
EMPTY_DEFAULTS = ("None", '""', "''")


class ConnectionsKeyedByOptionalUser(Rule):
    code = "ISO305"
    name = "connections-keyed-by-optional-user"
    family = "websockets"
    summary = (
        "A shared connections dict is indexed by a key that may be None or empty, so anonymous users share a bucket"
    )
    prefilter = re.compile(rb"(?!)")  # built from `connection-names` by compile_prefilter
    options = (
        WEBSOCKET_NAMES,
        Option(
            "connection-names",
            "list[str]",
            ["*connections*", "*sockets*", "*clients*", "*subscribers*"],
            "Globs for module- or class-level dicts that hold connections per user.",
        ),
    )

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        globs = settings.options_for(cls)["connection-names"]
        if not globs:
            return re.compile(rb"(?!)")
        use = rb"\w*\s*(?:\[|\.\s*(?:get|setdefault|pop)\s*\()"
        return re.compile(alternation(unanchored_alternatives((glob_to_bytes_regex(glob) for glob in globs), use)))

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.module_dicts = self._module_dicts(file.module)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        optional = _optional_params(node)
        if not optional:
            return
        class_dicts = self._class_dicts(self.file.enclosing(cst.ClassDef))
        receiver = first_param_name(node)
        reported: set[str] = set()
        for child in walk(node.body):
            found = _keyed_access(child)
            if found is None:
                continue
            container, key = found
            shown = self._shared_dict(container, receiver, class_dicts, node)
            if shown is None or shown in reported or not isinstance(key, cst.Name) or key.value not in optional:
                continue
            reported.add(shown)
            self.report(
                child,
                f"`{shown}` is shared by every connection and is indexed by `{key.value}`, which {optional[key.value]}: "
                "every anonymous connection lands in one bucket and receives the others' events",
                manual=(
                    f"Reject connections without an authenticated user before registering them, make `{key.value}` a "
                    "required `str`, or key by connection id; the runtime's `ConnectionRegistry` refuses empty user ids."
                ),
            )

    def _is_connection_name(self, name: str) -> bool:
        return matches_patterns(name, self.option_values["connection-names"])

    def _module_dicts(self, module: cst.Module) -> set[str]:
        names = set()
        for statement in module.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    names |= self._declared_dicts(small)
        return names

    def _class_dicts(self, owner: cst.ClassDef | None) -> set[str]:
        """Dicts declared in the class body, or built on `self` by a plumbing class."""
        if owner is None:
            return set()
        names = set()
        plumbing = is_plumbing_name(owner.name.value, self.option_values["websocket-names"])
        for statement in owner.body.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    names |= self._declared_dicts(small)
            elif plumbing and isinstance(statement, cst.FunctionDef):
                for node in walk(statement.body):
                    if isinstance(node, (cst.Assign, cst.AnnAssign)) and _is_dict_value(node.value):
                        names |= {
                            t.attr.value
                            for t in assignment_targets(node)
                            if isinstance(t, cst.Attribute) and self._is_connection_name(t.attr.value)
                        }
        return names

    def _declared_dicts(self, small: cst.BaseSmallStatement) -> set[str]:
        """`connections = {}`, `connections: Dict[...] = {}`, or a bare `connections: Dict[...]`."""
        if isinstance(small, cst.AnnAssign) and small.value is None:
            declared = _is_dict_annotation(small.annotation)
        else:
            declared = isinstance(small, (cst.Assign, cst.AnnAssign)) and _is_dict_value(small.value)
        if not declared:
            return set()
        return {
            t.value
            for t in assignment_targets(small) or [small.target]
            if isinstance(t, cst.Name) and self._is_connection_name(t.value)
        }

    def _shared_dict(
        self, container: cst.BaseExpression, receiver: str | None, class_dicts: set[str], function: cst.FunctionDef
    ) -> str | None:
        if (
            isinstance(container, cst.Name)
            and container.value in self.module_dicts
            and not _binds_locally(function, container.value)
        ):
            return container.value
        if (
            isinstance(container, cst.Attribute)
            and isinstance(container.value, cst.Name)
            and container.value.value == receiver
            and container.attr.value in class_dicts
        ):
            return f"{receiver}.{container.attr.value}"
        return None


def _keyed_access(node: cst.CSTNode) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """(container, key) for `container[key]` and `container.get/setdefault/pop(key, ...)`."""
    if isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        return node.value, node.slice[0].slice.value
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in LOOKUP_METHODS
        and node.args
        and node.args[0].keyword is None
    ):
        return node.func.value, node.args[0].value
    return None


def _optional_params(function: cst.FunctionDef) -> dict[str, str]:
    """Parameters that may be None or empty -> why."""
    params = function.params
    optional = {}
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.default is not None and _code(param.default) in EMPTY_DEFAULTS:
            optional[param.name.value] = f"defaults to `{_code(param.default)}`"
        elif param.annotation is not None and _allows_none(param.annotation.annotation):
            optional[param.name.value] = "is annotated as optional"
    return optional


def _allows_none(annotation: cst.BaseExpression) -> bool:
    if isinstance(annotation, cst.SimpleString):
        text = annotation.evaluated_value
        try:
            return isinstance(text, str) and _allows_none(cst.parse_expression(text))
        except cst.ParserSyntaxError:
            return False
    return any(isinstance(node, cst.Name) and node.value in ("Optional", "None") for node in walk(annotation))


def _is_dict_annotation(annotation: cst.Annotation) -> bool:
    value = annotation.annotation
    if isinstance(value, cst.Subscript):
        value = value.value
    return last_name(value) in DICT_ANNOTATIONS


def _is_dict_value(value: cst.BaseExpression | None) -> bool:
    if isinstance(value, (cst.Dict, cst.DictComp)):
        return True
    return isinstance(value, cst.Call) and last_name(value.func) in DICT_FACTORIES


def _binds_locally(function: cst.FunctionDef, name: str) -> bool:
    params = function.params
    if any(p.name.value == name for p in [*params.posonly_params, *params.params, *params.kwonly_params]):
        return True
    return any(
        isinstance(node, cst.AssignTarget) and isinstance(node.target, cst.Name) and node.target.value == name
        for node in walk(function.body)
    )


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)
