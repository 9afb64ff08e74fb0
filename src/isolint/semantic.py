"""A semantic model of one module on the standard library's `ast`.

It answers what the fix verifier (verify/) asks of a module: which names
its imports bind (relative imports resolved once, to absolute names), which
functions and classes it defines and with what call signatures, every call
site with the shape of its arguments, every attribute read and write with
what is known of the receiver, and the locals a function reads before any
assignment. Names resolve in one place, `ModuleModel.qualified_name`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .scopes import breadth_first, children, remembering_children, resolve_relative, walk

# Decorators that keep the call signature as written (the bound receiver aside).
_TRANSPARENT_DECORATORS = frozenset({"abstractmethod", "override", "overload", "cache", "lru_cache", "wraps"})


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str  # the annotation's source text, "" when absent
    has_default: bool


@dataclass(frozen=True)
class Signature:
    """How a function is called: the bound receiver (`self`, `cls`) is left out."""

    positional: tuple[Parameter, ...]  # positional-only first, then positional-or-keyword
    positional_only: int
    keyword_only: tuple[Parameter, ...]
    var_positional: bool
    var_keyword: bool

    def bind(self, call: CallShape) -> dict[str, str] | None:
        """Argument slot -> parameter name (`"0"`, `"1"`, ... for positional
        arguments, the keyword for keyword ones), or None when the call cannot
        bind. A call with `*args` or `**kwargs` binds whatever it can reach."""
        if call.var_positional or call.var_keyword:
            return self._bind_loosely(call)
        if call.positional > len(self.positional) and not self.var_positional:
            return None
        bound: dict[str, str] = {}
        for index in range(min(call.positional, len(self.positional))):
            bound[str(index)] = self.positional[index].name
        for index in range(len(self.positional), call.positional):
            bound[str(index)] = "*"
        taken = set(bound.values())
        by_keyword = {p.name: p for p in (*self.positional[self.positional_only :], *self.keyword_only)}
        for keyword in call.keywords:
            if keyword in taken:
                return None  # "got multiple values for argument"
            if keyword in by_keyword:
                bound[keyword] = keyword
                taken.add(keyword)
            elif self.var_keyword:
                bound[keyword] = "**"
            else:
                return None
        required = [p.name for p in (*self.positional, *self.keyword_only) if not p.has_default]
        if any(name not in taken for name in required):
            return None
        return bound

    def _bind_loosely(self, call: CallShape) -> dict[str, str] | None:
        names = {p.name for p in (*self.positional[self.positional_only :], *self.keyword_only)}
        if call.positional > len(self.positional) and not self.var_positional:
            return None
        if not self.var_keyword and any(k not in names for k in call.keywords):
            return None
        return {str(i): self.positional[i].name if i < len(self.positional) else "*" for i in range(call.positional)}

    def parameter(self, name: str) -> Parameter | None:
        for param in (*self.positional, *self.keyword_only):
            if param.name == name:
                return param
        return None

    def text(self) -> str:
        parts = [p.name for p in self.positional]
        if self.positional_only:
            parts.insert(self.positional_only, "/")
        if self.var_positional:
            parts.append("*args")
        elif self.keyword_only:
            parts.append("*")
        parts.extend(p.name for p in self.keyword_only)
        if self.var_keyword:
            parts.append("**kwargs")
        return "(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class CallShape:
    positional: int
    keywords: tuple[str, ...]
    var_positional: bool = False
    var_keyword: bool = False


@dataclass(frozen=True)
class Function:
    qualname: str  # module.function or module.Class.method
    name: str
    owner: str | None  # the class's qualified name, for methods
    signature: Signature
    line: int
    returns: str = ""  # the return annotation's source text
    returned: tuple[str, ...] = ()  # what is known of each returned value (see CallSite.arguments)
    decorators: frozenset[str] = frozenset()
    rebound: frozenset[str] = frozenset()  # parameters the body assigns

    @property
    def wrapped_by(self) -> frozenset[str]:
        """Decorators that may change how it is called, or forward its arguments as they are."""
        return self.decorators - _TRANSPARENT_DECORATORS - {"staticmethod", "classmethod", "property"}


@dataclass(frozen=True)
class Klass:
    qualname: str
    bases: tuple[str, ...]  # qualified where they resolve, as written otherwise
    attributes: frozenset[str]  # methods, class-level names and `self.<name> =` stores
    line: int
    # What is known of `self.<name>`: its annotation, or the one thing every
    # store puts there (a parameter's annotation, a constructor); see local_types.
    attribute_types: tuple[tuple[str, str], ...] = ()

    def attribute_type(self, name: str) -> str:
        return dict(self.attribute_types).get(name, "")


@dataclass(frozen=True)
class CallSite:
    """A call: `target` is a qualified name for a resolved function or class,
    `method` the attribute name for `receiver.method(...)`."""

    target: str | None
    method: str | None
    receiver_class: str | None  # `self.m()` in a method of, or `super().m()` from, this class
    via_super: bool
    shape: CallShape
    line: int
    text: str
    scope: str  # the enclosing function's or class's qualified name, or the module's
    # What is known of each argument's value, by slot ("0", "1", ... or the keyword):
    # a parameter's annotation, or the callee of a call that built it; "" when unknown.
    arguments: tuple[tuple[str, str], ...] = ()
    # Each argument's spelling by slot: a name, or the last attribute of `x.run_id`; "" otherwise.
    argument_names: tuple[tuple[str, str], ...] = ()
    receiver_type: str = ""  # what is known of `receiver` in `receiver.method(...)`

    def argument(self, slot: str) -> str:
        return dict(self.arguments).get(slot, "")


@dataclass(frozen=True)
class AttributeUse:
    attribute: str
    receiver_class: str | None  # `self.<attribute>` inside a method of this class
    receiver_type: str  # what is known of the receiver (see CallSite.arguments)
    receiver: str  # the receiver's name when it is a plain name, "" otherwise
    is_store: bool  # an assignment to the attribute, or to an item of it
    line: int
    scope: str
    called: bool = False  # the callee of a call (`x.m()`), not a value read (`handler = x.m`)


@dataclass(frozen=True)
class WithItem:
    entered: str  # what is known of the object entered: a constructor or callee, an annotation
    is_async: bool
    line: int
    text: str
    scope: str


@dataclass
class ModuleModel:
    module: str
    is_package: bool
    imports: dict[str, str] = field(default_factory=dict)  # local name -> absolute qualified name
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, Klass] = field(default_factory=dict)
    calls: list[CallSite] = field(default_factory=list)
    attributes: list[AttributeUse] = field(default_factory=list)
    unbound_reads: dict[tuple[str, str], int] = field(
        default_factory=dict
    )  # (function, name) read before any binding -> line
    metadata_reads: list[tuple[str, int, str]] = field(
        default_factory=list
    )  # (key, line, scope) of `x.metadata.get("key")`
    # Each `with` item: what is known of the object entered (see CallSite.arguments), async or not, its text.
    withs: list[WithItem] = field(default_factory=list)
    names: frozenset[str] = frozenset()  # every identifier mentioned
    # Functions read by name as values rather than called (`map(describe, states)`,
    # `TOOLS = {"search": search}`): (qualified name, line).
    function_values: list[tuple[str, int]] = field(default_factory=list)
    module_names: frozenset[str] = frozenset()  # what the module binds at top level
    references: frozenset[str] = frozenset()  # qualified names used, resolved through the imports
    _defined: tuple[tuple[int, int], frozenset[str]] | None = field(default=None, init=False, repr=False, compare=False)

    def qualified_name(self, node: ast.expr) -> str | None:
        """The absolute dotted name an expression refers to at module level
        (`json.dumps`, `app.registry.get_registry`), or None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        head = self.imports.get(node.id)
        if head is None:
            if node.id in self._defined_names():
                head = f"{self.module}.{node.id}" if self.module else node.id
            else:
                return None
        return ".".join((head, *reversed(parts)))

    def _defined_names(self) -> frozenset[str]:
        """The names of the module-level functions and of the classes defined so
        far. Recomputed only when a definition was added (the tables only grow,
        while the model is built): a per-call set made resolving quadratic."""
        sizes = (len(self.functions), len(self.classes))
        if self._defined is None or self._defined[0] != sizes:
            names = {f.name for f in self.functions.values() if f.owner is None}
            names.update(q.rpartition(".")[2] for q in self.classes)
            self._defined = (sizes, frozenset(names))
        return self._defined[1]


