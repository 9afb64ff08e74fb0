"""The family's one analysis of a file, on the stdlib `ast`: what its values
say about being a DB session (see `family` for the decisions), and which
attributes its classes keep a session in.

The rules and the project index (`facts`) both read it, so a class the
index says stores a session is one ISO201 reports, and the other way round.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

from ...scopes import FUNCTIONS, absolute_name, resolve_relative, statements, walk
from ..ast_context import AstFile, AstRule
from ..ast_helpers import assignment_targets, dotted_name
from .family import (
    AGAINST,
    MAKER_CALLS,
    NONE,
    OPAQUE,
    SESSION,
    SESSION_METHODS,
    UNTYPED,
    Evidence,
    SessionsConfig,
    call_evidence,
    combine,
    declared_over,
    is_session,
    type_evidence,
)

Function = ast.FunctionDef | ast.AsyncFunctionDef
# What binds a name the evidence follows: `x = ...`, `x: T = ...`, `with ... as x`.
Binding = ast.Assign | ast.AnnAssign | ast.withitem
# `contextlib.ExitStack` methods that return what their one argument enters as.
ENTERING_CALLS = ("enter_context", "enter_async_context")
# Values that are literals, so never a session (a Redis `db=0` index).
_LITERALS = (ast.List, ast.Dict, ast.Set, ast.Tuple, ast.JoinedStr)


class SessionEvidence:
    """Evidence for the values of one parsed file, under one configuration."""

    def __init__(
        self,
        tree: ast.Module,
        config: SessionsConfig,
        return_types: SessionsConfig | None = None,
        *,
        module: str = "",
        is_package: bool = False,
    ) -> None:
        self.tree = tree
        self.config = config
        # The file's dotted module name (empty when unknown): relative imports resolve against it.
        self.module = module
        self.is_package = is_package
        # The vocabulary that judges a function's declared return type (ISO204
        # reads calls by factory name alone, but a declared `-> requests.Session`
        # still says the factory makes no DB session).
        self.return_types = return_types or config
        self._bindings: dict[int, dict[str, Binding]] = {}  # id(scope) -> first bindings

    @cached_property
    def imports(self) -> dict[str, str]:
        """Local name -> qualified dotted name, for the module's top-level imports
        (relative ones resolved against the module; where it is unknown, they
        keep their leading dots)."""
        imports: dict[str, str] = {}
        for node in module_statements(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    head = alias.name.partition(".")[0]
                    imports[alias.asname or head] = alias.name if alias.asname else head
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                if node.level and self.module:
                    base = resolve_relative(self.module, self.is_package, node.level, node.module)
                for alias in node.names:
                    joined = f"{base}.{alias.name}" if base and not base.endswith(".") else base + alias.name
                    imports[alias.asname or alias.name] = joined
        return imports

    @cached_property
    def makers(self) -> dict[str, str]:
        """Module-level names bound to a session maker -> "async" or "sync"."""
        makers = {}
        for node in module_statements(self.tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
                last = (dotted_name(node.value.func) or "").rpartition(".")[2]
                if last in MAKER_CALLS:
                    for target in assignment_targets(node):
                        if isinstance(target, ast.Name):
                            makers[target.id] = "async" if last.startswith("async") else "sync"
        return makers

    @cached_property
    def declared_returns(self) -> dict[str, list[ast.expr | None]]:
        """Module-level functions -> the return annotation of each definition
        (None where one has none), for names the module does not also import."""
        found: dict[str, list[ast.expr | None]] = {}
        for node in module_statements(self.tree):
            if isinstance(node, FUNCTIONS):
                found.setdefault(node.name, []).append(node.returns)
        return {name: returns for name, returns in found.items() if name not in self.imports}

    def call_evidence(self, callee: str) -> Evidence:
        """Evidence from a call of `callee`. A factory name is not enough when
        every definition of the function in this module declares a return type
        that is not a DB session (`def get_session() -> aiohttp.ClientSession`)."""
        evidence = call_evidence(callee, self.qualify(callee), self.makers, self.config)
        definitions = self.declared_returns.get(callee, [])
        declared = [returns for returns in definitions if returns is not None]
        if evidence.verdict != SESSION or not declared or len(declared) < len(definitions):
            return evidence
        if all(self.annotation_evidence(returns, self.return_types).verdict == AGAINST for returns in declared):
            return Evidence(AGAINST, f"`{callee}()`, declared to return `{ast.unparse(declared[0])}`")
        return evidence

    def qualify(self, dotted: str) -> str:
        """`dotted` with its first name replaced by what the module imports under it."""
        head, dot, rest = dotted.partition(".")
        full = self.imports.get(head)
        return f"{full}{dot}{rest}" if full else dotted

    def absolute_name(self, dotted: str, module_name: str, is_package: bool) -> str:
        """`dotted` as written in the module `module_name`, as an absolute
        qualified name (imports and relative imports resolved)."""
        if dotted.partition(".")[0] not in self.imports:
            return f"{module_name}.{dotted}" if module_name else dotted
        full = self.qualify(dotted)
        return absolute_name(full, module_name, is_package) if full.startswith(".") else full

    def annotation_evidence(self, annotation: ast.expr, config: SessionsConfig | None = None) -> Evidence:
        names = annotation_names(annotation)
        return type_evidence(names | {self.qualify(name) for name in names}, config or self.config)

    def value_evidence(self, value: ast.expr, function: Function | None, depth: int = 0) -> Evidence:
        """Evidence about `value`, looking up parameters and variables in `function` and the module."""
        if isinstance(value, ast.Await):
            return self.value_evidence(value.value, function, depth)
        if isinstance(value, ast.Call):
            callee = dotted_name(value.func)
            if callee is None:
                return Evidence(UNTYPED, "a call")
            if callee.rpartition(".")[2] in ENTERING_CALLS and len(value.args) == 1 and not value.keywords:
                # `await stack.enter_async_context(ClientSession(...))` is what the argument enters as.
                return self.value_evidence(value.args[0], function, depth)
            return self.call_evidence(callee)
        if isinstance(value, ast.BoolOp):
            return combine([self.value_evidence(operand, function, depth) for operand in value.values])
        if isinstance(value, ast.IfExp):
            return combine(
                [self.value_evidence(value.body, function, depth), self.value_evidence(value.orelse, function, depth)]
            )
        if isinstance(value, ast.Name) and depth < 3:
            return self._name_evidence(value.id, function, depth)
        if is_literal(value):
            return Evidence(AGAINST, "a literal")
        return Evidence(NONE)

    def _name_evidence(self, name: str, function: Function | None, depth: int) -> Evidence:
        if function is not None:
            param = find_param(function, name)
            if param is not None:
                if param.annotation is not None:
                    return self.annotation_evidence(param.annotation)
                default = param_default(function, param)
                if default is not None and is_literal(default):
                    return Evidence(AGAINST, "a parameter with a literal default")
                return Evidence(UNTYPED, f"parameter `{name}`")
            found = self._binding_evidence(function, name, None, depth)
            if found is not None:
                return found
        found = self._binding_evidence(self.tree, name, function, depth)
        return found if found is not None else Evidence(UNTYPED, f"`{name}`")

    def _binding_evidence(
        self, scope: ast.Module | Function, name: str, function: Function | None, depth: int
    ) -> Evidence | None:
        """Evidence from the first binding of `name` (an assignment, an annotation
        or a `with ... as`) directly in `scope`'s statements."""
        binding = self._first_bindings(scope).get(name)
        if isinstance(binding, ast.AnnAssign):
            return self.annotation_evidence(binding.annotation)
        if isinstance(binding, ast.Assign):
            return self.value_evidence(binding.value, function, depth + 1)
        if isinstance(binding, ast.withitem):
            # `async with X(...) as name`: a context manager entered as itself (a session, an HTTP client).
            return self.value_evidence(binding.context_expr, function, depth + 1)
        return None

    def _first_bindings(self, scope: ast.Module | Function) -> dict[str, Binding]:
        """Name -> its first `x = ...` / `x: T` statement or `with ... as x` item in `scope`, computed once per scope."""
        found = self._bindings.get(id(scope))
        if found is None:
            found = {}
            statements = module_statements(scope) if isinstance(scope, ast.Module) else own_statements(scope)
            for statement in statements:
                if isinstance(statement, (ast.With, ast.AsyncWith)):
                    for item in statement.items:
                        if isinstance(item.optional_vars, ast.Name):
                            found.setdefault(item.optional_vars.id, item)
                    continue
                if isinstance(statement, ast.Assign):
                    targets = statement.targets
                elif isinstance(statement, ast.AnnAssign):
                    targets = [statement.target]
                else:
                    continue
                for target in targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, statement)
            self._bindings[id(scope)] = found  # the tree outlives this object: ids stay unique
        return found

    def decide(
        self,
        name: str,
        value: ast.expr,
        function: Function | None,
        annotation: ast.expr | None = None,
        session_use: Callable[[], str | None] = lambda: None,
    ) -> Evidence | None:
        """The evidence that makes `name = value` a DB session, or None when it is not one.
        `session_use` names a session method the code calls on the bound value, if any."""
        evidence = self.value_evidence(value, function)
        if annotation is not None:
            evidence = declared_over(self.annotation_evidence(annotation), evidence)
        used = session_use() if evidence.verdict == OPAQUE else None
        if not is_session(name, evidence, self.config, used_as_session=used is not None):
            return None
        if evidence.verdict == OPAQUE:
            return Evidence(OPAQUE, f"named `{name}`, annotated `Any` and used as one: `.{used}()`")
        if evidence.verdict == UNTYPED:
            return Evidence(UNTYPED, f"named `{name}`")
        return evidence

    # --- sessions kept on instances ---------------------------------------------------

    def session_stores(self, klass: ast.ClassDef) -> list[SessionStore]:
        """Every `self.<attribute> = <session>` in the methods of `klass`, in source order."""
        stores = []
        for method in methods_of(klass):
            receiver = receiver_of(method)
            if receiver is None:
                continue
            for statement in own_statements(method):
                if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or statement.value is None:
                    continue
                annotation = statement.annotation if isinstance(statement, ast.AnnAssign) else None
                for target in assignment_targets(statement):
                    if not (isinstance(target, ast.Attribute) and is_attribute_of(target, receiver)):
                        continue
                    session_use = partial(session_method_called, klass, target.attr)
                    evidence = self.decide(target.attr, statement.value, method, annotation, session_use)
                    if evidence is not None:
                        stores.append(SessionStore(method, statement, target, evidence))
        return stores


