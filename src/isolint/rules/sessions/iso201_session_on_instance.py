"""ISO201 session-on-instance: a database session stored on `self`.

Two kinds of finding, both fixed by moving reads to the request context:

- the assignment `self.<attr> = <session>` in any method of a class;
- in a subclass (this file or another, via the project index), reads of a
  `self.<attr>` that an ancestor stores as a session, when the subclass has
  methods receiving a request context.

Index facts: "sessions:class-stores-session" and "sessions:class-bases" (see
`facts`), the family's vocabulary rather than this rule's: ISO205 reads them too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from ..._lazy import cst
from ...findings import UNSAFE
from ...index import RENAME
from ...scopes import children, walk
from .._helpers import alternation, word_alternatives
from ..ast_helpers import assignment_targets, context_param, dotted_name
from ..base import CstEdit, FixSpec
from .evidence import (
    Function,
    SessionEvidence,
    SessionRule,
    SessionStore,
    alone_on_its_lines,
    block_of,
    find_param,
    is_attribute_of,
    methods_of,
    owns_session_in_exit,
    param_default,
    receiver_of,
    self_reads,
)
from .facts import CLASS_KINDS, IndexFact, ancestors, class_facts, descendants, inherited_store, renamed_classes
from .family import EVIDENCE_OPTIONS, SessionsConfig, evidence_alternatives

if TYPE_CHECKING:
    from ...config import Settings
    from ...cst_view import CstView
    from ...index import ProjectIndex
    from ..ast_context import AstFile

# `self.<attr>` reads to rewrite, each with the name of its method's context parameter.
ContextReads = list[tuple[ast.Attribute, str]]


@dataclass
class _Reads:
    """The reads of one attribute in one class, as the fix sees them."""

    to_context: ContextReads  # in methods receiving a usable request context
    rewritten: list[str]  # those methods, for the fix's message
    remaining: list[str]  # reads the fix cannot move, for the manual hint


class SessionOnInstance(SessionRule):
    code = "ISO201"
    name = "session-on-instance"
    family = "sessions"
    summary = "A database session is stored on `self`, so every request using the object shares it"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    prefilter = re.compile(rb"(?!)")  # built from the options and the index by compile_prefilter
    reads_facts = (*CLASS_KINDS, RENAME)
    options = EVIDENCE_OPTIONS

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> re.Pattern[bytes]:
        # A session word (name, factory, type, maker), or the name of an indexed
        # class that stores a session (a subclass reading it).
        names = project.names("sessions:class-stores-session")
        storing = word_alternatives(
            (re.escape(n.encode()) for n in sorted(names | renamed_classes(project, names))), rb"\b"
        )
        return re.compile(alternation(evidence_alternatives(SessionsConfig.for_rule(settings, cls)), storing))

    @classmethod
    def compile_index_prefilter(cls, settings: Settings) -> re.Pattern[bytes]:
        # Facts exist for classes with bases and for classes storing a session,
        # which takes a session word, as this rule's own finding there does.
        return re.compile(
            alternation(
                [rb"class(?<!\wclass)\s+[^\s:(]+\s*\("], evidence_alternatives(SessionsConfig.for_family(settings))
            )
        )

    @classmethod
    def index_module(
        cls, tree: ast.Module, raw: bytes, settings: Settings, module: str, is_package: bool
    ) -> Iterable[IndexFact]:
        # The family's vocabulary, not this rule's: ISO205 reads these facts too.
        evidence = SessionEvidence(tree, SessionsConfig.for_family(settings), module=module, is_package=is_package)
        return class_facts(evidence)

    def __init__(self, file: AstFile, options: Mapping[str, Any]) -> None:
        super().__init__(file, options)
        self._outside_reads: frozenset[str] | None = None  # see _attributes_read_outside_classes

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for store in self.evidence.session_stores(node):
            if not owns_session_in_exit(node, store.attribute):
                self._report_store(node, store)
        if node.bases:
            self._report_inherited_reads(node)

    # --- the assignment --------------------------------------------------------

    def _report_store(self, klass: ast.ClassDef, store: SessionStore) -> None:
        attribute, statement = store.attribute, store.statement
        reads = self._reads(klass, attribute)
        remaining = _unique(reads.remaining + self._uses_elsewhere(klass, attribute))
        block = block_of(self.file, statement)
        removed = None
        if (
            not remaining
            and len(assignment_targets(statement)) == 1
            and block is not None
            and alone_on_its_lines(statement, block, self.file.lines)
        ):
            parameter = _constructor_parameter(store)
            comment = (
                f"`{parameter}` is unused: methods read the request context's `db_session` instead (ISO201)"
                if parameter
                else None
            )
            removed = (statement, comment)
        fix = None
        if reads.to_context or removed:
            steps = []
            if reads.rewritten:
                steps.append(f"read the context's `db_session` in {', '.join(reads.rewritten)}")
            if removed:
                steps.append(f"stop storing `self.{attribute}`")
            fix = FixSpec(
                "Use the request context's session: " + "; ".join(steps),
                UNSAFE,
                build=partial(_build_edit, reads.to_context, removed),
            )
        self.report(
            store.target,
            f"`self.{attribute}` keeps a database session ({store.evidence.reason}) on `{klass.name}`; every request "
            "that reaches this object shares its transaction",
            fix=fix,
            manual=_manual(attribute, remaining),
        )

    def _reads(self, klass: ast.ClassDef, attribute: str) -> _Reads:
        """`self.<attribute>` reads in methods receiving a context, and the methods left over."""
        reads = _Reads([], [], [])
        for method in methods_of(klass):
            found = self_reads(method, attribute)
            if not found:
                continue
            context = _usable_context(method, self.settings)
            if context is None:
                reads.remaining.append(f"`{klass.name}.{method.name}`")
                continue
            reads.rewritten.append(f"`{method.name}`")
            reads.to_context.extend((read, context) for read in found)
        return reads

    def _attributes_read_outside_classes(self) -> frozenset[str]:
        """Every `<something but self>.<attribute>` outside the module's
        classes, read once per file. A dotted import path's later parts
        (`from app.db import ...`) count too: conservative, and what the
        LibCST version of this rule, which saw such paths as attributes, did."""
        if self._outside_reads is None:
            self._outside_reads = frozenset(
                name for node in _outside_classes(self.file.tree) for name in _attributes_read(node)
            )
        return self._outside_reads

    def _uses_elsewhere(self, klass: ast.ClassDef, attribute: str) -> list[str]:
        """Reads that rewriting this class cannot reach: other objects' `.attr` here, subclasses' methods without a context."""
        remaining = []
        if attribute in self._attributes_read_outside_classes():
            remaining.append(f"`.{attribute}` read outside the class in this module")
        qualname = f"{self.file.module_name}.{klass.name}" if self.file.module_name else klass.name
        for fact in descendants(self.file.project, qualname):
            for read_attribute, method, params in fact.data["reads"]:
                if read_attribute == attribute and not self._receives_context(params):
                    remaining.append(f"`{fact.name}.{method}` ({fact.path})")
        return remaining

    def _receives_context(self, params: list[list[Any]]) -> bool:
        """`_usable_context` for a method known only from the index."""
        for _name, annotation_names, unreliable in params:
            if any(n.rpartition(".")[2] == self.settings.context_name for n in annotation_names):
                return not unreliable
        return any(
            name in self.settings.context_params and not annotations and not unreliable
            for name, annotations, unreliable in params
        )

    # --- reads inherited from a class that stores a session -------------------------

    def _report_inherited_reads(self, node: ast.ClassDef) -> None:
        module_name, is_package = self.file.module_name, self.file.is_package
        bases = [
            self.evidence.absolute_name(name, module_name, is_package)
            for base in node.bases
            if (name := dotted_name(base))
        ]
        inherited = {
            stored["attribute"]
            for base in bases
            for fact in ancestors(self.file.project, base)
            for stored in fact.data.get("stored", ())
        }
        if not inherited:
            return
        for attribute in sorted(inherited - _assigned_attributes(node)):
            stored = inherited_store(self.file.project, bases, attribute)
            if stored is None:
                continue
            fact, where = stored
            reads = self._reads(node, attribute)
            if not reads.to_context:
                continue  # no method receives a context: the storing class's finding lists these
            first = min((read for read, _ in reads.to_context), key=lambda read: (read.lineno, read.col_offset))
            self.report(
                first,
                f"`self.{attribute}` is the database session `{fact.name}` stores on the instance "
                f"({fact.path}:{where['line']}); `{node.name}` receives a request context, so use its session",
                fix=FixSpec(
                    f"Read the context's `db_session` in {', '.join(reads.rewritten)}",
                    UNSAFE,
                    build=partial(_build_edit, reads.to_context, None),
                ),
                manual=_manual(attribute, reads.remaining) if reads.remaining else None,
            )


def _assigned_attributes(klass: ast.ClassDef) -> set[str]:
    """Attributes the class's own methods assign on `self` (their reads are not inherited)."""
    return {
        target.attr
        for method in methods_of(klass)
        for statement in method.body
        for child in walk(statement)
        if isinstance(child, (ast.Assign, ast.AnnAssign))
        for target in assignment_targets(child)
        if isinstance(target, ast.Attribute) and is_attribute_of(target, receiver_of(method))
    }


