"""The rule registry: every rule, by code and by name.

Rules live in the `isoNNN_<name>.py` modules of this package and of its
family packages (`rules/<family>/`), one rule per module, so adding a rule
means adding a module (and its doc and fixtures) and running
`scripts/gen_rule_registry.py`. The generated `_registry` module lists what
settings, cache keys and output need of each rule (`RuleEntry`); a rule's
module is imported only when its class is asked for, so a run the cache
answers entirely imports none (`tests/test_registry.py` checks the listing
against the modules on disk).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._registry import RULES
from .base import FAMILIES, CstEdit, FixSpec, Option, Rule

if TYPE_CHECKING:
    from .ast_context import AstFile, AstRule

CUSTOM_PREFIX = "ISO9"  # ISO900-ISO999 are left to plugins: no built-in rule will take them


@dataclass(frozen=True)
class RuleEntry:
    """A rule as the registry lists it: its metadata, and where its class is."""

    code: str
    name: str
    family: str
    options: tuple[Option, ...]
    reads_facts: tuple[str, ...]
    module: str
    class_name: str

    @classmethod
    def of(cls, rule: type[Rule]) -> RuleEntry:
        return cls(
            rule.code, rule.name, rule.family, tuple(rule.options), tuple(rule.reads_facts), rule.__module__,
            rule.__qualname__,
        )  # fmt: skip

    def load(self) -> type[Rule]:
        """The rule class, its module imported on first use."""
        rule = _classes.get(self.code)
        if rule is None:
            rule = getattr(importlib.import_module(self.module), self.class_name)
            if RuleEntry.of(rule) != self:
                raise ImportError(
                    f"{self.module}:{self.class_name} no longer matches the rule registry: "
                    "run scripts/gen_rule_registry.py"
                )
            _classes[self.code] = rule
        return rule


ENTRIES: list[RuleEntry] = [RuleEntry(*row) for row in RULES]  # in code order, plugins' included
ENTRY_BY_CODE = {entry.code: entry for entry in ENTRIES}
ENTRY_BY_NAME = {entry.name: entry for entry in ENTRIES}
_classes: dict[str, type[Rule]] = {}  # code -> the rule classes loaded so far

# Declared, not bound: built on first access (`__getattr__`), every rule class imported.
ALL_RULES: list[type[Rule]]
BY_CODE: dict[str, type[Rule]]
BY_NAME: dict[str, type[Rule]]


def __getattr__(name: str) -> Any:
    """ALL_RULES, BY_CODE and BY_NAME import every rule module, once; and the
    LibCST-free but weighty `ast_context` exports on first use."""
    if name in ("AstFile", "AstRule"):
        from . import ast_context

        return getattr(ast_context, name)
    if name not in ("ALL_RULES", "BY_CODE", "BY_NAME"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    rules = [entry.load() for entry in ENTRIES]
    # Kept as module attributes, so that `register` updates the very objects
    # every importer holds.
    globals().update(
        ALL_RULES=rules, BY_CODE={rule.code: rule for rule in rules}, BY_NAME={rule.name: rule for rule in rules}
    )
    return globals()[name]


def entry(code_or_name: str) -> RuleEntry | None:
    return ENTRY_BY_CODE.get(code_or_name.upper()) or ENTRY_BY_NAME.get(code_or_name.lower())


def lookup(code_or_name: str) -> type[Rule] | None:
    found = entry(code_or_name)
    return found.load() if found is not None else None


def register(rule: type[Rule]) -> None:
    """Add a plugin's rule to the registry, in code order (isolint.plugins checks it first)."""
    added = RuleEntry.of(rule)
    _classes[rule.code] = rule
    ENTRIES.append(added)
    ENTRIES.sort(key=lambda registered: registered.code)
    ENTRY_BY_CODE[added.code] = added
    ENTRY_BY_NAME[added.name] = added
    views = globals()
    if "ALL_RULES" in views:  # built already: update the objects importers hold
        all_rules: list[type[Rule]] = views["ALL_RULES"]
        all_rules.append(rule)
        all_rules.sort(key=lambda registered: registered.code)
        views["BY_CODE"][rule.code] = rule
        views["BY_NAME"][rule.name] = rule


def discover() -> tuple[type[Rule], ...]:
    """Every built-in rule class, from the modules on disk (what `_registry` lists)."""
    import pkgutil

    found = []
    for module_info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        leaf = module_info.name.rpartition(".")[2]
        if not re.fullmatch(r"iso\d{3}_\w+", leaf):
            continue
        module = importlib.import_module(module_info.name)
        rules = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Rule)
            and value is not Rule
            and value.__module__ == module.__name__
        ]
        if len(rules) != 1:
            raise ImportError(f"{module.__name__} must define exactly one rule, found {len(rules)}")
        expected = f"iso{rules[0].code[3:]}_{rules[0].name.replace('-', '_')}"
        if leaf != expected:
            raise ImportError(f"{module.__name__} holds {rules[0].code} {rules[0].name}; name the module {expected}")
        found.append(rules[0])
    return tuple(sorted(found, key=lambda rule: rule.code))


# The modules saying, with `index.links`, which facts a fact of their kinds
# builds on. The project index imports them before it follows links: a
# worker computes cache keys before it loads any rule, and a key without the
# linked facts would not change when they do (tests compare this list with
# the modules calling `links`).
FACT_LINK_MODULES = (
    "isolint.rules.legacy_state.family",
    "isolint.rules.sessions.facts",
    "isolint.rules.singletons.aliases",
    "isolint.rules.websockets.family",
)


def load_fact_links() -> None:
    """Import every module registering fact links (FACT_LINK_MODULES)."""
    for name in FACT_LINK_MODULES:
        importlib.import_module(name)


__all__ = [
    "ALL_RULES",
    "BY_CODE",
    "BY_NAME",
    "CUSTOM_PREFIX",
    "ENTRIES",
    "FACT_LINK_MODULES",
    "FAMILIES",
    "AstFile",
    "AstRule",
    "CstEdit",
    "FixSpec",
    "Option",
    "Rule",
    "RuleEntry",
    "entry",
    "load_fact_links",
    "lookup",
    "register",
]
