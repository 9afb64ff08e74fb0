"""The transitional form of a legacy `execute(state, run_id, ...)` signature.

When `isolint fix` cannot verify every caller of such a function (a framework
calls it, or code outside the checked paths), dropping `run_id` would strand
those callers. The transitional form keeps every old call working and lets new
callers pass the context:

    async def execute(self, state: DeepAgentState | UserExecutionContext,
                      run_id: str | None = None, stream_updates: bool = False) -> None:
        context = ensure_context(state, run_id=run_id)
        print(context.user_id, context.run_id)

It is offered only when it cannot change what an old caller sees: the body
reads nothing from the state but the ids the adapter carries (`field-map`
entries for `user_id`, `thread_id` and `run_id`), neither parameter is
rebound, and `run_id` has no default other than None.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import replace_nodes, walk
from ..base import FixSpec
from .cst_references import classify_access
from .edits import add_needed_import, code, context_bound, has_future_annotations, top_level_import_of
from .family import RUN_ID

# The context fields the adapter fills from a legacy object.
ADAPTED_FIELDS = frozenset({"user_id", "thread_id", "run_id"})


@dataclass(frozen=True)
class Adapter:
    module: str
    name: str

    @classmethod
    def configured(cls, settings: Any) -> Adapter | str:
        """The project's adapter, or why there is none to call."""
        from ...config import DEFAULT_ADAPTER, DEFAULT_CONTEXT_CLASS, LEGACY_STATE_OPTIONS  # config imports the rules

        default_field_map = next(o.default for o in LEGACY_STATE_OPTIONS if o.name == "field-map")
        adapter = settings.legacy_state["adapter"]
        if adapter == DEFAULT_ADAPTER and (
            settings.context_class != DEFAULT_CONTEXT_CLASS
            or dict(settings.legacy_state["field-map"]) != default_field_map
        ):
            return (
                "the default adapter `isolint.runtime:ensure_context` serves only the default `context-class` and "
                "`field-map`; name the project's own in `[tool.isolint.legacy-state] adapter`"
            )
        module, _, name = adapter.partition(":")
        return cls(module, name)


def adapter_call(function: Any, adapter: Adapter) -> tuple[str, str] | None:
    """`(local, state)` when the function body starts with `local = adapter(state, ...)`: its transitional form."""
    for statement in _body_statements(function):
        if _is_docstring(statement):
            continue
        if (
            isinstance(statement, cst.SimpleStatementLine)
            and isinstance(statement.body[0], cst.Assign)
            and len(statement.body[0].targets) == 1
            and isinstance(statement.body[0].targets[0].target, cst.Name)
        ):
            value = statement.body[0].value
            if (
                isinstance(value, cst.Call)
                and isinstance(value.func, cst.Name)
                and value.func.value == adapter.name
                and value.args
                and isinstance(value.args[0].value, cst.Name)
            ):
                return statement.body[0].targets[0].target.value, value.args[0].value.value
        return None
    return None


def transitional_fix(rule: Any, node: Any, state: Any, run_id: Any, adapter: Adapter) -> FixSpec | str:
    """The transitional rewrite of `node`, or why it cannot keep old callers working."""
    file, settings = rule.file, rule.settings
    if not isinstance(node.body, cst.IndentedBlock):
        return f"`{node.name.value}` is written on one line"
    if run_id.default is not None and not (isinstance(run_id.default, cst.Name) and run_id.default.value == "None"):
        return f"`{RUN_ID}` has a default other than None, which callers that omit it rely on"
    module = file.module
    local = _free_name(
        node, (*settings.context_params, "context", "request_context"), {state.name.value, run_id.name.value}
    )
    receiver = cst.Name(local)
    field_map: Mapping[str, str] = settings.legacy_state["field-map"]
    parent_of = file.parents
    reads: dict[Any, Any] = {}
    for name_node in file.names.reads(node, state.name.value):
        up = parent_of.get(id(name_node))
        if not (isinstance(up, cst.Attribute) and up.value is name_node):
            use = _enclosing_use(name_node, parent_of)
            return f"`{state.name.value}` is used as a whole (`{_excerpt(use)}`), not only for its ids"
        mapped = field_map.get(up.attr.value)
        if mapped not in ADAPTED_FIELDS or classify_access(up, lambda child: parent_of.get(id(child)), ()) != "read":
            return (
                f"`{_excerpt(up)}` is not a read of one of the ids the adapter carries, so a context could not "
                "stand in for the state"
            )
        reads[up] = up.with_changes(value=receiver, attr=cst.Name(mapped))
    for name_node in file.names.reads(node, run_id.name.value):
        reads[name_node] = cst.Attribute(receiver, cst.Name(RUN_ID)).with_changes(
            lpar=name_node.lpar, rpar=name_node.rpar
        )

    pep604 = has_future_annotations(module) or _uses_pep604(file)
    imports: list[tuple[str, str]] = []
    for module_name, name in (
        *(() if pep604 else (("typing", "Union"), ("typing", "Optional"))),
        (adapter.module, adapter.name),
    ):
        bound = _import_state(file, module_name, name)
        if bound == "other":
            return f"the module already binds `{name}` to something else"
        if bound == "missing":
            imports.append((module_name, name))
    if not context_bound(module, settings, runtime=True):
        imports.append((settings.context_module, settings.context_name))

    statement = cst.parse_statement(f"{local} = {adapter.name}({state.name.value}, {RUN_ID}={run_id.name.value})\n")
    # Every read is inside the body, which gains a statement: rebuild it with the reads replaced first.
    body = replace_nodes(node.body, reads, parent_of)
    at = 1 if body.body and _is_docstring(body.body[0]) else 0
    replace = {
        node.params: _widened(node.params, state, run_id, settings.context_name, pep604),
        node.body: body.with_changes(body=[*body.body[:at], statement, *body.body[at:]]),
    }
    message = (
        f"Accept `{settings.context_name}` as well (transitional: every old caller keeps working) and read the ids "
        f"from `{local} = {adapter.name}({state.name.value}, {RUN_ID}={run_id.name.value})`"
    )
    if not imports:
        return FixSpec(message, UNSAFE, replace=replace)

    def add_imports(tree: Any) -> Any:
        for module_name, name in imports:
            tree = add_needed_import(tree, module_name, name)
        return tree

    return FixSpec(message, UNSAFE, replace=replace, transform=add_imports, isolation="imports")


