"""Accessors and classes that `isolint fix` made per call, found by the comment
the fix leaves (`# isolint ISO102: a new instance per call now; ...`).

A fix that turns a process-wide singleton into one object per call changes
what every caller gets: a caller that shared state with another caller
through the singleton now gets its own. The comment marks the definition, so
that ISO106 keeps listing those call sites in every later `check` until a
person has looked at them and deleted the comment.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .family import FactRow

if TYPE_CHECKING:
    from ...index import Fact

KIND_PER_CALL = "singletons:per-call"
MARKER = re.compile(rb"#[ \t]*isolint (ISO10[125]): a new instance per call now")


@dataclass(frozen=True)
class PerCallFact:
    """ "singletons:per-call": a definition a per-call fix changed, still marked."""

    code: str  # the rule whose fix left the marker
    accessors: tuple[str, ...]  # a class's marked methods (not `__new__`)
    returns: str | None  # the class it hands out
    constructed: bool | None = None  # for a class: `Class()` handed out the shared instance

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "accessors": list(self.accessors), "returns": self.returns}
        if self.constructed is not None:
            data["constructed"] = self.constructed
        return data

    @classmethod
    def read(cls, fact: Fact) -> PerCallFact:
        data = fact.data
        return cls(data["code"], tuple(data["accessors"]), data.get("returns"), data.get("constructed"))


def comment(code: str) -> str:
    """The comment a per-call fix of rule `code` leaves on the definition it changes."""
    return f"isolint {code}: a new instance per call now; ISO106 lists the callers that shared one."


def per_call_facts(tree: ast.Module, raw: bytes) -> Iterator[FactRow]:
    """A fact for each module function or class (and the class's methods) whose
    definition holds the marker comment, or has it on the line above."""
    marked = {raw.count(b"\n", 0, match.start()) + 1: match[1].decode() for match in MARKER.finditer(raw)}
    if not marked:
        return
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            code = _marker_in(node, marked)
            if code is not None:
                yield KIND_PER_CALL, node.name, node.lineno, PerCallFact(code, (), _returned_class(node)).to_data()
        elif isinstance(node, ast.ClassDef):
            code = _marker_in(node, marked)
            if code is None:
                continue
            methods = {
                m.name: _marker_in(m, marked)
                for m in node.body
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
            }
            header = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            # Constructing the class handed out the shared instance when the
            # marker is on the class itself (a metaclass or decorator removed) or in `__new__`.
            constructed = any(header <= line <= node.lineno for line in marked) or methods.get("__new__") is not None
            accessors = sorted(name for name, found in methods.items() if found is not None and name != "__new__")
            data = PerCallFact(code, tuple(accessors), node.name, constructed).to_data()
            yield KIND_PER_CALL, node.name, node.lineno, data


def _marker_in(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, marked: dict[int, str]) -> str | None:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1  # the comment line above counts
    last = node.end_lineno or node.lineno
    return next((code for line, code in sorted(marked.items()) if first <= line <= last), None)


def _returned_class(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """`X` when the function returns `X(...)`."""
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name and name[:1].isupper():
                return name
    return None
