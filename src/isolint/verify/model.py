"""What the verification gate compares: each changed file's model before
and after its fixes (and the unchanged files read for their calls), the
vocabulary of the context and the legacy state, what the fixes changed
(signatures, attributes, module names) and the class graph the checks
resolve receivers with. The checks themselves are in calls.py and values.py.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ..newer_syntax import parse_module
from ..semantic import (
    FIELD_OF,
    AttributeUse,
    CallSite,
    Function,
    Klass,
    ModuleModel,
    Parameter,
    Signature,
    WithItem,
    build_model,
)


@dataclass(frozen=True)
class ModuleSource:
    path: str  # as shown to the user
    module: str
    is_package: bool
    text: str


@dataclass(frozen=True)
class Violation:
    responsible: frozenset[str]  # the changed files whose fixes caused it
    path: str
    line: int
    reason: str
    suspects: tuple[str, ...] = ()  # the rules whose fixes make this kind of change, likeliest first

    def describe(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Vocabulary:
    """The class names the gate must know: the frozen context and the legacy state."""

    context_class: str
    legacy_classes: frozenset[str]
    context_params: frozenset[str]
    context_attributes: frozenset[str]  # what a context has: its fields and methods

    def is_context(self, annotation: str) -> bool:
        return mentions(annotation, self.context_class)

    def is_legacy(self, annotation: str) -> bool:
        return any(mentions(annotation, name) for name in self.legacy_classes)


def mentions(annotation: str, name: str) -> bool:
    short = name.rpartition(".")[2]
    return bool(short) and short in words(annotation)


def words(annotation: str) -> list[str]:
    return re.split(r"[\s\"'.|\[\],()]+", annotation)


@dataclass
class Models:
    before: dict[str, ModuleModel] = field(default_factory=dict)
    after: dict[str, ModuleModel] = field(default_factory=dict)  # changed files, and unchanged ones read for callers
    _owners: dict[str, str] | None = None  # see `owner_file`

    def changed(self) -> Iterable[str]:
        return self.before.keys()

    def owner_file(self, qualname: str) -> str | None:
        """The changed file that defined the function or class `qualname`
        (the first, in the order they came); `before` is complete by the
        time this is asked."""
        if self._owners is None:
            self._owners = {}
            for path, model in self.before.items():
                for defined in (*model.functions, *model.classes):
                    self._owners.setdefault(defined, path)
        return self._owners.get(qualname)


ReadOthers = Callable[[frozenset[str], frozenset[str]], Iterable[ModuleSource]]


@dataclass(frozen=True)
class ContractChange:
    """A signature the fixes change, and the call sites that change with it."""

    qualname: str
    path: str
    before: str
    after: str
    callers: tuple[tuple[str, int], ...]  # (path, line in the fixed text)
    widened: tuple[str, ...] = ()  # parameters that take the context as well: old calls keep working

    def describe(self) -> str:
        files = {path for path, _ in self.callers} | {self.path}
        sites = len(self.callers)
        if self.widened and self.before == self.after:
            taken = ", ".join(f"`{name}`" for name in self.widened)
            return f"`{self.qualname}` {self.before}: {taken} now also take{'s' if len(self.widened) == 1 else ''} the context; every old call keeps working"
        return (
            f"`{self.qualname}` {self.before} -> {self.after}: the definition and {sites} call site{'s' if sites != 1 else ''}"
            f" in {len(files)} file{'s' if len(files) != 1 else ''}, changed together"
        )


@dataclass(frozen=True)
class Verdict:
    violations: list[Violation]
    contracts: list[ContractChange]


def text_model(source: ModuleSource, text: str, *, flow: bool = True) -> ModuleModel | None:
    """The model of `text` as `source`'s module; None when it does not parse."""
    try:
        return build_model(parse_module(text), source.module, source.is_package, flow=flow)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# Models of unchanged files (`flow=False`), several at once: in parallel.
BuildMany = Callable[[Sequence[ModuleSource]], list["ModuleModel | None"]]


