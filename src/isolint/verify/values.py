"""The gate's checks on values and names: writes to the frozen context, a
value whose run-time type the fixes change and that leaves its function,
attributes and module-level names that are gone but still read, locals read
before assignment, caches a fix dropped, and metadata keys read but never
written.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from ..semantic import (
    Function,
    Klass,
    ModuleModel,
)
from .model import (
    RETYPES,
    ClassGraph,
    Models,
    Violation,
    Vocabulary,
    is_state_to_context,
    may_be_of,
)


def removed_attribute_reads(
    models: Models, removed: list[tuple[Klass, frozenset[str]]], classes: ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    violations = []
    for klass, attributes in removed:
        family = classes.related(klass.qualname)
        owner = models.owner_file(klass.qualname)
        for path, model in models.after.items():
            for use in model.attributes:
                if use.is_store or use.attribute not in attributes:
                    continue
                if may_be_of(use, family, model, vocabulary):
                    violations.append(
                        Violation(
                            frozenset({owner} if owner else ()),
                            path,
                            use.line,
                            f"reads `.{use.attribute}`, which the fixes remove from `{klass.qualname}`",
                            ("ISO201", "ISO304", "ISO101", "ISO102"),
                        )
                    )
    return violations


def removed_name_uses(models: Models, removed: list[tuple[ModuleModel, frozenset[str]]]) -> list[Violation]:
    violations = []
    for owner_model, names in removed:
        owner = next(p for p, m in models.before.items() if m is owner_model)
        qualified = {f"{owner_model.module}.{name}": name for name in names}
        for path, model in models.after.items():
            for reference in sorted(model.references & qualified.keys()):
                violations.append(
                    Violation(
                        frozenset({owner}),
                        path,
                        1,
                        f"uses `{reference}`, which the fixes remove from `{owner_model.module}`",
                        ("ISO102", "ISO101", "ISO105", "ISO401"),
                    )
                )
    return violations


def frozen_context_writes(models: Models, vocabulary: Vocabulary) -> list[Violation]:
    violations = []
    for path in models.changed():

        def writes(model: ModuleModel) -> dict[str, list[int]]:
            found: dict[str, list[int]] = defaultdict(list)
            for use in model.attributes:
                if use.is_store and use.receiver_type and vocabulary.is_context(use.receiver_type):
                    found[use.scope].append(use.line)
            return found

        before, after = writes(models.before[path]), writes(models.after[path])
        for scope, lines in after.items():
            if len(lines) > len(before.get(scope, [])):
                function = models.after[path].functions.get(scope)
                violations.append(
                    Violation(
                        frozenset({path}),
                        path,
                        function.line if function is not None else lines[-1],
                        f"`{scope.rpartition('.')[2]}` would write to the frozen `{vocabulary.context_class.rpartition('.')[2]}`",
                        ("ISO405", "ISO402", "ISO403", "ISO404"),
                    )
                )
    return violations


def _rewritten_construction_scopes(models: Models, path: str, vocabulary: Vocabulary) -> set[str]:
    """Scopes of `path` where the fixes replaced a construction of the legacy
    state with one of the context (ISO403): fewer calls of a legacy class, more of the context's."""

    def built(model: ModuleModel, wanted: Callable[[str], bool]) -> Counter[str]:
        return Counter(call.scope for call in model.calls if call.target is not None and wanted(call.target))

    before, after = models.before[path], models.after[path]
    fewer_legacy = built(before, vocabulary.is_legacy) - built(after, vocabulary.is_legacy)
    more_context = built(after, vocabulary.is_context) - built(before, vocabulary.is_context)
    return set(fewer_legacy) & set(more_context)


