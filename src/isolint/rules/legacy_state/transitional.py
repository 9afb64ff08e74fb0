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

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import replace_nodes
from ..ast_context import AstFile
from ..base import CstEdit, FixSpec
from .edits import add_needed_import, code
from .family import RUN_ID, LegacyStateConfig
from .imports import context_bound, has_future_annotations, mentioned_names, top_level_from_imports
from .references import body_on_def_line, classify_access, in_source_order, source_code
from .signatures import LegacySignature, default_of, is_none

if TYPE_CHECKING:
    from ...cst_view import CstView

# The context fields the adapter fills from a legacy object.
ADAPTED_FIELDS = frozenset({"user_id", "thread_id", "run_id"})
# Statements that hold no other statement: where a use of the state is quoted from.
SIMPLE_STATEMENTS = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Return,
    ast.Raise,
    ast.Assert,
    ast.Delete,
    ast.Pass,
    ast.Break,
    ast.Continue,
    ast.Import,
    ast.ImportFrom,
    ast.Global,
    ast.Nonlocal,
)


@dataclass(frozen=True)
class Adapter:
    module: str
    name: str

    @classmethod
    def configured(cls, settings: Any) -> Adapter | str:
        """The project's adapter, or why there is none to call."""
        from ...config import DEFAULT_ADAPTER, DEFAULT_CONTEXT_CLASS, LEGACY_STATE_OPTIONS  # config imports the rules

        config = LegacyStateConfig.of(settings)
        default_field_map = next(o.default for o in LEGACY_STATE_OPTIONS if o.name == "field-map")
        if config.adapter == DEFAULT_ADAPTER and (
            settings.context_class != DEFAULT_CONTEXT_CLASS or dict(config.field_map) != default_field_map
        ):
            return (
                "the default adapter `isolint.runtime:ensure_context` serves only the default `context-class` and "
                "`field-map`; name the project's own in `[tool.isolint.legacy-state] adapter`"
            )
        module, _, name = config.adapter.partition(":")
        return cls(module, name)


def adapter_call(
    file: AstFile, function: ast.FunctionDef | ast.AsyncFunctionDef, adapter: Adapter
) -> tuple[str, str] | None:
    """`(local, state)` when the function body starts with `local = adapter(state, ...)`: its transitional form."""
    if body_on_def_line(file, function):
        return None
    for statement in function.body:
        if _is_docstring(statement):
            continue
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            value = statement.value
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == adapter.name
                and value.args
                and isinstance(value.args[0], ast.Name)
            ):
                return statement.targets[0].id, value.args[0].id
        return None
    return None


