"""ISO405 legacy-execute-signature: `execute(state, run_id, ...)` and its call sites."""

from __future__ import annotations

from typing import Any, ClassVar

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk
from ..base import FixSpec, Rule
from .cst_references import LegacyNames, classify_access, key_quote, legacy_names, signature_facts, state_variables
from .edits import code, context_fix, has_future_annotations, read_replacement, without_argument
from .family import (
    CONSTRUCTORS,
    MUTATING_METHODS,
    REEXPORT,
    RUN_ID,
    RUN_ID_SIGNATURE,
    STATE_TYPE,
    LegacyStateFamily,
    names_regex,
    reference_names,
)
from .transitional import Adapter, adapter_call, transitional_fix


class LegacyExecuteSignature(LegacyStateFamily, Rule):
    code = "ISO405"
    name = "legacy-execute-signature"
    summary = "A function takes the legacy state plus a separate `run_id`, or is called that way"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    reads_facts = (REEXPORT, RUN_ID_SIGNATURE)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> Any:
        # Definitions name the class (or, half-migrated, the context class); call
        # sites call a function the index knows.
        names = reference_names(settings, project) | {settings.context_name} | set(project.names(RUN_ID_SIGNATURE))
        return names_regex(names)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._definition_fixes: dict[Any, FixSpec] = {}

    # --- definitions ------------------------------------------------------------

    # Set on the fallback: widen the signature (see _transitional.py) instead of changing it.
    transitional: ClassVar[bool] = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        names = legacy_names(self.file)
        if names.in_class_body(self.file.ancestors):
            return
        found = _state_and_run_id(node, names)
        if found is None:
            return
        state, run_id = found
        adapter = Adapter.configured(self.settings)
        if isinstance(adapter, Adapter) and adapter_call(node, adapter) is not None:
            self.report(
                node.name,
                f"`{node.name.value}` is in its transitional form: it still takes the per-run state `{state.name.value}` "
                f"or the request context, and a separate `{RUN_ID}`",
                manual=(
                    f"Once every caller passes the request context (`{node.name.value}(context, ...)`), drop the "
                    f"`{RUN_ID}` parameter and the `{adapter.name}` call and annotate `{state.name.value}` with "
                    f"`{self.settings.context_name}` alone."
                ),
            )
            return
        blocker = self._blocker(node, state, run_id)
        if self.transitional:
            self._report_transitional(node, state, run_id, adapter, blocker)
            return
        self.report(
            node.name,
            f"`{node.name.value}` takes the per-run state `{state.name.value}` and a separate `{RUN_ID}`; the run id "
            f"belongs to the request context (`context.{RUN_ID}`), so the two can disagree",
            fix=None
            if blocker
            else self._definition_fixes.setdefault(node, self._definition_fix(node, state, run_id, names)),
            manual=f"{blocker}: take one `{self.settings.context_name}` parameter and read `context.{RUN_ID}` by hand."
            if blocker
            else None,
        )

    def _report_transitional(
        self, node: cst.FunctionDef, state: cst.Param, run_id: cst.Param, adapter: Adapter | str, blocker: str | None
    ) -> None:
        fix = blocker or (
            transitional_fix(self, node, state, run_id, adapter) if isinstance(adapter, Adapter) else adapter
        )
        self.report(
            node.name,
            f"`{node.name.value}` takes the per-run state `{state.name.value}` and a separate `{RUN_ID}`; the run id "
            f"belongs to the request context (`context.{RUN_ID}`), so the two can disagree",
            fix=fix if isinstance(fix, FixSpec) else None,
            manual=None
            if isinstance(fix, FixSpec)
            else (
                f"The new signature would break callers `isolint fix` cannot verify, and the transitional one that "
                f"keeps them working cannot be written ({fix}): take one `{self.settings.context_name}` parameter, "
                f"read `context.{RUN_ID}`, and update every caller by hand."
            ),
        )

    def _blocker(self, node: cst.FunctionDef, state: cst.Param, run_id: cst.Param) -> str | None:
        for param in (state, run_id):
            if self.file.names.binding_count(node, param.name.value) != 1:
                return f"`{param.name.value}` is reassigned in `{node.name.value}`"
        if isinstance(run_id.star, str) and run_id.star:
            return f"`{RUN_ID}` is a star parameter"
        if _may_be_none(state):
            return (
                f"`{state.name.value}` may be None, and `context.{RUN_ID}` on None would raise where `{RUN_ID}` did not"
            )
        return None

    def _definition_fix(
        self, node: cst.FunctionDef, state: cst.Param, run_id: cst.Param, names: LegacyNames
    ) -> FixSpec:
        new_name = self._context_name(node, state)
        receiver = cst.Name(new_name)
        replace: dict[Any, Any] = {
            node.params: _without_param(node.params, run_id, state, _new_state(state, new_name, names))
        }
        parent_of = self.file.parents
        field_map = self.settings.legacy_state["field-map"]

        def parent(child: cst.CSTNode) -> cst.CSTNode | None:
            return parent_of.get(id(child))

        # The blocker check made sure each parameter is bound exactly once: every read is of the parameter.
        for name_node in self.file.names.reads(node, state.name.value):
            up = parent_of.get(id(name_node))
            if isinstance(up, cst.Attribute) and up.value is name_node:
                use = classify_access(up, parent, MUTATING_METHODS)
                mapped = read_replacement(up, receiver, field_map, key_quote(up, parent)) if use == "read" else None
                if mapped is not None:
                    replace[up] = mapped[0]
                    continue
            replace[name_node] = name_node.with_changes(value=new_name)
        for name_node in self.file.names.reads(node, run_id.name.value):
            if not self._drop_forwarded_run_id(name_node, state, new_name, parent_of, replace):
                replace[name_node] = cst.Attribute(receiver, cst.Name(RUN_ID)).with_changes(
                    lpar=name_node.lpar, rpar=name_node.rpar
                )
        message = f"Take `{new_name}: {self.settings.context_name}` and read `{new_name}.{RUN_ID}`"
        runtime = not has_future_annotations(self.file.module) and not isinstance(
            state.annotation.annotation if state.annotation else None, cst.SimpleString
        )
        return context_fix(self.file, message, UNSAFE, replace, runtime=runtime)

    def _drop_forwarded_run_id(
        self, name: cst.Name, state: cst.Param, new_name: str, parent_of: dict[int, Any], replace: dict[Any, Any]
    ) -> bool:
        """In `f(state, run_id, ...)` where `f` has a legacy signature, drop the
        `run_id` argument (the callee is rewritten to read it from the context)."""
        arg, call = parent_of.get(id(name)), None
        if isinstance(arg, cst.Arg) and arg.value is name:
            call = parent_of.get(id(arg))
        if not isinstance(call, cst.Call):
            return False
        for fact in self._signatures(call.func):
            located = _arguments(call, fact.data, legacy_names(self.file))
            if located is None or call.args[located[1]] is not arg:
                continue
            state_arg = call.args[located[0]]
            if state_arg.keyword is not None or not _is_name_in(state_arg.value, {state.name.value}):
                return False
            index = located[1]
            if index == len(call.args) - 1:
                if index == 0 or call.args[index - 1] is not state_arg:
                    return False
                # The state argument becomes the last one and takes over the closing comma.
                replace[state_arg] = state_arg.with_changes(value=cst.Name(new_name), comma=arg.comma)
            replace[arg] = cst.RemoveFromParent()
            return True
        return False

    def _context_name(self, node: cst.FunctionDef, state: cst.Param) -> str:
        """The first of `context-params` the function does not already use."""
        used = {n.value for n in walk(node) if isinstance(n, cst.Name) and n is not state.name}
        for candidate in (*self.settings.context_params, "context"):
            if candidate == state.name.value or candidate not in used:
                return candidate
        return "request_context"

    # --- call sites -------------------------------------------------------------

    def visit_Call(self, node: cst.Call) -> None:
        facts = self._signatures(node.func)
        if not facts:
            return
        for fact in facts:
            located = _arguments(node, fact.data, legacy_names(self.file))
            if located is None:
                continue
            state_index, run_id_index, state_param = located
            state_arg, run_id_arg = node.args[state_index], node.args[run_id_index]
            caller = self.file.enclosing(cst.FunctionDef)
            known = self._state_names(caller)
            is_method_call = isinstance(node.func, cst.Attribute)
            if is_method_call and not (_is_name_in(state_arg.value, known) or _mentions_run_id(run_id_arg.value)):
                continue  # an unrelated method that happens to share the name
            owner = fact.qualname
            message = (
                f"`{code(node.func)}(...)` passes the per-run state and a separate run id to `{owner}` "
                f"({fact.path}:{fact.line}), which should take only the request context"
            )
            enclosing_fix = self._enclosing_definition_fix(caller, state_arg, run_id_arg)
            if enclosing_fix is not None:
                self.report(node, message, fix=enclosing_fix)  # rewriting the caller drops this argument too
            elif (
                self._caller_passes_own_context(node, caller, state_arg, run_id_arg, known)
                and state_arg.keyword is None
            ):
                fix = FixSpec(
                    f"Drop the `{RUN_ID}` argument",
                    UNSAFE,
                    replace={node: node.with_changes(args=without_argument(node.args, run_id_index))},
                )
                self.report(node, message, fix=fix)
            else:
                self.report(node, message, manual=self._call_site_hint(state_param, owner))
            return

    def _call_site_hint(self, state_param: str, owner: str) -> str:
        return (
            f"Pass the caller's request context as `{state_param}` (after ISO405 rewrites `{owner}`, its only "
            f"per-run parameter) and drop the `{RUN_ID}` argument: the callee reads `context.{RUN_ID}`."
        )

    def _enclosing_definition_fix(self, caller: Any, state_arg: cst.Arg, run_id_arg: cst.Arg) -> FixSpec | None:
        """The caller's own ISO405 fix, when the caller forwards its state and run_id parameters."""
        if caller is None or self.transitional:
            return None
        names = legacy_names(self.file)
        found = _state_and_run_id(caller, names)
        if found is None or self._blocker(caller, *found) is not None:
            return None
        state, run_id = found
        if not (
            _is_name_in(state_arg.value, {state.name.value}) and _is_name_in(run_id_arg.value, {run_id.name.value})
        ):
            return None
        if caller not in self._definition_fixes:
            self._definition_fixes[caller] = self._definition_fix(caller, state, run_id, names)
        return self._definition_fixes[caller]

    def _signatures(self, func: Any) -> list[Any]:
        names = legacy_names(self.file)
        return [
            f
            for f in signature_facts(self.file.project, RUN_ID_SIGNATURE, func)
            if _state_param(f.data, names) is not None
        ]

    def _state_names(self, caller: cst.FunctionDef | None) -> set[str]:
        legacy, context = state_variables(legacy_names(self.file), caller or self.file.module, CONSTRUCTORS)
        return legacy | context

    def _caller_passes_own_context(
        self, call: cst.Call, caller: Any, state_arg: Any, run_id_arg: Any, known: set[str]
    ) -> bool:
        """The arguments are the caller's state/context variable and that object's own run id."""
        if not _is_name_in(state_arg.value, known):
            return False
        state_name = state_arg.value.value
        value = run_id_arg.value
        if _is_run_id_of(value, state_name):
            return True
        if not isinstance(value, cst.Name) or caller is None:
            return False
        return _run_id_comes_from(caller, call, value.value, state_name)


