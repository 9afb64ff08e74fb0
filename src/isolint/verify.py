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
- locals read before any assignment that were not before (UnboundLocalError).

Each violation names the files whose changes caused it; the runner refuses
their fixes as one group and tries again without them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from .linediff import Opcode, opcodes
from .newer_syntax import parse_module
from .semantic import (
    FIELD_OF,
    CallSite,
    Function,
    Klass,
    ModuleModel,
    Parameter,
    Signature,
    WithItem,
    build_model,
)
from .source import split_lines


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
        return _mentions(annotation, self.context_class)

    def is_legacy(self, annotation: str) -> bool:
        return any(_mentions(annotation, name) for name in self.legacy_classes)


def _mentions(annotation: str, name: str) -> bool:
    short = name.rpartition(".")[2]
    return bool(short) and short in _words(annotation)


def _words(annotation: str) -> list[str]:
    return re.split(r"[\s\"'.|\[\],()]+", annotation)


@dataclass
class _Models:
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
    models = _Models()
    for path, (source, new_text) in changed.items():
        before, after = _parse(source, source.text), _parse(source, new_text)
        if before is None or after is None:
            continue  # the engine never hands over a fix that does not parse; a file that never parsed has no contract
        models.before[path], models.after[path] = before, after
    signatures = _changed_signatures(models, vocabulary)
    attributes = _removed_attributes(models)
    module_names = _removed_module_names(models)
    wanted = {f.name if f.name != "__init__" else (f.owner or "").rpartition(".")[2] for f, _ in signatures.values()}
    wanted |= {attribute for _, removed in attributes for attribute in removed}
    wanted |= {name for _, removed in module_names for name in removed}
    wanted |= {function.name for function in _uncached(models)}
    wanted |= {key for key, _, _ in _new_metadata_reads(models)}
    # A rewritten call is checked against the functions it can reach: only their definitions are wanted.
    rewritten_calls = _rewritten_calls(models)
    defined = {_called_name(call) for _, call in rewritten_calls} - {""} - wanted
    # ...and the classes their receivers are known to be, to check the methods they call exist.
    defined |= {_short(call.receiver_type) for _, call in rewritten_calls if call.method and call.receiver_type} - {""}
    # ...and what the `with` statements they add enter (a class, or a function that builds one).
    defined |= {_short(item.entered) for _, item in _new_withs(models)} - {""}
    # ...and where the calls now passing the context instead of the legacy state send it.
    handed_over = _context_arguments(models, vocabulary)
    defined |= {_called_name(call) for _, call, _ in handed_over} - {""} - wanted

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
        _field_owner(t)
        for m in models.after.values()
        for c in m.calls
        for t in (c.receiver_type, *dict(c.arguments).values())
    }
    if owners - known_classes - {""}:
        read(set(), owners - known_classes - {""})
    classes = _ClassGraph(m for m in [*models.before.values(), *models.after.values()])
    violations: list[Violation] = []
    callers: dict[str, list[tuple[str, int]]] = defaultdict(list)
    violations += _wrapped_signatures(models, signatures)
    violations += _stale_calls(models, signatures, classes, vocabulary, callers)
    violations += _stale_overrides(models, signatures, classes, vocabulary)
    violations += _removed_attribute_reads(models, attributes, classes, vocabulary)
    violations += _removed_name_uses(models, module_names)
    violations += _frozen_context_writes(models, vocabulary)
    violations += _missing_context_attributes(models, vocabulary)
    violations += _retyped_values(models, vocabulary)
    violations += _new_unbound_reads(models)
    violations += _retyped_returns(models, vocabulary)
    violations += _lost_caches(models)
    violations += _unwritten_metadata(models, vocabulary)
    violations += _retyped_parameters(models, vocabulary)
    violations += _missing_methods(rewritten_calls, classes)
    violations += _not_context_managers(models, classes)
    violations += _legacy_receivers(models, handed_over, classes, vocabulary)
    contracts = [
        ContractChange(
            qualname,
            _owner_file(models, qualname) or "",
            function.signature.text(),
            new.text(),
            tuple(sorted(set(callers[qualname]))),
            tuple(_widened(function.signature, new, vocabulary)),
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


# --- what changed -------------------------------------------------------------

_ChangedSignatures = dict[str, tuple[Function, Signature | None]]  # qualname -> (before, signature after or None)


def _binding_shape(signature: Signature) -> tuple[object, ...]:
    return (
        tuple((p.name, p.has_default) for p in signature.positional),
        signature.positional_only,
        tuple((p.name, p.has_default) for p in signature.keyword_only),
        signature.var_positional,
        signature.var_keyword,
    )


def _accepts_every_old_call(old: Signature, new: Signature) -> bool:
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


def _changed_signatures(models: _Models, vocabulary: Vocabulary) -> _ChangedSignatures:
    """Functions whose calls the fixes can break: removed, bound differently,
    or with a parameter retyped from the legacy state to the context."""
    changed: _ChangedSignatures = {}
    for path in models.changed():
        before, after = models.before[path], models.after[path]
        for qualname, function in before.functions.items():
            new = after.functions.get(qualname)
            if (
                new is None
                or not _accepts_every_old_call(function.signature, new.signature)
                or any(
                    _is_state_to_context(function.signature.parameter(p.name), p, vocabulary)
                    or _is_widened_to_context(function.signature.parameter(p.name), p, vocabulary)
                    for p in (*new.signature.positional, *new.signature.keyword_only)
                )
            ):
                changed[qualname] = (function, new.signature if new else None)
    return changed


def _removed_attributes(models: _Models) -> list[tuple[Klass, frozenset[str]]]:
    removed = []
    for path in models.changed():
        after = models.after[path]
        for qualname, klass in models.before[path].classes.items():
            new = after.classes.get(qualname)
            if new is not None and klass.attributes - new.attributes:
                removed.append((klass, frozenset(klass.attributes - new.attributes)))
    return removed


def _removed_module_names(models: _Models) -> list[tuple[ModuleModel, frozenset[str]]]:
    removed = []
    for path in models.changed():
        before, after = models.before[path], models.after[path]
        gone = before.module_names - after.module_names
        if gone:
            removed.append((before, frozenset(gone)))
    return removed


class _ClassGraph:
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


# --- the checks -----------------------------------------------------------------

_SIGNATURES = ("ISO405", "ISO402")  # the fixes that change signatures and call sites
_RETYPES = ("ISO402", "ISO405")  # the fixes that retype a parameter


def _owner_file(models: _Models, qualname: str) -> str | None:
    return models.owner_file(qualname)


class _Callees:
    """Functions that calls may reach, by qualified name and by method name."""

    def __init__(self, signatures: _ChangedSignatures) -> None:
        self.signatures = signatures
        self.methods: dict[str, list[str]] = defaultdict(list)
        for qualname, (function, _) in signatures.items():
            if function.owner is not None:
                self.methods[function.name].append(qualname)


def _candidates(call: CallSite, callees: _Callees, classes: _ClassGraph, vocabulary: Vocabulary) -> list[str]:
    signatures = callees.signatures
    if call.target is not None:
        if call.target in signatures:
            return [call.target]
        constructor = f"{call.target}.__init__"
        return [constructor] if constructor in signatures else []
    methods = callees.methods.get(call.method or "", ())
    if not methods:
        return []
    if call.receiver_class is not None:
        scope = classes.ancestors(call.receiver_class) if call.via_super else classes.related(call.receiver_class)
        return [qualname for qualname in methods if signatures[qualname][0].owner in scope]
    may_call = _MayCall(call, classes, vocabulary)
    return [qualname for qualname in methods if may_call(signatures[qualname][0])]


def _names_a_class(known: str) -> bool:
    """`Worker`, `app.Worker`, `Optional[Worker]`: an annotation or a constructor,
    not the callee of a function that returned the value (`registry.get`)."""
    last = known.partition("[")[0].rpartition(".")[2]
    return last[:1].isupper()


class _MayCall:
    """Whether `receiver.method(...)` with a receiver of unknown class can call
    a function: its receiver is known to be a related class, or, unknown, the
    call passes something that looks like the function's arguments (the legacy
    state or a context, or a name or attribute spelled like one of its parameters:
    `agent.execute(state, ctx.run_id)`, not `session.execute(stmt, params)`).
    What depends on the call alone is worked out once, for every function
    of the method's name."""

    def __init__(self, call: CallSite, classes: _ClassGraph, vocabulary: Vocabulary) -> None:
        self.classes = classes
        receiver = classes.resolve(call.receiver_type)
        self.receiver_words = set(_words(receiver)) if _names_a_class(receiver) else None
        self.spelled = {name for _, name in call.argument_names if name} | set(call.shape.keywords)
        self.passes_state = any(
            vocabulary.is_legacy(classes.resolve(value)) or vocabulary.is_context(classes.resolve(value))
            for _, value in call.arguments
        )

    def __call__(self, function: Function) -> bool:
        if self.receiver_words is not None:
            shorts = (name.rpartition(".")[2] for name in self.classes.related(function.owner or ""))
            return any(short and short in self.receiver_words for short in shorts)
        if self.passes_state:
            return True
        return any(p.name in self.spelled for p in (*function.signature.positional, *function.signature.keyword_only))


def _stale_calls(
    models: _Models,
    signatures: _ChangedSignatures,
    classes: _ClassGraph,
    vocabulary: Vocabulary,
    callers: dict[str, list[tuple[str, int]]],
) -> list[Violation]:
    """Calls that bound to their callee before the fixes and do not after:
    any call of a function whose signature changed, and any call the fixes
    rewrote, against every function it can reach (changed or not)."""
    rewritten = {(path, id(call)) for path, call in _rewritten_calls(models)}
    if not signatures and not rewritten:
        return []
    reachable = {**_functions_after(models), **signatures}
    changed_callees, reachable_callees = _Callees(signatures), _Callees(reachable)
    violations = []
    called: set[str] = set()
    for path, model in models.after.items():
        before = models.before.get(path)
        previous = _by_callee(before.calls if before is not None else model.calls)
        for call in model.calls:
            candidates = set(_candidates(call, changed_callees, classes, vocabulary))
            if (path, id(call)) in rewritten:
                candidates |= set(_candidates(call, reachable_callees, classes, vocabulary))
            for qualname in sorted(candidates):
                function, new = reachable[qualname]
                if function.wrapped_by:
                    continue  # called through its decorator's wrapper, whose signature is not known here
                priors = previous.get((call.scope, call.target, call.method), [])
                if any(function.signature.bind(prior.shape) is not None for prior in priors):
                    called.add(qualname)
                    if qualname in signatures:
                        callers[qualname].append((path, call.line))
                reason = _broken_call(call, priors, function, new, vocabulary, classes)
                if reason is None:
                    continue
                owner = _owner_file(models, qualname) if qualname in signatures else None
                responsible = {p for p in (owner, path if (path, id(call)) in rewritten else None) if p}
                violations.append(Violation(frozenset(responsible), path, call.line, reason, _SIGNATURES))
    for qualname, (function, new) in sorted(signatures.items()):
        reshaped = new is None or not _accepts_every_old_call(function.signature, new)
        if reshaped and qualname not in called and not function.name.startswith("_") and function.name != "__init__":
            owner = _owner_file(models, qualname)
            violations.append(
                Violation(
                    frozenset({owner} if owner else ()),
                    owner or "",
                    _after_line(models, owner, qualname, function),
                    f"nothing in the checked project calls `{qualname}`, so its callers (a framework, another "
                    "service, code outside the checked paths) cannot be verified against the new signature",
                    _SIGNATURES,
                )
            )
    return violations


def _after_line(models: _Models, path: str | None, qualname: str, function: Function) -> int:
    """The line of `qualname` in the fixed text of `path` (violations are placed on fixed texts)."""
    after = models.after.get(path or "")
    new = after.functions.get(qualname) if after is not None else None
    return new.line if new is not None else function.line


def _wrapped_signatures(models: _Models, signatures: _ChangedSignatures) -> list[Violation]:
    """A decorated function whose call shape the fixes change: a wrapper that
    forwards `(self, state, run_id, ...)` would call it the old way."""
    violations = []
    for qualname, (function, new) in sorted(signatures.items()):
        reshaped = new is None or not _accepts_every_old_call(function.signature, new)
        if reshaped and function.wrapped_by:
            owner = _owner_file(models, qualname)
            decorators = ", ".join(f"`@{name}`" for name in sorted(function.wrapped_by))
            violations.append(
                Violation(
                    frozenset({owner} if owner else ()),
                    owner or "",
                    _after_line(models, owner, qualname, function),
                    f"`{qualname}` is wrapped by {decorators}, which may forward its arguments in the old shape",
                    _SIGNATURES,
                )
            )
    return violations


def _functions_after(models: _Models) -> _ChangedSignatures:
    """Every function of the models after the fixes, with its signature there
    (the first file's, for a name defined twice)."""
    functions: _ChangedSignatures = {}
    for model in models.after.values():
        for qualname, function in model.functions.items():
            functions.setdefault(qualname, (function, function.signature))
    return functions


def _by_callee(calls: Iterable[CallSite]) -> dict[tuple[str, str | None, str | None], list[CallSite]]:
    """Calls by (scope, target, method): how a call after the fixes finds itself before them."""
    found: dict[tuple[str, str | None, str | None], list[CallSite]] = defaultdict(list)
    for call in calls:
        found[(call.scope, call.target, call.method)].append(call)
    return found


def _rewritten_calls(models: _Models) -> list[tuple[str, CallSite]]:
    """Calls in the changed files whose text the fixes changed."""
    return _added(models, lambda model: model.calls)


_Sited = TypeVar("_Sited", CallSite, WithItem)


def _added(models: _Models, items: Callable[[ModuleModel], Iterable[_Sited]]) -> list[tuple[str, _Sited]]:
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


# The fixes that can turn what a call passes into the context: a construction
# (ISO403), or a parameter retyped and passed on (ISO402, ISO405).
_HANDS_OVER = ("ISO403", "ISO402", "ISO405")
# Callees that take any object alike: what they do with the value works on the context as on the legacy state.
_ANY_OBJECT_BUILTINS = frozenset({"builtins.print", "builtins.repr", "builtins.str", "builtins.id", "builtins.format"})
_LOGGING_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})


