"""Traversal of LibCST trees without rebuilding what does not change.

`CSTNode.children` and a transformer's `CSTNode.visit` rebuild every node on
the way back up: for a read-only walk the copies are thrown away, and a
transformer copies the whole tree to change one node. That copying was most
of the cost of our subtree walks and of building fixes. Here a node's
children come straight from its fields, in source order, from the table
`scripts/gen_cst_fields.py` generates out of LibCST's public API
(`_cst_fields.py`); `replace_nodes` rebuilds only the ancestors of what it
replaces. LibCST itself is left as it is. `tests/test_traversal.py` holds
both to LibCST's own `children` and transformers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from ._cst_fields import FIELDS, GENERATED_WITH
from ._lazy import cst

# node type -> ((field, how LibCST visits it), ...) in source order
_FIELDS: dict[type[Any], tuple[tuple[str, str], ...]] = {}
_ORDER: dict[type[Any], tuple[str, ...]] = {}
_SEQUENCES = (tuple, list)
_REMOVABLE = ("optional", "sentinel")  # the kinds of single-node field a removal may empty


def _fields(node_type: type[Any]) -> tuple[tuple[str, str], ...]:
    fields = _FIELDS.get(node_type)
    if fields is None:
        table = FIELDS.get(node_type.__name__)
        if table is None or getattr(cst, node_type.__name__, None) is not node_type:
            raise TypeError(
                f"{node_type.__qualname__} is not a LibCST node class isolint knows (its field table was generated "
                f"with LibCST {GENERATED_WITH}; run scripts/gen_cst_fields.py)"
            )
        present = {field.name for field in dataclasses.fields(node_type)}
        fields = _FIELDS[node_type] = tuple(
            (name, kind) for name, kind in table if name in present
        )  # an older LibCST lacks some
        _ORDER[node_type] = tuple(name for name, _ in fields)
    return fields


def child_fields(node_type: type[Any]) -> tuple[str, ...]:
    """The fields holding `node_type`'s children, in source order."""
    order = _ORDER.get(node_type)
    if order is None:
        _fields(node_type)
        order = _ORDER[node_type]
    return order


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """`node.children`, in the same (source) order, without rebuilding `node`."""
    result: list[cst.CSTNode] = []
    for name in _ORDER.get(type(node)) or child_fields(type(node)):
        value = getattr(node, name)
        if type(value) in _SEQUENCES:
            result.extend(value)
        elif _is_node(value):
            result.append(value)
    return result


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`node` and all its descendants, depth first in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


_NODE_TYPES: dict[type[Any], bool] = {}


def _is_node(value: Any) -> bool:
    # CSTNode is an ABC, and an ABC isinstance check costs several times a dict lookup.
    known = _NODE_TYPES.get(type(value))
    if known is None:
        known = _NODE_TYPES[type(value)] = isinstance(value, cst.CSTNode)
    return known


def _settle(node: cst.CSTNode, name: str, kind: str, result: Any) -> Any:
    """A single-node field's new value, with a removal resolved as LibCST does:
    an optional field becomes None, a sentinel one MaybeSentinel.DEFAULT, and
    any other refuses it."""
    if isinstance(result, cst.FlattenSentinel) or (isinstance(result, cst.RemovalSentinel) and kind not in _REMOVABLE):
        raise TypeError(f"{type(result).__name__} is not allowed for {type(node).__name__}.{name}")
    if isinstance(result, cst.RemovalSentinel):
        return None if kind == "optional" else cst.MaybeSentinel.DEFAULT
    return result


def _emptied(statement: Any) -> bool:
    """A statement line left with no statements (the one statement LibCST drops from a body)."""
    return isinstance(statement, cst.SimpleStatementLine) and not statement.body


def _settle_sequence(items: Any, results: list[Any], kind: str) -> tuple[Any, ...] | None:
    """A sequence field's new items (removals dropped, flattening spliced), or None if unchanged."""
    if all(new is old for new, old in zip(results, items, strict=True)):
        return None
    settled = []
    for child, new_child in zip(items, results, strict=True):
        if isinstance(new_child, cst.RemovalSentinel):
            continue
        for item in new_child if isinstance(new_child, cst.FlattenSentinel) else (new_child,):
            # A body drops a statement line that a removal inside it emptied, as LibCST does.
            if kind == "body" and not _emptied(child) and _emptied(item):
                continue
            settled.append(item)
    return tuple(settled)


def parent_map(root: cst.CSTNode) -> dict[int, cst.CSTNode]:
    """id(node) -> parent, for every node under `root`."""
    parents: dict[int, cst.CSTNode] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        for child in children(node):
            parents[id(child)] = node
            stack.append(child)
    return parents


def replace_nodes(root: cst.CSTNode, replacements: Any, parents: dict[int, cst.CSTNode]) -> Any:
    """`root` with each key of `replacements` swapped for its value (a node or
    a removal/flatten sentinel), rebuilding only their ancestors: the result a
    transformer returning the replacements from `on_leave` would give, in time
    proportional to the depth rather than the size of the tree. A key that is
    not under `root` changes nothing, as with a transformer."""
    on_path: set[int] = set()
    for original in replacements:
        path = []
        node = original
        while node is not root and node is not None:
            node = parents.get(id(node))
            path.append(id(node))
        if node is root:
            on_path.update(path)

    def rebuild(node: Any) -> Any:
        if node in replacements:
            return replacements[node]
        if id(node) not in on_path:
            return node
        changes: dict[str, Any] = {}
        for name, kind in _fields(type(node)):
            value = getattr(node, name)
            if type(value) in _SEQUENCES:
                new_items = _settle_sequence(value, [rebuild(child) for child in value], kind)
                if new_items is not None:
                    changes[name] = new_items
            elif _is_node(value):
                result = rebuild(value)
                if result is not value:
                    changes[name] = _settle(node, name, kind, result)
        return dataclasses.replace(node, **changes) if changes else node

    return rebuild(root)