def _state_and_run_id(function: cst.FunctionDef, names: LegacyNames) -> tuple[cst.Param, cst.Param] | None:
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    run_id = next((p for p in every if p.name.value == RUN_ID), None)
    if run_id is None:
        return None
    for param in every:
        if param.annotation is None or param is run_id:
            continue
        annotation = param.annotation.annotation
        if names.is_state_type(annotation) or names.is_context_type(annotation):
            return param, run_id
    return None


def _state_param(data: Any, names: LegacyNames) -> str | None:
    for param, annotation_names in data["annotations"].items():
        if any(n == STATE_TYPE or n in names.local for n in annotation_names):
            return param
    return None


def _arguments(call: cst.Call, data: Any, names: LegacyNames) -> tuple[int, int, str] | None:
    """Indices of the state and run_id arguments in `call`, and the state parameter's name."""
    state_param = _state_param(data, names)
    if state_param is None or any(arg.star for arg in call.args):
        return None
    positional = data["positional"]
    supplied = sum(1 for arg in call.args if arg.keyword is None or arg.keyword.value in positional)
    if supplied < data["required"]:
        return None  # too few arguments for the legacy signature: already migrated, or another function

    def index_of(param: str) -> int | None:
        for index, arg in enumerate(call.args):
            if arg.keyword is not None and arg.keyword.value == param:
                return index
        if param in positional:
            position = positional.index(param)
            if position < len(call.args) and call.args[position].keyword is None:
                return position
        return None

    state_index, run_id_index = index_of(state_param), index_of(RUN_ID)
    if state_index is None or run_id_index is None:
        return None
    return state_index, run_id_index, state_param


