"""The gate's checks on calls: a call that no longer binds to what it
reaches, an override left with the old signature, a wrapped function whose
call shape changed, a method or context manager a rewritten call needs, and
an argument turned into the context that reaches a parameter still
expecting the legacy state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from ..semantic import (
    CallSite,
    Function,
    Signature,
    WithItem,
)
from .model import (
    SIGNATURES,
    ChangedSignatures,
    ClassGraph,
    Models,
    Violation,
    Vocabulary,
    accepts_every_old_call,
    added_items,
    binding_shape,
    by_callee,
    functions_after,
    is_state_to_context,
    is_widened_to_context,
    may_be_of,
    names_a_class,
    rewritten_call_sites,
    short_name,
    words,
)


class _Callees:
    """Functions that calls may reach, by qualified name and by method name."""

    def __init__(self, signatures: ChangedSignatures) -> None:
        self.signatures = signatures
        self.methods: dict[str, list[str]] = defaultdict(list)
        for qualname, (function, _) in signatures.items():
            if function.owner is not None:
                self.methods[function.name].append(qualname)


def _candidates(call: CallSite, callees: _Callees, classes: ClassGraph, vocabulary: Vocabulary) -> list[str]:
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


class _MayCall:
    """Whether `receiver.method(...)` with a receiver of unknown class can call
    a function: its receiver is known to be a related class, or, unknown, the
    call passes something that looks like the function's arguments (the legacy
    state or a context, or a name or attribute spelled like one of its parameters:
    `agent.execute(state, ctx.run_id)`, not `session.execute(stmt, params)`).
    What depends on the call alone is worked out once, for every function
    of the method's name."""

    def __init__(self, call: CallSite, classes: ClassGraph, vocabulary: Vocabulary) -> None:
        self.classes = classes
        receiver = classes.resolve(call.receiver_type)
        self.receiver_words = set(words(receiver)) if names_a_class(receiver) else None
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


def stale_calls(
    models: Models,
    signatures: ChangedSignatures,
    classes: ClassGraph,
    vocabulary: Vocabulary,
    callers: dict[str, list[tuple[str, int]]],
) -> list[Violation]:
    """Calls that bound to their callee before the fixes and do not after:
    any call of a function whose signature changed, and any call the fixes
    rewrote, against every function it can reach (changed or not)."""
    rewritten = {(path, id(call)) for path, call in rewritten_call_sites(models)}
    if not signatures and not rewritten:
        return []
    reachable = {**functions_after(models), **signatures}
    changed_callees, reachable_callees = _Callees(signatures), _Callees(reachable)
    violations = []
    called: set[str] = set()
    for path, model in models.after.items():
        before = models.before.get(path)
        previous = by_callee(before.calls if before is not None else model.calls)
        for call in model.calls:
            candidates = set(_candidates(call, changed_callees, classes, vocabulary))
            if (path, id(call)) in rewritten:
                candidates |= set(_candidates(call, reachable_callees, classes, vocabulary))
            for qualname in sorted(candidates):
                function, new = reachable[qualname]
                if function.wrapped_by:
                    continue  # called through its decorator's wrapper, whose signature is not known here
                priors = previous.get((call.scope, call.target, call.method), [])
                # Through its class, a method is passed the instance first.
                skipped = 1 if _passes_the_instance(call, function) else 0
                if skipped:
                    call_as_bound, priors = _as_bound(call), [_as_bound(prior) for prior in priors]
                else:
                    call_as_bound = call
                if any(function.signature.bind(prior.shape) is not None for prior in priors):
                    called.add(qualname)
                    if qualname in signatures:
                        callers[qualname].append((path, call.line))
                reason = _broken_call(call_as_bound, priors, function, new, vocabulary, classes, skipped)
                if reason is None:
                    continue
                owner = models.owner_file(qualname) if qualname in signatures else None
                responsible = {p for p in (owner, path if (path, id(call)) in rewritten else None) if p}
                violations.append(Violation(frozenset(responsible), path, call.line, reason, SIGNATURES))
    for qualname, (function, new) in sorted(signatures.items()):
        reshaped = new is None or not accepts_every_old_call(function.signature, new)
        if reshaped and qualname not in called and not function.name.startswith("_") and function.name != "__init__":
            owner = models.owner_file(qualname)
            violations.append(
                Violation(
                    frozenset({owner} if owner else ()),
                    owner or "",
                    _after_line(models, owner, qualname, function),
                    f"nothing in the project calls `{qualname}`, so its callers (a framework, another service, "
                    "code outside the project) cannot be verified against the new signature",
                    SIGNATURES,
                )
            )
    return violations


