"""Telling a database session from other "sessions" (the ISO2xx family).

Names lie in both directions, so a value counts as a DB session by name
*and* type evidence:

- type evidence for: an annotation matching `session-types`, or a call of a
  session factory (`session-factories`, or a module-level name bound to
  `sessionmaker(...)` / `async_sessionmaker(...)`);
- name evidence: the target's name matches `names`;
- evidence against, which always wins: a name matching `exclude-names`; a type
  matching `not-db-types` (HTTP clients, auth/session-info objects); ORM
  attributes (`relationship(...)`, `Mapped[...]`); engines and session makers;
  any other known type (an annotation, a class instantiation, a builtin, a
  literal such as a Redis `db=0` index).

Decision: type evidence alone is enough; a name alone is enough only when the
value is a parameter, variable or call that carries no type information. An
`Any` annotation says nothing either, but someone chose to write it, so there
the name counts only together with use: the class calls a session method on
the stored attribute (`self.db.execute(...)`, `.commit()`, `.query(...)`).

Evidence about parameters and variables comes in two front ends: LibCST for the
rules' visits (`SessionEvidence`) and the stdlib `ast` for the project index
(`class_facts`), both feeding the same string-level decisions.

Index facts (contributed by ISO201 and ISO205, read by both):

- "sessions:class-stores-session" (qualname `module.Class`): the class stores
  a session on `self`. data: `stored` (list of {attribute, parameter, position,
  method}; `parameter`/`position` are null unless the value is a constructor
  parameter; `position` counts positional parameters after `self`), `bases`,
  `init`, `reads`.
- "sessions:class-bases" (qualname `module.Class`): any other class with base
  classes, so subclasses can be followed across files. data: `bases`,
  `init`, `reads`.

`bases` are dotted names resolved through the file's imports (relative ones
keep their leading dots; `resolve_base` finishes them). `init` is null when
the class has no `__init__`, else {positional, kwonly, forwards}, `forwards`
being [parameter, position in `super().__init__(...)` or null, keyword or
null]. `reads` lists [attribute, method, [[parameter, [annotation names], unreliable]...]]
for every `self.<attr>` the class reads but never assigns (inherited state).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, ClassVar

from .._lazy import cst
from ..traversal import children, walk
from ._helpers import (
    alternation,
    dotted_name,
    first_param_name,
    glob_to_bytes_regex,
    matches_patterns,
    word_alternatives,
)
from .base import Option

if TYPE_CHECKING:
    pass

NAMES = Option(
    "names",
    "list[str]",
    ["db", "_db", "session", "_session", "db_session", "*_db_session", "database"],
    "Names (globs) that are enough to call an untyped parameter, variable or call a DB session.",
)
EXCLUDE_NAMES = Option(
    "exclude-names",
    "list[str]",
    ["*session_id", "*session_factory", "*sessionmaker*", "session_prefix", "session_locks"],
    "Names (globs) that are never DB sessions; they win over everything.",
)
SESSION_TYPES = Option(
    "session-types",
    "list[str]",
    [
        "AsyncSession",
        "Session",
        "sqlalchemy.orm.Session",
        "sqlalchemy.ext.asyncio.AsyncSession",
        "scoped_session",
        "async_scoped_session",
    ],
    "Types (globs; dotted ones match the imported, qualified name) whose annotation or construction is a DB session.",
)
SESSION_FACTORIES = Option(
    "session-factories",
    "list[str]",
    ["SessionLocal", "async_session", "AsyncSessionLocal", "get_db_session", "get_session", "*session_factory"],
    "Callables (globs) whose call returns a new DB session, on top of module-level `sessionmaker(...)` names.",
)
NOT_DB_TYPES = Option(
    "not-db-types",
    "list[str]",
    [
        "aiohttp.ClientSession",
        "ClientSession",
        "requests.Session",
        "requests.sessions.Session",
        "httpx.AsyncClient",
        "httpx.Client",
        "*SessionInfo",
        "*SessionData",
        "*AuthSession",
        "UserSession",
    ],
    "Types (globs, as for session-types) that are never DB sessions: HTTP clients, auth/session-info objects.",
)
EVIDENCE_OPTIONS = (NAMES, EXCLUDE_NAMES, SESSION_TYPES, SESSION_FACTORIES, NOT_DB_TYPES)

MAKER_CALLS = ("sessionmaker", "async_sessionmaker")
# Constructors of session *registries*: module-level ones are makers, not live sessions.
REGISTRY_CALLS = ("scoped_session", "async_scoped_session")
# Values that are structurally not sessions: ORM attribute descriptors, engines, makers.
NEVER_SESSION_CALLS = (
    "relationship",
    "backref",
    "mapped_column",
    "Column",
    "column_property",
    "synonym",
    "association_proxy",
    "deferred",
    "*engine*",
    "*Engine*",
    "*sessionmaker*",
    # Calls that build or look up a session *factory* (`get_session_factory()`,
    # `make_factory()`): calling their result makes the session.
    "get_*factory",
    "make_*factory",
    "create_*factory",
    "build_*factory",
    "new_*factory",
    "*_maker",
)
NEVER_SESSION_TYPES = ("Mapped", "*Engine*", "*sessionmaker*", "*Sessionmaker*", "*Factory*", "Callable")
BUILTIN_TYPES = ("int", "str", "float", "bool", "bytes", "dict", "list", "set", "tuple", "frozenset", "object")

SESSION, AGAINST, UNTYPED, NONE = "session", "against", "untyped", "none"
# Annotated `Any`: a name decides only with use as a session (`SESSION_METHODS`).
OPAQUE = "opaque"
OPAQUE_TYPES = frozenset({"Any", "typing.Any", "typing_extensions.Any"})
WRAPPER_TYPES = frozenset({"None", "Optional", "typing.Optional", "Union", "typing.Union"})
# Methods of SQLAlchemy's Session/AsyncSession that dicts, names and most other objects lack.
SESSION_METHODS = frozenset(
    {
        "execute",
        "commit",
        "rollback",
        "flush",
        "query",
        "add",
        "add_all",
        "scalars",
        "scalar",
        "refresh",
        "merge",
        "begin",
        "begin_nested",
        "expunge",
    }
)


def evidence_words(options: Mapping[str, Any]) -> bytes:
    """A regex fragment one of whose words every DB session finding's file contains:
    a session name, a factory, a session type, or a module-level maker."""
    return alternation(evidence_alternatives(options))


def evidence_alternatives(options: Mapping[str, Any]) -> list[bytes]:
    """`evidence_words` as alternatives, for rules that add their own."""
    globs = [
        *options["names"],
        *options["session-factories"],
        *(t.rpartition(".")[2] for t in options["session-types"]),
    ]
    return word_alternatives({glob_to_bytes_regex(glob) for glob in globs} | {b"sessionmaker"}, rb"\b")


@dataclass(frozen=True)
class Evidence:
    """What a value says about being a DB session, and why (for messages)."""

    verdict: str  # SESSION (type evidence), AGAINST, UNTYPED (a name may decide), NONE (a name may not)
    reason: str = ""


def _type_matches(dotted: Iterable[str], patterns: Sequence[str]) -> bool:
    for name in dotted:
        for pattern in patterns:
            subject = name if "." in pattern else name.rpartition(".")[2]
            if fnmatchcase(subject, pattern):
                return True
    return False


def type_evidence(type_names: set[str], options: Mapping[str, Any]) -> Evidence:
    """Evidence from the names a type annotation mentions (qualified and as written)."""
    if not type_names or type_names <= WRAPPER_TYPES:
        return Evidence(NONE)
    if type_names - WRAPPER_TYPES <= OPAQUE_TYPES:
        return Evidence(OPAQUE, "annotated `Any`")
    shown = min(type_names, key=len)
    if _type_matches(type_names, options["not-db-types"]) or _type_matches(type_names, NEVER_SESSION_TYPES):
        return Evidence(AGAINST, f"annotated `{shown}`")
    if _type_matches(type_names, options["session-types"]):
        session_type = next(n for n in sorted(type_names, key=len) if _type_matches([n], options["session-types"]))
        return Evidence(SESSION, f"annotated `{session_type}`")
    return Evidence(AGAINST, f"annotated `{shown}`")  # a known type that is not a session


def call_evidence(callee: str, qualified: str, makers: Mapping[str, str], options: Mapping[str, Any]) -> Evidence:
    """Evidence from a call's callee (`SessionLocal`, `aiohttp.ClientSession`, `get_db`)."""
    names = {callee, qualified}
    owner, _, last = callee.rpartition(".")
    if owner.rpartition(".")[2][:1].isupper():  # `UserSession.from_token(...)`: the class tells
        names |= {owner, qualified.rpartition(".")[0]}
    if _type_matches(names, options["not-db-types"]) or matches_patterns(last, NEVER_SESSION_CALLS):
        return Evidence(AGAINST, f"`{callee}(...)`")
    if callee in makers or matches_patterns(last, options["session-factories"]):
        return Evidence(SESSION, f"created by `{callee}()`")
    if _type_matches(names, options["session-types"]):
        return Evidence(SESSION, f"a `{callee}`")
    if last in BUILTIN_TYPES or last[:1].isupper():
        return Evidence(AGAINST, f"a `{callee}`")  # constructing some other known class
    return Evidence(UNTYPED, f"`{callee}(...)`")


