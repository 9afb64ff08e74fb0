"""ISO402 legacy-state-annotation: the legacy state class in an annotation."""

from __future__ import annotations

from ..._lazy import cst
from ...findings import UNSAFE
from ...traversal import walk
from ..base import Rule
from .cst_references import legacy_names
from .edits import context_fix, has_future_annotations
from .family import RUN_ID, LegacyStateFamily


class LegacyStateAnnotation(LegacyStateFamily, Rule):
    code = "ISO402"
    name = "legacy-state-annotation"
    summary = "An annotation names the legacy mutable `DeepAgentState`"
    fix_safety = UNSAFE

    def visit_Annotation(self, node: cst.Annotation) -> None:
        names = legacy_names(self.file)
        annotation = node.annotation
        legacy = names.annotation_mentions(annotation)
        if legacy is None or names.in_class_body(self.file.ancestors):
            return
        target = self.settings.context_name
        message = (
            f"annotation names the legacy per-run state `{legacy}`; per-request code takes the immutable `{target}`"
        )
        if self._is_run_id_signature_state(node):
            if names.is_context_type(annotation):
                return  # widened to take the context too: ISO405 reports the transitional signature
            # ISO405 rewrites the whole signature (and the body's uses); fixing
            # only the annotation first would hide those uses from ISO404.
            self.report(annotation, message, manual=f"ISO405 rewrites this signature to take one `{target}`.")
            return
        if self._is_class_field(node):
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
        rewritten = names.rewrite_annotation(annotation)
        # Quoted references and postponed annotations are never evaluated at runtime.
        runtime = not has_future_annotations(self.file.module) and any(names.is_reference(n) for n in walk(annotation))
        self.report(
            annotation,
            message,
            fix=context_fix(self.file, f"Annotate with `{target}`", UNSAFE, {annotation: rewritten}, runtime=runtime),
        )

    def _is_class_field(self, node: cst.Annotation) -> bool:
        """`field: DeepAgentState` directly in a class body."""
        ancestors = self.file.ancestors
        return (
            bool(ancestors)
            and isinstance(ancestors[-1], cst.AnnAssign)
            and isinstance(self.file.enclosing(cst.FunctionDef, cst.ClassDef), cst.ClassDef)
        )

    def _is_run_id_signature_state(self, node: cst.Annotation) -> bool:
        """Whether `node` annotates a parameter of a function that also takes `run_id`."""
        if len(self.file.ancestors) < 3 or not isinstance(self.file.ancestors[-1], cst.Param):
            return False
        params = self.file.ancestors[-2]
        return isinstance(params, cst.Parameters) and any(
            p.name.value == RUN_ID for p in [*params.posonly_params, *params.params, *params.kwonly_params]
        )
