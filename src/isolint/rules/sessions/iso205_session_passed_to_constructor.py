"""ISO205 session-passed-to-constructor: handing a session to a class that stores it.

Cross-file: reads the "sessions:class-stores-session" and "sessions:class-bases"
facts (see `facts`), which ISO201's indexer contributes (every indexer runs,
whichever rules are selected).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...index import RENAME
from ...prefilters import NEVER, TextFilter
from ...scopes import FUNCTIONS
from .._helpers import alternation, matches_patterns, word_alternatives
from ..ast_helpers import dotted_name
from .evidence import Function, SessionRule
from .facts import CLASS_KINDS, class_fact, descendants, renamed_classes, stored_slot
from .family import AGAINST, EVIDENCE_OPTIONS

if TYPE_CHECKING:
    from ...config import Settings
    from ...index import ProjectIndex


class SessionPassedToConstructor(SessionRule):
    code = "ISO205"
    name = "session-passed-to-constructor"
    family = "sessions"
    summary = "A function constructs an object that keeps the session it is given on `self`"
    prefilter = re.compile(rb"(?!)")  # built from the indexed classes by compile_prefilter
    reads_facts = (*CLASS_KINDS, RENAME)
    options = EVIDENCE_OPTIONS

    @classmethod
    def compile_prefilter(cls, settings: Settings, project: ProjectIndex) -> TextFilter:
        # A call of a class that stores a session or derives from one that does.
        names = set()
        for fact in project.of_kind("sessions:class-stores-session"):
            names.add(fact.name)
            names.update(f.name for f in descendants(project, fact.qualname))
        if not names:
            return NEVER
        names |= renamed_classes(project, names)  # `from .data import DataAgent as Agent`
        return re.compile(alternation(word_alternatives((re.escape(n.encode()) for n in names), rb"\s*\(")))

    def visit_Call(self, node: ast.Call) -> None:
        function = self.file.enclosing(*FUNCTIONS)
        callee = dotted_name(node.func)
        if not isinstance(function, FUNCTIONS) or callee is None:
            return
        qualname = self.evidence.absolute_name(callee, self.file.module_name, self.file.is_package)
        constructed = class_fact(self.file.project, qualname)  # through re-exports and renames
        if constructed is None:
            return
        for position, keyword, value in _slots(node):
            found = stored_slot(self.file.project, qualname, position, keyword)
            if found is None or not self._may_be_session(value, function):
                continue
            fact, stored = found
            inherited = "" if fact.qualname == constructed.qualname else f", inherited by `{constructed.name}`"
            where = f"`{fact.name}.{stored['attribute']}` ({fact.path}:{stored['line']}{inherited})"
            self.report(
                node,
                f"`{callee}(...)` is given a database session that it keeps in {where}; "
                f"every request that reaches this object shares the session",
                manual=(
                    f"Stop passing the session: build `{callee}` without it and let its methods read "
                    f"`context.db_session` (ISO201 rewrites them). If the object outlives the request, create it per "
                    "request with `AgentInstanceFactory.create_agent_instance(name, context)`."
                ),
            )
            return

    def _may_be_session(self, value: ast.expr, function: Function) -> bool:
        """Anything but evidence against: the receiving class already treats the slot as a session."""
        if isinstance(value, ast.Constant) and value.value is None:
            return False
        evidence = self.evidence.value_evidence(value, function)
        name = dotted_name(value) or ""
        return evidence.verdict != AGAINST and not matches_patterns(name.rpartition(".")[2], self.config.exclude_names)


def _slots(call: ast.Call) -> Iterator[tuple[int | None, str | None, ast.expr]]:
    """(position, None, argument) for positional arguments before any `*args`,
    (None, keyword, argument) for keyword arguments (not `**kwargs`)."""
    for position, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break  # later positions are unknown
        yield position, None, arg
    for keyword in call.keywords:
        if keyword.arg is not None:
            yield None, keyword.arg, keyword.value