def retyped_values(models: Models, vocabulary: Vocabulary) -> list[Violation]:
    """A value the fixes turned from the legacy state into the context that
    leaves its function: returned by a function where a construction was
    rewritten (a factory: its callers get the context), kept on an
    attribute (every method, and whatever reads the attribute, gets it), or
    built at import time (a module global: every reader gets it).
    What reads it there may still use it as the legacy state, and the gate
    follows a value no further than the calls it is passed to."""
    context = vocabulary.context_class.rpartition(".")[2]
    violations = []
    for path in models.changed():
        before, after = models.before[path], models.after[path]
        rebuilt = _rewritten_construction_scopes(models, path, vocabulary)
        for qualname, function in after.functions.items():
            old = before.functions.get(qualname)
            if qualname not in rebuilt or old is None:
                continue
            if any(vocabulary.is_legacy(value) for value in old.returned) and any(
                vocabulary.is_context(value) for value in function.returned
            ):
                violations.append(
                    Violation(
                        frozenset({path}),
                        path,
                        function.line,
                        f"`{function.name}` would return a `{context}` where it returned the legacy state; its "
                        "callers may still use the value as the legacy state",
                        ("ISO403",),
                    )
                )
        for scope in sorted(rebuilt - set(after.functions)):
            line = min(c.line for c in after.calls if c.scope == scope and vocabulary.is_context(c.target or ""))
            violations.append(
                Violation(
                    frozenset({path}),
                    path,
                    line,
                    f"a value built at import time would be a `{context}` where it was the legacy state; what reads "
                    "it may still use it as the legacy state",
                    ("ISO403",),
                )
            )
        for qualname, klass in after.classes.items():
            old_class = before.classes.get(qualname)
            held_before = dict(old_class.attribute_types) if old_class is not None else {}
            for attribute, known in klass.attribute_types:
                if vocabulary.is_context(known) and vocabulary.is_legacy(held_before.get(attribute, "")):
                    violations.append(
                        Violation(
                            frozenset({path}),
                            path,
                            klass.line,
                            f"`{qualname.rpartition('.')[2]}.{attribute}` would hold a `{context}` where it held the "
                            "legacy state; what reads it may still use it as the legacy state",
                            ("ISO403", "ISO402", "ISO405"),
                        )
                    )
    return violations


def missing_context_attributes(models: Models, vocabulary: Vocabulary) -> list[Violation]:
    """A variable the fixes made the context (a construction rewritten) read
    for an attribute a context does not have: AttributeError where it ran
    before. (A retyped parameter is retyped_parameters'; a write is
    frozen_context_writes'.)"""
    context = vocabulary.context_class.rpartition(".")[2]
    violations = []
    for path in models.changed():

        def missing(model: ModuleModel) -> Counter[tuple[str, str, str]]:
            found: Counter[tuple[str, str, str]] = Counter()
            for use in model.attributes:
                # The cheap tests first: most uses are of names no fix retyped.
                if not use.receiver or use.is_store or use.attribute in vocabulary.context_attributes:
                    continue
                if not vocabulary.is_context(use.receiver_type):
                    continue
                function = model.functions.get(use.scope)
                signature = function.signature if function is not None else None
                if signature is None or signature.parameter(use.receiver) is None:
                    found[(use.scope, use.receiver, use.attribute)] += 1
            return found

        before, after = missing(models.before[path]), missing(models.after[path])
        for (scope, receiver, attribute), count in sorted(after.items()):
            if count > before[(scope, receiver, attribute)]:
                function = models.after[path].functions.get(scope)
                violations.append(
                    Violation(
                        frozenset({path}),
                        path,
                        function.line if function is not None else 1,
                        f"`{scope.rpartition('.')[2]}` would read `{receiver}.{attribute}` from a `{context}`, "
                        "which does not have it",
                        ("ISO403", "ISO404"),
                    )
                )
    return violations


def new_unbound_reads(models: Models) -> list[Violation]:
    violations = []
    for path in models.changed():
        after, before = models.after[path].unbound_reads, models.before[path].unbound_reads
        for (scope, name), line in sorted(after.items()):
            if (scope, name) in before:
                continue
            violations.append(
                Violation(
                    frozenset({path}),
                    path,
                    line,
                    f"`{scope.rpartition('.')[2]}` would read the local `{name}` before assigning it (UnboundLocalError)",
                    ("ISO102", "ISO105", "ISO101", "ISO204"),
                )
            )
    return violations


def retyped_returns(models: Models, vocabulary: Vocabulary) -> list[Violation]:
    """A return annotation the fixes made the context while the body still returns the legacy state."""
    violations = []
    for path in models.changed():
        before = models.before[path].functions
        for qualname, function in models.after[path].functions.items():
            old = before.get(qualname)
            if old is None or not (vocabulary.is_legacy(old.returns) and vocabulary.is_context(function.returns)):
                continue
            if any(value != "None" and not vocabulary.is_context(value) for value in function.returned):
                violations.append(
                    Violation(
                        frozenset({path}),
                        path,
                        function.line,
                        f"`{function.name}` would be annotated to return a "
                        f"`{vocabulary.context_class.rpartition('.')[2]}` while it returns a value not known to be one",
                        ("ISO402", "ISO405"),
                    )
                )
    return violations


