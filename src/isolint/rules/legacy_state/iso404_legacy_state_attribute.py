"""ISO404 legacy-state-attribute: reading or writing fields of legacy state."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from ..._lazy import cst
from ...findings import SAFE, UNSAFE
from ..base import FixSpec, Option, Rule
from .cst_references import classify_access, key_quote, legacy_names, state_variables
from .edits import code, read_replacement
from .family import (
    CALL_HINT,
    CONTEXT_FIELDS,
    MUTATING_METHODS,
    WRITE_HINT,
    LegacyStateFamily,
    names_regex,
    reference_names,
)

# Mutable per-request resources the context carries: calling their methods is their point.
CONTEXT_RESOURCES = frozenset({"db_session", "websocket_emitter"})


class LegacyStateAttribute(LegacyStateFamily, Rule):
    code = "ISO404"
    name = "legacy-state-attribute"
    summary = "A field of the legacy mutable `DeepAgentState` is read or written"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    options = (
        Option(
            "mutating-methods",
            "list[str]",
            MUTATING_METHODS,
            "Methods that change a field in place: `state.messages.append(...)` is a write.",
        ),
        Option(
            "context-methods",
            "list[str]",
            ["create", "with_updates", "child", "to_dict"],
            "Methods the context class has; calling anything else on a context is reported like a write.",
        ),
        Option(
            "context-fields",
            "list[str]",
            sorted(CONTEXT_FIELDS | {"created_at", "parent_request_id"}),
            "Attributes the context class has; reading anything else on a context is a stale legacy field.",
        ),
        Option(
            "constructors",
            "list[str]",
            ["model_validate", "parse_obj"],
            "Class methods of the legacy class that build an instance (a variable assigned from one is legacy state).",
        ),
    )

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> Any:
        # Writes on a migrated context are findings too: the file may name only the context class.
        return names_regex(reference_names(settings, project) | {settings.context_name})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scopes: dict[Any, tuple[set[str], set[str]]] = {}

    def _variables(self) -> tuple[set[str], set[str]]:
        scope = self.file.enclosing(cst.FunctionDef) or self.file.module
        if scope not in self._scopes:
            self._scopes[scope] = state_variables(legacy_names(self.file), scope, self.option_values["constructors"])
        return self._scopes[scope]

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if not isinstance(node.value, cst.Name):
            return
        legacy, context = self._variables()
        receiver = node.value.value
        if receiver not in legacy and receiver not in context:
            return
        names = legacy_names(self.file)
        if names.in_class_body(self.file.ancestors):
            return
        parents = self._parents(node)
        if receiver in context and node.attr.value in CONTEXT_RESOURCES and not _is_rebound(node, parents):
            return  # `context.db_session.add(row)`: the request's own resources are meant to be used
        use = classify_access(node, parents, self.option_values["mutating-methods"])
        shown = code(node)
        if use == "write":
            if receiver in legacy:
                message = f"`{shown}` is changed on the legacy per-run state, where every agent of the run sees it"
            else:
                message = f"`{shown}` is changed on `{receiver}`, an immutable `{self.settings.context_name}`"
            self.report(node, message, manual=WRITE_HINT)
        elif receiver not in legacy and node.attr.value in {
            *self.option_values["context-fields"],
            *self.option_values["context-methods"],
        }:
            return  # the context's own fields and methods are fine
        elif use == "call":
            owner = (
                "the legacy per-run state"
                if receiver in legacy
                else f"`{receiver}`, which the migration made a `{self.settings.context_name}`"
            )
            self.report(
                node,
                f"`{shown}(...)` calls a method of {owner}; the immutable context has no such method",
                manual=CALL_HINT,
            )
        elif receiver in legacy:
            self._report_legacy_read(node, receiver)
        else:
            self._report_read(node, key_quote(node, self._parents(node)))

    def visit_Call(self, node: cst.Call) -> None:
        """`setattr(state, "x", v)` / `delattr(state, "x")`."""
        if not (isinstance(node.func, cst.Name) and node.func.value in ("setattr", "delattr") and node.args):
            return
        first = node.args[0].value
        legacy, context = self._variables()
        if isinstance(first, cst.Name) and (first.value in legacy or first.value in context):
            self.report(
                node,
                f"`{node.func.value}({first.value}, ...)` changes the per-run state that every agent of the run sees",
                manual=WRITE_HINT,
            )

    def _report_legacy_read(self, node: cst.Attribute, receiver: str) -> None:
        """A read on a value that is still legacy state gets no fix: renaming the
        field now would break it. Once ISO402/ISO403/ISO405 make the value a
        context (a pass of the same `isolint fix` run), the read is reported on
        the context and fixed there."""
        if read_replacement(node, node.value, self.settings.legacy_state["field-map"]) is None:
            return  # `state.user_id` reads the same on the context
        self.report(
            node,
            f"`{code(node)}` reads the legacy per-run state",
            manual=(
                f"Migrate `{receiver}` to `{self.settings.context_name}` first (its annotation, signature or "
                "construction: ISO402, ISO405, ISO403); `isolint fix` then rewrites this read in the same run."
            ),
        )

    def _report_read(self, node: cst.Attribute, quote: str) -> None:
        replacement = read_replacement(node, node.value, self.settings.legacy_state["field-map"], quote)
        if replacement is None:
            return  # `state.user_id` reads the same on the context
        new, safe = replacement
        if safe:
            message = f"`{code(node)}` reads a legacy field; the context carries it as `{code(new)}`"
            fix = FixSpec(f"Read `{code(new)}`", SAFE, replace={node: new})
        else:
            message = (
                f"`{code(node)}` reads a field the context does not have; per-run extras live in "
                f"`{node.value.value}.metadata`"
            )
            fix = FixSpec(
                f"Read `{code(new)}` (None when the field is not in the metadata)", UNSAFE, replace={node: new}
            )
        self.report(node, message, fix=fix)

    def _parents(self, node: cst.Attribute) -> Any:
        """Parent lookup for `node` and its ancestors, which is all classify_access climbs."""
        chain = [*self.file.ancestors, node]
        parent_of = {id(child): parent for parent, child in pairwise(chain)}
        return lambda child: parent_of.get(id(child))


def _is_rebound(node: cst.Attribute, parents: Any) -> bool:
    """`context.db_session = ...` or `del context.db_session`: a write to the context itself."""
    up = parents(node)
    while isinstance(up, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
        node, up = up, parents(up)
    if isinstance(up, cst.AssignTarget):
        return up.target is node
    return isinstance(up, (cst.AnnAssign, cst.AugAssign, cst.Del)) and up.target is node
