"""ISO405 legacy-execute-signature: `execute(state, run_id, ...)` and its call sites."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..._lazy import cst
from ...findings import UNSAFE
from ...index import Fact
from ..ast_context import AstFile
from ..base import CstEdit, FixSpec
from .callees import LINEAGE_KINDS
from .context_fix import context_fix
from .edits import context_read_node, reference_test, rewrite_annotation, without_argument
from .family import (
    CONSTRUCTORS,
    MUTATING_METHODS,
    REEXPORT,
    RUN_ID,
    RUN_ID_SIGNATURE,
    ContextRead,
    Function,
    LegacyStateConfig,
    LegacyStateRule,
    context_read,
    names_regex,
    reference_names,
)
from .imports import has_future_annotations, mentioned_names
from .references import (
    LegacyNames,
    classify_access,
    enclosing_scope,
    in_source_order,
    key_quote,
    legacy_references,
    source_code,
)
from .signatures import (
    Argument,
    LegacySignature,
    blocker,
    call_arguments,
    default_of,
    is_name_in,
    is_run_id_of,
    legacy_signature,
    legacy_signature_facts,
    located_arguments,
    mentions_run_id,
    run_id_comes_from,
)
from .transitional import Adapter, adapter_call, transitional_fix

if TYPE_CHECKING:
    from ...cst_view import CstView


class LegacyExecuteSignature(LegacyStateRule):
    code = "ISO405"
    name = "legacy-execute-signature"
    summary = "A function takes the legacy state plus a separate `run_id`, or is called that way"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    reads_facts = (REEXPORT, RUN_ID_SIGNATURE, *LINEAGE_KINDS)

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> Any:
        # Definitions name the class (or, half-migrated, the context class); call
        # sites call a function the index knows.
        names = reference_names(settings, project) | {settings.context_name} | set(project.names(RUN_ID_SIGNATURE))
        return names_regex(names)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._config = LegacyStateConfig.of(self.settings)
        self._definition_fixes: dict[int, FixSpec] = {}  # by id of the function

    # --- definitions ------------------------------------------------------------

    # Set on the fallback: widen the signature (see transitional.py) instead of changing it.
    transitional: ClassVar[bool] = False

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        references = legacy_references(self.file)
        if references.in_class_body(self.file.ancestors):
            return
        signature = legacy_signature(references, node)
        if signature is None:
            return
        state = signature.state.arg
        adapter = Adapter.configured(self.settings)
        if isinstance(adapter, Adapter) and adapter_call(self.file, node, adapter) is not None:
            self.report(
                self.file.definition_name(node),
                f"`{node.name}` is in its transitional form: it still takes the per-run state `{state}` "
                f"or the request context, and a separate `{RUN_ID}`",
                manual=(
                    f"Once every caller passes the request context (`{node.name}(context, ...)`), drop the "
                    f"`{RUN_ID}` parameter and the `{adapter.name}` call and annotate `{state}` with "
                    f"`{self._config.context_name}` alone."
                ),
            )
            return
        reason = blocker(self.file, signature)
        if self.transitional:
            self._report_transitional(signature, adapter, reason)
            return
        self.report(
            self.file.definition_name(node),
            f"`{node.name}` takes the per-run state `{state}` and a separate `{RUN_ID}`; the run id "
            f"belongs to the request context (`context.{RUN_ID}`), so the two can disagree",
            fix=None if reason else self._definition_fix(signature),
            manual=f"{reason}: take one `{self._config.context_name}` parameter and read `context.{RUN_ID}` by hand."
            if reason
            else None,
        )

    visit_AsyncFunctionDef = visit_FunctionDef

    def _report_transitional(self, signature: LegacySignature, adapter: Adapter | str, reason: str | None) -> None:
        fix = reason or (transitional_fix(self.file, signature, adapter) if isinstance(adapter, Adapter) else adapter)
        function = signature.function
        self.report(
            self.file.definition_name(function),
            f"`{function.name}` takes the per-run state `{signature.state.arg}` and a separate `{RUN_ID}`; the run id "
            f"belongs to the request context (`context.{RUN_ID}`), so the two can disagree",
            fix=fix if isinstance(fix, FixSpec) else None,
            manual=None
            if isinstance(fix, FixSpec)
            else (
                f"The new signature would break callers `isolint fix` cannot verify, and the transitional one that "
                f"keeps them working cannot be written ({fix}): take one `{self._config.context_name}` parameter, "
                f"read `context.{RUN_ID}`, and update every caller by hand."
            ),
        )

    def _definition_fix(self, signature: LegacySignature) -> FixSpec:
        """The fix rewriting the signature to take one context, shared by the
        definition's finding and those of the calls in it that forward the pair."""
        function = signature.function
        if id(function) not in self._definition_fixes:
            self._definition_fixes[id(function)] = self._build_definition_fix(signature)
        return self._definition_fixes[id(function)]

    def _build_definition_fix(self, signature: LegacySignature) -> FixSpec:
        function, state, run_id = signature.function, signature.state, signature.run_id
        references = legacy_references(self.file)
        new_name = self._context_name(function, state)
        plan = DefinitionRewrite(state, run_id, new_name, references.names, self._config.context_name)
        surviving = {new_name, RUN_ID, "metadata", "get"}
        if state.annotation is not None:
            surviving |= references.names_after_rewrite(state.annotation)
        kept = [p for p in _all_parameters(function) if p is not state and p is not run_id]
        for part in [*kept, *(default_of(function, p) for p in _named(function) if p is not run_id)]:
            if part is not None:
                surviving |= mentioned_names(part)
        replaced: list[ast.AST] = [function.args]
        # The blocker check made sure each parameter is bound exactly once: every read is of the parameter.
        for name in in_source_order(self.file.names.reads(function, state.arg)):
            up = self.file.parent(name)
            if isinstance(up, ast.Attribute) and up.value is name:
                use = classify_access(up, self.file.parent, MUTATING_METHODS)
                read = (
                    context_read(up.attr, self._config.field_map, same_receiver=new_name == state.arg)
                    if use == "read"
                    else None
                )
                if read is not None:
                    plan.reads.append(FieldRead(up, read, key_quote(_ancestors(self.file, up), self.file)))
                    surviving |= {up.attr, *([read.attribute] if read.attribute else [])}
                    replaced.append(up)
                    continue
            plan.renames.append(name)
            replaced.append(name)
        for name in in_source_order(self.file.names.reads(function, run_id.arg)):
            forward = self._forwarded_run_id(name, state)
            if forward is not None:
                plan.forwards.append(forward)
            else:
                plan.run_id_reads.append(name)
            replaced.append(name)
        message = f"Take `{new_name}: {self._config.context_name}` and read `{new_name}.{RUN_ID}`"
        runtime = not has_future_annotations(self.file.tree) and not (
            isinstance(state.annotation, ast.Constant) and isinstance(state.annotation.value, str)
        )
        return context_fix(self.file, message, UNSAFE, replaced, surviving, plan.build, runtime=runtime)

    def _forwarded_run_id(self, name: ast.Name, state: ast.arg) -> ForwardedRunId | None:
        """In `f(state, run_id, ...)` where `f` has a legacy signature, the
        `run_id` argument goes (the callee is rewritten to read it from the context)."""
        up = self.file.parent(name)
        call = self.file.parent(up) if isinstance(up, ast.keyword) else up
        if not isinstance(call, ast.Call):
            return None
        arguments = call_arguments(call)
        names = legacy_references(self.file).names
        for fact in legacy_signature_facts(self.file, names, call.func):
            located = located_arguments(arguments, fact.data, names)
            if located is None or arguments[located[1]].value is not name:
                continue
            state_index, index = located[0], located[1]
            state_arg = arguments[state_index]
            if state_arg.keyword is not None or not is_name_in(state_arg.value, {state.arg}):
                return None
            last = index == len(arguments) - 1
            if last and (index == 0 or state_index != index - 1):
                return None
            return ForwardedRunId(call, state_index, index, last)
        return None

    def _context_name(self, function: Function, state: ast.arg) -> str:
        """The first of `context-params` the function does not already use."""
        used = mentioned_names(function)
        for candidate in (*self._config.context_params, "context"):
            if candidate == state.arg or candidate not in used:
                return candidate
        return "request_context"

    # --- call sites -------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        references = legacy_references(self.file)
        facts = legacy_signature_facts(self.file, references.names, node.func)
        if not facts:
            return
        arguments = call_arguments(node)
        for fact in facts:
            located = located_arguments(arguments, fact.data, references.names)
            if located is None:
                continue
            state_index, run_id_index, state_param = located
            state_arg, run_id_arg = arguments[state_index], arguments[run_id_index]
            scope = enclosing_scope(self.file)
            caller = scope if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
            legacy, context = references.state_variables(scope, CONSTRUCTORS)
            known = legacy | context
            is_method_call = isinstance(node.func, ast.Attribute)
            if is_method_call and not (is_name_in(state_arg.value, known) or mentions_run_id(run_id_arg.value)):
                continue  # an unrelated method that happens to share the name
            message = (
                f"`{source_code(self.file, node.func)}(...)` passes the per-run state and a separate run id to "
                f"`{fact.qualname}` ({fact.path}:{fact.line}), which should take only the request context"
            )
            enclosing_fix = self._enclosing_definition_fix(caller, state_arg, run_id_arg)
            if enclosing_fix is not None:
                self.report(node, message, fix=enclosing_fix)  # rewriting the caller drops this argument too
            elif (
                self._caller_passes_own_context(node, caller, state_arg, run_id_arg, known)
                and state_arg.keyword is None
            ):
                self.report(
                    node,
                    message,
                    fix=FixSpec(f"Drop the `{RUN_ID}` argument", UNSAFE, build=_dropped_argument(node, run_id_index)),
                )
            else:
                self.report(node, message, manual=self._call_site_hint(state_param, fact))
            return

    def _call_site_hint(self, state_param: str, fact: Fact) -> str:
        return (
            f"Pass the caller's request context as `{state_param}` (after ISO405 rewrites `{fact.qualname}`, its only "
            f"per-run parameter) and drop the `{RUN_ID}` argument: the callee reads `context.{RUN_ID}`."
        )

    def _enclosing_definition_fix(
        self, caller: Function | None, state_arg: Argument, run_id_arg: Argument
    ) -> FixSpec | None:
        """The caller's own ISO405 fix, when the caller forwards its state and run_id parameters."""
        if caller is None or self.transitional:
            return None
        signature = legacy_signature(legacy_references(self.file), caller)
        if signature is None or blocker(self.file, signature) is not None:
            return None
        if not (
            is_name_in(state_arg.value, {signature.state.arg}) and is_name_in(run_id_arg.value, {signature.run_id.arg})
        ):
            return None
        return self._definition_fix(signature)

    def _caller_passes_own_context(
        self, call: ast.Call, caller: Function | None, state_arg: Argument, run_id_arg: Argument, known: set[str]
    ) -> bool:
        """The arguments are the caller's state/context variable and that object's own run id."""
        if not isinstance(state_arg.value, ast.Name) or state_arg.value.id not in known:
            return False
        state_name = state_arg.value.id
        value = run_id_arg.value
        if is_run_id_of(value, state_name):
            return True
        if not isinstance(value, ast.Name) or caller is None:
            return False
        return run_id_comes_from(caller, call, value.id, state_name)