def _usable_context(method: Function, settings: Settings) -> str | None:
    """The context parameter, unless it may be None or is rebound in the method (then its
    `db_session` is not the request's session on every path)."""
    name = context_param(method, settings)
    if name is None:
        return None
    param = find_param(method, name)
    default = param_default(method, param) if param is not None else None
    if isinstance(default, ast.Constant) and default.value is None:
        return None
    for statement in method.body:
        for node in walk(statement):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return None
    return name


def _constructor_parameter(store: SessionStore) -> str | None:
    value = store.value
    if store.method.name == "__init__" and isinstance(value, ast.Name) and find_param(store.method, value.id):
        return value.id
    return None


def _outside_classes(tree: ast.Module) -> Iterator[ast.AST]:
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.ClassDef):
            continue
        yield node
        pending.extend(children(node))  # in no particular order: what is read is a set


def _attributes_read(node: ast.AST) -> list[str]:
    """What `node` reads as an attribute of something other than `self` (see
    `_attributes_read_outside_classes`)."""
    if isinstance(node, ast.Attribute):
        return [] if isinstance(node.value, ast.Name) and node.value.id == "self" else [node.attr]
    if isinstance(node, ast.ImportFrom):
        modules = [node.module or ""]
    elif isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    else:
        return []
    return [part for module in modules for part in module.split(".")[1:]]


