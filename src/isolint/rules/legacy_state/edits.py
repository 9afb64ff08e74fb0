"""LibCST edits of the legacy-state family's fixes: rewriting annotations and
field reads onto the context class, and importing it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...traversal import walk
from .family import UNION_NAMES, ContextRead

if TYPE_CHECKING:
    from .references import LegacyNames


def context_read_node(attribute: Any, receiver: Any, read: ContextRead, quote: str) -> Any:
    """The LibCST expression that reads `read` on `receiver` in place of `attribute`."""
    if read.attribute is not None:
        return attribute.with_changes(value=receiver, attr=cst.Name(read.attribute))
    metadata_get = cst.Attribute(cst.Attribute(receiver, cst.Name("metadata")), cst.Name("get"))
    call = cst.Call(metadata_get, [cst.Arg(cst.SimpleString(f"{quote}{attribute.attr.value}{quote}"))])
    return call.with_changes(lpar=attribute.lpar, rpar=attribute.rpar)


# --- annotations -----------------------------------------------------------------


def reference_test(names: LegacyNames) -> Callable[[Any], bool]:
    """Whether a LibCST expression refers to a legacy class, by the names the `ast` analysis found."""

    def is_reference(expr: Any) -> bool:
        if isinstance(expr, cst.Name):
            return names.refers(expr.value)
        if isinstance(expr, cst.Attribute):
            return expr.attr.value in names.classes
        return False

    return is_reference


def rewrite_annotation(expr: Any, is_reference: Callable[[Any], bool], context_name: str) -> Any:
    """`expr` with every legacy class replaced by the context class, keeping
    the shape; unions that end up naming the context twice collapse."""
    if is_reference(expr):
        return cst.Name(context_name)
    if isinstance(expr, cst.SimpleString):
        parsed = parse_string_annotation(expr)
        if parsed is None:
            return expr
        code = cst.Module([]).code_for_node(rewrite_annotation(parsed, is_reference, context_name))
        if expr.quote in code or "\\" in code:
            return expr
        return expr.with_changes(value=f"{expr.prefix}{expr.quote}{code}{expr.quote}")
    if isinstance(expr, cst.Subscript):
        elements = [
            e.with_changes(
                slice=e.slice.with_changes(value=rewrite_annotation(e.slice.value, is_reference, context_name))
            )
            if isinstance(e.slice, cst.Index)
            else e
            for e in expr.slice
        ]
        if dotted(expr.value) in UNION_NAMES:
            elements = _unique(elements, lambda e: e.slice.value if isinstance(e.slice, cst.Index) else e)
            if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
                return elements[0].slice.value
            elements[-1] = elements[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return expr.with_changes(slice=elements)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        members = _unique([rewrite_annotation(m, is_reference, context_name) for m in union_members(expr)], lambda m: m)
        rebuilt = members[0]
        for member in members[1:]:
            rebuilt = cst.BinaryOperation(rebuilt, cst.BitOr(), member)
        return rebuilt.with_changes(lpar=expr.lpar, rpar=expr.rpar) if expr.lpar else rebuilt
    return expr


def union_members(expr: Any) -> list[Any]:
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.BitOr):
        return [*union_members(expr.left), *union_members(expr.right)]
    return [expr]


def _unique(items: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for item in items:
        code = cst.Module([]).code_for_node(key(item)).strip()
        if code not in seen:
            seen.add(code)
            out.append(item)
    return out


def parse_string_annotation(node: Any) -> Any:
    """The LibCST expression a string forward reference holds, or None."""
    value = node.evaluated_value
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return cst.parse_expression(value.strip())
    except cst.ParserSyntaxError:
        return None


# --- fixes that introduce the context class -----------------------------------


def context_import_edits(
    context_module: str, context_name: str, needs_import: bool, unused: Iterable[str]
) -> Callable[[Any], Any]:
    """The module transform of a fix that writes the context class: import it
    (`needs_import`), and drop the `unused` top-level imports the rewrite left unused."""

    def edit_imports(module: Any) -> Any:
        from .._imports import remove_import_alias

        # Add before removing: removing a file's first statement strips the
        # blank lines of the one after it, which adding would then put back
        # only one of (the two before a `def` would become one).
        if needs_import:
            module = add_needed_import(module, context_module, context_name)
        for name in sorted(unused):
            found = top_level_import_of(module, name)  # node identities changed with the rewrite
            if found is not None and name_uses(module, name) == 0:
                module = remove_import_alias(module, *found)
        return module

    return edit_imports


def add_needed_import(module: Any, from_module: str, name: str) -> Any:
    """`from <from_module> import <name>`, placed and formatted exactly as
    LibCST's `AddImportsVisitor` does (the fixes' expected output was written
    with it), without its deep copy, metadata and matcher traversals: only the
    leading import block is looked at.

    An import counts only in that block (after a docstring or `__strict__`
    line), one import per line. If the block imports `from_module` with
    `*` or imports `name` from it, nothing changes; if it has another
    `from <from_module> import ...`, `name` joins the first one; else a new
    line goes after the block, with a blank line before the next statement.
    """
    body = list(module.body)
    start = 1 if _skip_first(body) else 0
    block_end = start
    target = None
    for statement in body[start:]:
        small = (
            statement.body[0] if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 else None
        )
        if not isinstance(small, (cst.Import, cst.ImportFrom)):
            break
        block_end += 1
        if (
            not isinstance(small, cst.ImportFrom)
            or small.relative
            or small.module is None
            or dotted(small.module) != from_module
        ):
            continue
        if isinstance(small.names, cst.ImportStar) or any(
            a.asname is None and a.evaluated_name == name for a in small.names
        ):
            return module
        if target is None:
            target = (block_end - 1, statement, small)
    if target is not None:
        position, statement, small = target
        names = [cst.ImportAlias(name=cst.Name(name)), *small.names]
        body[position] = statement.with_changes(body=[small.with_changes(names=names)])
        return module.with_changes(body=body)
    after = body[block_end:]
    if after:
        first = after[0]
        if not first.leading_lines:
            after[0] = first.with_changes(leading_lines=(cst.EmptyLine(),))
        elif first.leading_lines[0].comment is not None:
            after[0] = first.with_changes(leading_lines=(cst.EmptyLine(), *first.leading_lines))
    added = cst.parse_statement(f"from {from_module} import {name}", config=module.config_for_parsing)
    return module.with_changes(body=(*body[:block_end], added, *after))


def _skip_first(body: list[Any]) -> bool:
    """A leading docstring or `__strict__ = ...` line, which imports never go above."""
    if not body or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return False
    small = body[0].body[0]
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.SimpleString)
    return (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
        and small.targets[0].target.value == "__strict__"
    )


def name_uses(module: Any, name: str) -> int:
    """How often `name` is used outside import statements, string annotations included."""
    count = 0
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for node in walk(module):
        if isinstance(node, cst.Name) and node.value == name:
            count += 1
        elif isinstance(node, cst.SimpleString):
            count += len(pattern.findall(node.value))
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            count -= sum(1 for n in walk(node) if isinstance(n, cst.Name) and n.value == name)
    return count


def top_level_import_of(module: Any, name: str) -> tuple[Any, Any] | None:
    """The module-level `from x import name` statement and alias binding `name`."""
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        if bound_name(alias) == name:
                            return small, alias
    return None


def without_argument(args: Any, index: int) -> list[Any]:
    """Call arguments without the one at `index`, keeping the trailing comma style."""
    kept = list(args)
    removed = kept.pop(index)
    if kept and index == len(kept):
        kept[-1] = kept[-1].with_changes(comma=removed.comma)
    return kept


def code(node: Any) -> str:
    return cst.Module([]).code_for_node(node)


def dotted(node: Any) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    return ""


def bound_name(alias: Any) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return alias.name.value