def is_session(name: str, evidence: Evidence, options: Mapping[str, Any], used_as_session: bool = False) -> bool:
    """The family's decision for a value bound to `name`; `used_as_session`:
    the code calls session methods on it (what an `Any` annotation needs)."""
    if matches_patterns(name, options["exclude-names"]) or evidence.verdict == AGAINST:
        return False
    if evidence.verdict == SESSION:
        return True
    if evidence.verdict == OPAQUE and not used_as_session:
        return False
    return evidence.verdict in (UNTYPED, OPAQUE) and matches_patterns(name, options["names"])


def declared_over(declared: Evidence, value: Evidence) -> Evidence:
    """What `x: T = value` says: the annotation wins, except that evidence
    against in the value still counts, and an `Any` annotation adds nothing
    to a value that has type evidence of its own."""
    if declared.verdict == NONE or (declared.verdict == OPAQUE and value.verdict in (SESSION, AGAINST)):
        return value
    return combine([declared, value]) if value.verdict == AGAINST else declared


def combine(evidences: Sequence[Evidence]) -> Evidence:
    """`a or b`, `a if c else b`: any evidence against wins, then any type evidence."""
    for verdict in (AGAINST, SESSION, UNTYPED, OPAQUE):
        for evidence in evidences:
            if evidence.verdict == verdict:
                return evidence
    return Evidence(NONE)