def _widened(params: Any, state: Any, run_id: Any, context_name: str, pep604: bool) -> Any:
    """`state` also accepts the context; `run_id` becomes optional where a default may follow."""
    annotation = state.annotation
    if annotation is not None:
        inner = annotation.annotation
        if isinstance(inner, cst.SimpleString):
            text = inner.evaluated_value if isinstance(inner.evaluated_value, str) else code(inner)
            widened: Any = cst.SimpleString(f'"{text} | {context_name}"')
        elif pep604:
            widened = cst.parse_expression(f"{code(inner)} | {context_name}")
        else:
            widened = cst.parse_expression(f"Union[{code(inner)}, {context_name}]")
        annotation = annotation.with_changes(annotation=widened)
    new_state = state.with_changes(annotation=annotation)
    new_run_id = run_id
    if run_id.default is None and _default_may_follow(params, run_id):
        run_annotation = run_id.annotation
        if run_annotation is not None:
            inner = run_annotation.annotation
            text = code(inner)
            if isinstance(inner, cst.SimpleString):
                optional: Any = inner
            else:
                optional = cst.parse_expression(f"{text} | None" if pep604 else f"Optional[{text}]")
            run_annotation = run_annotation.with_changes(annotation=optional)
        new_run_id = run_id.with_changes(
            annotation=run_annotation,
            default=cst.Name("None"),
            equal=cst.AssignEqual(cst.SimpleWhitespace(" "), cst.SimpleWhitespace(" ")),
        )
    changes = {}
    for field in ("posonly_params", "params", "kwonly_params"):
        changes[field] = [new_state if p is state else new_run_id if p is run_id else p for p in getattr(params, field)]
    return params.with_changes(**changes)


def _default_may_follow(params: Any, run_id: Any) -> bool:
    """Whether `run_id` may take a default: every positional parameter after it has one."""
    if run_id in params.kwonly_params:
        return True
    positional = [*params.posonly_params, *params.params]
    after = positional[positional.index(run_id) + 1 :]
    return all(p.default is not None for p in after)


def _import_state(file: Any, module_name: str, name: str) -> str:
    """ "bound" when the module imports `name` from `module_name` at top level,
    "missing" when it binds no `name` at all, else "other"."""
    found = top_level_import_of(file.module, name)
    if found is not None:
        imported_from = code(found[0].module) if found[0].module is not None else ""
        return "bound" if imported_from == module_name and found[0].relative == () else "other"
    return (
        "missing"
        if file.names.binding_count(file.module, name) == 0 and not _used_anywhere(file.module, name)
        else "other"
    )


def _used_anywhere(module: Any, name: str) -> bool:
    return any(isinstance(n, cst.Name) and n.value == name for n in walk(module))


def _uses_pep604(file: Any) -> bool:
    """Whether the module already writes `X | Y` in an annotation, so the project runs on 3.10+.
    Once per file: it can hold many functions to widen."""
    if file not in _PEP604:
        _PEP604[file] = any(
            isinstance(node, cst.Annotation)
            and isinstance(node.annotation, cst.BinaryOperation)
            and isinstance(node.annotation.operator, cst.BitOr)
            for node in walk(file.module)
        )
    return _PEP604[file]


_PEP604: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _enclosing_use(node: Any, parent_of: Mapping[int, Any]) -> Any:
    """The call or small statement that uses `node`, to quote in a reason."""
    up = parent_of.get(id(node))
    while up is not None and not isinstance(up, (cst.Call, cst.BaseSmallStatement)):
        node, up = up, parent_of.get(id(up))
    return up if up is not None else node


def _excerpt(node: Any) -> str:
    text = " ".join(code(node).split())
    return text if len(text) <= 60 else f"{text[:57]}..."


def _free_name(function: Any, candidates: tuple[str, ...], taken: set[str]) -> str:
    used = {n.value for n in walk(function) if isinstance(n, cst.Name)} | taken
    return next((c for c in candidates if c not in used), "request_context")


def _body_statements(function: Any) -> list[Any]:
    return list(function.body.body) if isinstance(function.body, cst.IndentedBlock) else []


def _is_docstring(statement: Any) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )
