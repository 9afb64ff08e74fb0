"""ISO201 session-on-instance: a database session stored on `self`.

Two kinds of finding, both fixed by moving reads to the request context:

- the assignment `self.<attr> = <session>` in any method of a class;
- in a subclass (this file or another, via the project index), reads of a
  `self.<attr>` that an ancestor stores as a session, when the subclass has
  methods receiving a request context.

Index facts: "sessions:class-stores-session" and "sessions:class-bases" (see
`_sessions`); ISO205 reads them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from typing import Any

from .._lazy import cst
from ..findings import UNSAFE
from ..traversal import children, walk
from . import _sessions as sessions
from ._context import context_param
from ._helpers import (
    alternation,
    assignment_targets,
    dotted_name,
    word_alternatives,
)
from .base import FixSpec, Rule
from .sessions.evidence import SessionEvidence
from .sessions.facts import CLASS_KINDS, ancestors, class_facts, descendants, inherited_store
from .sessions.family import SessionsConfig, evidence_alternatives


class SessionOnInstance(Rule):
    code = "ISO201"
    name = "session-on-instance"
    family = "sessions"
    summary = "A database session is stored on `self`, so every request using the object shares it"
    fix_safety = UNSAFE
    trusts_context_annotations = True
    prefilter = re.compile(rb"(?!)")  # built from the options and the index by compile_prefilter
    reads_facts = CLASS_KINDS
    options = sessions.EVIDENCE_OPTIONS

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A session word (name, factory, type, maker), or the name of an indexed
        # class that stores a session (a subclass reading it).
        storing = word_alternatives(
            (re.escape(n.encode()) for n in project.names("sessions:class-stores-session")), rb"\b"
        )
        return re.compile(alternation(evidence_alternatives(SessionsConfig.for_rule(settings, cls)), storing))

    @classmethod
    def compile_index_prefilter(cls, settings: Any) -> re.Pattern[bytes]:
        # Facts exist for classes with bases and for classes storing a session,
        # which takes a session word, as this rule's own finding there does.
        return re.compile(
            alternation([rb"\bclass\s+[^\s:(]+\s*\("], evidence_alternatives(SessionsConfig.for_family(settings)))
        )

    @classmethod
    def index(cls, tree: Any, settings: Any) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
        # The family's vocabulary, not this rule's: ISO205 reads these facts too.
        return class_facts(SessionEvidence(tree, SessionsConfig.for_family(settings)))

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.evidence = sessions.SessionEvidence(file.module, options)

    # --- the assignment --------------------------------------------------------

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check_assignment(node, None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check_assignment(node, node.annotation)

    def _check_assignment(self, node: cst.Assign | cst.AnnAssign, annotation: Any) -> None:
        method = self.file.enclosing(cst.FunctionDef)
        klass = sessions.is_method(method, self.file.ancestors) if method is not None else None
        if klass is None:
            return
        receiver = sessions.receiver_of(method)
        for target in assignment_targets(node):
            if not (
                isinstance(target, cst.Attribute)
                and isinstance(target.value, cst.Name)
                and target.value.value == receiver
            ):
                continue
            attribute = target.attr.value
            evidence = self.evidence.decide(
                attribute, node.value, method, annotation, partial(sessions.session_method_called, klass, attribute)
            )
            if evidence is None or sessions.owns_session_in_exit(klass, attribute):
                continue
            self._report_assignment(node, target, klass, method, attribute, evidence)

    def _report_assignment(
        self, node: Any, target: Any, klass: Any, method: Any, attribute: str, evidence: Any
    ) -> None:
        replacements, rewritten, remaining = self._rewrite_reads(klass, attribute)
        remaining += self._uses_elsewhere(klass, attribute)
        statement = self.file.ancestors[-1] if self.file.ancestors else None
        removable = (
            not remaining
            and isinstance(statement, cst.SimpleStatementLine)
            and len(statement.body) == 1
            and len(assignment_targets(node)) == 1
        )
        block_edits = {}
        if removable:
            block = self.file.ancestors[-2]
            parameter = self._constructor_parameter(node.value, method)
            comment = (
                f"`{parameter}` is unused: methods read the request context's `db_session` instead (ISO201)"
                if parameter
                else None
            )
            block_edits[block] = lambda original, updated: sessions.remove_statement(
                original, updated, statement, comment
            )
        fix = None
        if replacements or block_edits:
            steps = []
            if rewritten:
                steps.append(f"read the context's `db_session` in {', '.join(rewritten)}")
            if block_edits:
                steps.append(f"stop storing `self.{attribute}`")
            fix = FixSpec(
                "Use the request context's session: " + "; ".join(steps),
                UNSAFE,
                transform=lambda module: sessions.rewrite(module, replacements, block_edits),
            )
        self.report(
            target,
            f"`self.{attribute}` keeps a database session ({evidence.reason}) on `{klass.name.value}`; every request "
            "that reaches this object shares its transaction",
            fix=fix,
            manual=self._manual(attribute, remaining),
        )

    def _rewrite_reads(self, klass: Any, attribute: str) -> tuple[dict[Any, Any], list[str], list[str]]:
        """Replacements of `self.<attribute>` reads in methods receiving a context, and the methods left over."""
        replacements: dict[Any, Any] = {}
        rewritten, remaining = [], []
        for method in sessions.methods_of(klass):
            reads = sessions.self_reads(method, attribute)
            if not reads:
                continue
            context = _usable_context(method, self.settings)
            if context is None:
                remaining.append(f"`{klass.name.value}.{method.name.value}`")
                continue
            rewritten.append(f"`{method.name.value}`")
            for read in reads:
                replacements[read] = cst.Attribute(cst.Name(context), cst.Name("db_session"))
        return replacements, rewritten, remaining

    def _uses_elsewhere(self, klass: Any, attribute: str) -> list[str]:
        """Reads that rewriting this class cannot reach: other objects' `.attr` here, subclasses' methods without a context."""
        remaining = []
        outside = [
            n
            for n in _outside_classes(self.file.module)
            if isinstance(n, cst.Attribute)
            and n.attr.value == attribute
            and not (isinstance(n.value, cst.Name) and n.value.value == "self")
        ]
        if outside:
            remaining.append(f"`.{attribute}` read outside the class in this module")
        qualname = f"{self.file.module_name}.{klass.name.value}" if self.file.module_name else klass.name.value
        for fact in descendants(self.file.project, qualname):
            for read_attribute, method, params in fact.data["reads"]:
                if read_attribute == attribute and not self._receives_context(params):
                    remaining.append(f"`{fact.name}.{method}` ({fact.path})")
        return _unique(remaining)

    def _receives_context(self, params: list[list[Any]]) -> bool:
        """`_usable_context` for a method known only from the index."""
        for _name, annotation_names, unreliable in params:
            if any(n.rpartition(".")[2] == self.settings.context_name for n in annotation_names):
                return not unreliable
        return any(
            name in self.settings.context_params and not annotations and not unreliable
            for name, annotations, unreliable in params
        )

    @staticmethod
    def _constructor_parameter(value: Any, method: Any) -> str | None:
        if method.name.value == "__init__" and isinstance(value, cst.Name) and sessions.find_param(method, value.value):
            return value.value
        return None

    @staticmethod
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

    # --- reads inherited from a class that stores a session -------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not node.bases:
            return
        bases = [
            sessions.absolute_name(self.file, self.evidence, name)
            for arg in node.bases
            if (name := dotted_name(arg.value))
        ]
        inherited = {
            stored["attribute"]
            for base in bases
            for fact in ancestors(self.file.project, base)
            for stored in fact.data.get("stored", ())
        }
        if not inherited:
            return
        own = {
            target.attr.value
            for method in sessions.methods_of(node)
            for child in walk(method.body)
            if isinstance(child, (cst.Assign, cst.AnnAssign))
            for target in assignment_targets(child)
            if isinstance(target, cst.Attribute)
            and isinstance(target.value, cst.Name)
            and target.value.value == sessions.receiver_of(method)
        }
        for attribute in sorted(inherited - own):
            stored = inherited_store(self.file.project, bases, attribute)
            if stored is None:
                continue
            fact, where = stored
            replacements, rewritten, remaining = self._rewrite_reads(node, attribute)
            if not replacements:
                continue  # no method receives a context: the storing class's finding lists these
            first = next(n for n in walk(node) if n in replacements)
            self.report(
                first,
                f"`self.{attribute}` is the database session `{fact.name}` stores on the instance "
                f"({fact.path}:{where['line']}); `{node.name.value}` receives a request context, so use its session",
                fix=FixSpec(
                    f"Read the context's `db_session` in {', '.join(rewritten)}",
                    UNSAFE,
                    transform=partial(sessions.rewrite, replacements=replacements, block_edits={}),
                ),
                manual=self._manual(attribute, remaining) if remaining else None,
            )


def _usable_context(method: Any, settings: Any) -> str | None:
    """The context parameter, unless it may be None or is rebound in the method (then its
    `db_session` is not the request's session on every path)."""
    name = context_param(method, settings)
    if name is None:
        return None
    param = sessions.find_param(method, name)
    if param is not None and isinstance(param.default, cst.Name) and param.default.value == "None":
        return None
    for node in walk(method.body):
        if isinstance(node, cst.Assign) and any(
            isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets
        ):
            return None
    return name


def _outside_classes(module: Any) -> Iterable[Any]:
    stack = list(module.body)
    while stack:
        node = stack.pop()
        if isinstance(node, cst.ClassDef):
            continue
        yield node
        stack.extend(children(node))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