def build_model(tree: ast.Module, module: str, is_package: bool = False, *, flow: bool = True) -> ModuleModel:
    """The module's model. `flow=False` leaves out what only a changed file is
    asked (locals read before assignment): the verifier reads many unchanged
    files for their calls and definitions alone."""
    model = ModuleModel(module, is_package)
    functions = _Functions()  # shared by both passes
    with remembering_children():  # the passes below walk each function's nodes several times
        names, attributes, values, held = _collect_names(tree, model)
        _Definitions(model, functions).visit(tree)
        _Uses(model, functions, flow).visit(tree)
        model.module_names = frozenset(bound_names(tree.body))
    model.names = frozenset(names)
    model.references = frozenset(_references(attributes, model))
    model.function_values = [
        (model.imports.get(name, f"{module}.{name}" if module else name), line) for name, line in values
    ] + [(f"{model.imports[head]}.{attribute}", line) for head, attribute, line in held]
    return model


def _collect_names(
    tree: ast.Module, model: ModuleModel
) -> tuple[set[str], list[ast.Attribute], list[tuple[str, int]], list[tuple[str, str, int]]]:
    """In one walk: every name and attribute name the module mentions, its
    imports into `model.imports`, the attributes read from a plain name
    (for `_references`, once the imports are known), and what is read as a
    value, not called: the names of imports and top-level functions, and the
    attributes of imported names (`tools.search`: (name, attribute, line))."""
    names: set[str] = set()
    attributes: list[ast.Attribute] = []
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    callees: set[int] = set()
    values: list[tuple[str, int]] = []
    held: list[tuple[str, str, int]] = []
    for node in breadth_first(tree):  # as `ast.walk`, through the children the passes below reuse
        if isinstance(node, ast.Name):
            names.add(node.id)
            # A call is met before its callee: breadth first, a parent comes before its children.
            if (
                (node.id in defined or node.id in model.imports)
                and id(node) not in callees
                and isinstance(node.ctx, ast.Load)
            ):
                values.append((node.id, node.lineno))
        elif isinstance(node, ast.Call):
            callees.add(id(node.func))
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
            if isinstance(node.value, ast.Name):
                attributes.append(node)
                if node.value.id in model.imports and id(node) not in callees and isinstance(node.ctx, ast.Load):
                    held.append((node.value.id, node.attr, node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            _collect_import(node, model)
    return names, attributes, values, held


def _references(attributes: list[ast.Attribute], model: ModuleModel) -> Iterator[str]:
    """Every imported name the module uses, as `module.name` (the longest
    dotted path that resolves), and every name `from module import name` binds."""
    yield from model.imports.values()
    for node in attributes:
        assert isinstance(node.value, ast.Name)  # as _collect_names chose them
        if node.value.id in model.imports:
            yield f"{model.imports[node.value.id]}.{node.attr}"


def _collect_import(node: ast.Import | ast.ImportFrom, model: ModuleModel) -> None:
    # Module-level and nested imports alike: a function-local import binds the
    # same absolute name for the calls beside it.
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                model.imports[alias.asname] = alias.name
            else:
                head = alias.name.partition(".")[0]
                model.imports[head] = head
    else:
        base = resolve_relative(model.module, model.is_package, node.level, node.module)
        for alias in node.names:
            if alias.name != "*":
                model.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name


def signature_of(node: ast.FunctionDef | ast.AsyncFunctionDef, *, bound: bool) -> Signature:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [False] * (len(positional) - len(args.defaults)) + [True] * len(args.defaults)
    params = [
        Parameter(a.arg, ast.unparse(a.annotation) if a.annotation else "", d)
        for a, d in zip(positional, defaults, strict=True)
    ]
    positional_only = len(args.posonlyargs)
    if bound and params:
        params = params[1:]
        positional_only = max(0, positional_only - 1)
    keyword_only = tuple(
        Parameter(a.arg, ast.unparse(a.annotation) if a.annotation else "", default is not None)
        for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    )
    return Signature(tuple(params), positional_only, keyword_only, args.vararg is not None, args.kwarg is not None)


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Attribute):
            names.add(target.attr)
    return names


class _Visitor(ast.NodeVisitor):
    """`ast.NodeVisitor`, faster: each node type's handler is looked up once,
    and the children come from `scopes.children`, computed once per node while
    the model is built. Those leave out contexts and operators, which no
    handler here takes, and give a definition's children in source order
    (decorators first): the handlers of definitions visit those themselves,
    in `ast`'s order."""

    def __init__(self) -> None:
        self._handlers: dict[type[ast.AST], Callable[[Any], object]] = {}

    def visit(self, node: ast.AST) -> object:
        handler = self._handlers.get(type(node))
        if handler is None:
            found: Callable[[Any], object] = getattr(self, "visit_" + type(node).__name__, self.generic_visit)
            handler = self._handlers[type(node)] = found
        return handler(node)

    def generic_visit(self, node: ast.AST) -> None:
        for child in children(node):
            self.visit(child)


class _Definitions(_Visitor):
    """Functions and classes with their qualified names; nested functions are skipped
    (nothing outside their enclosing function can call them by name)."""

    def __init__(self, model: ModuleModel, functions: _Functions) -> None:
        super().__init__()
        self.model = model
        self.prefix = model.module
        self.functions = functions

    def _qualify(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        qualname = self._qualify(node.name)
        bases = tuple(self.model.qualified_name(b) or ast.unparse(b) for b in node.bases)
        attributes: set[str] = set()
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                attributes.add(statement.name)
            elif isinstance(statement, ast.Assign):
                attributes.update(t.id for t in statement.targets if isinstance(t, ast.Name))
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                attributes.add(statement.target.id)
        stored: dict[str, list[str]] = {
            statement.target.id: [ast.unparse(statement.annotation)]
            for statement in node.body
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
        }
        for method in node.body:
            if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.args.args:
                receiver = method.args.args[0].arg
                known = self.functions.local_types(method)
                for child in walk(method):
                    if (
                        isinstance(child, ast.Attribute)
                        and isinstance(child.ctx, ast.Store)
                        and _is_name(child.value, receiver)
                    ):
                        attributes.add(child.attr)
                    for target, kind in _attribute_stores(child, receiver, known):
                        stored.setdefault(target, []).append(kind)
        types = tuple(sorted((name, kinds[0]) for name, kinds in stored.items() if kinds[0] and len(set(kinds)) == 1))
        self.model.classes[qualname] = Klass(qualname, bases, frozenset(attributes), node.lineno, types)
        outer, self.prefix = self.prefix, qualname
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(statement, owner=qualname)
            elif isinstance(statement, ast.ClassDef):
                self.visit_ClassDef(statement)
        self.prefix = outer

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._function(node, owner=None)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, owner: str | None) -> None:
        decorators = _decorator_names(node)
        bound = owner is not None and "staticmethod" not in decorators
        qualname = self._qualify(node.name)
        known = self.functions.local_types(node)
        returned = tuple(
            known_type(child.value, known)
            for child in self.functions.own_nodes(node)
            if isinstance(child, ast.Return) and child.value is not None
        )
        signature = signature_of(node, bound=bound)
        self.model.functions[qualname] = Function(
            qualname,
            node.name,
            owner,
            signature,
            node.lineno,
            ast.unparse(node.returns) if node.returns else "",
            returned,
            frozenset(decorators),
            self.functions.body_names(node) & {p.name for p in (*signature.positional, *signature.keyword_only)},
        )


def _attribute_stores(node: ast.AST, receiver: str, known: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(attribute, what is known of the stored value) for `receiver.<attribute> = value` or `: T = value`."""
    if (
        isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Attribute)
        and _is_name(node.target.value, receiver)
    ):
        yield node.target.attr, ast.unparse(node.annotation)
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Attribute) and _is_name(target.value, receiver):
                yield target.attr, known_type(node.value, known)
            elif isinstance(target, (ast.Tuple, ast.List)):
                for element in target.elts:
                    if isinstance(element, ast.Attribute) and _is_name(element.value, receiver):
                        yield element.attr, ""
    elif (
        isinstance(node, ast.AugAssign)
        and isinstance(node.target, ast.Attribute)
        and _is_name(node.target.value, receiver)
    ):
        yield node.target.attr, ""


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def call_shape(call: ast.Call) -> CallShape:
    positional = sum(1 for a in call.args if not isinstance(a, ast.Starred))
    return CallShape(
        positional,
        tuple(k.arg for k in call.keywords if k.arg is not None),
        any(isinstance(a, ast.Starred) for a in call.args),
        any(k.arg is None for k in call.keywords),
    )


class _Uses(_Visitor):
    """Call sites, attribute uses and unbound reads, with the enclosing scope."""

    def __init__(self, model: ModuleModel, functions: _Functions, flow: bool) -> None:
        super().__init__()
        self.model = model
        self.functions = functions
        self.flow = flow
        self.scope = model.module
        self.klass: str | None = None
        self.receiver: str | None = None  # the first parameter's name in a method
        self.annotations: dict[str, str] = {}  # parameter -> annotation text
        self.callees: set[int] = set()  # ids of the attributes that calls call

    def _qualify(self, name: str) -> str:
        return f"{self.scope}.{name}" if self.scope else name

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer = (self.klass, self.scope, self.receiver)
        self.klass = self.scope = self._qualify(node.name)
        self.receiver = None
        for child in (*node.bases, *node.keywords, *node.body, *node.decorator_list):  # `ast`'s order
            self.visit(child)
        self.klass, self.scope, self.receiver = outer

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer = (self.scope, self.receiver, self.annotations, self.klass)
        self.scope = self._qualify(node.name)
        all_args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        self.receiver = (
            all_args[0].arg if self.klass and all_args and "staticmethod" not in _decorator_names(node) else None
        )
        known = self.functions.local_types(node)
        self.annotations = {**self.annotations, **known}
        if self.flow:
            found = unbound_reads(node, self.functions)
            self.model.unbound_reads.update(((self.scope, name), line) for name, line in found.items())
        for child in (*node.decorator_list, *node.args.defaults, *[d for d in node.args.kw_defaults if d]):
            self.visit(child)
        for statement in node.body:
            self.visit(statement)
        self.scope, self.receiver, self.annotations, self.klass = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        self._metadata_key(node)
        func = node.func
        self.callees.add(id(func))
        target = method = receiver_class = None
        via_super = False
        if isinstance(func, ast.Attribute):
            qualified = self.model.qualified_name(func)
            if (
                qualified is not None
                and isinstance(func.value, (ast.Name, ast.Attribute))
                and self._is_module_path(func.value)
            ):
                target = qualified
            else:
                method = func.attr
                if self.receiver and _is_name(func.value, self.receiver):
                    receiver_class = self.klass
                elif isinstance(func.value, ast.Call) and _is_name(func.value.func, "super"):
                    receiver_class, via_super = self.klass, True
        elif isinstance(func, ast.Name):
            target = self.model.qualified_name(func)
        if target is not None or method is not None:
            self.model.calls.append(
                CallSite(
                    target,
                    method,
                    receiver_class,
                    via_super,
                    call_shape(node),
                    node.lineno,
                    _short(node),
                    self.scope,
                    self._arguments(node),
                    _argument_names(node),
                    self._known_type(func.value) if isinstance(func, ast.Attribute) else "",
                )
            )
        self.generic_visit(node)

    def _arguments(self, node: ast.Call) -> tuple[tuple[str, str], ...]:
        slots = [(str(i), a) for i, a in enumerate(a for a in node.args if not isinstance(a, ast.Starred))]
        slots += [(k.arg, k.value) for k in node.keywords if k.arg is not None]
        return tuple((slot, self._known_type(value)) for slot, value in slots)

    def _known_type(self, value: ast.expr) -> str:
        if isinstance(value, ast.Attribute) and self.receiver and self.klass and _is_name(value.value, self.receiver):
            klass = self.model.classes.get(self.klass)
            return klass.attribute_type(value.attr) if klass is not None else ""
        return known_type(value, self.annotations)

    def _is_module_path(self, node: ast.expr) -> bool:
        """`a.b` in `a.b.f()` names an imported module or class, not a variable."""
        while isinstance(node, ast.Attribute):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.model.imports

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._attribute(node, isinstance(node.ctx, (ast.Store, ast.Del)))
        self.generic_visit(node)

    def _metadata_key(self, node: ast.Call | ast.Subscript) -> None:
        """`x.metadata.get("key")` and `x.metadata["key"]` (a read)."""
        if isinstance(node, ast.Call):
            holder = node.func.value if isinstance(node.func, ast.Attribute) and node.func.attr == "get" else None
            key = node.args[0] if node.args else None
        else:
            holder, key = (node.value, node.slice) if isinstance(node.ctx, ast.Load) else (None, None)
        if (
            isinstance(holder, ast.Attribute)
            and holder.attr == "metadata"
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
        ):
            self.model.metadata_reads.append((key.value, node.lineno, self.scope))

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            entered = item.context_expr
            self.model.withs.append(
                WithItem(
                    self._known_type(entered), isinstance(node, ast.AsyncWith), node.lineno, _short(entered), self.scope
                )
            )
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._metadata_key(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Attribute):
            self._attribute(node.value, True)  # `x.items[k] = v` mutates what `x.items` holds
            self.visit(node.value.value)
            self.visit(node.slice)
            return
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Attribute):
            self._attribute(node.target, True)
        self.generic_visit(node)

    def _attribute(self, node: ast.Attribute, is_store: bool) -> None:
        receiver_class = self.klass if self.receiver and _is_name(node.value, self.receiver) else None
        receiver = node.value.id if isinstance(node.value, ast.Name) else ""
        receiver_type = self.annotations.get(receiver, "")
        called = id(node) in self.callees
        self.model.attributes.append(
            AttributeUse(node.attr, receiver_class, receiver_type, receiver, is_store, node.lineno, self.scope, called)
        )


def _argument_names(node: ast.Call) -> tuple[tuple[str, str], ...]:
    slots = [(str(i), a) for i, a in enumerate(a for a in node.args if not isinstance(a, ast.Starred))]
    slots += [(k.arg, k.value) for k in node.keywords if k.arg is not None]
    return tuple(
        (slot, value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else "")
        for slot, value in slots
    )


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


class _Functions:
    """What the passes ask of each function, worked out once per model: its
    own nodes (those of nested scopes aside), what is known of its names
    (local_types) and the names its body binds."""

    def __init__(self) -> None:
        self._own: dict[ast.AST, list[ast.AST]] = {}  # nodes hash by identity
        self._types: dict[ast.AST, dict[str, str]] = {}
        self._body_names: dict[ast.AST, frozenset[str]] = {}

    def own_nodes(self, function: FunctionNode) -> list[ast.AST]:
        own = self._own.get(function)
        if own is None:
            own = self._own[function] = list(_own_nodes(function))
        return own

    def local_types(self, function: FunctionNode) -> dict[str, str]:
        known = self._types.get(function)
        if known is None:
            known = self._types[function] = local_types(function, self.own_nodes(function))
        return known

    def body_names(self, function: FunctionNode) -> frozenset[str]:
        names = self._body_names.get(function)
        if names is None:
            names = self._body_names[function] = frozenset(bound_names(function.body))
        return names


def local_types(function: FunctionNode, own_nodes: list[ast.AST]) -> dict[str, str]:
    """What is known of a function's names: a parameter's annotation, a local's
    annotation, or the callee that built a local bound once (`x = Cls(...)`).
    `own_nodes` are the function's nodes, nested scopes aside."""
    args = function.args
    known = {
        a.arg: ast.unparse(a.annotation) for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation
    }
    bindings: dict[str, list[str]] = {}
    for node in own_nodes:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            bindings.setdefault(node.target.id, []).append(ast.unparse(node.annotation))
        elif isinstance(node, ast.Assign):
            built = ast.unparse(node.value.func) if isinstance(node.value, ast.Call) else ""
            for target in node.targets:
                for name in _target_names(target):
                    bindings.setdefault(name, []).append(built if isinstance(target, ast.Name) else "")
        elif isinstance(node, (ast.AugAssign, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.NamedExpr)):
            for stored in _store_targets(node):
                bindings.setdefault(stored, []).append("")
    for name, values in bindings.items():
        if name not in known:
            known[name] = values[0] if len(set(values)) == 1 else ""
    return known


def _store_targets(node: ast.AST) -> set[str]:
    if isinstance(node, ast.AugAssign):
        return _target_names(node.target)
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return _target_names(node.target)
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return {
            name for item in node.items if item.optional_vars is not None for name in _target_names(item.optional_vars)
        }
    if isinstance(node, ast.NamedExpr):
        return {node.target.id}
    return set()


# `ctx.state` where `ctx` is known to be a `T`: "the field `state` of `T`", which
# only the whole program can resolve (T may be defined in another module).
FIELD_OF = "field-of:"


def field_of(type_text: str, attribute: str) -> str:
    return f"{FIELD_OF}{type_text}:{attribute}"


def known_type(value: ast.expr, known: dict[str, str]) -> str:
    """What is known of an expression's value: see local_types; "" when unknown."""
    if isinstance(value, ast.Name):
        return known.get(value.id, "")
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
        owner = known.get(value.value.id, "").strip("\"'")
        return field_of(owner, value.attr) if re.fullmatch(r"[A-Za-z_][\w.]*", owner) and owner != "None" else ""
    if isinstance(value, ast.Call):
        return ast.unparse(value.func)
    if isinstance(value, ast.Constant) and value.value is None:
        return "None"
    return ""


def _short(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."


def unbound_reads(function: FunctionNode, functions: _Functions) -> dict[str, int]:
    """Local names read where no assignment can have run yet, on any path, and the line of the first such read.

    A name is local when the function binds it (and declares it neither
    `global` nor `nonlocal`); such a read raises UnboundLocalError. Branches
    are joined optimistically (a name bound on any branch counts as bound
    after it), so this lists certain errors only."""
    declared: set[str] = set()
    for node in functions.own_nodes(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    arguments = {a.arg for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)}
    arguments.update(a.arg for a in (function.args.vararg, function.args.kwarg) if a is not None)
    local = {name for name in functions.body_names(function) if name not in declared} - arguments
    found: dict[str, int] = {}
    _scan(function.body, set(arguments), local, found)
    return found


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_NESTED_SCOPES = (*_DEFINITIONS, ast.Lambda)


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not descending into nested scopes."""
    stack = list(children(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _NESTED_SCOPES):
            stack.extend(children(node))


def bound_names(statements: list[ast.stmt]) -> set[str]:
    """The names `statements` bind in their own scope: a nested function or
    class binds its name there (and the `:=` targets of what its definition
    evaluates), its body's names in a scope of its own."""
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, _DEFINITIONS):
            evaluated = _evaluated_by_definition(statement)
            nodes = [statement, *evaluated, *(node for e in evaluated for node in _own_nodes(e))]
        else:
            nodes = [statement, *_own_nodes(statement)]
        for node in nodes:
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).partition(".")[0] for a in node.names if a.name != "*")
            elif (isinstance(node, ast.ExceptHandler) and node.name) or (
                isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name
            ):
                names.add(node.name)
    return names