class ModelCache:
    """Each text's model, built once for all the rounds of one fix run (a
    refusal re-fixes a few files; every other model stays as it was)."""

    def __init__(self, build_many: BuildMany | None = None) -> None:
        self._models: dict[tuple[str, bool, str], ModuleModel | None] = {}
        self._build_many = build_many

    def prefetch(self, unchanged: Sequence[ModuleSource]) -> None:
        """Build the models of these unchanged files that are not built yet
        (as `model(source, source.text, flow=False)` would), together."""
        missing = [s for s in unchanged if (s.module, s.is_package, s.text) not in self._models]
        if self._build_many is None or len(missing) < 2:
            return
        for source, model in zip(missing, self._build_many(missing), strict=True):
            self._models[(source.module, source.is_package, source.text)] = model

    def model(self, source: ModuleSource, text: str, *, flow: bool = True) -> ModuleModel | None:
        key = (source.module, source.is_package, text)
        if key not in self._models:
            self._models[key] = text_model(source, text, flow=flow)
        return self._models[key]

    def add(self, source: ModuleSource, text: str, model: ModuleModel | None) -> None:
        """`text_model(source, text)`, built elsewhere (where the fixes were computed, in parallel)."""
        self._models.setdefault((source.module, source.is_package, text), model)


ChangedSignatures = dict[str, tuple[Function, Signature | None]]  # qualname -> (before, signature after or None)


def binding_shape(signature: Signature) -> tuple[object, ...]:
    return (
        tuple((p.name, p.has_default) for p in signature.positional),
        signature.positional_only,
        tuple((p.name, p.has_default) for p in signature.keyword_only),
        signature.var_positional,
        signature.var_keyword,
    )


def accepts_every_old_call(old: Signature, new: Signature) -> bool:
    """Whether every call that binds `old` binds `new` the same way: the same
    parameters in the same places, none losing its default (a widened
    annotation or a new default keeps old callers working)."""
    if (
        [p.name for p in old.positional] != [p.name for p in new.positional]
        or old.positional_only != new.positional_only
        or {p.name for p in old.keyword_only} != {p.name for p in new.keyword_only}
        or (old.var_positional, old.var_keyword) != (new.var_positional, new.var_keyword)
    ):
        return False
    for param in (*old.positional, *old.keyword_only):
        widened = new.parameter(param.name)
        if param.has_default and not (isinstance(widened, Parameter) and widened.has_default):
            return False
    return True


def changed_signatures(models: Models, vocabulary: Vocabulary) -> ChangedSignatures:
    """Functions whose calls the fixes can break: removed, bound differently,
    or with a parameter retyped from the legacy state to the context."""
    changed: ChangedSignatures = {}
    for path in models.changed():
        before, after = models.before[path], models.after[path]
        for qualname, function in before.functions.items():
            new = after.functions.get(qualname)
            if (
                new is None
                or not accepts_every_old_call(function.signature, new.signature)
                or any(
                    is_state_to_context(function.signature.parameter(p.name), p, vocabulary)
                    or is_widened_to_context(function.signature.parameter(p.name), p, vocabulary)
                    for p in (*new.signature.positional, *new.signature.keyword_only)
                )
            ):
                changed[qualname] = (function, new.signature if new else None)
    return changed


def removed_attributes(models: Models) -> list[tuple[Klass, frozenset[str]]]:
    removed = []
    for path in models.changed():
        after = models.after[path]
        for qualname, klass in models.before[path].classes.items():
            new = after.classes.get(qualname)
            if new is not None and klass.attributes - new.attributes:
                removed.append((klass, frozenset(klass.attributes - new.attributes)))
    return removed


def removed_module_names(models: Models) -> list[tuple[ModuleModel, frozenset[str]]]:
    removed = []
    for path in models.changed():
        before, after = models.before[path], models.after[path]
        gone = before.module_names - after.module_names
        if gone:
            removed.append((before, frozenset(gone)))
    return removed