def _is_name_in(value: Any, names: set[str]) -> bool:
    return isinstance(value, cst.Name) and value.value in names


def _mentions_run_id(value: Any) -> bool:
    return (isinstance(value, cst.Name) and value.value == RUN_ID) or (
        isinstance(value, cst.Attribute) and value.attr.value == RUN_ID
    )


def _is_run_id_of(value: Any, state_name: str) -> bool:
    return (
        isinstance(value, cst.Attribute)
        and value.attr.value == RUN_ID
        and isinstance(value.value, cst.Name)
        and value.value.value == state_name
    )


def _assigned_names(node: Any) -> set[str]:
    """Names bound anywhere inside `node` by assignment-like statements."""
    bound = set()
    for child in walk(node):
        targets: list[Any] = []
        if isinstance(child, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor, cst.NamedExpr)):
            targets = [child.target]
        elif isinstance(child, cst.AsName):
            targets = [child.name]
        for target in targets:
            bound |= {n.value for n in walk(target) if isinstance(n, cst.Name)}
    return bound


def _run_id_comes_from(caller: cst.FunctionDef, call: cst.Call, run_id_name: str, state_name: str) -> bool:
    """Whether, where `call` runs, `run_id_name` still holds `state_name.run_id`:
    the last statement of the function body before the one holding the call
    that assigns it is `run_id = state.run_id`, and neither name changes after it."""
    source = None
    for statement in caller.body.body:
        if any(child is call for child in walk(statement)):
            return source == state_name and not ({run_id_name, state_name} & _assigned_names(statement))
        assigned = _assigned_names(statement)
        if _is_simple_assignment(statement, run_id_name) and _is_run_id_of(statement.body[0].value, state_name):
            source = state_name
        elif run_id_name in assigned or state_name in assigned:
            source = None
    return False


