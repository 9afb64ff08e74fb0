"""Loading and validating `[tool.isolint]` (pyproject.toml) or isolint.toml.

Every problem is a `ConfigError` naming the file, the key and what was
expected; the CLI turns it into exit code 2 without a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pathspec

from . import __version__
from .rules import ALL_RULES, BY_CODE, Rule, lookup
from .rules.base import Option
from .source import located, read_regular, resolved

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILENAMES = ("isolint.toml", ".isolint.toml", "pyproject.toml")

DEFAULT_CONTEXT_CLASS = "isolint.runtime:UserExecutionContext"
DEFAULT_CONTEXT_PARAMS = ("context", "user_context", "ctx")

TOP_LEVEL_OPTIONS = (
    Option("select", "list[str]", ["ALL"], "Rule codes, prefixes or names to enable."),
    Option("extend-select", "list[str]", [], "Rules to enable on top of `select`."),
    Option("ignore", "list[str]", [], "Rules to disable."),
    Option("exclude", "list[str]", [], "Gitignore-style patterns replacing the default exclusions."),
    Option("extend-exclude", "list[str]", [], "Gitignore-style patterns excluded on top of `exclude`."),
    Option("per-file-ignores", "dict[str,list[str]]", {}, "Pattern -> rules to ignore in matching files."),
    Option("respect-gitignore", "bool", True, "Skip files ignored by .gitignore during discovery."),
    Option("context-class", "str", DEFAULT_CONTEXT_CLASS, "`module:Class` of the request context the codemods target."),
    Option("context-params", "list[str]", list(DEFAULT_CONTEXT_PARAMS), "Parameter names that carry the request context."),
    Option("baseline", "str", "", "Baseline file of known findings for `check` and `report` (relative to this file)."),
)
LEGACY_STATE_OPTIONS = (
    Option("classes", "list[str]", ["DeepAgentState"], "Legacy mutable per-run state classes."),
    Option(
        "field-map",
        "dict[str,str]",
        {"user_id": "user_id", "chat_thread_id": "thread_id", "thread_id": "thread_id", "run_id": "run_id"},
        "Legacy fields that map onto context attributes.",
    ),
    Option("allow-in", "list[str]", [], "Gitignore-style paths where references are intentional (an adapter)."),
)
# Tables shared by a family of rules: [tool.isolint.<name>]
SECTIONS = {"legacy-state": LEGACY_STATE_OPTIONS}
TABLE_KEYS = ("rules", *SECTIONS)

DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".isolint_cache", ".mypy_cache",
    ".nox", ".pants.d", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv",
    "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules",
    "site-packages", "venv",
)


class ConfigError(Exception):
    """A configuration or usage problem: exit code 2."""


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one run."""

    root: Path
    config_file: Path | None = None
    select: tuple[str, ...] = ("ALL",)
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    respect_gitignore: bool = True
    context_class: str = DEFAULT_CONTEXT_CLASS
    context_params: tuple[str, ...] = DEFAULT_CONTEXT_PARAMS
    rule_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    baseline: Path | None = None  # known findings `check` does not fail on (not part of the cache fingerprint)
    sections: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {name: {o.name: o.default for o in options} for name, options in SECTIONS.items()}
    )

    @property
    def legacy_state(self) -> Mapping[str, Any]:
        return self.sections["legacy-state"]

    @property
    def context_module(self) -> str:
        return self.context_class.partition(":")[0]

    @property
    def context_name(self) -> str:
        return self.context_class.partition(":")[2]

    def enabled_rules(self) -> tuple[type[Rule], ...]:
        return select_rules(self.select + self.extend_select, self.ignore)

    def options_for(self, rule: type[Rule]) -> Mapping[str, Any]:
        return self.rule_options.get(rule.code, {})

    def fingerprint(self) -> str:
        """Everything that can change a file's findings, hashed for the cache key."""
        enabled = self.enabled_rules()
        data = {
            "version": __version__,
            "rules": [rule.code for rule in enabled],
            "options": {rule.code: self.options_for(rule) for rule in enabled},
            "context": [self.context_class, list(self.context_params)],
            "sections": self.sections,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=list).encode()).hexdigest()[:16]


# --- rule selection ---------------------------------------------------------

_EXACT = 100