# --- LibCST front end ----------------------------------------------------------

_LITERALS = (
    "Integer",
    "Float",
    "Imaginary",
    "SimpleString",
    "ConcatenatedString",
    "FormattedString",
    "List",
    "Dict",
    "Set",
    "Tuple",
)


class EvidenceRule:
    """Mixin for session rules that decide by the evidence options alone:
    their prefilter is the evidence words, and each file gets its evidence."""

    prefilter = re.compile(rb"(?!)")  # built from the evidence options by compile_prefilter
    options: ClassVar[tuple[Option, ...]] = EVIDENCE_OPTIONS

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A session name, factory, type or maker: every finding needs one of them.
        return re.compile(evidence_words(settings.options_for(cls)))

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)  # type: ignore[call-arg]
        self.evidence = SessionEvidence(file.module, options)


class SessionEvidence:
    """Evidence for values in one parsed file."""

    def __init__(self, module: cst.Module, options: Mapping[str, Any]) -> None:
        self.module = module
        self.options = options
        self._imports: dict[str, str] | None = None
        self._makers: dict[str, str] | None = None
        self._scopes: dict[int, dict[str, Any]] = {}  # id(scope node) -> bindings; the tree outlives this object

    @property
    def imports(self) -> dict[str, str]:
        """Local name -> qualified dotted name, for the module's top-level imports."""
        if self._imports is None:
            self._imports = {}
            for statement in _top_level_smalls(self.module):
                if isinstance(statement, cst.Import):
                    for alias in statement.names:
                        full = dotted_name(alias.name) or ""
                        local = alias.asname.name.value if alias.asname else full.partition(".")[0]
                        self._imports[local] = full if alias.asname else local
                elif isinstance(statement, cst.ImportFrom) and not isinstance(statement.names, cst.ImportStar):
                    base = "." * len(statement.relative) + (
                        dotted_name(statement.module) or "" if statement.module else ""
                    )
                    for alias in statement.names:
                        name = dotted_name(alias.name) or ""
                        local = alias.asname.name.value if alias.asname else name
                        self._imports[local] = f"{base}.{name}" if base and not base.endswith(".") else base + name
        return self._imports

    @property
    def makers(self) -> dict[str, str]:
        """Module-level names bound to a session maker -> "async" or "sync"."""
        if self._makers is None:
            self._makers = {}
            for statement in _top_level_smalls(self.module):
                if isinstance(statement, (cst.Assign, cst.AnnAssign)) and isinstance(statement.value, cst.Call):
                    callee = dotted_name(statement.value.func) or ""
                    last = callee.rpartition(".")[2]
                    if last in MAKER_CALLS:
                        targets = (
                            [t.target for t in statement.targets]
                            if isinstance(statement, cst.Assign)
                            else [statement.target]
                        )
                        for target in targets:
                            if isinstance(target, cst.Name):
                                self._makers[target.value] = "async" if last.startswith("async") else "sync"
        return self._makers

    def qualify(self, dotted: str) -> str:
        head, dot, rest = dotted.partition(".")
        full = self.imports.get(head)
        return f"{full}{dot}{rest}" if full else dotted

    def annotation_evidence(self, annotation: cst.BaseExpression) -> Evidence:
        names = set()
        for name in _annotation_names(annotation):
            names |= {name, self.qualify(name)}
        return type_evidence(names, self.options)

    def value_evidence(self, value: cst.BaseExpression, function: cst.FunctionDef | None, depth: int = 0) -> Evidence:
        """Evidence about `value`, looking up parameters and variables in `function` and the module."""
        if isinstance(value, cst.Await):
            return self.value_evidence(value.expression, function, depth)
        if isinstance(value, cst.Call):
            callee = dotted_name(value.func)
            if callee is None:
                return Evidence(UNTYPED, "a call")
            return call_evidence(callee, self.qualify(callee), self.makers, self.options)
        if isinstance(value, cst.BooleanOperation):
            return combine(
                [self.value_evidence(value.left, function, depth), self.value_evidence(value.right, function, depth)]
            )
        if isinstance(value, cst.IfExp):
            return combine(
                [self.value_evidence(value.body, function, depth), self.value_evidence(value.orelse, function, depth)]
            )
        if isinstance(value, cst.Name) and value.value not in ("None", "True", "False") and depth < 3:
            return self._name_evidence(value.value, function, depth)
        if type(value).__name__ in _LITERALS:
            return Evidence(AGAINST, "a literal")
        return Evidence(NONE)

    def _name_evidence(self, name: str, function: cst.FunctionDef | None, depth: int) -> Evidence:
        if function is not None:
            param = find_param(function, name)
            if param is not None:
                if param.annotation is not None:
                    return self.annotation_evidence(param.annotation.annotation)
                if param.default is not None and type(param.default).__name__ in _LITERALS:
                    return Evidence(AGAINST, "a parameter with a literal default")
                return Evidence(UNTYPED, f"parameter `{name}`")
            found = self._binding_evidence(function.body, name, None, depth)
            if found is not None:
                return found
        found = self._binding_evidence(self.module, name, function, depth)
        return found if found is not None else Evidence(UNTYPED, f"`{name}`")

    def _binding_evidence(self, scope: cst.CSTNode, name: str, function: Any, depth: int) -> Evidence | None:
        """Evidence from the first annotated or assigned binding of `name` directly in `scope`'s statements."""
        statement = self._bindings(scope).get(name)
        if isinstance(statement, cst.AnnAssign):
            return self.annotation_evidence(statement.annotation.annotation)
        if isinstance(statement, cst.Assign):
            return self.value_evidence(statement.value, function, depth + 1)
        return None

    def _bindings(self, scope: cst.CSTNode) -> dict[str, cst.BaseSmallStatement]:
        """Name -> its first `x = ...` / `x: T` statement in `scope`, computed once per scope."""
        found = self._scopes.get(id(scope))
        if found is None:
            found = {}
            statements = _top_level_smalls(scope) if isinstance(scope, cst.Module) else _function_smalls(scope)
            for statement in statements:
                targets = (
                    [statement.target]
                    if isinstance(statement, cst.AnnAssign)
                    else [t.target for t in statement.targets]
                    if isinstance(statement, cst.Assign)
                    else []
                )
                for target in targets:
                    if isinstance(target, cst.Name):
                        found.setdefault(target.value, statement)
            self._scopes[id(scope)] = found
        return found

    def decide(
        self,
        name: str,
        value: cst.BaseExpression,
        function: cst.FunctionDef | None,
        annotation: Any = None,
        session_use: Callable[[], str | None] = lambda: None,
    ) -> Evidence | None:
        """The evidence that makes `name = value` a DB session, or None when it is not one.
        `session_use` names a session method the code calls on the bound value, if any."""
        evidence = self.value_evidence(value, function)
        if annotation is not None:
            evidence = declared_over(self.annotation_evidence(annotation.annotation), evidence)
        used = session_use() if evidence.verdict == OPAQUE else None
        if not is_session(name, evidence, self.options, used_as_session=used is not None):
            return None
        if evidence.verdict == OPAQUE:
            return Evidence(OPAQUE, f"named `{name}`, annotated `Any` and used as one: `.{used}()`")
        if evidence.verdict == UNTYPED:
            return Evidence(UNTYPED, f"named `{name}`")
        return evidence


