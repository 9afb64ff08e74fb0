"""ISO403 legacy-state-construction: building a legacy state object."""

from __future__ import annotations

from typing import Any

from ..._lazy import cst
from ...findings import UNSAFE
from ..base import Option, Rule
from .cst_references import is_construction, legacy_names
from .edits import code, context_fix
from .family import LegacyStateFamily


class LegacyStateConstruction(LegacyStateFamily, Rule):
    code = "ISO403"
    name = "legacy-state-construction"
    summary = "A legacy mutable `DeepAgentState` is constructed"
    fix_safety = UNSAFE
    options = (
        Option(
            "constructors",
            "list[str]",
            ["model_validate", "parse_obj"],
            "Class methods of the legacy class that build an instance from data.",
        ),
    )

    def visit_Call(self, node: cst.Call) -> None:
        names = legacy_names(self.file)
        if not is_construction(names, node, self.option_values["constructors"]) or names.in_class_body(
            self.file.ancestors
        ):
            return
        target = self.settings.context_name
        shown = code(node.func)
        message = (
            f"`{shown}(...)` builds a mutable per-run state object; per-request code builds an immutable `{target}`"
        )
        create = f"`{target}.create(user_id=..., thread_id=..., run_id=..., metadata={{...}})`"
        if not names.is_reference(node.func):
            self.report(
                node,
                message,
                manual=f"`{shown}` builds the state from data isolint cannot see: build {create} from the request instead.",
            )
            return
        mapped, problems = self._map_arguments(node)
        if problems:
            self.report(node, message, manual=f"Build {create} by hand: {'; '.join(problems)}.")
            return
        replacement = node.with_changes(func=cst.Attribute(cst.Name(target), cst.Name("create")), args=mapped)
        fix = context_fix(self.file, f"Build the context with `{target}.create(...)`", UNSAFE, {node: replacement})
        self.report(node, message, fix=fix)

    def _map_arguments(self, node: cst.Call) -> tuple[list[cst.Arg], list[str]]:
        """The `create(...)` arguments, or what stops the mapping."""
        field_map = self.settings.legacy_state["field-map"]
        identity: list[cst.Arg] = []
        extras: list[Any] = []
        problems: list[str] = []
        for arg in node.args:
            if arg.star:
                problems.append(f"`{arg.star}{code(arg.value)}` hides which fields are set")
            elif arg.keyword is None:
                problems.append(f"the positional argument `{code(arg.value)}` has no field name")
            elif arg.keyword.value in field_map:
                identity.append(arg.with_changes(keyword=cst.Name(field_map[arg.keyword.value])))
            elif arg.keyword.value == "metadata" and isinstance(arg.value, cst.Dict) and _is_literal(arg.value):
                extras.extend(arg.value.elements)
            elif _is_literal(arg.value):
                extras.append(cst.DictElement(cst.SimpleString(f'"{arg.keyword.value}"'), arg.value))
            else:
                problems.append(
                    f"`{arg.keyword.value}={code(arg.value)}` is neither in `[legacy-state] field-map` nor a literal "
                    "(pass it to the agent that needs it, or put it in `metadata`)"
                )
        targets = [arg.keyword.value for arg in identity if arg.keyword is not None]
        duplicated = sorted({t for t in targets if targets.count(t) > 1})
        if duplicated:
            problems.append(f"several fields map onto `{duplicated[0]}`")
        if "user_id" not in targets and not any(arg.star for arg in node.args):
            problems.append("no `user_id` is given, and a context always belongs to a user")
        if problems:
            return [], problems
        args = [arg.with_changes(comma=cst.MaybeSentinel.DEFAULT) for arg in identity]
        if extras:
            elements = [e.with_changes(comma=cst.MaybeSentinel.DEFAULT) for e in extras]
            args.append(cst.Arg(cst.Dict(elements), keyword=cst.Name("metadata"), equal=_equal(node)))
        last_comma = node.args[-1].comma if node.args else cst.MaybeSentinel.DEFAULT
        args = [arg.with_changes(comma=original.comma) for arg, original in zip(args, node.args, strict=False)] + args[
            len(node.args) :
        ]
        args[-1] = args[-1].with_changes(comma=last_comma)
        return args, []


def _equal(node: cst.Call) -> Any:
    for arg in node.args:
        if arg.keyword is not None:
            return arg.equal
    return cst.MaybeSentinel.DEFAULT


def _is_literal(node: Any) -> bool:
    if isinstance(node, (cst.SimpleString, cst.Integer, cst.Float, cst.Imaginary)):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return _is_literal(node.left) and _is_literal(node.right)
    if isinstance(node, cst.Name):
        return node.value in ("True", "False", "None")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return isinstance(node.expression, (cst.Integer, cst.Float))
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return all(isinstance(e, cst.Element) and _is_literal(e.value) for e in node.elements)
    if isinstance(node, cst.Dict):
        return all(
            isinstance(e, cst.DictElement) and _is_literal(e.key) and _is_literal(e.value) for e in node.elements
        )
    return False