def _context_arguments(models: _Models, vocabulary: Vocabulary) -> list[tuple[str, CallSite, str]]:
    """(path, call, slot) for each argument of a call in a changed file that
    the fixes turned from the legacy state into the context: a construction
    rewritten in place (`run(DeepAgentState(...))`), a variable whose
    construction was (`state = DeepAgentState(...)`, then `run(state)`), or
    a parameter retyped to the context and passed on (`record(state)`)."""
    found = []
    for path in models.changed():
        previous = _by_callee(models.before[path].calls)
        for call in models.after[path].calls:
            priors = previous.get((call.scope, call.target, call.method), [])
            same = [prior for prior in priors if prior.text == call.text]
            for slot, value in call.arguments:
                if vocabulary.is_context(value) and any(
                    vocabulary.is_legacy(prior.argument(slot)) for prior in same or priors
                ):
                    found.append((path, call, slot))
    return found


def _legacy_receivers(
    models: _Models, handed_over: list[tuple[str, CallSite, str]], classes: _ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    """A context passed where the legacy state was: every function the call
    can reach must take the context there after the fixes (its annotation
    names it). A call that reaches nothing in the checked project hands the
    context to code that may expect the legacy state, unless the callee
    takes any object alike (`print`, a logger's methods)."""
    if not handed_over:
        return []
    reachable = _functions_after(models)
    callees = _Callees(reachable)
    context = vocabulary.context_class.rpartition(".")[2]
    violations = []
    for path, call, slot in handed_over:
        where = f"`{call.text}` now passes a `{context}` where it passed the legacy state"
        candidates = _candidates(call, callees, classes, vocabulary)
        if not candidates:
            if call.target in _ANY_OBJECT_BUILTINS or (call.method in _LOGGING_METHODS and slot != "0"):
                continue
            reason = f"{where}, to code outside the checked project that may use it as the legacy state"
            violations.append(Violation(frozenset({path}), path, call.line, reason, _HANDS_OVER))
            continue
        for qualname in candidates:
            function = reachable[qualname][0]
            binding = function.signature.bind(call.shape)
            if binding is None or slot not in binding:
                continue  # not this function: the call does not bind to it
            parameter = function.signature.parameter(binding[slot])
            if parameter is not None and vocabulary.is_context(parameter.annotation):
                continue  # annotated to take one (an unannotated parameter may be stored, returned or aliased)
            if parameter is None:
                taken = "`*args` or `**kwargs`"
            else:
                taken = f"`{parameter.name}: {parameter.annotation}`" if parameter.annotation else f"`{parameter.name}`"
            reason = f"{where}, to `{qualname}`, whose {taken} can still use it as the legacy state"
            violations.append(Violation(frozenset({path}), path, call.line, reason, _HANDS_OVER))
            break
    return violations


def _called_name(call: CallSite) -> str:
    return call.method or (call.target or "").rpartition(".")[2]


def _broken_call(
    call: CallSite,
    priors: list[CallSite],
    function: Function,
    new: Signature | None,
    vocabulary: Vocabulary,
    classes: _ClassGraph,
) -> str | None:
    """Why `call` worked against the old signature and does not against the new one.

    `priors` are the calls of the same name in the same scope before the
    fixes; one with the same text is this call, unchanged. An unchanged call
    must bind each argument to the parameter it bound before (a run id that
    slides into `stream_updates` binds, and is wrong); a rewritten one must
    bind. Either way, an argument bound to a parameter the fixes retyped from
    the legacy state to the context must be known to be a context."""
    old = function.signature
    callers = [p for p in priors if old.bind(p.shape) is not None]
    if not callers:
        return None  # it never called this function (another class's method of the same name)
    same = next((p for p in callers if p.text == call.text), None)
    where = f"`{call.text}` calls `{function.qualname}`"
    if new is None:
        return f"{where}, which the fixes remove"
    new_binding = new.bind(call.shape)
    if new_binding is None:
        if _binding_shape(old) == _binding_shape(new):
            return f"{where}, which takes {new.text()}; the fixes rewrite the call so that it no longer matches"
        return (
            f"{where}, whose signature the fixes change from {old.text()} to {new.text()}; the call no longer matches"
        )
    old_binding = old.bind(same.shape) if same is not None else None
    for slot, name in new_binding.items():
        before = old_binding.get(slot) if old_binding is not None else None
        old_param, new_param = old.parameter(before or name), new.parameter(name)
        if old_binding is not None and before != name and not _is_state_to_context(old_param, new_param, vocabulary):
            return f"{where}; its argument {_slot(slot)} bound `{before}` before the fixes and binds `{name}` after"
        if _is_state_to_context(old_param, new_param, vocabulary) and not vocabulary.is_context(
            classes.resolve(call.argument(slot))
        ):
            return (
                f"{where}, whose `{name}` the fixes make a `{vocabulary.context_class.rpartition('.')[2]}`; its argument "
                f"{_slot(slot)} can still be the legacy state"
            )
    return None


def _slot(slot: str) -> str:
    return str(int(slot) + 1) if slot.isdigit() else f"`{slot}=`"


def _is_state_to_context(old: object, new: object, vocabulary: Vocabulary) -> bool:
    return (
        isinstance(old, Parameter)
        and isinstance(new, Parameter)
        and vocabulary.is_legacy(old.annotation)
        and vocabulary.is_context(new.annotation)
        and not vocabulary.is_legacy(new.annotation)  # widened to accept both: the legacy object still fits
    )


def _is_widened_to_context(old: object, new: object, vocabulary: Vocabulary) -> bool:
    """A legacy-state parameter that now takes the context as well (a transitional signature)."""
    return (
        isinstance(old, Parameter)
        and isinstance(new, Parameter)
        and vocabulary.is_legacy(old.annotation)
        and not vocabulary.is_context(old.annotation)
        and vocabulary.is_context(new.annotation)
        and vocabulary.is_legacy(new.annotation)
    )


def _widened(old: Signature, new: Signature, vocabulary: Vocabulary) -> list[str]:
    return [
        p.name
        for p in (*new.positional, *new.keyword_only)
        if _is_widened_to_context(old.parameter(p.name), p, vocabulary)
    ]


def _stale_overrides(
    models: _Models, signatures: _ChangedSignatures, classes: _ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    violations = []
    for qualname, (function, new) in signatures.items():
        if function.owner is None or new is None:
            continue
        widened = _widened(function.signature, new, vocabulary)
        overriding = classes.descendants(function.owner)  # a widened parameter may stay narrower in a base class
        for related in sorted(classes.related(function.owner) - {function.owner}):
            other_name = f"{related}.{function.name}"
            for path, model in models.after.items():
                other = model.functions.get(other_name)
                if other is None or (other_name in signatures and signatures[other_name][1] is not None):
                    continue
                if _binding_shape(other.signature) != _binding_shape(function.signature):
                    continue  # it differed before the fixes too
                narrower = [
                    name
                    for name in (widened if related in overriding else ())
                    if not vocabulary.is_context(getattr(other.signature.parameter(name), "annotation", ""))
                ]
                if narrower:
                    owner = _owner_file(models, qualname)
                    listed = ", ".join(f"`{name}`" for name in narrower)
                    violations.append(
                        Violation(
                            frozenset({owner} if owner else ()),
                            path,
                            other.line,
                            f"`{other_name}` overrides `{qualname}`, whose {listed} the fixes widen to take the context as "
                            f"well; the override would still take only the legacy state",
                            _SIGNATURES,
                        )
                    )
                elif not _accepts_every_old_call(function.signature, new):
                    owner = _owner_file(models, qualname)
                    violations.append(
                        Violation(
                            frozenset({owner} if owner else ()),
                            path,
                            other.line,
                            f"`{other_name}` overrides or is overridden by `{qualname}`, whose signature the fixes change "
                            f"from {function.signature.text()} to {new.text()}; the two would no longer agree",
                            _SIGNATURES,
                        )
                    )
    return violations


def _removed_attribute_reads(
    models: _Models, removed: list[tuple[Klass, frozenset[str]]], classes: _ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    violations = []
    for klass, attributes in removed:
        family = classes.related(klass.qualname)
        short = klass.qualname.rpartition(".")[2]
        owner = _owner_file(models, klass.qualname)
        for path, model in models.after.items():
            mentions_class = short in model.names
            for use in model.attributes:
                if use.is_store or use.attribute not in attributes:
                    continue
                if use.receiver_class is not None:
                    reads_it = use.receiver_class in family
                elif use.receiver_type:
                    reads_it = _mentions(use.receiver_type, short)
                else:
                    reads_it = mentions_class
                if reads_it:
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


def _new_withs(models: _Models) -> list[tuple[str, WithItem]]:
    """`with` items in the changed files that the fixes added."""
    return _added(models, lambda model: model.withs)


def _not_context_managers(models: _Models, classes: _ClassGraph) -> list[Violation]:
    """A `with` the fixes add on an object of a project class (built, or returned
    by a project function annotated with it) that lacks `__enter__`/`__exit__`
    (`__aenter__`/`__aexit__` for `async with`): it would raise TypeError."""
    returns: dict[str, set[str]] = defaultdict(set)
    for model in (*models.before.values(), *models.after.values()):
        for function in model.functions.values():
            returns[function.name].add(function.returns)
    violations = []
    for path, item in _new_withs(models):
        entered = _short(classes.resolve(item.entered))
        if entered and not entered[:1].isupper() and len(returns.get(entered, ())) == 1:
            entered = _short(next(iter(returns[entered])))  # a project function: the class it is annotated to return
        klass = classes.unique(entered)
        if klass is None:
            continue
        attributes = classes.known_attributes(klass)
        if attributes is None:
            continue  # a base class outside the project may make it one
        needed = ("__aenter__", "__aexit__") if item.is_async else ("__enter__", "__exit__")
        if not all(method in attributes for method in needed):
            keyword = "async with" if item.is_async else "with"
            violations.append(
                Violation(
                    frozenset({path}),
                    path,
                    item.line,
                    f"`{keyword} {item.text}` enters a `{klass.qualname}`, which has no `{needed[0]}`/`{needed[1]}` (TypeError)",
                    ("ISO204",),
                )
            )
    return violations


def _field_owner(known: str) -> str:
    """`ExecutionContext` in `field-of:app.ExecutionContext:state`; "" for anything else."""
    if not known.startswith(FIELD_OF):
        return ""
    return known[len(FIELD_OF) :].rpartition(":")[0].rpartition(".")[2]


def _short(type_text: str) -> str:
    """The class name in what is known of a value: `app.Registry`, `"Registry"`, `Registry | None`."""
    names = [part for part in re.split(r"[\s\"'|\[\],()]+", type_text) if part and part != "None"]
    return names[0].rpartition(".")[2] if len(names) == 1 else ""


def _missing_methods(rewritten: list[tuple[str, CallSite]], classes: _ClassGraph) -> list[Violation]:
    """A rewritten `receiver.method(...)` whose receiver is known to be a
    project class that has no such method (nor a base class that may)."""
    violations = []
    for path, call in rewritten:
        klass = classes.unique(_short(classes.resolve(call.receiver_type))) if call.method else None
        if klass is None:
            continue  # not a project class, or ambiguous
        attributes = classes.known_attributes(klass)
        if attributes is None:
            continue  # a base class outside the project may define it
        if call.method in attributes or "__getattr__" in attributes or "__getattribute__" in attributes:
            continue
        violations.append(
            Violation(
                frozenset({path}),
                path,
                call.line,
                f"`{call.text}` calls `.{call.method}()` on a `{klass.qualname}`, which has no such method",
                ("ISO104", "ISO302", "ISO303", "ISO106", "ISO201", "ISO204"),
            )
        )
    return violations


def _removed_name_uses(models: _Models, removed: list[tuple[ModuleModel, frozenset[str]]]) -> list[Violation]:
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


def _frozen_context_writes(models: _Models, vocabulary: Vocabulary) -> list[Violation]:
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


def _rewritten_construction_scopes(models: _Models, path: str, vocabulary: Vocabulary) -> set[str]:
    """Scopes of `path` where the fixes replaced a construction of the legacy
    state with one of the context (ISO403): fewer calls of a legacy class, more of the context's."""

    def built(model: ModuleModel, wanted: Callable[[str], bool]) -> Counter[str]:
        return Counter(call.scope for call in model.calls if call.target is not None and wanted(call.target))

    before, after = models.before[path], models.after[path]
    fewer_legacy = built(before, vocabulary.is_legacy) - built(after, vocabulary.is_legacy)
    more_context = built(after, vocabulary.is_context) - built(before, vocabulary.is_context)
    return set(fewer_legacy) & set(more_context)


def _retyped_values(models: _Models, vocabulary: Vocabulary) -> list[Violation]:
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


def _missing_context_attributes(models: _Models, vocabulary: Vocabulary) -> list[Violation]:
    """A variable the fixes made the context (a construction rewritten) read
    for an attribute a context does not have: AttributeError where it ran
    before. (A retyped parameter is _retyped_parameters'; a write is
    _frozen_context_writes'.)"""
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


def _new_unbound_reads(models: _Models) -> list[Violation]:
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


def _retyped_returns(models: _Models, vocabulary: Vocabulary) -> list[Violation]:
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


def _lost_caches(models: _Models) -> list[Violation]:
    """`functools` cache decorators the fixes remove from a function whose
    `cache_clear()` (or `cache_info()`) some module still calls."""
    violations = []
    for function in _uncached(models):
        qualname, path = function.qualname, _owner_file(models, function.qualname)
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


def _uncached(models: _Models) -> list[Function]:
    """Functions that lose a `functools` cache decorator."""
    lost = []
    for path in models.changed():
        after = models.after[path].functions
        for qualname, function in models.before[path].functions.items():
            new = after.get(qualname)
            if function.decorators & _CACHE_DECORATORS and not (new is not None and new.decorators & _CACHE_DECORATORS):
                lost.append(function)
    return lost


def _new_metadata_reads(models: _Models) -> list[tuple[str, int, str]]:
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


def _unwritten_metadata(models: _Models, vocabulary: Vocabulary) -> list[Violation]:
    """A read the fixes move to the context's metadata, of a field the
    project writes onto the legacy state: nothing puts it into the metadata,
    so the read would always be None (a result one agent leaves for the next)."""
    reads = _new_metadata_reads(models)
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


def _retyped_parameters(models: _Models, vocabulary: Vocabulary) -> list[Violation]:
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
                if not _is_state_to_context(old.signature.parameter(param.name), param, vocabulary):
                    continue
                if param.name in function.rebound:
                    violations.append(
                        Violation(
                            frozenset({path}),
                            path,
                            function.line,
                            f"`{function.name}` would take `{param.name}: {context}` but assigns `{param.name}` itself",
                            _RETYPES,
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
                                _RETYPES,
                            )
                        )
                        break
    return violations