@dataclass(frozen=True)
class SessionStore:
    """`self.<attribute> = <session>` in a method."""

    method: Function
    statement: ast.Assign | ast.AnnAssign
    target: ast.Attribute
    evidence: Evidence

    @property
    def attribute(self) -> str:
        return self.target.attr

    @property
    def value(self) -> ast.expr:
        assert self.statement.value is not None  # session_stores keeps assignments only
        return self.statement.value


class SessionRule(AstRule):
    """A rule of the family: its configuration (the family's table and the
    rule's own overrides) and the file's evidence under it."""

    abstract_base = True

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self.config = self.config_of(options)
        self.evidence = SessionEvidence(
            file.tree,
            self.config,
            self.return_types_of(options),
            module=file.module_name,
            is_package=file.is_package,
        )

    @classmethod
    def config_of(cls, options: Mapping[str, Any]) -> SessionsConfig:
        """The rule's configuration from its option values."""
        return SessionsConfig.from_options(options)

    @classmethod
    def return_types_of(cls, options: Mapping[str, Any]) -> SessionsConfig:
        """The vocabulary that judges a called function's declared return type."""
        return cls.config_of(options)


# --- the shapes the analysis reads ----------------------------------------------------


def is_literal(value: ast.expr) -> bool:
    """A literal other than None/True/False/`...` (those say nothing about a type)."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, (str, bytes, int, float, complex)) and not isinstance(value.value, bool)
    return isinstance(value, _LITERALS)


def annotation_names(annotation: ast.expr) -> set[str]:
    """Dotted names in an annotation, through Optional[...], X | None and string quotes;
    a container's own name only (`Mapped[Session]` is a `Mapped`)."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return annotation_names(ast.parse(annotation.value.strip(), mode="eval").body)
        except SyntaxError:
            return set()
    if isinstance(annotation, ast.Subscript):
        outer = dotted_name(annotation.value) or ""
        if outer.rpartition(".")[2] not in ("Optional", "Union", "Annotated"):
            return {outer} if outer else set()  # Mapped[...], list[Session]: the container is the type
        inner = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if outer.endswith("Annotated"):
            inner = inner[:1]
        return set().union(*(annotation_names(element) for element in inner))
    if isinstance(annotation, ast.BinOp):
        return annotation_names(annotation.left) | annotation_names(annotation.right)
    name = dotted_name(annotation)
    return {name} if name else set()


