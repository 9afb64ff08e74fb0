"""Classes that keep entries per caller (ISO103's own index facts).

"singletons:keyed-state-class": a class whose methods keep entries per
caller, keyed by a parameter, e.g. a rate limiter's
`self._hits[user_id].append(now)`; data {"attribute", "method", "key": the
parameter, "line"}, for the first such write. ISO103 reports a module-level
instance of such a class whatever the class is called.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...scopes import breadth_first
from .._helpers import matches_patterns
from ..ast_helpers import decorator_names
from .family import FactRow

if TYPE_CHECKING:
    from ...index import Fact

KIND_KEYED_STATE = "singletons:keyed-state-class"


@dataclass(frozen=True)
class KeyedStateFact:
    """ "singletons:keyed-state-class": the first write of a per-caller entry."""

    attribute: str  # `_hits` in `self._hits[user_id].append(now)`
    method: str  # the method writing it
    key: str  # the parameter the entry is keyed by
    line: int

    def to_data(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "method": self.method, "key": self.key, "line": self.line}

    @classmethod
    def read(cls, fact: Fact) -> KeyedStateFact:
        return cls(fact.data["attribute"], fact.data["method"], fact.data["key"], fact.data["line"])


KEYED_STATE_INDEX_PREFILTER = re.compile(rb"self\.\w+\s*(?:\[|\.setdefault\s*\()")

# Methods that change a container in place: on `self.x[key]` they write that key's entry.
MUTATORS = frozenset(
    {
        "append",
        "appendleft",
        "extend",
        "extendleft",
        "insert",
        "add",
        "update",
        "setdefault",
        "pop",
        "popleft",
        "remove",
        "discard",
        "clear",
        "incr",
    }
)
# Parameters naming who calls: any entry written under them is that caller's.
CALLER_KEYS = (
    "*user*",
    "*client*",
    "*tenant*",
    "*account*",
    "*customer*",
    "*caller*",
    "*principal*",
    "*identity*",
    "identifier",
    "*thread_id",
    "*run_id",
    "*request_id",
    "*conversation_id",
    "*session_id",
    "ip",
    "*_ip",
    "ip_address",
    "remote_addr",
)
# Generic keys (a rate limiter's `key`): only entries that accumulate (a count,
# a window of timestamps) are per caller; `self._data[key] = value` is a table.
GENERIC_KEYS = ("key", "*_key")


def keyed_state_facts(tree: ast.Module) -> Iterator[FactRow]:
    """Classes (at module level) whose instance methods other than `__init__`
    keep entries per caller in `self.<attr>[...]`: what they keep grows with
    every user, so one shared instance mixes them (a rate limiter's
    `self._hits[user_id].append(now)`, a quota's `self.used[tenant] += n`).
    Tables filled by name (`self._routes[path] = handler`) are not."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            write = _keyed_write(node)
            if write is not None:
                yield KIND_KEYED_STATE, node.name, node.lineno, write.to_data()


def _keyed_write(klass: ast.ClassDef) -> KeyedStateFact | None:
    for method in klass.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or method.name == "__init__":
            continue
        params = [*method.args.posonlyargs, *method.args.args, *method.args.kwonlyargs]
        if not params or params[0].arg != "self" or decorator_names(method) & {"staticmethod", "classmethod"}:
            continue  # `self`: what KEYED_STATE_INDEX_PREFILTER looks for
        keys = {p.arg for p in params[1:]}
        if not any(matches_patterns(key, CALLER_KEYS) or matches_patterns(key, GENERIC_KEYS) for key in keys):
            continue  # no parameter can key an entry per caller: most methods, spared the walk
        for node in breadth_first(method):  # as `ast.walk`, without contexts and operators
            if not isinstance(node, (ast.stmt, ast.expr)):
                continue  # entries are written by statements and calls only
            for subscript, accumulates in _written_entries(node):
                owner = subscript.value
                if not (
                    isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name) and owner.value.id == "self"
                ):
                    continue
                used = {n.id for n in ast.walk(subscript.slice) if isinstance(n, ast.Name)} & keys
                callers = sorted(
                    k
                    for k in used
                    if matches_patterns(k, CALLER_KEYS) or (accumulates and matches_patterns(k, GENERIC_KEYS))
                )
                if callers:
                    return KeyedStateFact(owner.attr, method.name, callers[0], node.lineno)
    return None


def _written_entries(node: ast.AST) -> list[tuple[ast.Subscript, bool]]:
    """(subscript, whether the write accumulates) for the entries `node` writes:
    `x[k] = v` (accumulating when `v` reads `x` again, `x.get(k, 0) + 1`),
    `x[k] += v`, `x[k].append(v)` and `x.setdefault(k, ...)` (as the subscript
    it amounts to) accumulate."""
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [(t, _reads(node.value, t.value)) for t in targets if isinstance(t, ast.Subscript)]
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Subscript):
        return [(node.target, True)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
        receiver = node.func.value
        if isinstance(receiver, ast.Subscript):
            return [(receiver, True)]
        if node.func.attr == "setdefault" and node.args:
            return [(ast.Subscript(value=receiver, slice=node.args[0], ctx=ast.Store()), True)]
    return []


def _reads(value: ast.expr, container: ast.expr) -> bool:
    """Whether `value` reads `container` (`self.x` in `self.x.get(k, 0) + 1`)."""
    shape = ast.dump(container)
    return any(ast.dump(node) == shape for node in ast.walk(value) if type(node) is type(container))
