"""Generate `src/isolint/_cst_fields.py`: each LibCST node class's child
fields in source order, with how LibCST visits each one.

    python scripts/gen_cst_fields.py          # rewrite the module
    python scripts/gen_cst_fields.py --check  # exit 1 if it is out of date

Only public LibCST API is read. Which fields hold children, and how each is
visited, comes from the dataclass fields and their type hints; the order comes
from `node.children` (public, source order) on every node of a sample that
spells out each field of each node class. A class whose order the sample does
not fully determine is an error, never a guess: extend `SAMPLE`.
`tests/test_traversal.py` regenerates the module against the installed
LibCST and compares.
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import inspect
import sys
import typing
from importlib.metadata import version
from pathlib import Path
from types import NoneType, UnionType

import libcst as cst

TARGET = Path(__file__).resolve().parents[1] / "src" / "isolint" / "_cst_fields.py"

# Every node class with every child field filled in at least once, so that
# `children` shows the order of all of them.
SAMPLE = """\
# leading comment
import a.b as ab, os
from .. import (x as y, z,)
from . import *
@dec(1)
@other
async def f[T: int = str, *Ts = *tuple, **P = [int]](p: int = 3, /, q=1, *args: int, k=f"{x!r:>{width}}", **kw: str) -> "T":
    global g, h
    nonlocal n
    y = [i for i in range(3) if (n := i) if i]
    z = {i: j async for i, j in pairs if i}
    w = {*s, *t}
    v = {**d, "k": 1, **e}
    u = (i for i in range(3))
    s = {i for i in ()}
    a[1:2:3], a[::], a[:, 1], b[*c] = c
    x: int = 1
    x += 1; x -= 2
    del a, b
    assert x, "message"
    raise E from err
    yield
    r = yield from g
    r = await h(*a, x=1, **k)
    r = not x and y or -z ** ~w
    r = a if b else c
    r = lambda q, /, r=1, *a, s, **k: q
    r = lambda *, t: t
    r = "a" "b" f"c{d=}" f"{e:{f}}"
    r = 1 < x <= 2 != y is not z in w not in v
    r = [*a, b,]
    r = (a, *b)
    r = a.b.c(d)[e]
    r = ...
    print(*a, sep="", **kw)
    async with a as (b, c), d:
        pass
    with (a as b, c as d,):
        pass
    async for x in y:
        continue
    else:
        break
    for (x, y) in z:
        pass
    while x:
        pass
    else:
        pass
    if x:
        pass
    elif y:
        pass
    else:
        pass
    match p:
        case [1, *rest] if rest:
            pass
        case {"k": v, **others}:
            pass
        case Point(1, y=2) | None as q:
            pass
        case (1, 2, *_):
            pass
        case -1 | 1.5 | 2j | "s" | b"b" | a.b:
            pass
    try:
        pass
    except ValueError as e:
        pass
    except (A, B):
        pass
    else:
        pass
    finally:
        pass
    try:
        pass
    except* ValueError as e:
        del e
    except* TypeError:
        pass
    else:
        pass
    finally:
        pass
    return t"{a!r:>{w}} {b=}" if False else f"{a=}"
class C[T](B, metaclass=M):
    x: int = 1; z = 2;
    def g(self): return 1
type Alias[K, *V, **W] = dict[K, V]
if x: pass
while y: x = 1; y = 2
r = a + b - c * d / e // f % g @ h << i >> j & k ^ l | m ** n  # trailing comment
r = a == b > c >= d is e
x *= 1; x /= 1; x //= 1; x %= 1; x @= 1; x <<= 1; x >>= 1; x &= 1; x |= 1; x ^= 1; x **= 1
r = [x for a in b if a for x in a]
r = {**d for d in y}
r = (
    # between
    1
)
from a.b import c
lazy import a.b as c
lazy from .mod import (x, y)

# before a decorated class
@dec
class D:
    pass
"""


def node_classes() -> list[type[cst.CSTNode]]:
    """Every concrete node class LibCST exports, by name."""
    found = {
        value
        for value in vars(cst).values()
        if inspect.isclass(value)
        and issubclass(value, cst.CSTNode)
        and not inspect.isabstract(value)
        and dataclasses.is_dataclass(value)
    }
    return sorted(found, key=lambda node_type: node_type.__name__)


def _kinds(hint: object) -> tuple[bool, bool, bool, bool, object]:
    """(holds a node, is a sequence, may be None, may be MaybeSentinel, element type)."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) else (hint,)
    has_node = is_sequence = optional = sentinel = False
    element: object = None
    for arg in args:
        origin = typing.get_origin(arg)
        if arg is NoneType:
            optional = True
        elif arg is cst.MaybeSentinel:
            sentinel = True
        elif origin in (collections.abc.Sequence, list, tuple):
            is_sequence, element = True, typing.get_args(arg)[0]
            has_node = has_node or _holds_node(element)
        elif _holds_node(arg):
            has_node = True
    return has_node, is_sequence, optional, sentinel, element


def _holds_node(hint: object) -> bool:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, UnionType) else (hint,)
    return any(inspect.isclass(arg) and issubclass(arg, cst.CSTNode) for arg in args)


def _is_statement_sequence(element: object) -> bool:
    args = typing.get_args(element) if typing.get_origin(element) in (typing.Union, UnionType) else (element,)
    return all(inspect.isclass(arg) and issubclass(arg, cst.BaseStatement) for arg in args)


