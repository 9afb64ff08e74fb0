"""ISO305 connections-keyed-by-optional-user: a shared connections dict indexed by a maybe-None key."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...prefilters import NEVER, TextFilter
from ...scopes import walk
from .._helpers import alternation, glob_to_bytes_regex, unanchored_alternatives
from ..ast_context import AstFile
from ..ast_helpers import assignment_targets, first_param_name, last_name
from .analysis import FUNCTION_NODES, FunctionNode
from .family import CONNECTION_NAMES, WEBSOCKET_NAMES, WebSocketConfig, WebSocketRule

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex

LOOKUP_METHODS = ("get", "setdefault", "pop")
DICT_FACTORIES = ("dict", "defaultdict", "OrderedDict", "WeakValueDictionary")
DICT_ANNOTATIONS = ("Dict", "dict", "DefaultDict", "defaultdict", "MutableMapping", "Mapping", "OrderedDict")
EMPTY_DEFAULTS = ("None", '""', "''")


class ConnectionsKeyedByOptionalUser(WebSocketRule):
    code = "ISO305"
    name = "connections-keyed-by-optional-user"
    family = "websockets"
    summary = (
        "A shared connections dict is indexed by a key that may be None or empty, so anonymous users share a bucket"
    )
    prefilter = re.compile(rb"(?!)")  # built from `connection-names` by compile_prefilter
    options = (WEBSOCKET_NAMES, CONNECTION_NAMES)

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        globs = WebSocketConfig.of_rule(cls, settings).connection_names
        if not globs:
            return NEVER
        use = rb"\w*\s*(?:\[|\.\s*(?:get|setdefault|pop)\s*\()"
        return re.compile(alternation(unanchored_alternatives((glob_to_bytes_regex(glob) for glob in globs), use)))

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.module_dicts = self._module_dicts(file.tree)

    def visit_FunctionDef(self, node: FunctionNode) -> None:
        optional = self._optional_params(node)
        if not optional:
            return
        class_dicts = self._class_dicts(self.file.enclosing(ast.ClassDef))
        receiver = first_param_name(node)
        reported: set[str] = set()
        for child in walk(*node.body):
            found = _keyed_access(child)
            if found is None:
                continue
            container, key = found
            shown = self._shared_dict(container, receiver, class_dicts, node)
            if shown is None or shown in reported or not isinstance(key, ast.Name) or key.id not in optional:
                continue
            reported.add(shown)
            self.report(
                child,
                f"`{shown}` is shared by every connection and is indexed by `{key.id}`, which {optional[key.id]}: "
                "every anonymous connection lands in one bucket and receives the others' events",
                manual=(
                    f"Reject connections without an authenticated user before registering them, make `{key.id}` a "
                    "required `str`, or key by connection id; the runtime's `ConnectionRegistry` refuses empty user ids."
                ),
            )

    visit_AsyncFunctionDef = visit_FunctionDef

    def _optional_params(self, function: FunctionNode) -> dict[str, str]:
        """Parameters that may be None or empty -> why."""
        optional = {}
        for arg, default in _with_defaults(function.args):
            if default is not None and self.file.segment(default) in EMPTY_DEFAULTS:
                optional[arg.arg] = f"defaults to `{self.file.segment(default)}`"
            elif arg.annotation is not None and _allows_none(arg.annotation):
                optional[arg.arg] = "is annotated as optional"
        return optional

    def _module_dicts(self, module: ast.Module) -> set[str]:
        names = set()
        for statement in module.body:
            names |= self._declared_dicts(statement)
        return names

    def _class_dicts(self, owner: ast.ClassDef | None) -> set[str]:
        """Dicts declared in the class body, or built on `self` by a plumbing class."""
        if owner is None:
            return set()
        names = set()
        plumbing = self.config.is_plumbing_name(owner.name)
        for statement in owner.body:
            if isinstance(statement, FUNCTION_NODES):
                if plumbing:
                    names |= self._dicts_built_on_attributes(statement)
            else:
                names |= self._declared_dicts(statement)
        return names

    def _dicts_built_on_attributes(self, method: FunctionNode) -> set[str]:
        """`self.connections = {}` anywhere in the method."""
        return {
            target.attr
            for node in walk(*method.body)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_dict_value(node.value)
            for target in assignment_targets(node)
            if isinstance(target, ast.Attribute) and self.config.is_connection_name(target.attr)
        }

    def _declared_dicts(self, statement: ast.stmt) -> set[str]:
        """`connections = {}`, `connections: Dict[...] = {}`, or a bare `connections: Dict[...]`."""
        targets: list[ast.expr]
        if isinstance(statement, ast.AnnAssign) and statement.value is None:
            targets = [statement.target] if _is_dict_annotation(statement.annotation) else []
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and _is_dict_value(statement.value):
            targets = assignment_targets(statement)
        else:
            return set()
        return {t.id for t in targets if isinstance(t, ast.Name) and self.config.is_connection_name(t.id)}

    def _shared_dict(
        self, container: ast.expr, receiver: str | None, class_dicts: set[str], function: FunctionNode
    ) -> str | None:
        if (
            isinstance(container, ast.Name)
            and container.id in self.module_dicts
            and not _binds_locally(function, container.id)
        ):
            return container.id
        if (
            isinstance(container, ast.Attribute)
            and isinstance(container.value, ast.Name)
            and container.value.id == receiver
            and container.attr in class_dicts
        ):
            return f"{receiver}.{container.attr}"
        return None


def _keyed_access(node: ast.AST) -> tuple[ast.expr, ast.expr] | None:
    """(container, key) for `container[key]` and `container.get/setdefault/pop(key, ...)`."""
    if isinstance(node, ast.Subscript):
        return node.value, node.slice
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LOOKUP_METHODS
        and node.args
    ):
        return node.func.value, node.args[0]
    return None


def _with_defaults(arguments: ast.arguments) -> list[tuple[ast.arg, ast.expr | None]]:
    """Positional and keyword-only parameters with their defaults (`*args` and `**kwargs` take none)."""
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    return [
        *zip(positional, [*defaults, *arguments.defaults], strict=True),
        *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True),
    ]


def _allows_none(annotation: ast.expr) -> bool:
    """`Optional[...]`, `... | None` or `None` anywhere in the annotation, quoted or not."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return _allows_none(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return False
    return any(
        (isinstance(node, ast.Constant) and node.value is None)
        or (isinstance(node, ast.Name) and node.id in ("Optional", "None"))
        or (isinstance(node, ast.Attribute) and node.attr == "Optional")
        for node in ast.walk(annotation)
    )


def _is_dict_annotation(annotation: ast.expr) -> bool:
    value = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return last_name(value) in DICT_ANNOTATIONS


def _is_dict_value(value: ast.expr | None) -> bool:
    if isinstance(value, (ast.Dict, ast.DictComp)):
        return True
    return isinstance(value, ast.Call) and last_name(value.func) in DICT_FACTORIES


def _binds_locally(function: FunctionNode, name: str) -> bool:
    arguments = function.args
    if any(arg.arg == name for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]):
        return True
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        for statement in function.body
        for node in ast.walk(statement)
    )