def absolute_name(file: Any, evidence: SessionEvidence, dotted: str) -> str:
    """`dotted` as written in `file`, as an absolute qualified name (imports and relative imports resolved)."""
    if dotted.partition(".")[0] not in evidence.imports:
        return f"{file.module_name}.{dotted}" if file.module_name else dotted
    full = evidence.qualify(dotted)
    if not full.startswith("."):
        return full
    level = len(full) - len(full.lstrip("."))
    package = file.module_name.split(".") if file.module_name else []
    if not file.is_package:
        package = package[:-1]
    package = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*package, full.lstrip(".")])


def _is_name(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _top_level_smalls(module: cst.Module) -> Iterator[cst.BaseSmallStatement]:
    """Small statements at module level, looking into `if`/`try` blocks (TYPE_CHECKING imports)."""
    stack = list(reversed(module.body))
    while stack:
        statement = stack.pop()
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
        elif isinstance(statement, (cst.If, cst.Try)):
            blocks = [statement.body]
            if isinstance(statement, cst.If) and isinstance(statement.orelse, cst.Else):
                blocks.append(statement.orelse.body)
            stack.extend(reversed([s for block in blocks for s in block.body]))


def _function_smalls(block: cst.CSTNode) -> Iterator[cst.BaseSmallStatement]:
    """Small statements of a function body, not descending into nested functions or classes."""
    stack = [block]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.SimpleStatementLine):
            yield from node.body
            continue
        stack.extend(reversed(children(node)))