def transitional_fix(file: AstFile, signature: LegacySignature, adapter: Adapter) -> FixSpec | str:
    """The transitional rewrite of the signature's function, or why it cannot keep old callers working."""
    config = LegacyStateConfig.of(file.settings)
    function, state, run_id = signature.function, signature.state, signature.run_id
    if body_on_def_line(file, function):
        return f"`{function.name}` is written on one line"
    default = default_of(function, run_id)
    if default is not None and not is_none(default):
        return f"`{RUN_ID}` has a default other than None, which callers that omit it rely on"
    local = _free_name(function, (*config.context_params, "context", "request_context"), {state.arg, run_id.arg})
    id_reads: list[tuple[ast.Attribute, str]] = []
    # In source order: the first read that stops the rewrite is the one the reason quotes.
    for name in in_source_order(file.names.reads(function, state.arg)):
        up = file.parent(name)
        if not (isinstance(up, ast.Attribute) and up.value is name):
            return f"`{state.arg}` is used as a whole (`{_excerpt(file, _enclosing_use(file, name))}`), not only for its ids"
        mapped = config.field_map.get(up.attr)
        if mapped not in ADAPTED_FIELDS or classify_access(up, file.parent, ()) != "read":
            return (
                f"`{_excerpt(file, up)}` is not a read of one of the ids the adapter carries, so a context could not "
                "stand in for the state"
            )
        id_reads.append((up, mapped))
    run_id_reads = file.names.reads(function, run_id.arg)

    pep604 = has_future_annotations(file.tree) or _uses_pep604(file.tree)
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
    if not context_bound(file.tree, config.context_name, runtime=True):
        imports.append((config.context_module, config.context_name))

    call = f"{local} = {adapter.name}({state.arg}, {RUN_ID}={run_id.arg})"
    message = (
        f"Accept `{config.context_name}` as well (transitional: every old caller keeps working) and read the ids "
        f"from `{call}`"
    )

    def build(view: CstView) -> CstEdit:
        state_param, run_id_param = view.node(state, cst.Param), view.node(run_id, cst.Param)
        params = view.parents.get(id(state_param))
        definition = view.parents.get(id(params))
        if not isinstance(params, cst.Parameters) or not isinstance(definition, cst.FunctionDef):
            raise LookupError("the state parameter is not in a function's parameters")
        receiver = cst.Name(local)
        reads: dict[Any, Any] = {}
        for attribute, mapped in id_reads:
            found = view.node(attribute, cst.Attribute)
            reads[found] = found.with_changes(value=receiver, attr=cst.Name(mapped))
        for name in run_id_reads:
            found_name = view.node(name, cst.Name)
            reads[found_name] = cst.Attribute(receiver, cst.Name(RUN_ID)).with_changes(
                lpar=found_name.lpar, rpar=found_name.rpar
            )
        statement = cst.parse_statement(f"{call}\n")
        from .._imports import is_docstring  # defines LibCST transformers: imported once edits are built

        # Every read is inside the body, which gains a statement: rebuild it with the reads replaced first.
        body = replace_nodes(definition.body, reads, view.parents)
        at = 1 if body.body and is_docstring(body.body[0]) else 0
        replace = {
            params: _widened(params, state_param, run_id_param, config.context_name, pep604),
            definition.body: body.with_changes(body=[*body.body[:at], statement, *body.body[at:]]),
        }
        if not imports:
            return CstEdit(replace=replace)

        def add_imports(tree: Any) -> Any:
            for module_name, name in imports:
                tree = add_needed_import(tree, module_name, name)
            return tree

        return CstEdit(replace=replace, transform=add_imports)

    return FixSpec(message, UNSAFE, build=build, isolation="imports" if imports else None)


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


def _import_state(file: AstFile, module_name: str, name: str) -> str:
    """ "bound" when the module imports `name` from `module_name` at top level,
    "missing" when it binds no `name` at all, else "other"."""
    for statement in top_level_from_imports(file.tree):
        if any((alias.asname or alias.name) == name for alias in statement.names if alias.name != "*"):
            return "bound" if statement.module == module_name and statement.level == 0 else "other"
    if file.names.binding_count(file.tree, name) == 0 and name not in mentioned_names(file.tree) | _import_words(
        file.tree
    ):
        return "missing"
    return "other"


def _import_words(tree: ast.Module) -> set[str]:
    """Every identifier import statements spell (`a`, `b`, `c` of `from a.b import c`)."""
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            words.update(node.module.split("."))
        elif isinstance(node, ast.alias):
            words.update(node.name.split("."))
            words.update([node.asname] if node.asname else [])
    return words


def _uses_pep604(tree: ast.Module) -> bool:
    """Whether the module already writes `X | Y` in an annotation, so the project runs on 3.10+."""
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            annotations = [node.annotation]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations = [node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        if any(isinstance(a, ast.BinOp) and isinstance(a.op, ast.BitOr) for a in annotations):
            return True
    return False


def _enclosing_use(file: AstFile, node: ast.AST) -> ast.AST:
    """The call or simple statement that uses `node`, to quote in a reason."""
    up = file.parent(node)
    while up is not None and not isinstance(up, (ast.Call, *SIMPLE_STATEMENTS)):
        node, up = up, file.parent(up)
    return up if up is not None else node


def _excerpt(file: AstFile, node: ast.AST) -> str:
    text = " ".join((file.source if isinstance(node, ast.Module) else source_code(file, node)).split())
    return text if len(text) <= 60 else f"{text[:57]}..."


def _free_name(function: ast.FunctionDef | ast.AsyncFunctionDef, candidates: tuple[str, ...], taken: set[str]) -> str:
    used = mentioned_names(function) | taken
    return next((c for c in candidates if c not in used), "request_context")


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
