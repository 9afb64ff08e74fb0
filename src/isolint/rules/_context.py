"""Recognising the request context in a function's parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import cst
from ._helpers import dotted_name

if TYPE_CHECKING:
    from ..config import Settings


def _annotation_names(annotation: cst.BaseExpression) -> set[str]:
    """Names in an annotation, looking through Optional[...], X | None and string quotes."""
    if isinstance(annotation, cst.SimpleString):
        inner = annotation.evaluated_value
        try:
            return _annotation_names(cst.parse_expression(inner)) if isinstance(inner, str) else set()
        except cst.ParserSyntaxError:
            return set()
    if isinstance(annotation, cst.Subscript):
        names = _annotation_names(annotation.value)
        for element in annotation.slice:
            if isinstance(element.slice, cst.Index):
                names |= _annotation_names(element.slice.value)
        return names
    if isinstance(annotation, cst.BinaryOperation):
        return _annotation_names(annotation.left) | _annotation_names(annotation.right)
    name = dotted_name(annotation)
    return {name, name.rpartition(".")[2]} if name else set()


def context_param(function: cst.FunctionDef | cst.Lambda, settings: Settings) -> str | None:
    """The name of the parameter that carries the request context, if any.

    A parameter counts when it is annotated with the configured
    `context-class` (by its class name, qualified or not, optionally inside
    Optional or quotes) or, unannotated, when its name is in `context-params`.
    """
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    for param in every:
        if param.annotation is not None and settings.context_name in _annotation_names(param.annotation.annotation):
            return param.name.value
    for param in every:
        if param.annotation is None and param.name.value in settings.context_params:
            return param.name.value
    return None