# --- the fixes' LibCST edits -------------------------------------------------------


@dataclass(frozen=True)
class FieldRead:
    """`state.field`, read: it becomes the context's `read`."""

    attribute: ast.Attribute
    read: ContextRead
    quote: str


@dataclass(frozen=True)
class ForwardedRunId:
    """`f(state, run_id)` to another legacy signature: the run id argument goes."""

    call: ast.Call
    state_index: int
    run_id_index: int
    last: bool  # the state argument becomes the last one and takes over the closing comma


@dataclass
class DefinitionRewrite:
    """What the definition fix changes, found on the `ast`; `build` makes the LibCST edits."""

    state: ast.arg
    run_id: ast.arg
    new_name: str
    names: LegacyNames
    context_name: str
    reads: list[FieldRead] = field(default_factory=list)
    renames: list[ast.Name] = field(default_factory=list)
    run_id_reads: list[ast.Name] = field(default_factory=list)
    forwards: list[ForwardedRunId] = field(default_factory=list)

    def build(self, view: CstView) -> Mapping[Any, Any]:
        state = view.node(self.state, cst.Param)
        run_id = view.node(self.run_id, cst.Param)
        params = view.parents.get(id(state))
        if not isinstance(params, cst.Parameters):
            raise LookupError("the state parameter is not in a parameter list")
        receiver = cst.Name(self.new_name)
        new_state = _new_state(state, self.new_name, self.names, self.context_name)
        replace: dict[Any, Any] = {params: _without_param(params, run_id, state, new_state)}
        for field_read in self.reads:
            attribute = view.node(field_read.attribute, cst.Attribute)
            replace[attribute] = context_read_node(attribute, receiver, field_read.read, field_read.quote)
        for name in self.renames:
            found = view.node(name, cst.Name)
            replace[found] = found.with_changes(value=self.new_name)
        for name in self.run_id_reads:
            found = view.node(name, cst.Name)
            replace[found] = cst.Attribute(receiver, cst.Name(RUN_ID)).with_changes(lpar=found.lpar, rpar=found.rpar)
        for forward in self.forwards:
            call = view.node(forward.call, cst.Call)
            arg, state_arg = call.args[forward.run_id_index], call.args[forward.state_index]
            if forward.last:
                replace[state_arg] = state_arg.with_changes(value=cst.Name(self.new_name), comma=arg.comma)
            replace[arg] = cst.RemoveFromParent()
        return replace


