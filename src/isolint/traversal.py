"""Traversal of LibCST trees without rebuilding what does not change.

`CSTNode.visit` rebuilds every node on the way back up: for a read-only
`CSTVisitor` it then throws the copy away, and for a transformer it copies
the whole tree to change one node; `CSTNode.children` rebuilds too. That
copying was most of the cost of scope analysis, of our subtree walks and of
building fixes. Here a node's children come straight from its fields, in the
order its own `_visit_and_replace_children` visits them, each with the same
helper (`visit_required`, `visit_optional`, `visit_sentinel`,
`visit_sequence`, `visit_body_sequence`), read from that method's bytecode so
it follows the installed LibCST. `install()` routes `CSTNode.visit` through
`_visit`: callbacks arrive exactly as LibCST sends them, and a transformer's
node is rebuilt (with the same constructor checks) only when one of its
children changed. `tests/test_traversal.py` holds it to LibCST's own
behaviour.
"""

from __future__ import annotations

import dataclasses
import dis
import re
from types import CodeType
from typing import Any, Iterator

from ._lazy import cst

# node type -> ((field, helper name), ...) in visiting order
_FIELDS: dict[type[Any], tuple[tuple[str, str], ...]] = {}
_ORDER: dict[type[Any], tuple[str, ...]] = {}
_SEQUENCES = (tuple, list)
_ATTRIBUTE_HOOK = re.compile(r"^(visit|leave)_[A-Za-z]+_\w+$")
_original_visit: Any = None


def _fields(node_type: type[Any]) -> tuple[tuple[str, str], ...]:
    fields = _FIELDS.get(node_type)
    if fields is None:
        names = {f.name for f in dataclasses.fields(node_type)}
        found: dict[str, str] = {}

        def scan(code: CodeType) -> None:
            # `visit_required(self, "body", self.body, visitor)`: the helper is
            # loaded just before the field name's constant.
            helper = ""
            for instruction in dis.get_instructions(code):
                value = instruction.argval
                if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and str(value).startswith("visit_"):
                    helper = str(value)
                elif isinstance(value, str) and value in names and value not in found and instruction.opname == "LOAD_CONST":
                    found[value] = helper
                elif isinstance(value, CodeType):
                    scan(value)

        scan(node_type._visit_and_replace_children.__code__)
        fields = _FIELDS[node_type] = tuple(found.items())
        _ORDER[node_type] = tuple(found)
    return fields


def child_fields(node_type: type[Any]) -> tuple[str, ...]:
    """The fields `node_type._visit_and_replace_children` visits, in its order."""
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


# visitor type -> (is it read-only, does it define per-attribute hooks); None: not a LibCST visitor
_VISITOR_KINDS: dict[type[Any], tuple[bool, bool] | None] = {}


def _visitor_kind(visitor_type: type[Any]) -> tuple[bool, bool] | None:
    if visitor_type in _VISITOR_KINDS:
        return _VISITOR_KINDS[visitor_type]
    kind = None
    for base in (cst.CSTVisitor, cst.CSTTransformer):
        if issubclass(visitor_type, base):
            hooks = (
                visitor_type.on_visit_attribute is not base.on_visit_attribute
                or visitor_type.on_leave_attribute is not base.on_leave_attribute
                or any(_ATTRIBUTE_HOOK.match(name) for name in dir(visitor_type))
            )
            kind = (base is cst.CSTVisitor, hooks)
    _VISITOR_KINDS[visitor_type] = kind
    return kind