def _specificity(selector: str, rule: type[Rule]) -> int | None:
    """How specifically `selector` names `rule` (None: it does not)."""
    if selector == "ALL":
        return 0
    if selector.upper() == rule.code or selector.lower() == rule.name:
        return _EXACT
    if rule.code.startswith(selector.upper()):
        return len(selector)
    return None


def validate_selectors(selectors: Iterable[str], where: str) -> None:
    for selector in selectors:
        if selector == "ALL" or lookup(selector):
            continue
        if re.fullmatch(r"ISO\d{0,2}", selector.upper()) and any(r.code.startswith(selector.upper()) for r in ALL_RULES):
            continue
        raise ConfigError(f"{where}: unknown rule selector {selector!r} (expected a rule code such as ISO101, a prefix such as ISO1, a rule name, or ALL; see `isolint rule --all`)")


def select_rules(select: Iterable[str], ignore: Iterable[str]) -> tuple[type[Rule], ...]:
    """ruff's precedence: the most specific selector wins; on a tie, ignore wins."""
    select, ignore = list(select), list(ignore)
    enabled = []
    for rule in ALL_RULES:
        if rule.code == "ISO000":
            enabled.append(rule)  # a skipped file is always reported
            continue
        best_select = max((s for s in (_specificity(x, rule) for x in select) if s is not None), default=None)
        best_ignore = max((s for s in (_specificity(x, rule) for x in ignore) if s is not None), default=None)
        if best_select is not None and (best_ignore is None or best_select > best_ignore):
            enabled.append(rule)
    return tuple(enabled)


def matches_any(selectors: Iterable[str], code: str) -> bool:
    rule = BY_CODE.get(code)
    return rule is not None and any(_specificity(s, rule) is not None for s in selectors)


# --- loading ----------------------------------------------------------------

def find_config_file(start: Path) -> Path | None:
    """The nearest isolint.toml, .isolint.toml, or pyproject.toml with a [tool.isolint] table."""
    directory = start if start.is_dir() else start.parent
    for candidate_dir in (directory, *directory.parents):
        for filename in CONFIG_FILENAMES:
            candidate = candidate_dir / filename
            if not candidate.is_file():
                continue
            if filename != "pyproject.toml" or _has_isolint_table(candidate):
                return candidate
    return None


def _has_isolint_table(pyproject: Path) -> bool:
    try:
        return "isolint" in _tool_table(_read_toml(pyproject), pyproject)
    except ConfigError:
        return True  # report the broken file rather than silently skipping it