def module_statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements at module level in source order, looking into `if`/`try`
    blocks (TYPE_CHECKING imports, optional dependencies)."""
    pending: list[ast.stmt] = list(reversed(tree.body))
    while pending:
        statement = pending.pop()
        if isinstance(statement, (ast.If, ast.Try)):
            handlers = [s for handler in getattr(statement, "handlers", ()) for s in handler.body]
            blocks = [*statement.body, *handlers, *statement.orelse, *getattr(statement, "finalbody", ())]
            pending.extend(reversed(blocks))
        else:
            yield statement


def own_statements(function: Function) -> Iterator[ast.stmt]:
    """Statements of a function body in source order, not inside nested functions or lambdas."""
    return statements(*function.body, skipping=FUNCTIONS)


def preorder(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and its descendants, each before its children (the first of several matches is the outermost)."""
    pending = [node]
    while pending:
        current = pending.pop()
        yield current
        pending.extend(reversed(list(ast.iter_child_nodes(current))))


def find_param(function: Function, name: str) -> ast.arg | None:
    arguments = function.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if arg.arg == name:
            return arg
    return None


def param_default(function: Function, param: ast.arg) -> ast.expr | None:
    arguments = function.args
    if param in arguments.kwonlyargs:
        return arguments.kw_defaults[arguments.kwonlyargs.index(param)]
    positional = [*arguments.posonlyargs, *arguments.args]
    index = positional.index(param) - (len(positional) - len(arguments.defaults))
    return arguments.defaults[index] if index >= 0 else None