def _visit(self: cst.CSTNode, visitor: Any) -> Any:
    kind = _VISITOR_KINDS[type(visitor)] if type(visitor) in _VISITOR_KINDS else _visitor_kind(type(visitor))
    if kind is None:
        return _original_visit(self, visitor)
    read_only, hooks = kind
    if read_only:
        if visitor.on_visit(self):
            _visit_children(self, visitor, hooks)
        visitor.on_leave(self)
        return self
    updated = self
    if visitor.on_visit(self):
        changes = _transform_children(self, visitor, hooks)
        if changes:
            updated = dataclasses.replace(self, **changes)  # runs the node's own validation, as its constructor would
    result = visitor.on_leave(self, updated)
    if not _is_node(result) and not isinstance(result, (cst.RemovalSentinel, cst.FlattenSentinel)):
        raise cst.CSTValidationError(
            f"Expected a node of type CSTNode or a RemovalSentinel, but got a return value of {type(result).__name__}"
        )
    return result


def _visit_children(node: cst.CSTNode, visitor: Any, hooks: bool) -> None:
    for name, helper in _FIELDS.get(type(node)) or _fields(type(node)):
        value = getattr(node, name)
        if value is None and helper in ("visit_sequence", "visit_body_sequence"):
            continue  # an absent Optional[Sequence]: LibCST does not visit it at all
        if hooks:
            visitor.on_visit_attribute(node, name)
        if type(value) in _SEQUENCES:
            for child in value:
                child.visit(visitor)
        elif _is_node(value):
            value.visit(visitor)
        if hooks:
            visitor.on_leave_attribute(node, name)


def _transform_children(node: cst.CSTNode, visitor: Any, hooks: bool) -> dict[str, Any]:
    """Visit `node`'s children with a transformer; the fields that changed."""
    changes: dict[str, Any] = {}
    for name, helper in _FIELDS.get(type(node)) or _fields(type(node)):
        value = getattr(node, name)
        if value is None and helper in ("visit_sequence", "visit_body_sequence"):
            continue
        if hooks:
            visitor.on_visit_attribute(node, name)
        if type(value) in _SEQUENCES:
            new_items = _settle_sequence(value, [child.visit(visitor) for child in value], helper)
            if new_items is not None:
                changes[name] = new_items
        elif _is_node(value):
            result = value.visit(visitor)
            if result is not value:
                changes[name] = _settle(node, name, helper, result)
        if hooks:
            visitor.on_leave_attribute(node, name)
    return changes


def _settle(node: cst.CSTNode, name: str, helper: str, result: Any) -> Any:
    """A field's new value, with a removal resolved as the field's LibCST helper does."""
    if isinstance(result, cst.FlattenSentinel) or (isinstance(result, cst.RemovalSentinel) and helper == "visit_required"):
        raise TypeError(f"{type(result).__name__} is not allowed for {type(node).__name__}.{name}")
    if isinstance(result, cst.RemovalSentinel):
        return None if helper == "visit_optional" else cst.MaybeSentinel.DEFAULT
    return result


def _settle_sequence(items: Any, results: list[Any], helper: str) -> tuple[Any, ...] | None:
    """A sequence field's new items (removals dropped, flattening spliced), or None if unchanged."""
    if all(new is old for new, old in zip(results, items)):
        return None
    settled = []
    for child, new_child in zip(items, results):
        if isinstance(new_child, cst.RemovalSentinel):
            continue
        for item in new_child if isinstance(new_child, cst.FlattenSentinel) else (new_child,):
            # A body drops a statement that a removal inside it emptied (visit_body_iterable).
            if helper == "visit_body_sequence" and not child._is_removable() and item._is_removable():
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
        for name, helper in _fields(type(node)):
            value = getattr(node, name)
            if type(value) in _SEQUENCES:
                new_items = _settle_sequence(value, [rebuild(child) for child in value], helper)
                if new_items is not None:
                    changes[name] = new_items
            elif _is_node(value):
                result = rebuild(value)
                if result is not value:
                    changes[name] = _settle(node, name, helper, result)
        return dataclasses.replace(node, **changes) if changes else node

    return rebuild(root)


def install() -> None:
    """Route `CSTNode.visit` through `_visit` (see the module docstring)."""
    global _original_visit
    if _original_visit is None:
        _original_visit = cst.CSTNode.visit
        cst.CSTNode.visit = _visit
