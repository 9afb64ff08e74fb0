"""The singleton family (ISO1xx): project-index facts and shared helpers.

Index facts (kind, name within the module, data), built from stdlib `ast`:

- "singletons:class": a class caching its own instance (ISO101), e.g.
  `AgentRegistry`; data {"accessors": [methods returning the cached
  instance], "shared_construction": true when `Class()` itself returns the
  shared object (caching `__new__`, a Singleton metaclass, `@singleton`)}.
- "singletons:accessor": a function or static/class method handing out a
  process-wide object (ISO102), e.g. `get_websocket_manager`; data
  {"returns": the class it constructs or delegates to, or null, "global": the
  module global it caches in (null when it delegates), "how": "lazy-global"
  or "delegates" (it returns a same-module singleton class's accessor)}.
- "singletons:cached-getter": an `lru_cache`/`cache` zero-argument
  constructor function (ISO105); data {"returns": the class it constructs, or null}.
- "singletons:keyed-state-class": a class whose methods keep entries per
  caller, keyed by a parameter (ISO103), e.g. a rate limiter's
  `self._hits[user_id].append(now)`; data {"attribute", "method", "key": the
  parameter, "line"}, for the first such write.

Each kind has one producer (ISO101, ISO102, ISO105, ISO103); every indexer
runs whichever rules are selected, so ISO103 and ISO106 only read the others.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from fnmatch import fnmatchcase
from typing import Any

from .._lazy import cst
from ..traversal import children, walk
from ._helpers import ast_dotted_name, last_name, matches_patterns

KIND_CLASS = "singletons:class"
KIND_ACCESSOR = "singletons:accessor"
KIND_CACHED_GETTER = "singletons:cached-getter"
KIND_KEYED_STATE = "singletons:keyed-state-class"
ACCESSOR_KINDS = (KIND_ACCESSOR, KIND_CACHED_GETTER)

DEFAULT_INSTANCE_ATTRIBUTES = ["_instance", "__instance", "_instances", "_singleton", "_shared_instance"]
ACCESSOR_METHODS = ("get_instance", "instance", "get")
ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "ReprEnum"})
IMMUTABLE_BASES = frozenset({"str", "int", "float", "complex", "bytes", "tuple", "frozenset", "bool"})
CACHE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache"})
DEFAULT_GETTER_ALLOW = ["*Settings", "*Config", "*Configuration"]

# Necessary conditions for a file to hold a fact of each kind.
# Every alternative starts with a literal (a leading `\b` or `[Ss]` would make
# `re` try every byte of every file); word starts are checked by lookbehinds.
CLASS_INDEX_PREFILTER = re.compile(
    rb"_instance|_singleton|Singleton|singleton|cls(?<!\wcls)\.\w+\s*(?:\[[^\n]*\]\s*)?=(?!=)"
)
ACCESSOR_INDEX_PREFILTER = re.compile(CLASS_INDEX_PREFILTER.pattern + rb"|global(?<!\wglobal)\s")
CACHED_INDEX_PREFILTER = re.compile(rb"(?:lru_cache(?<!\wlru_cache)|cache(?<!\wcache))\b")
KEYED_STATE_INDEX_PREFILTER = re.compile(rb"self\.\w+\s*(?:\[|\.setdefault\s*\()")

FactRow = tuple[str, str, int, dict[str, Any]]


# --- roles shared by the ast indexer and the LibCST rule ----------------------


def method_role(name: str, decorators: set[str], bases: set[str], accessor_methods: Iterable[str]) -> str | None:
    """How a class's method can cache the class's own instance: "new"
    (`__new__`), "accessor" (a get_instance-style class/static method) or
    "static-setter" (any staticmethod storing it on the class); None if it cannot."""
    if name == "__new__":
        return None if bases & (ENUM_BASES | IMMUTABLE_BASES) else "new"
    if decorators & {"classmethod", "staticmethod"} and name in accessor_methods:
        return "accessor"
    if "staticmethod" in decorators:
        return "static-setter"
    return None


def cache_receivers(role: str, decorators: set[str], first_param: str | None, class_name: str) -> set[str]:
    """Names through which `role`'s method reaches the class: its name, and `cls`."""
    receivers = {class_name}
    if first_param and (role == "new" or "classmethod" in decorators):
        receivers.add(first_param)
    return receivers