def _dropped_argument(node: ast.Call, index: int) -> Any:
    def build(view: CstView) -> CstEdit:
        call = view.node(node, cst.Call)
        return CstEdit(replace={call: call.with_changes(args=without_argument(call.args, index))})

    return build


def _new_state(state: cst.Param, new_name: str, names: LegacyNames, context_name: str) -> cst.Param:
    annotation = state.annotation
    if annotation is not None:
        rewritten = rewrite_annotation(annotation.annotation, reference_test(names), context_name)
        annotation = annotation.with_changes(annotation=rewritten)
    return state.with_changes(name=cst.Name(new_name), annotation=annotation)


def _without_param(params: cst.Parameters, run_id: cst.Param, state: cst.Param, new_state: cst.Param) -> cst.Parameters:
    """`params` with `state` replaced and `run_id` removed, keeping comma layout."""
    changes: dict[str, Any] = {}
    for group_name in ("posonly_params", "params", "kwonly_params"):
        group = [new_state.with_changes(comma=p.comma) if p is state else p for p in getattr(params, group_name)]
        if run_id in group:
            index = group.index(run_id)
            group.pop(index)
            if group and index == len(group):
                group[-1] = group[-1].with_changes(comma=run_id.comma)
        changes[group_name] = group
    if not changes["kwonly_params"] and isinstance(params.star_arg, cst.ParamStar):
        changes["star_arg"] = cst.MaybeSentinel.DEFAULT  # a bare `*` needs a keyword-only parameter after it
    return params.with_changes(**changes)


def _named(function: Function) -> list[ast.arg]:
    args = function.args
    return [*args.posonlyargs, *args.args, *args.kwonlyargs]


def _all_parameters(function: Function) -> list[ast.arg]:
    args = function.args
    stars = [star for star in (args.vararg, args.kwarg) if star is not None]
    return [*_named(function), *stars]


def _ancestors(file: AstFile, node: ast.AST) -> list[ast.AST]:
    """`node`'s ancestors, outermost first."""
    chain: list[ast.AST] = []
    up = file.parent(node)
    while up is not None:
        chain.append(up)
        up = file.parent(up)
    return chain[::-1]


# ISO405 with transitional definition fixes: what `isolint fix` falls back to in
# a file where the new signature would strand callers it cannot see. Not a
# module-level class: the registry holds one rule per module.
LegacyExecuteSignature.fallback = type(
    "TransitionalExecuteSignature", (LegacyExecuteSignature,), {"transitional": True, "__module__": __name__}
)