MAX_CONFIG_BYTES = 16 * 1024 * 1024


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; every way it can be unreadable is a ConfigError naming it."""
    try:
        text = read_regular(path, MAX_CONFIG_BYTES, ConfigError).decode("utf-8")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply to read") from None


def _tool_table(data: Mapping[str, Any], path: Path) -> Mapping[str, Any]:
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table (got {type(tool).__name__}), as pyproject.toml's specification says")
    return tool


def _validate_patterns(patterns: Iterable[str], where: str) -> None:
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as exc:  # pathspec's GitIgnorePatternError
            raise ConfigError(f"{where}: {pattern!r} is not a valid gitignore-style pattern ({exc})") from None


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "dict[str,str]":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "dict[str,list[str]]":
        return isinstance(value, dict) and all(_type_ok(v, "list[str]") for v in value.values())
    raise AssertionError(kind)


_KIND_WORDS = {
    "bool": "true or false",
    "int": "an integer",
    "str": "a string",
    "list[str]": "a list of strings",
    "dict[str,str]": "a table of strings",
    "dict[str,list[str]]": "a table of lists of strings",
}


def _validate_table(table: Mapping[str, Any], options: Iterable[Option], where: str) -> dict[str, Any]:
    """Check keys and types; return option name -> value with defaults filled in."""
    by_name = {option.name: option for option in options}
    for key, value in table.items():
        option = by_name.get(key)
        if option is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError(f"{where}: unknown key {key!r} (known keys: {known})")
        if not _type_ok(value, option.kind):
            raise ConfigError(f"{where}: key {key!r} must be {_KIND_WORDS[option.kind]}, got {type(value).__name__} {value!r}")
    return {name: table.get(name, option.default) for name, option in by_name.items()}


def _rule_options(table: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: key 'rules' must be a table of per-rule tables")
    resolved: dict[str, dict[str, Any]] = {}
    for key, options in table.items():
        rule = lookup(key)
        if rule is None:
            raise ConfigError(f"{where}: [rules.{key}] names no rule (expected a code such as ISO101 or a name such as singleton-class)")
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: [rules.{key}] must be a table")
        if rule.code in resolved:
            raise ConfigError(f"{where}: options for {rule.code} are given twice (by code and by name)")
        resolved[rule.code] = _validate_table(options, rule.options, f"{where} [rules.{key}]")
    for rule in ALL_RULES:
        resolved.setdefault(rule.code, {option.name: option.default for option in rule.options})
    return resolved


def load_settings(
    paths: Iterable[Path],
    *,
    config_file: Path | None = None,
    isolated: bool = False,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve the effective settings for a run over `paths`.

    The configuration is found by walking up from the paths' common ancestor,
    unless `config_file` is given or `isolated` is set. `overrides` carries the
    CLI's --select / --ignore / --extend-select.
    """
    table: dict[str, Any] = {}
    found: Path | None = None
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"--config: {config_file}: no such file")
        found = config_file
    elif not isolated:
        found = find_config_file(_common_ancestor(paths))
    if found is not None:
        data = _read_toml(found)
        table = _tool_table(data, found).get("isolint", {}) if found.name == "pyproject.toml" else data
        if not isinstance(table, dict):
            raise ConfigError(f"{found}: [tool.isolint] must be a table")
    where = str(found) if found else "configuration"
    scalar = {k: v for k, v in table.items() if k not in TABLE_KEYS}
    values = _validate_table(scalar, TOP_LEVEL_OPTIONS, where)
    rule_options = _rule_options(table.get("rules", {}), where)
    sections = {}
    for name, options in SECTIONS.items():
        section = table.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        sections[name] = _validate_table(section, options, f"{where} [{name}]")

    for key in ("select", "extend-select", "ignore"):
        validate_selectors(values[key], f"{where}: key {key!r}")
    for pattern, selectors in values["per-file-ignores"].items():
        validate_selectors(selectors, f"{where}: per-file-ignores[{pattern!r}]")
    for key, patterns in (
        ("exclude", values["exclude"]),
        ("extend-exclude", values["extend-exclude"]),
        ("per-file-ignores", list(values["per-file-ignores"])),
        ("[legacy-state] allow-in", sections["legacy-state"]["allow-in"]),
    ):
        _validate_patterns(patterns, f"{where}: key {key!r}")
    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", values["context-class"]):
        raise ConfigError(f"{where}: key 'context-class' must look like 'package.module:ClassName', got {values['context-class']!r}")

    overrides = dict(overrides or {})
    for key, value in overrides.items():
        validate_selectors(value, f"--{key}")
    select = overrides.get("select") or values["select"]
    extend_select = tuple(values["extend-select"]) + tuple(overrides.get("extend-select", ()))
    ignore = tuple(values["ignore"]) + tuple(overrides.get("ignore", ()))

    root = found.parent.resolve() if found else Path.cwd().resolve()
    if values["baseline"] and not resolved(root / values["baseline"]).is_relative_to(root):
        # `baseline --update` writes it: a configuration in the tree must not point that write elsewhere.
        raise ConfigError(f"{where}: key 'baseline' must name a file inside {root}, got {values['baseline']!r}")
    exclude = tuple(values["exclude"]) if "exclude" in table else DEFAULT_EXCLUDE
    return Settings(
        root=root,
        config_file=found,
        select=tuple(select),
        extend_select=extend_select,
        ignore=ignore,
        exclude=exclude,
        extend_exclude=tuple(values["extend-exclude"]),
        per_file_ignores=tuple((p, tuple(s)) for p, s in values["per-file-ignores"].items()),
        respect_gitignore=values["respect-gitignore"],
        context_class=values["context-class"],
        context_params=tuple(values["context-params"]),
        rule_options=rule_options,
        baseline=(root / values["baseline"]) if values["baseline"] else None,
        sections=sections,
    )


def _common_ancestor(paths: Iterable[Path]) -> Path:
    resolved_paths = [located(p) if not p.is_dir() else resolved(p) for p in paths] or [Path.cwd().resolve()]
    try:
        return Path(os.path.commonpath([str(p) for p in resolved_paths]))
    except ValueError:  # different drives on Windows
        return Path.cwd().resolve()