def may_be_of(use: AttributeUse, family: set[str], model: ModuleModel, vocabulary: Vocabulary) -> bool:
    """Whether the receiver of `use` (in `model`) may be an instance of a class
    in `family` (a class, its subclasses and its bases, which may hold a
    subclass's instance). Known, it must be one of them; unknown, a module
    that names one may hold its instances anywhere, and elsewhere a plain
    name may be one handed in (`def close(agent): agent.db_session`), unless
    it is named as the request context is."""
    shorts = {qualname.rpartition(".")[2] for qualname in family}
    if use.receiver_class is not None:
        return use.receiver_class in family
    if use.receiver_type:
        return any(mentions(use.receiver_type, name) for name in shorts)
    return not shorts.isdisjoint(model.names) or (bool(use.receiver) and use.receiver not in vocabulary.context_params)


def names_a_class(known: str) -> bool:
    """`Worker`, `app.Worker`, `Optional[Worker]`: an annotation or a constructor,
    not the callee of a function that returned the value (`registry.get`)."""
    last = known.partition("[")[0].rpartition(".")[2]
    return last[:1].isupper()


def unread_lineage(models: Models, methods: set[str], attributes: set[str]) -> set[str]:
    """The short names of the classes that the receivers of calls of
    `methods`, and of reads of `attributes`, are or inherit from, that no
    model read so far defines. A subclass in a module that never names the
    method or attribute (`class TriageAgent(BaseAgent)`) is what tells that
    `agent.describe(state)` reaches `BaseAgent.describe`, or that
    `agent.db_session` reads what `BaseAgent` stores."""
    known: dict[str, list[Klass]] = defaultdict(list)
    for model in (*models.before.values(), *models.after.values()):
        for qualname, klass in model.classes.items():
            known[qualname].append(klass)
            known[qualname.rpartition(".")[2]].append(klass)
    receivers: list[tuple[str | None, str]] = []
    for model in models.after.values():
        receivers += [
            (c.receiver_class, c.receiver_type) for c in model.calls if c.target is None and c.method in methods
        ]
        # A removed attribute's reads, and a changed method read as a value (`handler = agent.describe`).
        receivers += [
            (u.receiver_class, u.receiver_type) for u in model.attributes if u.attribute in attributes | methods
        ]
    pending = [
        receiver_class or (short_name(receiver_type) if names_a_class(receiver_type) else "")
        for receiver_class, receiver_type in receivers
    ]
    missing: set[str] = set()
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if not name or name in seen or name in _BUILTIN_BASES:
            continue
        seen.add(name)
        classes = known.get(name) or known.get(name.rpartition(".")[2])
        if classes:
            pending.extend(base for klass in classes for base in klass.bases)
        elif short_name(name):
            missing.add(short_name(name))
    return missing


_BUILTIN_BASES = frozenset({"object", "builtins.object", "Exception", "BaseException"})


class ClassGraph:
    def __init__(self, models: Iterable[ModuleModel]) -> None:
        self.classes: dict[str, Klass] = {}
        for model in models:
            self.classes.update(model.classes)
        self.children: dict[str, set[str]] = defaultdict(set)
        self._by_short: dict[str, list[Klass]] = defaultdict(list)
        self._related: dict[str, set[str]] = {}
        for klass in self.classes.values():
            for base in klass.bases:
                self.children[base].add(klass.qualname)
            self._by_short[klass.qualname.rpartition(".")[2]].append(klass)

    def ancestors(self, qualname: str) -> set[str]:
        seen: set[str] = set()
        stack = [qualname]
        while stack:
            klass = self.classes.get(stack.pop())
            for base in klass.bases if klass else ():
                if base not in seen:
                    seen.add(base)
                    stack.append(base)
        return seen

    def descendants(self, qualname: str) -> set[str]:
        seen: set[str] = set()
        stack = [qualname]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def related(self, qualname: str) -> set[str]:
        """`qualname`, its ancestors and its descendants (asked once per class:
        the graph does not change once built)."""
        found = self._related.get(qualname)
        if found is None:
            found = self._related[qualname] = {qualname} | self.ancestors(qualname) | self.descendants(qualname)
        return found

    def unique(self, short: str) -> Klass | None:
        """The project class named `short`, if exactly one is."""
        candidates = self._by_short.get(short, []) if short else []
        return candidates[0] if len(candidates) == 1 else None

    def known_attributes(self, klass: Klass) -> set[str] | None:
        """Every attribute `klass` and its bases define, or None when a base
        outside the project may define more."""
        lineage = [klass.qualname, *(self.ancestors(klass.qualname) - {"object", "builtins.object"})]
        if any(name not in self.classes for name in lineage):
            return None
        return set().union(*(self.classes[name].attributes for name in lineage))

    def resolve(self, known: str) -> str:
        """`known` with a field of a project class (`field-of:ExecutionContext:state`)
        replaced by what that class's attribute is known to hold, "" if nothing."""
        if not known.startswith(FIELD_OF):
            return known
        owner, _, attribute = known[len(FIELD_OF) :].rpartition(":")
        klass = self.unique(owner.rpartition(".")[2])
        if klass is None:
            return ""
        for name in (klass.qualname, *sorted(self.ancestors(klass.qualname))):
            klass = self.classes.get(name)
            found = klass.attribute_type(attribute) if klass is not None else ""
            if found:
                return found
        return ""


