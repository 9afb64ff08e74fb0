"""ISO402 legacy-state-annotation: the legacy state class in an annotation."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import UNSAFE
from .context_fix import Replacements, context_fix
from .edits import reference_test, rewrite_annotation
from .family import RUN_ID, LegacyStateConfig, LegacyStateRule, named_parameters
from .imports import has_future_annotations
from .references import LegacyNames, legacy_references

if TYPE_CHECKING:
    from ...cst_view import CstView


class LegacyStateAnnotation(LegacyStateRule):
    code = "ISO402"
    name = "legacy-state-annotation"
    summary = "An annotation names the legacy mutable `DeepAgentState`"
    fix_safety = UNSAFE

    def visit_arg(self, node: ast.arg) -> None:
        if node.annotation is not None:
            self._check(node.annotation, parameter=node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.returns is not None:
            self._check(node.returns)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check(node.annotation, assignment=node)

    def _check(
        self, annotation: ast.expr, *, parameter: ast.arg | None = None, assignment: ast.AnnAssign | None = None
    ) -> None:
        references = legacy_references(self.file)
        legacy = references.annotation_mentions(annotation)
        if legacy is None or references.in_class_body(self.file.ancestors):
            return
        config = LegacyStateConfig.of(self.settings)
        target = config.context_name
        message = (
            f"annotation names the legacy per-run state `{legacy}`; per-request code takes the immutable `{target}`"
        )
        if parameter is not None and self._takes_run_id():
            if references.is_context_type(annotation):
                return  # widened to take the context too: ISO405 reports the transitional signature
            # ISO405 rewrites the whole signature (and the body's uses); fixing
            # only the annotation first would hide those uses from ISO404.
            self.report(annotation, message, manual=f"ISO405 rewrites this signature to take one `{target}`.")
            return
        if assignment is not None and isinstance(
            self.file.enclosing(ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef), ast.ClassDef
        ):
            self.report(
                annotation,
                message,
                manual=(
                    f"A field's annotation is read at run time by dataclasses, pydantic and attrs: annotating it "
                    f"`{target}` makes the class reject the legacy objects its callers still build. Migrate the "
                    "code that fills the field first, then change the annotation."
                ),
            )
            return
        # Quoted references and postponed annotations are never evaluated at runtime.
        runtime = not has_future_annotations(self.file.tree) and any(
            references.is_reference(n) or (isinstance(n, ast.Attribute) and references.names.refers(n.attr))
            for n in ast.walk(annotation)
        )
        fix = context_fix(
            self.file,
            f"Annotate with `{target}`",
            UNSAFE,
            [annotation],
            references.names_after_rewrite(annotation),
            _rewritten(annotation, references.names, target),
            runtime=runtime,
        )
        self.report(annotation, message, fix=fix)

    def _takes_run_id(self) -> bool:
        """Whether the parameter being visited belongs to a function that also takes `run_id`."""
        function = self.file.ancestors[-2] if len(self.file.ancestors) >= 2 else None
        return isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            p.arg == RUN_ID for p in named_parameters(function)
        )


def _rewritten(annotation: ast.expr, names: LegacyNames, context_name: str) -> Replacements:
    """The fix's edit: the annotation with its legacy classes replaced by the context class."""

    def build(view: CstView) -> Mapping[Any, Any]:
        expression = view.node(annotation, cst.BaseExpression)
        return {expression: rewrite_annotation(expression, reference_test(names), context_name)}

    return build