def _annotation_names(annotation: cst.BaseExpression) -> set[str]:
    """Dotted names in an annotation, through Optional[...], X | None and string quotes."""
    if isinstance(annotation, cst.SimpleString):
        inner = annotation.evaluated_value
        try:
            return _annotation_names(cst.parse_expression(inner)) if isinstance(inner, str) else set()
        except cst.ParserSyntaxError:
            return set()
    if isinstance(annotation, cst.Subscript):
        outer = dotted_name(annotation.value) or ""
        if outer.rpartition(".")[2] not in ("Optional", "Union", "Annotated"):
            return {outer} if outer else set()  # Mapped[...], list[Session]: the container is the type
        names: set[str] = set()
        for element in annotation.slice:
            if isinstance(element.slice, cst.Index):
                names |= _annotation_names(element.slice.value)
            if outer.endswith("Annotated"):
                break
        return names
    if isinstance(annotation, cst.BinaryOperation):
        return _annotation_names(annotation.left) | _annotation_names(annotation.right)
    name = dotted_name(annotation)
    return {name} if name else set()


def find_param(function: cst.FunctionDef, name: str) -> cst.Param | None:
    params = function.params
    for param in [*params.posonly_params, *params.params, *params.kwonly_params]:
        if param.name.value == name:
            return param
    return None


