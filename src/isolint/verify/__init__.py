"""The verification gate: does the project still work after these fixes?

Fixes are computed file by file; a fix can change a contract other files
rely on (a signature, an attribute, a module-level name, a value's type).
Before anything is written, the changed files are compared with what they
were, and every file that mentions a changed name is read, to find:

- calls that bound to a function before and no longer do (arity, keywords),
  or whose positional arguments now land in a different parameter;
- overrides left with the old signature when a method's signature changed;
- reads of an attribute a class no longer has;
- uses of a module-level name a module no longer defines;
- writes to the frozen request context;
- a value the fixes turned into the context that reaches code still
  expecting the legacy state (a call's parameter, a factory's callers, an
  attribute's readers), or is read for an attribute the context lacks;
- locals read before any assignment that were not before (UnboundLocalError).

Each violation names the files whose changes caused it; the runner refuses
their fixes as one group and tries again without them.

model.py holds what is compared (the models, the vocabulary, what changed,
the class graph), calls.py the checks on calls, values.py those on values
and names; `verify` here reads what they need and runs them all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from ..linediff import Opcode, opcodes
from ..source import split_lines
from .calls import (
    context_arguments,
    functions_read_as_values,
    legacy_receivers,
    methods_read_as_values,
    missing_methods,
    new_withs,
    not_context_managers,
    stale_calls,
    stale_overrides,
    widened_parameters,
    wrapped_signatures,
)
from .model import (
    BuildMany,
    ClassGraph,
    ContractChange,
    ModelCache,
    Models,
    ModuleSource,
    ReadOthers,
    Verdict,
    Violation,
    Vocabulary,
    called_name,
    changed_signatures,
    field_owner,
    removed_attributes,
    removed_module_names,
    rewritten_call_sites,
    short_name,
    text_model,
    unread_lineage,
)
from .values import (
    frozen_context_writes,
    lost_caches,
    missing_context_attributes,
    new_metadata_reads,
    new_unbound_reads,
    removed_attribute_reads,
    removed_name_uses,
    retyped_parameters,
    retyped_returns,
    retyped_values,
    uncached,
    unwritten_metadata,
)

__all__ = [
    "BuildMany",
    "ContractChange",
    "ModelCache",
    "ModuleSource",
    "ReadOthers",
    "Verdict",
    "Violation",
    "Vocabulary",
    "text_model",
    "verify",
]


def verify(
    changed: Mapping[str, tuple[ModuleSource, str]],
    read_others: ReadOthers,
    vocabulary: Vocabulary,
    cache: ModelCache | None = None,
) -> Verdict:
    """Violations the new texts introduce, and the contracts they change. `changed` maps a path to its source
    before the fixes and its text after; `read_others(names, definitions)`
    yields the project's unchanged files whose text mentions any of `names`
    or defines a function or class named in `definitions`."""
    cache = cache or ModelCache()
    _parse = cache.model
    models = Models()
    for path, (source, new_text) in changed.items():
        before, after = _parse(source, source.text), _parse(source, new_text)
        if before is None or after is None:
            continue  # the engine never hands over a fix that does not parse; a file that never parsed has no contract
        models.before[path], models.after[path] = before, after
    signatures = changed_signatures(models, vocabulary)
    attributes = removed_attributes(models)
    module_names = removed_module_names(models)
    wanted = {f.name if f.name != "__init__" else (f.owner or "").rpartition(".")[2] for f, _ in signatures.values()}
    wanted |= {attribute for _, removed in attributes for attribute in removed}
    wanted |= {name for _, removed in module_names for name in removed}
    wanted |= {function.name for function in uncached(models)}
    wanted |= {key for key, _, _ in new_metadata_reads(models)}
    # A rewritten call is checked against the functions it can reach: only their definitions are wanted.
    rewritten_calls = rewritten_call_sites(models)
    defined = {called_name(call) for _, call in rewritten_calls} - {""} - wanted
    # ...and the classes their receivers are known to be, to check the methods they call exist.
    defined |= {short_name(call.receiver_type) for _, call in rewritten_calls if call.method and call.receiver_type} - {
        ""
    }
    # ...and what the `with` statements they add enter (a class, or a function that builds one).
    defined |= {short_name(item.entered) for _, item in new_withs(models)} - {""}
    # ...and where the calls now passing the context instead of the legacy state send it.
    handed_over = context_arguments(models, vocabulary)
    defined |= {called_name(call) for _, call, _ in handed_over} - {""} - wanted

    def read(names: set[str], definitions: set[str]) -> None:
        unchanged = [
            source
            for source in read_others(frozenset(names), frozenset(definitions))
            if source.path not in models.before and source.path not in models.after
        ]
        cache.prefetch(unchanged)
        for source in unchanged:
            model = _parse(source, source.text, flow=False)  # unchanged: no new unbound reads to find
            if model is not None:
                models.after[source.path] = model

    if wanted or defined:
        read(wanted, defined)
    # The classes whose fields the calls pass (`ctx.state`), to know what those hold.
    known_classes = {k.rpartition(".")[2] for m in (*models.before.values(), *models.after.values()) for k in m.classes}
    owners = {
        field_owner(t)
        for m in models.after.values()
        for c in m.calls
        for t in (c.receiver_type, *dict(c.arguments).values())
    }
    if owners - known_classes - {""}:
        read(set(), owners - known_classes - {""})
    # The classes the receivers of calls of a changed method, or of reads of a
    # removed attribute, are, up to their roots: whether `agent.describe(state)`
    # reaches `BaseAgent.describe` may be said only by a module that never
    # names `describe`.
    methods = {function.name for function, _ in signatures.values() if function.owner is not None}
    removed = {attribute for _, gone in attributes for attribute in gone}
    asked: set[str] = set()
    while (methods or removed) and (gaps := unread_lineage(models, methods, removed) - asked):
        asked |= gaps
        read(set(), gaps)
    classes = ClassGraph(m for m in [*models.before.values(), *models.after.values()])
    violations: list[Violation] = []
    callers: dict[str, list[tuple[str, int]]] = defaultdict(list)
    violations += wrapped_signatures(models, signatures)
    violations += stale_calls(models, signatures, classes, vocabulary, callers)
    violations += methods_read_as_values(models, signatures, classes, vocabulary)
    violations += functions_read_as_values(models, signatures)
    violations += stale_overrides(models, signatures, classes, vocabulary)
    violations += removed_attribute_reads(models, attributes, classes, vocabulary)
    violations += removed_name_uses(models, module_names)
    violations += frozen_context_writes(models, vocabulary)
    violations += missing_context_attributes(models, vocabulary)
    violations += retyped_values(models, vocabulary)
    violations += new_unbound_reads(models)
    violations += retyped_returns(models, vocabulary)
    violations += lost_caches(models)
    violations += unwritten_metadata(models, vocabulary)
    violations += retyped_parameters(models, vocabulary)
    violations += missing_methods(rewritten_calls, classes)
    violations += not_context_managers(models, classes)
    violations += legacy_receivers(models, handed_over, classes, vocabulary)
    contracts = [
        ContractChange(
            qualname,
            models.owner_file(qualname) or "",
            function.signature.text(),
            new.text(),
            tuple(sorted(set(callers[qualname]))),
            tuple(widened_parameters(function.signature, new, vocabulary)),
        )
        for qualname, (function, new) in sorted(signatures.items())
        if new is not None
    ]
    opcodes = _Opcodes(changed)
    return Verdict([_on_original_lines(v, opcodes) for v in violations], contracts)


class _Opcodes:
    """Each changed file's line diff, computed once however many violations it has."""

    def __init__(self, changed: Mapping[str, tuple[ModuleSource, str]]) -> None:
        self._changed = changed
        self._diffs: dict[str, tuple[int, list[Opcode]]] = {}

    def of(self, path: str) -> tuple[int, list[Opcode]] | None:
        """The number of lines `path` has as it is, and the opcodes that turn them into its fixed lines."""
        if path not in self._changed:
            return None
        if path not in self._diffs:
            source, new_text = self._changed[path]
            old_lines = split_lines(source.text)
            self._diffs[path] = (len(old_lines), opcodes(old_lines, split_lines(new_text)))
        return self._diffs[path]


def _on_original_lines(violation: Violation, opcodes: _Opcodes) -> Violation:
    """A violation found in a fixed text, placed on the line of the file as it
    is (nothing was written): a kept line where it was, a rewritten line on
    the line it replaces, an inserted line on the line after the insertion."""
    diff = opcodes.of(violation.path)
    if diff is None:
        return violation
    old_count, codes = diff
    index = violation.line - 1
    for _, i1, i2, j1, j2 in codes:
        if j1 <= index < j2 or (j1 == j2 == index):
            line = i1 + min(index - j1, max(i2 - i1 - 1, 0)) + 1
            return replace(violation, line=min(line, max(old_count, 1)))
    return violation
