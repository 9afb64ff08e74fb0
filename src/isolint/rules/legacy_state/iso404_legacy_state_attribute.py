"""ISO404 legacy-state-attribute: reading or writing fields of legacy state."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import SAFE, UNSAFE
from ..base import CstEdit, FixSpec, Option
from .edits import context_read_node
from .family import (
    CALL_HINT,
    CONTEXT_FIELDS,
    MUTATING_METHODS,
    WRITE_HINT,
    ContextRead,
    LegacyStateConfig,
    LegacyStateRule,
    context_read,
    names_regex,
    reference_names,
)
from .references import (
    Parent,
    chain_parent,
    classify_access,
    enclosing_scope,
    is_target,
    key_quote,
    legacy_references,
    own_parentheses,
    source_code,
)

if TYPE_CHECKING:
    from ...cst_view import CstView

# Mutable per-request resources the context carries: calling their methods is their point.
CONTEXT_RESOURCES = frozenset({"db_session", "websocket_emitter"})


@dataclass(frozen=True)
class AttributeOptions:
    """ISO404's options, typed."""

    mutating_methods: frozenset[str]
    context_members: frozenset[str]  # `context-fields` and `context-methods`
    constructors: tuple[str, ...]

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> AttributeOptions:
        return cls(
            frozenset(values["mutating-methods"]),
            frozenset({*values["context-fields"], *values["context-methods"]}),
            tuple(values["constructors"]),
        )


class LegacyStateAttribute(LegacyStateRule):
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
        self._options = AttributeOptions.of(self.option_values)
        self._config = LegacyStateConfig.of(self.settings)
        self._scopes: dict[int, tuple[set[str], set[str]]] = {}

    def _variables(self) -> tuple[set[str], set[str]]:
        """(legacy, context) variables of the function (or module) being visited."""
        scope = enclosing_scope(self.file)
        if id(scope) not in self._scopes:
            references = legacy_references(self.file)
            self._scopes[id(scope)] = references.state_variables(scope, self._options.constructors)
        return self._scopes[id(scope)]

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if not isinstance(node.value, ast.Name):
            return
        legacy, context = self._variables()
        receiver = node.value.id
        if receiver not in legacy and receiver not in context:
            return
        if legacy_references(self.file).in_class_body(self.file.ancestors):
            return
        parent = chain_parent(self.file.ancestors, node)
        if receiver in context and node.attr in CONTEXT_RESOURCES and not _is_rebound(node, parent):
            return  # `context.db_session.add(row)`: the request's own resources are meant to be used
        use = classify_access(node, parent, self._options.mutating_methods)
        if use == "write":
            shown = source_code(self.file, node)
            if receiver in legacy:
                message = f"`{shown}` is changed on the legacy per-run state, where every agent of the run sees it"
            else:
                message = f"`{shown}` is changed on `{receiver}`, an immutable `{self._config.context_name}`"
            self.report(node, message, manual=WRITE_HINT)
        elif receiver not in legacy and node.attr in self._options.context_members:
            return  # the context's own fields and methods are fine
        elif use == "call":
            shown = source_code(self.file, node)
            owner = (
                "the legacy per-run state"
                if receiver in legacy
                else f"`{receiver}`, which the migration made a `{self._config.context_name}`"
            )
            self.report(
                node,
                f"`{shown}(...)` calls a method of {owner}; the immutable context has no such method",
                manual=CALL_HINT,
            )
        elif receiver in legacy:
            self._report_legacy_read(node, receiver)
        else:
            self._report_read(node, receiver)

    def visit_Call(self, node: ast.Call) -> None:
        """`setattr(state, "x", v)` / `delattr(state, "x")`."""
        if not (isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") and node.args):
            return
        first = node.args[0]
        legacy, context = self._variables()
        if isinstance(first, ast.Name) and (first.id in legacy or first.id in context):
            self.report(
                node,
                f"`{node.func.id}({first.id}, ...)` changes the per-run state that every agent of the run sees",
                manual=WRITE_HINT,
            )

    def _report_legacy_read(self, node: ast.Attribute, receiver: str) -> None:
        """A read on a value that is still legacy state gets no fix: renaming the
        field now would break it. Once ISO402/ISO403/ISO405 make the value a
        context (a pass of the same `isolint fix` run), the read is reported on
        the context and fixed there."""
        if context_read(node.attr, self._config.field_map, same_receiver=True) is None:
            return  # `state.user_id` reads the same on the context
        self.report(
            node,
            f"`{source_code(self.file, node)}` reads the legacy per-run state",
            manual=(
                f"Migrate `{receiver}` to `{self._config.context_name}` first (its annotation, signature or "
                "construction: ISO402, ISO405, ISO403); `isolint fix` then rewrites this read in the same run."
            ),
        )

    def _report_read(self, node: ast.Attribute, receiver: str) -> None:
        read = context_read(node.attr, self._config.field_map, same_receiver=True)
        if read is None:
            return  # `state.user_id` reads the same on the context
        opening, closing = own_parentheses(self.file, node)
        text = self.file.segment(node)
        shown = f"{opening}{text}{closing}"
        quote = key_quote(self.file.ancestors, self.file)
        if read.attribute is not None:
            new = f"{opening}{text[: -len(node.attr)]}{read.attribute}{closing}"  # the text ends with the attribute
            message = f"`{shown}` reads a legacy field; the context carries it as `{new}`"
            fix = FixSpec(f"Read `{new}`", SAFE, build=_read_rewrite(node, read, quote))
        else:
            new = f"{opening}{receiver}.metadata.get({quote}{node.attr}{quote}){closing}"
            message = f"`{shown}` reads a field the context does not have; per-run extras live in `{receiver}.metadata`"
            fix = FixSpec(
                f"Read `{new}` (None when the field is not in the metadata)",
                UNSAFE,
                build=_read_rewrite(node, read, quote),
            )
        self.report(node, message, fix=fix)


def _read_rewrite(node: ast.Attribute, read: ContextRead, quote: str) -> Any:
    """The fix's edit: the read, rewritten on the LibCST node at `node`."""

    def build(view: CstView) -> CstEdit:
        attribute = view.node(node, cst.Attribute)
        return CstEdit(replace={attribute: context_read_node(attribute, attribute.value, read, quote)})

    return build


def _is_rebound(node: ast.Attribute, parent: Parent) -> bool:
    """`context.db_session = ...` or `del context.db_session`: a write to the context itself."""
    return is_target(node, parent, loops=False)