def _scan(statements: list[ast.stmt], bound: set[str], local: set[str], found: dict[str, int]) -> None:
    for statement in statements:
        if isinstance(statement, _DEFINITIONS):
            # Only what the definition evaluates where it stands runs now; its body is a scope of its own.
            for child in _evaluated_by_definition(statement):
                _reads(child, bound, local, found)
            bound.add(statement.name)
            continue
        nested = [
            getattr(statement, name)
            for name in ("body", "orelse", "finalbody")
            if isinstance(getattr(statement, name, None), list)
        ]
        handlers = getattr(statement, "handlers", None) or []
        cases = getattr(statement, "cases", None) or []
        if nested or handlers or cases:
            # The statement's own expressions (a test, an iterable, a context manager) run first.
            for name, value in ast.iter_fields(statement):
                if name not in ("body", "orelse", "finalbody", "handlers", "cases"):
                    for child in value if isinstance(value, list) else [value]:
                        if isinstance(child, ast.AST):
                            _reads(child, bound, local, found)
            # Loop targets and `as` names bind before the body runs.
            if isinstance(statement, (ast.For, ast.AsyncFor)):
                bound |= _target_names(statement.target)
            if isinstance(statement, (ast.With, ast.AsyncWith)):
                for item in statement.items:
                    if item.optional_vars is not None:
                        bound |= _target_names(item.optional_vars)
            branches: list[tuple[list[ast.stmt], set[str]]] = [(body, set()) for body in nested]
            branches += [(h.body, {h.name} if h.name else set()) for h in handlers]
            branches += [(c.body, _target_names(c.pattern)) for c in cases]
            after = set(bound)
            for branch, binds in branches:
                inner = bound | binds
                _scan(branch, inner, local, found)
                after |= inner
            if isinstance(statement, (ast.While, ast.For, ast.AsyncFor)):
                after |= bound_names(statement.body)
            bound.clear()
            bound.update(after)
            continue
        _reads(statement, bound, local, found)
        bound |= bound_names([statement])