def _after_line(models: Models, path: str | None, qualname: str, function: Function) -> int:
    """The line of `qualname` in the fixed text of `path` (violations are placed on fixed texts)."""
    after = models.after.get(path or "")
    new = after.functions.get(qualname) if after is not None else None
    return new.line if new is not None else function.line


def wrapped_signatures(models: Models, signatures: ChangedSignatures) -> list[Violation]:
    """A decorated function whose call shape the fixes change: a wrapper that
    forwards `(self, state, run_id, ...)` would call it the old way."""
    violations = []
    for qualname, (function, new) in sorted(signatures.items()):
        reshaped = new is None or not accepts_every_old_call(function.signature, new)
        if reshaped and function.wrapped_by:
            owner = models.owner_file(qualname)
            decorators = ", ".join(f"`@{name}`" for name in sorted(function.wrapped_by))
            violations.append(
                Violation(
                    frozenset({owner} if owner else ()),
                    owner or "",
                    _after_line(models, owner, qualname, function),
                    f"`{qualname}` is wrapped by {decorators}, which may forward its arguments in the old shape",
                    SIGNATURES,
                )
            )
    return violations


# The fixes that can turn what a call passes into the context: a construction
# (ISO403), or a parameter retyped and passed on (ISO402, ISO405).
_HANDS_OVER = ("ISO403", "ISO402", "ISO405")


# Callees that take any object alike: what they do with the value works on the context as on the legacy state.
_ANY_OBJECT_BUILTINS = frozenset({"builtins.print", "builtins.repr", "builtins.str", "builtins.id", "builtins.format"})


_LOGGING_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})


def context_arguments(models: Models, vocabulary: Vocabulary) -> list[tuple[str, CallSite, str]]:
    """(path, call, slot) for each argument of a call in a changed file that
    the fixes turned from the legacy state into the context: a construction
    rewritten in place (`run(DeepAgentState(...))`), a variable whose
    construction was (`state = DeepAgentState(...)`, then `run(state)`), or
    a parameter retyped to the context and passed on (`record(state)`)."""
    found = []
    for path in models.changed():
        previous = by_callee(models.before[path].calls)
        for call in models.after[path].calls:
            priors = previous.get((call.scope, call.target, call.method), [])
            same = [prior for prior in priors if prior.text == call.text]
            for slot, value in call.arguments:
                if vocabulary.is_context(value) and any(
                    vocabulary.is_legacy(prior.argument(slot)) for prior in same or priors
                ):
                    found.append((path, call, slot))
    return found