def _is_simple_assignment(statement: Any, name: str) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Assign)
        and len(statement.body[0].targets) == 1
        and isinstance(statement.body[0].targets[0].target, cst.Name)
        and statement.body[0].targets[0].target.value == name
    )


def _new_state(state: cst.Param, new_name: str, names: LegacyNames) -> cst.Param:
    annotation = state.annotation
    if annotation is not None:
        annotation = annotation.with_changes(annotation=names.rewrite_annotation(annotation.annotation))
    return state.with_changes(name=cst.Name(new_name), annotation=annotation)


def _may_be_none(param: cst.Param) -> bool:
    """`x: Optional[State]`, `x: State | None`, or `x=None`."""
    if isinstance(param.default, cst.Name) and param.default.value == "None":
        return True
    annotation = param.annotation.annotation if param.annotation is not None else None
    if annotation is None:
        return False
    if isinstance(annotation, cst.SimpleString):
        text = annotation.evaluated_value if isinstance(annotation.evaluated_value, str) else ""
    else:
        text = code(annotation)
    return "Optional" in text or any(
        part.strip() == "None" for part in text.replace("[", ",").replace("]", ",").replace("|", ",").split(",")
    )


def _without_param(params: cst.Parameters, run_id: cst.Param, state: cst.Param, new_state: cst.Param) -> cst.Parameters:
    """`params` with `state` replaced and `run_id` removed, keeping comma layout."""
    changes: dict[str, Any] = {}
    for field in ("posonly_params", "params", "kwonly_params"):
        group = [new_state.with_changes(comma=p.comma) if p is state else p for p in getattr(params, field)]
        if run_id in group:
            index = group.index(run_id)
            group.pop(index)
            if group and index == len(group):
                group[-1] = group[-1].with_changes(comma=run_id.comma)
        changes[field] = group
    if not changes["kwonly_params"] and isinstance(params.star_arg, cst.ParamStar):
        changes["star_arg"] = cst.MaybeSentinel.DEFAULT  # a bare `*` needs a keyword-only parameter after it
    return params.with_changes(**changes)


# ISO405 with transitional definition fixes: what `isolint fix` falls back to in
# a file where the new signature would strand callers it cannot see. Not a
# module-level class: the registry holds one rule per module.
LegacyExecuteSignature.fallback = type(
    "TransitionalExecuteSignature", (LegacyExecuteSignature,), {"transitional": True, "__module__": __name__}
)