def _evaluated_by_definition(statement: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[ast.expr]:
    """The expressions a `def` or `class` statement evaluates in the enclosing scope."""
    if isinstance(statement, ast.ClassDef):
        return [*statement.decorator_list, *statement.bases, *(k.value for k in statement.keywords)]
    arguments = statement.args
    defaults = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
    return [*statement.decorator_list, *defaults]


def _target_names(node: ast.AST) -> set[str]:
    """The names a target or a match pattern binds."""
    names = set()
    for child in walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
            names.add(child.name)
        elif isinstance(child, ast.MatchMapping) and child.rest:
            names.add(child.rest)
    return names


def _reads(node: ast.AST, bound: set[str], local: set[str], found: dict[str, int]) -> None:
    if isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        _reads(node.generators[0].iter, bound, local, found)  # the rest runs in its own scope
        return
    if isinstance(node, ast.NamedExpr):
        _reads(node.value, bound, local, found)
        bound.add(node.target.id)
        return
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        value = node.value
        if value is not None:
            _reads(value, bound, local, found)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            _reads(node.target, bound, local, found)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if not isinstance(target, ast.Name):
                _reads(target, bound, local, found)
        return
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, ast.Load) and node.id in local and node.id not in bound:
            found.setdefault(node.id, node.lineno)
        return
    for child in children(node):
        _reads(child, bound, local, found)