_CACHE_API = ("cache_clear", "cache_info", "cache_parameters")


_CACHE_DECORATORS = frozenset({"cache", "lru_cache"})


def lost_caches(models: Models) -> list[Violation]:
    """`functools` cache decorators the fixes remove from a function whose
    `cache_clear()` (or `cache_info()`) some module still calls."""
    violations = []
    for function in uncached(models):
        qualname, path = function.qualname, models.owner_file(function.qualname)
        for other_path, model in models.after.items():
            uses = {f"{qualname}.{api}" for api in _CACHE_API} & model.references
            local = (
                other_path == path and function.name in model.names and any(api in model.names for api in _CACHE_API)
            )
            if uses or local:
                line = next((use.line for use in model.attributes if use.attribute in _CACHE_API), 1)
                violations.append(
                    Violation(
                        frozenset({path} if path else ()),
                        other_path,
                        line,
                        f"uses the cache of `{qualname}` (`{'`, `'.join(_CACHE_API[:2])}`), which the fixes remove",
                        ("ISO105",),
                    )
                )
    return violations


def uncached(models: Models) -> list[Function]:
    """Functions that lose a `functools` cache decorator."""
    lost = []
    for path in models.changed():
        after = models.after[path].functions
        for qualname, function in models.before[path].functions.items():
            new = after.get(qualname)
            if function.decorators & _CACHE_DECORATORS and not (new is not None and new.decorators & _CACHE_DECORATORS):
                lost.append(function)
    return lost


def new_metadata_reads(models: Models) -> list[tuple[str, int, str]]:
    """`(key, line, path)` of `x.metadata.get("key")` reads the fixes add."""
    added = []
    for path in models.changed():
        before = Counter((key, scope) for key, _, scope in models.before[path].metadata_reads)
        for key, line, scope in models.after[path].metadata_reads:
            if before[(key, scope)] > 0:
                before[(key, scope)] -= 1
            else:
                added.append((key, line, path))
    return added


def unwritten_metadata(models: Models, vocabulary: Vocabulary) -> list[Violation]:
    """A read the fixes move to the context's metadata, of a field the
    project writes onto the legacy state: nothing puts it into the metadata,
    so the read would always be None (a result one agent leaves for the next)."""
    reads = new_metadata_reads(models)
    if not reads:
        return []
    written: dict[str, tuple[str, int]] = {}
    for path, model in models.after.items():
        for use in model.attributes:
            if use.is_store and use.receiver_class is None and not vocabulary.is_context(use.receiver_type):
                written.setdefault(use.attribute, (path, use.line))
    violations = []
    for key, line, path in reads:
        if key in written:
            where, at = written[key]
            violations.append(
                Violation(
                    frozenset({path}),
                    path,
                    line,
                    f"would read `{key}` from the context's metadata, but the project writes `.{key}` on the state "
                    f"({where}:{at}) and nothing puts it into the metadata: the read would always be None",
                    ("ISO404", "ISO405"),
                )
            )
    return violations


def retyped_parameters(models: Models, vocabulary: Vocabulary) -> list[Violation]:
    """A parameter the fixes retype from the legacy state to the context while
    its function still rebinds it or reads what only the legacy state has."""
    violations = []
    context = vocabulary.context_class.rpartition(".")[2]
    for path in models.changed():
        before, after = models.before[path], models.after[path]
        for qualname, function in after.functions.items():
            old = before.functions.get(qualname)
            if old is None:
                continue
            for param in (*function.signature.positional, *function.signature.keyword_only):
                if not is_state_to_context(old.signature.parameter(param.name), param, vocabulary):
                    continue
                if param.name in function.rebound:
                    violations.append(
                        Violation(
                            frozenset({path}),
                            path,
                            function.line,
                            f"`{function.name}` would take `{param.name}: {context}` but assigns `{param.name}` itself",
                            RETYPES,
                        )
                    )
                    continue
                for use in after.attributes:
                    if (
                        use.scope == qualname
                        and use.receiver == param.name
                        and use.attribute not in vocabulary.context_attributes
                    ):
                        violations.append(
                            Violation(
                                frozenset({path}),
                                path,
                                use.line,
                                f"`{function.name}` would take `{param.name}: {context}` but uses "
                                f"`{param.name}.{use.attribute}`, which a `{context}` does not have",
                                RETYPES,
                            )
                        )
                        break
    return violations