def is_singleton_metaclass(name: str | None) -> bool:
    return name is not None and "Singleton" in name


def class_like(name: str | None) -> str | None:
    """`name` if it reads as a class (CapWords), for the facts' "returns"."""
    return name if name and name[:1].isupper() else None


# --- the ast indexer ----------------------------------------------------------


def _ast_last(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _ast_decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    return {name for name in (_ast_last(d) for d in node.decorator_list) if name}


def _ast_first_param(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    params = [*function.args.posonlyargs, *function.args.args]
    return params[0].arg if params else None


def _ast_cache_attribute(method: ast.AST, receivers: set[str], attributes: Iterable[str]) -> str | None:
    """The cache attribute `method` stores a value (not None) into: `cls._instance = ...`."""
    for node in ast.walk(method):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if isinstance(value, ast.Constant) and value.value is None:
            continue
        for target in targets:
            if isinstance(target, ast.Subscript):
                target = target.value
            if (
                isinstance(target, ast.Attribute)
                and target.attr in attributes
                and isinstance(target.value, ast.Name)
                and target.value.id in receivers
            ):
                return target.attr
    return None


def class_facts(tree: ast.Module, attributes: Iterable[str]) -> Iterator[FactRow]:
    attributes = set(attributes)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        shared = "singleton" in _ast_decorators(node) or any(
            k.arg == "metaclass" and is_singleton_metaclass(_ast_last(k.value)) for k in node.keywords
        )
        bases = {name for name in (_ast_last(b) for b in node.bases) if name}
        accessors: list[str] = []
        caches = False
        for method in node.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            decorators = _ast_decorators(method)
            role = method_role(method.name, decorators, bases, ACCESSOR_METHODS)
            if role is None:
                continue
            receivers = cache_receivers(role, decorators, _ast_first_param(method), node.name)
            if _ast_cache_attribute(method, receivers, attributes):
                caches = True
                shared = shared or role == "new"
                if role == "accessor":
                    accessors.append(method.name)
        if shared or caches:
            yield KIND_CLASS, node.name, node.lineno, {"accessors": accessors, "shared_construction": shared}


def _ast_none_checked(test: ast.expr) -> str | None:
    """`X` in `X is None`, `X == None` or `not X`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Name):
        return test.operand.id
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and len(test.ops) == 1
        and isinstance(test.ops[0], (ast.Is, ast.Eq))
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value is None
    ):
        return test.left.id
    return None


def _ast_lazy_global(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ast.expr] | None:
    """(global name, the value it is lazily set to) for a lazy accessor."""
    declared = {name for node in ast.walk(function) if isinstance(node, ast.Global) for name in node.names}
    if not declared:
        return None
    returned = {n.value.id for n in ast.walk(function) if isinstance(n, ast.Return) and isinstance(n.value, ast.Name)}
    for node in ast.walk(function):
        if (
            isinstance(node, ast.If)
            and (name := _ast_none_checked(node.test)) is not None
            and name in declared & returned
        ):
            for inner in ast.walk(ast.Module(body=node.body, type_ignores=[])):
                if isinstance(inner, (ast.Assign, ast.AnnAssign)) and inner.value is not None:
                    targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                    if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                        return name, inner.value
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in declared & returned
            and isinstance(node.value, ast.BoolOp)
            and isinstance(node.value.op, ast.Or)
            and isinstance(node.value.values[0], ast.Name)
            and node.value.values[0].id == node.targets[0].id
        ):
            return node.targets[0].id, node.value.values[-1]
    return None


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module functions, and static/class methods of module classes, by name within the module."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for method in node.body:
                if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and _ast_decorators(method) & {
                    "staticmethod",
                    "classmethod",
                }:
                    yield f"{node.name}.{method.name}", method


def accessor_facts(tree: ast.Module, attributes: Iterable[str]) -> Iterator[FactRow]:
    classes = {name: data for _, name, _, data in class_facts(tree, attributes)}
    for name, function in _functions(tree):
        lazy = _ast_lazy_global(function)
        if lazy is not None:
            returns = class_like(_ast_last(lazy[1])) if isinstance(lazy[1], ast.Call) else None
            yield KIND_ACCESSOR, name, function.lineno, {"returns": returns, "global": lazy[0], "how": "lazy-global"}
            continue
        if "." in name:
            continue  # a class's own accessor is its class fact
        body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call):
            delegated = _delegated_class(body[0].value.func, classes)
            if delegated:
                yield KIND_ACCESSOR, name, function.lineno, {"returns": delegated, "global": None, "how": "delegates"}


def _delegated_class(func: ast.expr, classes: dict[str, dict[str, Any]]) -> str | None:
    """The singleton class `func` hands out: `Registry.get_instance` or a shared `Manager`."""
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        data = classes.get(func.value.id)
        return func.value.id if data and func.attr in data["accessors"] else None
    if isinstance(func, ast.Name):
        data = classes.get(func.id)
        return func.id if data and data["shared_construction"] else None
    return None


def cache_decorator_names(tree: ast.Module) -> set[str]:
    """Local spellings of functools.lru_cache / functools.cache (`lru_cache`, `ft.cache`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "functools":
                    local = alias.asname or "functools"
                    names |= {f"{local}.lru_cache", f"{local}.cache"}
        elif isinstance(node, ast.ImportFrom) and node.module == "functools" and not node.level:
            for alias in node.names:
                if f"functools.{alias.name}" in CACHE_DECORATORS:
                    names.add(alias.asname or alias.name)
    return names


def cached_getter_facts(tree: ast.Module, allow: Iterable[str]) -> Iterator[FactRow]:
    spellings = cache_decorator_names(tree)
    if not spellings:
        return
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.args.args or node.args.posonlyargs or node.args.kwonlyargs:
            continue
        if node.args.vararg or node.args.kwarg:
            continue
        decorated = any(
            ast_dotted_name(d.func if isinstance(d, ast.Call) else d) in spellings for d in node.decorator_list
        )
        if not decorated:
            continue
        constructed = _ast_returned_call(node)
        if constructed is None:
            continue
        callee = _ast_last(constructed)
        if callee in BUILTIN_CONSTANTS or any(fnmatchcase(callee or "", pattern) for pattern in allow):
            continue
        yield KIND_CACHED_GETTER, node.name, node.lineno, {"returns": class_like(callee)}


def _ast_returned_call(function: ast.FunctionDef) -> ast.Call | None:
    """The call whose result `function` returns, directly or through a local name."""
    bound: dict[str, ast.expr] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound[node.targets[0].id] = node.value
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Name):
                value = bound.get(value.id, value)
            if isinstance(value, ast.Call):
                return value
    return None


# --- classes that keep per-caller entries -----------------------------------------

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
                yield KIND_KEYED_STATE, node.name, node.lineno, write


def _keyed_write(klass: ast.ClassDef) -> dict[str, Any] | None:
    for method in klass.body:
        if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or method.name == "__init__":
            continue
        params = [*method.args.posonlyargs, *method.args.args, *method.args.kwonlyargs]
        if not params or params[0].arg != "self" or _ast_decorators(method) & {"staticmethod", "classmethod"}:
            continue  # `self`: what KEYED_STATE_INDEX_PREFILTER looks for
        keys = {p.arg for p in params[1:]}
        for node in ast.walk(method):
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
                    return {"attribute": owner.attr, "method": method.name, "key": callers[0], "line": node.lineno}
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


# Builtin calls whose result is an immutable value, not a service object.
BUILTIN_CONSTANTS = frozenset(
    {
        "bool",
        "bytes",
        "complex",
        "float",
        "frozenset",
        "int",
        "len",
        "max",
        "min",
        "range",
        "repr",
        "round",
        "str",
        "sum",
        "tuple",
    }
)


# --- which singletons may become per call -----------------------------------------

# Attributes that mark an instance as holding one user's or one run's data.
PER_RUN_ATTRIBUTES = frozenset({"user_id", "thread_id", "chat_thread_id", "run_id", "request_id"})


def holds_per_request_state(class_name: str | None, settings: Any, class_node: Any = None) -> bool:
    """Whether a singleton of this class holds per-user state (an agent, a
    conversation), so one object per call is the fix; otherwise it is
    process-wide infrastructure (a registry, a connection manager, a limiter,
    a breaker, a pool, a locator, config), whose one object is its point."""
    if class_name is None:
        return False
    if any(fnmatchcase(class_name, pattern) for pattern in settings.singletons["per-request-classes"]):
        return True
    if class_node is None:
        return False
    return any(
        isinstance(node, cst.Attribute)
        and node.attr.value in PER_RUN_ATTRIBUTES
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
        for node in walk(class_node)
    )


def module_class(module: Any, name: str | None) -> Any:
    """The module-level class `name` defined in this module, if any."""
    return next((s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == name), None)


def infrastructure_hint(class_name: str | None) -> str:
    what = f"`{class_name}`" if class_name else "The object"
    return (
        f"{what} looks like process-wide infrastructure (a registry, manager, limiter, breaker, pool, client or "
        "config): one shared object is its point, and one per call would split its state between callers (an "
        "acquire on one limiter, the release on another). No automatic fix: create it once at application start-up "
        "(the lifespan), keep it in app state and pass it in (dependency injection), and keep per-user data out "
        "of it. If it does hold per-user state, add the class to `per-request-classes` in "
        "`[tool.isolint.singletons]` and the fix makes it per call."
    )


# --- LibCST helpers -----------------------------------------------------------


def none_checked(test: cst.BaseExpression) -> cst.BaseExpression | None:
    """`X` in `X is None`, `X == None` or `not X` (X any expression)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return test.expression
    if (
        isinstance(test, cst.Comparison)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, (cst.Is, cst.Equal))
        and isinstance(test.comparisons[0].comparator, cst.Name)
        and test.comparisons[0].comparator.value == "None"
    ):
        return test.left
    return None


def mentions(node: cst.CSTNode, is_ref: Callable[[cst.CSTNode], bool]) -> bool:
    return any(is_ref(child) for child in walk(node))


def is_lock(expression: cst.BaseExpression) -> bool:
    name = last_name(expression)
    return name is not None and "lock" in name.lower()


def uncache_body(
    body: Sequence[cst.BaseStatement], is_ref: Callable[[cst.CSTNode], bool], local: str
) -> list[cst.BaseStatement] | None:
    """A function body with its caching taken out, or None if its shape is not understood.

    Guards that test the cache (`if cls._instance is None:`, `if key not in
    cls._instances:`) and the locks around them are unwrapped, `global`
    declarations of the cache dropped, and every use of the cache (`cls._instance`,
    `cls._instances[key]`, `_manager`) becomes the local `local`; a final
    `local = X(...)` + `return local` becomes `return X(...)`.
    """
    out: list[cst.BaseStatement] = []
    for statement in body:
        unwrapped = False
        inner: list[cst.BaseStatement] | None
        if not mentions(statement, is_ref):
            inner = [statement]
        elif (isinstance(statement, cst.If) and mentions(statement.test, is_ref) and statement.orelse is None) or (
            isinstance(statement, cst.With) and all(is_lock(item.item) for item in statement.items)
        ):
            inner, unwrapped = uncache_body(statement.body.body, is_ref, local), True
        elif isinstance(statement, cst.SimpleStatementLine) and all(
            isinstance(small, cst.Global) and all(is_ref(item.name) for item in small.names) for small in statement.body
        ):
            continue
        elif isinstance(statement, cst.SimpleStatementLine):
            inner = [_uncache_line(statement, is_ref, local)]
        else:
            return None  # a loop or try around the cache, or an if/else: leave it to a person
        if inner is None:
            return None
        if unwrapped and inner:  # comments above an unwrapped guard stay above its first statement
            inner[0] = inner[0].with_changes(leading_lines=[*statement.leading_lines, *inner[0].leading_lines])
        out.extend(inner)
    return _fold_final_return(out, local)


def _uncache_line(
    line: cst.SimpleStatementLine, is_ref: Callable[[cst.CSTNode], bool], local: str
) -> cst.SimpleStatementLine:
    smalls = []
    for small in line.body:
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and is_ref(small.targets[0].target)
            and isinstance(small.value, cst.BooleanOperation)
            and isinstance(small.value.operator, cst.Or)
            and is_ref(small.value.left)
        ):
            small = small.with_changes(value=small.value.right)  # `_x = _x or X()`
        if isinstance(small, cst.AnnAssign) and is_ref(small.target) and small.value is not None:
            small = cst.Assign(targets=[cst.AssignTarget(small.target)], value=small.value)
        smalls.append(replace_refs(small, is_ref, local))
    return line.with_changes(body=smalls)


def replace_refs(node: cst.CSTNode, is_ref: Callable[[cst.CSTNode], bool], local: str) -> cst.CSTNode:
    class _Refs(cst.CSTTransformer):
        def on_leave(self, original: Any, updated: Any) -> Any:
            if isinstance(original, cst.Subscript) and is_ref(original.value):
                return cst.Name(local)  # `cls._instances[key]` is the one instance now
            if isinstance(original, cst.Attribute) and not is_ref(original):
                return updated.with_changes(attr=original.attr)  # `obj._x`: not the global `_x`
            if isinstance(original, cst.BaseExpression) and is_ref(original):
                return cst.Name(local)
            return updated

    return node.visit(_Refs())


def _fold_final_return(body: list[cst.BaseStatement], local: str) -> list[cst.BaseStatement]:
    """`local = E` then `return local` -> `return E`."""
    if len(body) < 2:
        return body
    *rest, assign_line, return_line = body
    if not (isinstance(assign_line, cst.SimpleStatementLine) and isinstance(return_line, cst.SimpleStatementLine)):
        return body
    if len(assign_line.body) != 1 or len(return_line.body) != 1:
        return body
    assign, returned = assign_line.body[0], return_line.body[0]
    if (
        isinstance(assign, cst.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
        and assign.targets[0].target.value == local
        and isinstance(returned, cst.Return)
        and isinstance(returned.value, cst.Name)
        and returned.value.value == local
    ):
        folded = return_line.with_changes(
            body=[returned.with_changes(value=assign.value)], leading_lines=assign_line.leading_lines
        )
        return [*rest, folded]
    return body


def with_comment(body: list[cst.BaseStatement], comment: str) -> list[cst.BaseStatement]:
    """`body` with `# comment` above its first statement after any docstring."""
    position = 1 if body and _is_docstring(body[0]) and len(body) > 1 else 0
    statement = body[position]
    line = cst.EmptyLine(indent=True, comment=cst.Comment(f"# {comment}"))
    body = list(body)
    body[position] = statement.with_changes(leading_lines=[*statement.leading_lines, line])
    return body


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def name_count(module: cst.Module, name: str, *, skip: Iterable[cst.CSTNode] = ()) -> int:
    """How many `Name` / attribute-name nodes spell `name` in `module`, outside the `skip` subtrees."""
    skipped = set(map(id, skip))
    count = 0
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if id(node) in skipped:
            continue
        if isinstance(node, cst.Name) and node.value == name:
            count += 1
        stack.extend(children(node))
    return count
