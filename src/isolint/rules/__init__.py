"""The rule registry: every rule class, by code and by name.

Rules are discovered from the `isoNNN_<name>.py` modules of this package and
of its family packages (`rules/<family>/`), one rule per module, so adding a
rule means adding a module (and its doc and fixtures) and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from .ast_context import AstFile, AstRule
from .base import FAMILIES, CstEdit, FixSpec, Option, Rule


def _discover() -> tuple[type[Rule], ...]:
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


# A list, so that plugin rules added by `register` (isolint.plugins) are seen
# by every module that imported it.
ALL_RULES: list[type[Rule]] = list(_discover())
BY_CODE = {rule.code: rule for rule in ALL_RULES}
BY_NAME = {rule.name: rule for rule in ALL_RULES}
CUSTOM_PREFIX = "ISO9"  # ISO900-ISO999 are left to plugins: no built-in rule will take them


def lookup(code_or_name: str) -> type[Rule] | None:
    return BY_CODE.get(code_or_name.upper()) or BY_NAME.get(code_or_name.lower())


def register(rule: type[Rule]) -> None:
    """Add a plugin's rule to the registry, in code order (isolint.plugins checks it first)."""
    ALL_RULES.append(rule)
    ALL_RULES.sort(key=lambda registered: registered.code)
    BY_CODE[rule.code] = rule
    BY_NAME[rule.name] = rule


__all__ = [
    "ALL_RULES",
    "BY_CODE",
    "BY_NAME",
    "CUSTOM_PREFIX",
    "FAMILIES",
    "AstFile",
    "AstRule",
    "CstEdit",
    "FixSpec",
    "Option",
    "Rule",
    "lookup",
    "register",
]