def is_method(function: cst.FunctionDef, ancestors: Sequence[cst.CSTNode]) -> cst.ClassDef | None:
    """The class whose body defines `function` (an instance method), else None."""
    index = list(ancestors).index(function) if function in ancestors else len(ancestors)
    owner = ancestors[index - 2] if index >= 2 else None
    if isinstance(owner, cst.ClassDef) and receiver_of(function):
        return owner
    return None


def receiver_of(function: cst.FunctionDef) -> str | None:
    """`self` of an instance method (None for static and class methods)."""
    decorators = {dotted_name(d.decorator) for d in function.decorators}
    if decorators & {"staticmethod", "classmethod"}:
        return None
    return first_param_name(function)


def methods_of(klass: cst.ClassDef) -> list[cst.FunctionDef]:
    return [s for s in klass.body.body if isinstance(s, cst.FunctionDef)]


def self_reads(method: cst.FunctionDef, attribute: str) -> list[cst.Attribute]:
    """`self.<attribute>` nodes in `method` that are not assignment or `del` targets."""
    receiver = receiver_of(method)
    if receiver is None:
        return []
    stored: set[int] = set()  # ids of the target nodes
    reads: list[cst.Attribute] = []
    for node in walk(method.body):
        if isinstance(node, cst.Assign):
            stored.update(id(t.target) for t in node.targets)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.Del)):
            stored.add(id(node.target))
        elif isinstance(node, cst.Attribute) and node.attr.value == attribute and _is_name(node.value, receiver):
            reads.append(node)
    return [node for node in reads if id(node) not in stored]


def session_method_called(klass: cst.ClassDef, attribute: str) -> str | None:
    """The first session method (`SESSION_METHODS`) a method of `klass` calls on `self.<attribute>`."""
    for method in methods_of(klass):
        receiver = receiver_of(method)
        if receiver is None:  # a static or class method: no `self.<attribute>` to call on
            continue
        for node in walk(method.body):
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value in SESSION_METHODS
                and isinstance(node.func.value, cst.Attribute)
                and node.func.value.attr.value == attribute
                and _is_name(node.func.value.value, receiver)
            ):
                return node.func.attr.value
    return None


def owns_session_in_exit(klass: cst.ClassDef, attribute: str) -> bool:
    """A unit of work: `__aenter__`/`__enter__` plus an exit method that closes `self.<attribute>`."""
    methods = {m.name.value: m for m in methods_of(klass)}
    if not ({"__aenter__", "__enter__"} & set(methods)):
        return False
    for exit_name in ("__aexit__", "__exit__"):
        method = methods.get(exit_name)
        if method is None:
            continue
        for node in walk(method.body):
            if (
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "close"
                and isinstance(node.func.value, cst.Attribute)
                and node.func.value.attr.value == attribute
            ):
                return True
    return False


def rewrite(
    module: cst.Module, replacements: Mapping[cst.CSTNode, cst.CSTNode], block_edits: Mapping[cst.CSTNode, Any]
) -> cst.Module:
    """Replace nodes (by identity in `module`) and edit blocks: `block_edits[block](original, updated)`."""

    class Rewriter(cst.CSTTransformer):
        def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> Any:
            if original in block_edits:
                return block_edits[original](original, updated)
            return replacements.get(original, updated)

    return module.visit(Rewriter())


def comment_line(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(indent=True, whitespace=cst.SimpleWhitespace(""), comment=cst.Comment(f"# {text}"))


def remove_statement(
    original: cst.IndentedBlock, updated: cst.IndentedBlock, line: cst.CSTNode, comment: str | None
) -> cst.IndentedBlock:
    """`updated` without the statement that was `line` in `original`, leaving `comment` in its place."""
    index = list(original.body).index(line)
    body = list(updated.body)
    removed = body.pop(index)
    note = [comment_line(comment)] if comment else []
    kept_lines = [line for line in removed.leading_lines if line.comment is not None]
    if index < len(body):
        following = body[index]
        body[index] = following.with_changes(leading_lines=[*kept_lines, *note, *following.leading_lines])
        return updated.with_changes(body=body)
    if body:
        return updated.with_changes(body=body, footer=[*kept_lines, *note, *updated.footer])
    return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()], leading_lines=[*kept_lines, *note])])