def visit_kinds(node_type: type[cst.CSTNode]) -> dict[str, str]:
    """Child field -> how LibCST visits it: "required", "optional" (None
    allowed), "sentinel" (MaybeSentinel allowed), "sequence", or "body" (a
    sequence of statements: one that a removal inside emptied is dropped)."""
    hints = typing.get_type_hints(node_type)
    kinds = {}
    for field in dataclasses.fields(node_type):
        has_node, is_sequence, optional, sentinel, element = _kinds(hints[field.name])
        if not has_node:
            continue
        if is_sequence:
            kinds[field.name] = "body" if _is_statement_sequence(element) else "sequence"
        elif optional:
            kinds[field.name] = "optional"
        elif sentinel:
            kinds[field.name] = "sentinel"
        else:
            kinds[field.name] = "required"
    return kinds


def _walk(node: cst.CSTNode) -> typing.Iterator[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _field_order(node: cst.CSTNode) -> list[str]:
    """The child fields of `node` in the order `children` lists their nodes."""
    owner: dict[int, str | None] = {}
    for name in visit_kinds(type(node)):
        value = getattr(node, name)
        for child in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(child, cst.CSTNode):
                owner[id(child)] = name if id(child) not in owner else None  # shared by two fields: no evidence
    order: list[str] = []
    for child in node.children:
        field = owner.get(id(child))
        if field is not None and field not in order:
            order.append(field)
    return order


def _filler(hint: object) -> object:
    """A fresh default node for an absent field (a comma, a parenthesis, an
    empty line...), or None when no node class it allows builds without arguments."""
    _, is_sequence, _, _, element = _kinds(hint)
    wanted = element if is_sequence else hint
    args = typing.get_args(wanted) if typing.get_origin(wanted) in (typing.Union, UnionType) else (wanted,)
    for arg in args:
        if inspect.isclass(arg) and issubclass(arg, cst.CSTNode) and not inspect.isabstract(arg):
            try:
                node = arg()
            except TypeError:
                continue
            return [node] if is_sequence else node
    return None


def _variants(node: cst.CSTNode) -> typing.Iterator[cst.CSTNode]:
    """`node`, and copies with its absent child fields filled with default
    nodes (all at once, parentheses as a pair, then one at a time), so that
    `children` shows where fields the source left empty go."""
    yield node
    hints = typing.get_type_hints(type(node))
    fills = {}
    for name in visit_kinds(type(node)):
        value = getattr(node, name)
        if value is None or value is cst.MaybeSentinel.DEFAULT or (isinstance(value, (list, tuple)) and not value):
            filler = _filler(hints[name])
            if filler is not None:
                fills[name] = filler
    groups = [fills, {k: v for k, v in fills.items() if k in ("lpar", "rpar")}, *({k: v} for k, v in fills.items())]
    for group in groups:
        if group:
            try:
                yield node.with_changes(**group)
            except (cst.CSTValidationError, TypeError, ValueError):
                continue


def observed_precedence(module: cst.Module) -> dict[type[cst.CSTNode], set[tuple[str, str]]]:
    """Per node class, the (earlier field, later field) pairs `children` shows."""
    precedence: dict[type[cst.CSTNode], set[tuple[str, str]]] = collections.defaultdict(set)
    for node in _walk(module):
        for variant in _variants(node):
            order = _field_order(variant)
            precedence[type(node)].update((a, b) for i, a in enumerate(order) for b in order[i + 1 :])
    return precedence


class UndeterminedOrder(Exception):
    pass


def source_order(node_type: type[cst.CSTNode], fields: list[str], precedence: set[tuple[str, str]]) -> list[str]:
    """The one order of `fields` the observed pairs allow; an error when they allow several."""
    remaining = list(fields)
    ordered = []
    while remaining:
        first = [f for f in remaining if not any((other, f) in precedence for other in remaining if other != f)]
        if len(first) != 1:
            raise UndeterminedOrder(f"{node_type.__name__}: {sorted(first or remaining)}")
        ordered.append(first[0])
        remaining.remove(first[0])
    return ordered


def field_table() -> dict[str, tuple[tuple[str, str], ...]]:
    precedence = observed_precedence(cst.parse_module(SAMPLE))
    table = {}
    undetermined = []
    for node_type in node_classes():
        kinds = visit_kinds(node_type)
        try:
            order = source_order(node_type, list(kinds), precedence.get(node_type, set()))
        except UndeterminedOrder as exc:
            undetermined.append(str(exc))
            continue
        table[node_type.__name__] = tuple((name, kinds[name]) for name in order)
    if undetermined:
        raise SystemExit(
            "the sample does not determine the order of these fields; extend SAMPLE in scripts/gen_cst_fields.py:\n  "
            + "\n  ".join(undetermined)
        )
    return table


def render(table: dict[str, tuple[tuple[str, str], ...]]) -> str:
    lines = [
        '"""Generated by scripts/gen_cst_fields.py from LibCST ' + version("libcst") + ": do not edit.",
        "",
        "Each LibCST node class's child fields in source order (the order of",
        "`node.children`), with how LibCST visits each: required, optional (may be",
        "None), sentinel (may be MaybeSentinel), sequence, or body (statements).",
        '"""',
        "",
        f'GENERATED_WITH = "{version("libcst")}"',
        "",
        "FIELDS: dict[str, tuple[tuple[str, str], ...]] = {",
    ]
    for name, fields in table.items():
        lines.append(f"    {name!r}: {fields!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed module is out of date")
    args = parser.parse_args()
    text = render(field_table())
    if args.check:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date: run python scripts/gen_cst_fields.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
