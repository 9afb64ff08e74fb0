"""Which indexed functions a call may reach: the family's cross-file calls (ISO405's call sites, ISO407).

A call is matched to the signature facts of its callee's name, narrowed by
what the file's name resolver and the project's class facts say:

- `f(...)` and `module.f(...)`: the functions the name resolves to through
  the imports and this module's own definitions (a package's `pkg.f` also
  finds `pkg.impl.f`). A name bound nowhere the resolver sees (a star
  import) keeps every function of that name.
- `self.m(...)` and `cls.m(...)` in a method: methods of the method's class,
  its ancestors and its descendants (an override may be what runs).
- `super().m(...)`: methods of the class's ancestors.
- any other receiver: every method of that name, since its class is not
  known; the rules ask such calls for more evidence.

Before, any function or method of the callee's name matched: a call of
mypy's own `dispatch` or `super().__init__(...)` of an unrelated base was
reported against a migrated function elsewhere in the project.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from ...index import Fact, ProjectIndex
from ..ast_context import AstFile
from ..sessions.facts import CLASS_KINDS, ancestors, descendants

# The class facts the lineage of `self.m()` and `super().m()` is read from.
LINEAGE_KINDS = CLASS_KINDS


def callee_facts(file: AstFile, kind: str, func: ast.expr) -> list[Fact]:
    """The facts of `kind` (function signatures) a call of `func` may reach."""
    if isinstance(func, ast.Name):
        named = [fact for fact in file.project.named(kind, func.id) if not fact.data["method"]]
        if not named:
            return []
        written = file.qualified_names(func)
        return [fact for fact in named if _defines(fact.qualname, written)] if written else named
    if not isinstance(func, ast.Attribute):
        return []
    named = list(file.project.named(kind, func.attr))
    if not named:
        return []
    functions = [fact for fact in named if not fact.data["method"]]
    if functions and (written := file.qualified_names(func)):
        found = [fact for fact in functions if _defines(fact.qualname, written)]
        if found:
            return found  # `module.f(...)`
    methods = [fact for fact in named if fact.data["method"]]
    lineage = _receiver_lineage(file, func.value)
    if lineage is None:
        return methods  # a receiver of unknown class
    return [fact for fact in methods if _defines(fact.qualname.rpartition(".")[0], lineage)]


def _defines(qualname: str, written: Iterable[str]) -> bool:
    """Whether the definition `qualname` is one of the `written` names: the
    same name, or a package's name for it (`pkg.f` for `pkg.impl.f`, as a
    package re-exports its modules' definitions)."""
    short = qualname.rpartition(".")[2]
    for name in written:
        if name == qualname:
            return True
        package, _, name_short = name.rpartition(".")
        if name_short == short and package and qualname.startswith(package + "."):
            return True
    return False


def _receiver_lineage(file: AstFile, receiver: ast.expr) -> set[str] | None:
    """The classes whose methods `receiver.m(...)` may call when the receiver
    is the method's own `self`/`cls` or `super()`; None for any other
    receiver, or when a base of the class cannot be named."""
    method = file.enclosing_function()
    klass = file.parent(method) if method is not None else None
    if method is None or not isinstance(klass, ast.ClassDef):
        return None
    via_super = isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "super"
    if not via_super and not (isinstance(receiver, ast.Name) and receiver.id == _receiver_name(method)):
        return None
    bases = _bases(file, klass)
    if bases is None:
        return None
    project = file.project
    lineage = {name for base in bases for name in _with_ancestors(project, base)}
    if via_super:
        return lineage
    own = _qualname(file, klass)
    if own is None:
        return lineage  # a class inside a function: no fact describes it or its subclasses
    return lineage | {own} | {fact.qualname for fact in descendants(project, own)}


def _qualname(file: AstFile, klass: ast.ClassDef) -> str | None:
    """`module.Outer.Class` for a class of the module or nested in its classes, as the index names it."""
    path = [klass.name]
    parent = file.parent(klass)
    while isinstance(parent, ast.ClassDef):
        path.insert(0, parent.name)
        parent = file.parent(parent)
    if parent is not file.tree:
        return None
    return ".".join([file.module_name, *path] if file.module_name else path)


def _receiver_name(method: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The parameter bound to the instance or the class (`self`, `cls`); None in a static method."""
    if any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in method.decorator_list):
        return None
    positional = [*method.args.posonlyargs, *method.args.args]
    return positional[0].arg if positional else None


def _bases(file: AstFile, klass: ast.ClassDef) -> list[str] | None:
    """The qualified names of the class's bases (`Base[T]` as `Base`), None
    when one cannot be named (a call, a star import)."""
    found = []
    for base in klass.bases:
        if isinstance(base, ast.Subscript):
            base = base.value
        names = file.qualified_names(base) if isinstance(base, (ast.Name, ast.Attribute)) else set()
        if not names:
            return None
        found += sorted(names)
    return found


def _with_ancestors(project: ProjectIndex, qualname: str) -> set[str]:
    return {qualname, *(fact.qualname for fact in ancestors(project, qualname))}
