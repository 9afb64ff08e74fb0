"""ISO205 session-passed-to-constructor: handing a session to a class that stores it.

Cross-file: reads the "sessions:class-stores-session" and "sessions:class-bases"
facts (see `_sessions`), which ISO201 contributes (every indexer runs,
whichever rules are selected).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .._lazy import cst
from . import _sessions as sessions
from ._helpers import alternation, dotted_name, matches_patterns, word_alternatives
from .base import Rule


class SessionPassedToConstructor(Rule):
    code = "ISO205"
    name = "session-passed-to-constructor"
    family = "sessions"
    summary = "A function constructs an object that keeps the session it is given on `self`"
    prefilter = re.compile(rb"(?!)")  # built from the indexed classes by compile_prefilter
    reads_facts = sessions.CLASS_KINDS
    options = sessions.EVIDENCE_OPTIONS

    @classmethod
    def compile_prefilter(cls, settings: Any, project: Any) -> re.Pattern[bytes]:
        # A call of a class that stores a session or derives from one that does.
        names = set()
        for fact in project.of_kind("sessions:class-stores-session"):
            names.add(fact.name)
            names.update(f.name for f in sessions.descendants(project, fact.qualname))
        if not names:
            return re.compile(rb"(?!)")
        return re.compile(alternation(word_alternatives((re.escape(n.encode()) for n in names), rb"\s*\(")))

    def __init__(self, file: Any, options: Any) -> None:
        super().__init__(file, options)
        self.evidence = sessions.SessionEvidence(file.module, options)

    def visit_Call(self, node: cst.Call) -> None:
        function = self.file.enclosing(cst.FunctionDef)
        callee = dotted_name(node.func)
        if function is None or callee is None:
            return
        qualname = sessions.absolute_name(self.file, self.evidence, callee)
        if sessions.class_fact(self.file.project, qualname) is None:
            return
        for position, arg in _slots(node):
            keyword = arg.keyword.value if arg.keyword is not None else None
            found = sessions.stored_slot(self.file.project, qualname, position, keyword)
            if found is None or not self._may_be_session(arg.value, function):
                continue
            fact, stored = found
            inherited = "" if fact.qualname == qualname else f", inherited by `{callee}`"
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

    def _may_be_session(self, value: Any, function: Any) -> bool:
        """Anything but evidence against: the receiving class already treats the slot as a session."""
        if isinstance(value, cst.Name) and value.value == "None":
            return False
        evidence = self.evidence.value_evidence(value, function)
        name = dotted_name(value) or ""
        return evidence.verdict != sessions.AGAINST and not matches_patterns(
            name.rpartition(".")[2], self.option_values["exclude-names"]
        )


def _slots(call: cst.Call) -> Iterable[tuple[int | None, cst.Arg]]:
    """(position, argument) for positional arguments before any `*args`, (None, argument) for keywords."""
    position = 0
    for arg in call.args:
        if arg.star:
            if arg.star == "*":
                position = -10_000  # later positions are unknown
            continue
        if arg.keyword is not None:
            yield None, arg
        else:
            if position >= 0:
                yield position, arg
            position += 1