def _manual(attribute: str, remaining: list[str]) -> str:
    hint = (
        f"Use the request-scoped session from the context (`context.db_session`, opened by "
        f"`user_execution_scope(...)`) instead of `self.{attribute}`"
    )
    if remaining:
        return (
            f"{hint}. These still read `self.{attribute}` and receive no request context (or one that may be None or is rebound), so the assignment "
            f"stays: {', '.join(remaining)}. Pass them the context (or the session) and rerun the fix."
        )
    return hint + "."


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- the fix's edits, on LibCST ------------------------------------------------------

BlockEdit = Callable[[Any, Any], Any]  # (original block, updated block) -> new block


def _build_edit(
    reads: ContextReads, removed: tuple[ast.Assign | ast.AnnAssign, str | None] | None, view: CstView
) -> CstEdit:
    """Reads of the context's `db_session` for `reads`, and the assignment
    `removed` taken out of its block with an optional comment in its place."""
    replacements = {
        view.node(read, cst.Attribute): cst.Attribute(cst.Name(context), cst.Name("db_session"))
        for read, context in reads
    }
    block_edits: dict[cst.CSTNode, BlockEdit] = {}
    if removed is not None:
        statement, comment = removed
        small = view.node(statement, cst.AnnAssign if isinstance(statement, ast.AnnAssign) else cst.Assign)
        line = view.parents[id(small)]
        block = view.parents[id(line)]
        if not (isinstance(line, cst.SimpleStatementLine) and isinstance(block, cst.IndentedBlock)):
            raise LookupError(f"no statement line of its own at line {statement.lineno}")
        block_edits[block] = partial(_remove_statement, line=line, comment=comment)
    return CstEdit(transform=partial(_rewrite, replacements=replacements, block_edits=block_edits))


def _rewrite(
    module: cst.Module, replacements: Mapping[cst.CSTNode, cst.CSTNode], block_edits: Mapping[cst.CSTNode, BlockEdit]
) -> cst.Module:
    """Replace nodes (by identity in `module`) and edit blocks: `block_edits[block](original, updated)`."""

    class Rewriter(cst.CSTTransformer):
        def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> Any:
            if original in block_edits:
                return block_edits[original](original, updated)
            return replacements.get(original, updated)

    return module.visit(Rewriter())


def _comment_line(text: str) -> cst.EmptyLine:
    return cst.EmptyLine(indent=True, whitespace=cst.SimpleWhitespace(""), comment=cst.Comment(f"# {text}"))


def _remove_statement(
    original: cst.IndentedBlock, updated: cst.IndentedBlock, line: cst.CSTNode, comment: str | None
) -> cst.IndentedBlock:
    """`updated` without the statement that was `line` in `original`, leaving `comment` in its place."""
    index = list(original.body).index(line)
    body = list(updated.body)
    removed = body.pop(index)
    note = [_comment_line(comment)] if comment else []
    kept_lines = [line for line in removed.leading_lines if line.comment is not None]
    if index < len(body):
        following = body[index]
        body[index] = following.with_changes(leading_lines=[*kept_lines, *note, *following.leading_lines])
        return updated.with_changes(body=body)
    if body:
        return updated.with_changes(body=body, footer=[*kept_lines, *note, *updated.footer])
    return updated.with_changes(body=[cst.SimpleStatementLine([cst.Pass()], leading_lines=[*kept_lines, *note])])
