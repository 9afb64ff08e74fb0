"""What every rule declares, and the per-file context a rule reports through.

A rule is a class in its own module (`rules/isoNNN_<name>.py`) holding its
metadata, its detector (LibCST `visit_<Node>` / `leave_<Node>` methods) and
its fix. The engine instantiates the enabled rules once per parsed file and
drives them all in one batched visit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..findings import FIX_SAFETIES, NO_FIX, SAFE, UNSAFE
from ..scopes import absolute_names, names_after_as

if TYPE_CHECKING:
    import ast

    import libcst as cst

    from ..config import Settings
    from ..cst_view import CstView
    from ..index import ProjectIndex
    from ..prefilters import TextFilter

# A LibCST node class; a string, since LibCST is imported only once a file is parsed.
NodeT = TypeVar("NodeT", bound="cst.CSTNode")

FAMILIES = {
    "core": "Files isolint could not check, and suppression comments (ISO0xx)",
    "singletons": "Process-wide singletons and registries (ISO1xx)",
    "sessions": "Database sessions outside request scope (ISO2xx)",
    "websockets": "Global WebSocket managers (ISO3xx)",
    "legacy-state": "DeepAgentState instead of UserExecutionContext (ISO4xx)",
}

OPTION_KINDS = ("bool", "int", "str", "list[str]", "dict[str,str]", "dict[str,list[str]]")


@dataclass(frozen=True)
class Option:
    """A setting a rule reads from `[tool.isolint.rules.<code or name>]`."""

    name: str
    kind: str
    default: Any
    doc: str

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")


@dataclass
class FixSpec:
    """A fix as a rule describes it: node replacements and/or a module transform.

    The engine turns it into text edits after the visit, and drops it if it
    changes nothing, when the run applies or shows edits; a plain `check`
    records only its message and applicability.
    """

    message: str
    applicability: str = SAFE
    replace: Mapping[Any, Any] = field(default_factory=dict)
    transform: Callable[[cst.Module], cst.Module] | None = None
    isolation: str | None = None  # e.g. "imports": one change of the group per pass (fixes.apply_fixes)
    # An `AstRule`'s fix: its replacements and transform, built from a LibCST
    # view of the file only when the run applies or shows edits. It raises
    # LookupError when the view lacks a node it needs; the fix is then dropped.
    build: Callable[[CstView], CstEdit] | None = None

    def __post_init__(self) -> None:
        if self.applicability not in (SAFE, UNSAFE):
            raise ValueError(f"fix applicability must be safe or unsafe, not {self.applicability!r}")


@dataclass(frozen=True)
class CstEdit:
    """What an `AstRule`'s `FixSpec.build` returns: LibCST node replacements
    (nodes of the view it was given) and/or a module transform."""

    replace: Mapping[Any, Any] = field(default_factory=dict)
    transform: Callable[[cst.Module], cst.Module] | None = None


@dataclass
class Report:
    rule: type[Rule]
    node: Any
    message: str
    fix: FixSpec | None
    manual: str | None
    statement: Any = None  # the top-level statement being visited when it was reported


class CheckedFile:
    """What every rule may know about the file being checked, whichever tree it visits."""

    def __init__(
        self,
        path: str,
        source: str,
        settings: Settings,
        *,
        module_name: str = "",
        is_package: bool = False,
        project: ProjectIndex | None = None,
    ):
        from ..index import EMPTY

        self.path = path
        self.source = source
        self.settings = settings
        self.module_name = module_name  # dotted name from the packages around the file; "" if unknown
        self.is_package = is_package  # an __init__.py
        self.project = project if project is not None else EMPTY
        self.reports: list[Report] = []
        self._as_names: frozenset[str] | None = None

    @property
    def as_names(self) -> frozenset[str]:
        """Every identifier following `as` in the source (`scopes.names_after_as`)."""
        if self._as_names is None:
            self._as_names = names_after_as(self.source)
        return self._as_names


class FileContext(CheckedFile):
    """What a rule on LibCST may know about the file being checked."""

    def __init__(
        self,
        path: str,
        source: str,
        module: cst.Module,
        settings: Settings,
        *,
        module_name: str = "",
        is_package: bool = False,
        project: ProjectIndex | None = None,
    ):
        super().__init__(path, source, settings, module_name=module_name, is_package=is_package, project=project)
        self.module = module
        self.ancestors: list[cst.CSTNode] = []  # strict ancestors of the node being visited
        self.statement: cst.CSTNode | None = None  # the top-level statement being visited
        self._names: Any = None  # names.NameResolver, built on the first qualified_names call
        self._parents: dict[int, Any] | None = None

    @property
    def names(self) -> Any:
        """The file's `names.NameResolver`: qualified names, bindings and their readers."""
        if self._names is None:
            from ..names import NameResolver

            self._names = NameResolver(self.module, lambda: self.parents)
        return self._names

    @property
    def parents(self) -> dict[int, Any]:
        """id(node) -> parent for the whole module, built on first use and shared
        (name resolution, fixes)."""
        if self._parents is None:
            from ..traversal import parent_map

            self._parents = parent_map(self.module)
        return self._parents

    @property
    def node_count(self) -> None:
        """A rule on LibCST has no `ast` tree to count (see `engine.EditTarget`)."""
        return None

    def qualified_names(self, node: cst.CSTNode) -> set[str]:
        """Absolute dotted names `node` may refer to, with relative imports and
        this module's own definitions resolved (`chatapp.registry.AgentRegistry`)."""
        return absolute_names(self.names.qualified_names(node), self.module_name, self.is_package)

    def may_be_named(self, node: cst.CSTNode, names: Iterable[str]) -> bool:
        """False when no qualified name of `node` can end in one of `names`:
        a cheap test before `qualified_names`, whose first call costs a scope
        pass. A qualified name ends in the node's own spelling (`b` for
        `a.b`) unless the node is a bare name bound with `as`."""
        from .._lazy import cst

        if isinstance(node, cst.Attribute):
            return node.attr.value in names
        if isinstance(node, cst.Name):
            return node.value in names or node.value in self.as_names
        return True  # anything else: only resolving tells

    def enclosing(self, *node_types: type[NodeT]) -> NodeT | None:
        """The nearest ancestor of one of `node_types`, or None."""
        for node in reversed(self.ancestors):
            if isinstance(node, node_types):
                return node
        return None


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    family: ClassVar[str]
    summary: ClassVar[str]
    fix_safety: ClassVar[str] = NO_FIX  # the most a fix of this rule can be
    prefilter: ClassVar[re.Pattern[bytes]]  # files whose bytes don't match are never parsed
    options: ClassVar[tuple[Option, ...]] = ()
    # Cross-file rules: facts this rule contributes to the project index...
    index_prefilter: ClassVar[TextFilter | None] = None
    # ...and the kinds of facts its findings depend on: all it sees of
    # `self.file.project`, so a file's cached results follow only those.
    reads_facts: ClassVar[tuple[str, ...]] = ()
    # Fixes that take a parameter annotated with the context class as proof
    # that its value is a context. `isolint fix` applies them only where the
    # original text offered them, never because another fix of the same run
    # annotated something with the context class.
    trusts_context_annotations: ClassVar[bool] = False
    # The same rule with fixes that keep a changed contract compatible (a
    # widened signature instead of a new one). When the verification gate
    # refuses this rule's fixes in a file, `isolint fix` tries the fallback's
    # there before refusing the rule outright.
    fallback: ClassVar[type[Rule] | None] = None
    file: FileContext  # what the rule is checking (an AstRule narrows it to an AstFile)
    # What the detector visits: "cst" (LibCST nodes, `FileContext`) or "ast"
    # (stdlib nodes, `ast_context.AstFile`; see `ast_context.AstRule`).
    syntax: ClassVar[str] = "cst"

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        """The prefilter for these settings and this project index; rules whose
        prefilter depends on an option or on indexed names override this. It
        must be a necessary condition for a finding: a file it rejects is
        never parsed. A compiled pattern, or several combined (prefilters.py:
        `AllOf` for words that must all occur, which one pattern states only slowly)."""
        return cls.prefilter

    @classmethod
    def compile_index_prefilter(cls, settings: Settings) -> TextFilter | None:
        """Which files `index` must see, for these settings (default: the
        class's `index_prefilter`). A necessary condition for any fact."""
        return cls.index_prefilter

    @classmethod
    def index(cls, tree: ast.Module, settings: Settings) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        """Facts for the project index from a stdlib `ast` tree of a file that
        matched the index prefilter: (kind, name within the module such as
        `AgentRegistry` or `AgentRegistry.get_instance`, line, JSON-safe data).
        Indexers run for every registered rule, enabled or not, so a rule can
        rely on its family's facts; read options with `settings.options_for(cls)`."""
        return ()

    @classmethod
    def index_source(
        cls, tree: ast.Module, raw: bytes, settings: Settings
    ) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        """`index`, for an indexer that also needs what `ast` drops (comments):
        `raw` is the file's bytes."""
        return cls.index(tree, settings)

    @classmethod
    def index_module(
        cls, tree: ast.Module, raw: bytes, settings: Settings, module: str, is_package: bool
    ) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        """`index_source`, for an indexer that also needs the file's module:
        its dotted name (empty when unknown) and whether it is a package's
        `__init__`, which relative imports resolve against. The index calls this one."""
        return cls.index_source(tree, raw, settings)

    def __init__(self, file: Any, options: Mapping[str, Any]) -> None:
        # `file`: a FileContext, or an AstFile for an AstRule (which narrows `self.file`).
        self.file = file
        # This rule's option values, by name; `options` on the class declares them.
        # Any: each value's type is its Option's `kind`, known only at run time.
        self.option_values: Mapping[str, Any] = options
        # Plugins read the values as `self.options[...]`, shadowing the class's
        # declarations on the instance: kept for them until a typed per-family
        # configuration replaces both (issue 19, item 4).
        self.options = options  # type: ignore[misc,assignment]
        self.settings = file.settings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract_base"):
            return  # a base for rules (AstRule), not a rule
        if not re.fullmatch(r"ISO\d{3}", cls.code):
            raise ValueError(f"{cls.__name__}: bad rule code {cls.code!r}")
        if not re.fullmatch(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*", cls.name):
            raise ValueError(f"{cls.__name__}: rule names are kebab-case, not {cls.name!r}")
        if cls.family not in FAMILIES or cls.fix_safety not in FIX_SAFETIES:
            raise ValueError(f"{cls.__name__}: bad family or fix safety")

    def report(
        self,
        node: cst.CSTNode | ast.AST,  # an AstRule reports `ast` nodes
        message: str,
        *,
        fix: FixSpec | None = None,
        manual: str | None = None,
    ) -> None:
        if fix is not None and (self.fix_safety == NO_FIX or (fix.applicability == UNSAFE and self.fix_safety == SAFE)):
            raise AssertionError(
                f"{self.code} declared fix safety {self.fix_safety!r} but offered a {fix.applicability} fix"
            )
        self.file.reports.append(Report(type(self), node, message, fix, manual, self.file.statement))