def legacy_receivers(
    models: Models, handed_over: list[tuple[str, CallSite, str]], classes: ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    """A context passed where the legacy state was: every function the call
    can reach must take the context there after the fixes (its annotation
    names it). A call that reaches no function the gate can read (code
    outside the project, a dataclass's generated `__init__`) hands the
    context to code that may expect the legacy state, unless the callee
    takes any object alike (`print`, a logger's methods)."""
    if not handed_over:
        return []
    reachable = functions_after(models)
    callees = _Callees(reachable)
    context = vocabulary.context_class.rpartition(".")[2]
    violations = []
    for path, call, slot in handed_over:
        where = f"`{call.text}` now passes a `{context}` where it passed the legacy state"
        candidates = _candidates(call, callees, classes, vocabulary)
        if not candidates:
            if call.target in _ANY_OBJECT_BUILTINS or (call.method in _LOGGING_METHODS and slot != "0"):
                continue
            reason = (
                f"{where}, to code the gate cannot read (outside the project, or generated) "
                "that may use it as the legacy state"
            )
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


def functions_read_as_values(models: Models, signatures: ChangedSignatures) -> list[Violation]:
    """A function (not a method) whose signature the fixes change, read by
    name as a value rather than called (`map(describe, states)`, `TOOLS =
    {"search": search}`): whatever calls it later is not a call the gate can
    check against the new signature."""
    violations = []
    for path, model in models.after.items():
        for qualname, line in model.function_values:
            changed = signatures.get(qualname)
            if changed is not None and changed[0].owner is None:
                owner = models.owner_file(qualname)
                reason = (
                    f"`{qualname.rpartition('.')[2]}` is read as a value, not called: what calls "
                    f"`{qualname}` later cannot be checked against the signature the fixes give it"
                )
                violations.append(Violation(frozenset({owner} if owner else ()), path, line, reason, SIGNATURES))
    return violations


def methods_read_as_values(
    models: Models, signatures: ChangedSignatures, classes: ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    """A method whose signature the fixes change, read as a value rather than
    called (`handler = agent.describe`, `functools.partial(agent.describe,
    state)`, `map(agent.describe, states)`): whatever calls it later is not a
    call the gate can check against the new signature."""
    changed: dict[str, list[tuple[str, Function]]] = defaultdict(list)
    for qualname, (function, _) in signatures.items():
        if function.owner is not None and "property" not in function.decorators:
            changed[function.name].append((qualname, function))
    violations = []
    for path, model in models.after.items():
        for use in model.attributes:
            if use.called or use.is_store or use.attribute not in changed:
                continue
            for qualname, function in changed[use.attribute]:
                if may_be_of(use, classes.related(function.owner or ""), model, vocabulary):
                    owner = models.owner_file(qualname)
                    reason = (
                        f"`.{use.attribute}` is read as a value, not called, where it may be `{qualname}`: what "
                        "calls it later cannot be checked against the signature the fixes give it"
                    )
                    violations.append(
                        Violation(frozenset({owner} if owner else ()), path, use.line, reason, SIGNATURES)
                    )
                    break
    return violations


def _passes_the_instance(call: CallSite, function: Function) -> bool:
    """`BaseAgent.describe(agent, state)`: a method called through its class
    passes the instance first (its signature here leaves `self` out)."""
    return (
        call.target == function.qualname
        and function.owner is not None
        and not function.decorators & {"staticmethod", "classmethod"}
    )


def _as_bound(call: CallSite) -> CallSite:
    """`call` without its first positional argument (the instance), its slots renumbered."""
    shape = call.shape
    if shape.positional == 0:
        return call

    def shifted(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple((str(int(slot) - 1) if slot.isdigit() else slot, value) for slot, value in pairs if slot != "0")

    return replace(
        call,
        shape=replace(shape, positional=shape.positional - 1),
        arguments=shifted(call.arguments),
        argument_names=shifted(call.argument_names),
    )


def _broken_call(
    call: CallSite,
    priors: list[CallSite],
    function: Function,
    new: Signature | None,
    vocabulary: Vocabulary,
    classes: ClassGraph,
    skipped: int = 0,
) -> str | None:
    """Why `call` worked against the old signature and does not against the new one.

    `priors` are the calls of the same name in the same scope before the
    fixes; one with the same text is this call, unchanged. An unchanged call
    must bind each argument to the parameter it bound before (a run id that
    slides into `stream_updates` binds, and is wrong); a rewritten one must
    bind. Either way, an argument bound to a parameter the fixes retyped from
    the legacy state to the context must be known to be a context. Its
    arguments are numbered for the message as the caller wrote them, the
    first `skipped` (the instance, for a method called through its class) left out here."""
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
        if binding_shape(old) == binding_shape(new):
            return f"{where}, which takes {new.text()}; the fixes rewrite the call so that it no longer matches"
        return (
            f"{where}, whose signature the fixes change from {old.text()} to {new.text()}; the call no longer matches"
        )
    spread = " and ".join(
        name for name, used in (("`*args`", call.shape.var_positional), ("`**kwargs`", call.shape.var_keyword)) if used
    )
    if spread and binding_shape(old) != binding_shape(new):
        return (
            f"{where}, whose signature the fixes change from {old.text()} to {new.text()}; what its {spread} "
            "pass cannot be checked against it"
        )
    old_binding = old.bind(same.shape) if same is not None else None
    for slot, name in new_binding.items():
        before = old_binding.get(slot) if old_binding is not None else None
        old_param, new_param = old.parameter(before or name), new.parameter(name)
        if old_binding is not None and before != name and not is_state_to_context(old_param, new_param, vocabulary):
            return f"{where}; its argument {_slot(slot, skipped)} bound `{before}` before the fixes and binds `{name}` after"
        if is_state_to_context(old_param, new_param, vocabulary) and not vocabulary.is_context(
            classes.resolve(call.argument(slot))
        ):
            return (
                f"{where}, whose `{name}` the fixes make a `{vocabulary.context_class.rpartition('.')[2]}`; its argument "
                f"{_slot(slot, skipped)} can still be the legacy state"
            )
    retyped = _spread_into_retyped(call, old, new, set(new_binding.values()), vocabulary)
    if retyped is not None:
        parameter, spelled = retyped
        return (
            f"{where}, whose `{parameter}` the fixes make a `{vocabulary.context_class.rpartition('.')[2]}`; what its "
            f"{spelled} pass there can still be the legacy state"
        )
    return None


def _spread_into_retyped(
    call: CallSite, old: Signature, new: Signature, bound: set[str], vocabulary: Vocabulary
) -> tuple[str, str] | None:
    """A parameter retyped to the context that the call reaches only through
    what it spreads (`agent.describe(*args)`, `(**kwargs)`: a forwarding
    wrapper), with how: nothing says that is a context."""
    shape = call.shape
    for index, parameter in enumerate((*new.positional, *new.keyword_only)):
        if parameter.name in bound or not is_state_to_context(old.parameter(parameter.name), parameter, vocabulary):
            continue
        positional = index < len(new.positional)
        by_position = shape.var_positional and positional and index >= shape.positional
        by_keyword = shape.var_keyword and not (positional and index < new.positional_only)
        if by_position or by_keyword:
            spelled = " or ".join(name for name, used in (("`*args`", by_position), ("`**kwargs`", by_keyword)) if used)
            return parameter.name, spelled
    return None


def _slot(slot: str, skipped: int = 0) -> str:
    return str(int(slot) + 1 + skipped) if slot.isdigit() else f"`{slot}=`"


def widened_parameters(old: Signature, new: Signature, vocabulary: Vocabulary) -> list[str]:
    return [
        p.name
        for p in (*new.positional, *new.keyword_only)
        if is_widened_to_context(old.parameter(p.name), p, vocabulary)
    ]


def stale_overrides(
    models: Models, signatures: ChangedSignatures, classes: ClassGraph, vocabulary: Vocabulary
) -> list[Violation]:
    violations = []
    for qualname, (function, new) in signatures.items():
        if function.owner is None or new is None:
            continue
        widened = widened_parameters(function.signature, new, vocabulary)
        overriding = classes.descendants(function.owner)  # a widened parameter may stay narrower in a base class
        for related in sorted(classes.related(function.owner) - {function.owner}):
            other_name = f"{related}.{function.name}"
            for path, model in models.after.items():
                other = model.functions.get(other_name)
                if other is None or (other_name in signatures and signatures[other_name][1] is not None):
                    continue
                if binding_shape(other.signature) != binding_shape(function.signature):
                    continue  # it differed before the fixes too
                narrower = [
                    name
                    for name in (widened if related in overriding else ())
                    if not vocabulary.is_context(getattr(other.signature.parameter(name), "annotation", ""))
                ]
                if narrower:
                    owner = models.owner_file(qualname)
                    listed = ", ".join(f"`{name}`" for name in narrower)
                    violations.append(
                        Violation(
                            frozenset({owner} if owner else ()),
                            path,
                            other.line,
                            f"`{other_name}` overrides `{qualname}`, whose {listed} the fixes widen to take the context as "
                            f"well; the override would still take only the legacy state",
                            SIGNATURES,
                        )
                    )
                elif not accepts_every_old_call(function.signature, new):
                    owner = models.owner_file(qualname)
                    violations.append(
                        Violation(
                            frozenset({owner} if owner else ()),
                            path,
                            other.line,
                            f"`{other_name}` overrides or is overridden by `{qualname}`, whose signature the fixes change "
                            f"from {function.signature.text()} to {new.text()}; the two would no longer agree",
                            SIGNATURES,
                        )
                    )
    return violations


def new_withs(models: Models) -> list[tuple[str, WithItem]]:
    """`with` items in the changed files that the fixes added."""
    return added_items(models, lambda model: model.withs)


def not_context_managers(models: Models, classes: ClassGraph) -> list[Violation]:
    """A `with` the fixes add on an object of a project class (built, or returned
    by a project function annotated with it) that lacks `__enter__`/`__exit__`
    (`__aenter__`/`__aexit__` for `async with`): it would raise TypeError."""
    returns: dict[str, set[str]] = defaultdict(set)
    for model in (*models.before.values(), *models.after.values()):
        for function in model.functions.values():
            returns[function.name].add(function.returns)
    violations = []
    for path, item in new_withs(models):
        entered = short_name(classes.resolve(item.entered))
        if entered and not entered[:1].isupper() and len(returns.get(entered, ())) == 1:
            entered = short_name(
                next(iter(returns[entered]))
            )  # a project function: the class it is annotated to return
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


def missing_methods(rewritten: list[tuple[str, CallSite]], classes: ClassGraph) -> list[Violation]:
    """A rewritten `receiver.method(...)` whose receiver is known to be a
    project class that has no such method (nor a base class that may)."""
    violations = []
    for path, call in rewritten:
        klass = classes.unique(short_name(classes.resolve(call.receiver_type))) if call.method else None
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