SIGNATURES = ("ISO405", "ISO402")  # the fixes that change signatures and call sites


RETYPES = ("ISO402", "ISO405")  # the fixes that retype a parameter


def functions_after(models: Models) -> ChangedSignatures:
    """Every function of the models after the fixes, with its signature there
    (the first file's, for a name defined twice)."""
    functions: ChangedSignatures = {}
    for model in models.after.values():
        for qualname, function in model.functions.items():
            functions.setdefault(qualname, (function, function.signature))
    return functions


def by_callee(calls: Iterable[CallSite]) -> dict[tuple[str, str | None, str | None], list[CallSite]]:
    """Calls by (scope, target, method): how a call after the fixes finds itself before them."""
    found: dict[tuple[str, str | None, str | None], list[CallSite]] = defaultdict(list)
    for call in calls:
        found[(call.scope, call.target, call.method)].append(call)
    return found


def rewritten_call_sites(models: Models) -> list[tuple[str, CallSite]]:
    """Calls in the changed files whose text the fixes changed."""
    return added_items(models, lambda model: model.calls)


_Sited = TypeVar("_Sited", CallSite, WithItem)


def added_items(models: Models, items: Callable[[ModuleModel], Iterable[_Sited]]) -> list[tuple[str, _Sited]]:
    """What the fixes added to the changed files: items whose (scope, text) the file did not have as often before."""
    found = []
    for path in models.changed():
        before = Counter((item.scope, item.text) for item in items(models.before[path]))
        for item in items(models.after[path]):
            if before[(item.scope, item.text)] > 0:
                before[(item.scope, item.text)] -= 1
            else:
                found.append((path, item))
    return found


def called_name(call: CallSite) -> str:
    return call.method or (call.target or "").rpartition(".")[2]


def is_state_to_context(old: object, new: object, vocabulary: Vocabulary) -> bool:
    return (
        isinstance(old, Parameter)
        and isinstance(new, Parameter)
        and vocabulary.is_legacy(old.annotation)
        and vocabulary.is_context(new.annotation)
        and not vocabulary.is_legacy(new.annotation)  # widened to accept both: the legacy object still fits
    )


def is_widened_to_context(old: object, new: object, vocabulary: Vocabulary) -> bool:
    """A legacy-state parameter that now takes the context as well (a transitional signature)."""
    return (
        isinstance(old, Parameter)
        and isinstance(new, Parameter)
        and vocabulary.is_legacy(old.annotation)
        and not vocabulary.is_context(old.annotation)
        and vocabulary.is_context(new.annotation)
        and vocabulary.is_legacy(new.annotation)
    )


def field_owner(known: str) -> str:
    """`ExecutionContext` in `field-of:app.ExecutionContext:state`; "" for anything else."""
    if not known.startswith(FIELD_OF):
        return ""
    return known[len(FIELD_OF) :].rpartition(":")[0].rpartition(".")[2]


def short_name(type_text: str) -> str:
    """The class name in what is known of a value: `app.Registry`, `"Registry"`, `Registry | None`."""
    names = [part for part in re.split(r"[\s\"'|\[\],()]+", type_text) if part and part != "None"]
    return names[0].rpartition(".")[2] if len(names) == 1 else ""