def positional_params(function: Function) -> list[ast.arg]:
    """Positional parameters after `self`."""
    return [*function.args.posonlyargs, *function.args.args][1:]


def is_attribute_of(node: ast.AST, receiver: str | None) -> bool:
    """`<receiver>.<attribute>`."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == receiver


def methods_of(klass: ast.ClassDef) -> list[Function]:
    return [statement for statement in klass.body if isinstance(statement, FUNCTIONS)]


def receiver_of(function: Function) -> str | None:
    """`self` of an instance method (None for static and class methods)."""
    decorators = {dotted_name(decorator) for decorator in function.decorator_list}
    positional = [*function.args.posonlyargs, *function.args.args]
    if decorators & {"staticmethod", "classmethod"} or not positional:
        return None
    return positional[0].arg


def self_reads(method: Function, attribute: str) -> list[ast.Attribute]:
    """`self.<attribute>` loads in `method` (nested functions included), in source order."""
    receiver = receiver_of(method)
    if receiver is None:
        return []
    return [
        node
        for statement in method.body
        for node in preorder(statement)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and node.attr == attribute
        and is_attribute_of(node, receiver)
    ]


def session_method_called(klass: ast.ClassDef, attribute: str) -> str | None:
    """The first session method (`SESSION_METHODS`) a method of `klass` calls on `self.<attribute>`."""
    for method in methods_of(klass):
        receiver = receiver_of(method)
        if receiver is None:  # a static or class method: no `self.<attribute>` to call on
            continue
        for statement in method.body:
            for node in preorder(statement):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SESSION_METHODS
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == attribute
                    and is_attribute_of(node.func.value, receiver)
                ):
                    return node.func.attr
    return None


def owns_session_in_exit(klass: ast.ClassDef, attribute: str) -> bool:
    """A unit of work: `__aenter__`/`__enter__` plus an exit method that closes `self.<attribute>`."""
    methods = {method.name: method for method in methods_of(klass)}
    if not ({"__aenter__", "__enter__"} & set(methods)):
        return False
    for exit_name in ("__aexit__", "__exit__"):
        method = methods.get(exit_name)
        if method is None:
            continue
        for statement in method.body:
            for node in walk(statement):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "close"
                    and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == attribute
                ):
                    return True
    return False


def block_of(file: AstFile, statement: ast.stmt) -> list[ast.stmt] | None:
    """The statement list (a body, `else`, `finally`) that holds `statement`."""
    parent = file.parent(statement)
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and any(sibling is statement for sibling in block):
            return block
    return None


def alone_on_its_lines(statement: ast.stmt, siblings: Sequence[ast.stmt], lines: Sequence[str]) -> bool:
    """`statement` starts its line and shares no line with another statement
    of its block: LibCST holds it as the only statement of an indented line,
    so a fix can remove or move it with its comments."""
    if lines[statement.lineno - 1][: statement.col_offset].strip():
        return False  # after a `:` (`def f(self): self.db = db`) or a `;`
    index = next(i for i, sibling in enumerate(siblings) if sibling is statement)
    before = siblings[index - 1] if index > 0 else None
    after = siblings[index + 1] if index + 1 < len(siblings) else None
    end = statement.end_lineno or statement.lineno
    return (before is None or (before.end_lineno or before.lineno) < statement.lineno) and (
        after is None or after.lineno > end
    )
