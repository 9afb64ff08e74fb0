"""Custom rules: from installed packages (the `isolint.rules` entry-point
group) and from `[tool.isolint] extend-rules = ["module:Class"]`.

A plugin rule is a `Rule` subclass like the built-in ones (same metadata,
visit methods, fixes and options), with a code in ISO900-ISO999 and its doc
`<CODE>-<name>.md` beside its module. Loading one imports the module: plugins
are configured code, as with flake8 or pytest plugins, never the code isolint
analyses.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from .config import ConfigError
from .rules import CUSTOM_PREFIX, ENTRY_BY_CODE, ENTRY_BY_NAME, Rule, register

ENTRY_POINT_GROUP = "isolint.rules"
_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_loaded: dict[str, type[Rule]] = {}  # "module:Class" -> the registered rule
_entry_points_loaded = False


def load_entry_points() -> list[type[Rule]]:
    """The rules every installed package offers in the entry-point group (once per process)."""
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        if not _any_package_declares_the_group():
            return list(_loaded.values())
        from importlib.metadata import entry_points  # ~10 ms to import: only when a package declares the group

        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            _load(
                entry_point.value,
                f"entry point {entry_point.name!r} of {entry_point.dist.name if entry_point.dist else 'an installed package'}",
            )
    return list(_loaded.values())


def _any_package_declares_the_group() -> bool:
    """A necessary condition for an entry point, read in about a millisecond:
    some `entry_points.txt` on sys.path names the group. `entry_points()`
    itself parses every installed distribution's metadata (~50 ms in a
    development environment), which every run would pay."""
    header = f"[{ENTRY_POINT_GROUP}]"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, or a directory that went away
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                try:
                    if header in Path(entry or ".", name, "entry_points.txt").read_text(
                        encoding="utf-8", errors="replace"
                    ):
                        return True
                except OSError:
                    continue
    return False


def load_extend_rules(specs: Iterable[str], where: str, root: Path) -> list[type[Rule]]:
    """The rules named by `extend-rules`; their modules are imported from the
    configuration's directory (`root`) or the environment."""
    load_entry_points()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # kept: worker processes unpickle the rules from the same module
    return [_load(spec, f"{where}: extend-rules") for spec in specs]


def add_rule(rule: type[Rule]) -> type[Rule]:
    """Register a rule class directly, with the same checks (isolint.rule_testing uses this)."""
    spec = f"{rule.__module__}:{rule.__qualname__}"
    if spec not in _loaded:
        _check(rule, spec, spec)
        register(rule)
        _loaded[spec] = rule
    return rule


def _load(spec: str, where: str) -> type[Rule]:
    if spec in _loaded:
        return _loaded[spec]
    if not _SPEC.fullmatch(spec):
        raise ConfigError(f"{where}: {spec!r} must look like 'package.module:RuleClass'")
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a plugin's own bug (or bad metadata) is a configuration error, said plainly
        raise ConfigError(f"{where}: cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    rule = getattr(module, class_name, None)
    if not (isinstance(rule, type) and issubclass(rule, Rule) and rule is not Rule):
        raise ConfigError(f"{where}: {spec} is not an isolint Rule subclass")
    _check(rule, spec, where)
    register(rule)
    _loaded[spec] = rule
    return rule


def _check(rule: type[Rule], spec: str, where: str) -> None:
    """The metadata a built-in rule's module is held to, checked at load time."""
    if not rule.code.startswith(CUSTOM_PREFIX):
        raise ConfigError(
            f"{where}: {spec} has code {rule.code}; custom rules use ISO900-ISO999, the built-in ones the rest"
        )
    for taken, what in ((ENTRY_BY_CODE.get(rule.code), "code"), (ENTRY_BY_NAME.get(rule.name), "name")):
        if taken is not None and taken.load() is not rule:
            raise ConfigError(
                f"{where}: {spec} reuses the {what} of {taken.module}:{taken.class_name} ({taken.code} {taken.name})"
            )
    missing = [attribute for attribute in ("summary", "prefilter") if not hasattr(rule, attribute)]
    if missing:
        raise ConfigError(f"{where}: {spec} does not declare {' and '.join(missing)}")


def fingerprint(rules: Iterable[type[Rule]]) -> str:
    """Changes when a plugin's source does, so cached results follow it."""
    import inspect  # only a plugin's run needs it

    digest = hashlib.sha256()
    for rule in rules:
        try:
            digest.update(Path(inspect.getfile(rule)).read_bytes())
        except (OSError, TypeError):
            digest.update(f"{rule.__module__}:{rule.__qualname__}".encode())
    return digest.hexdigest()[:16]
