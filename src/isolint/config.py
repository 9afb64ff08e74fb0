"""Loading and validating `[tool.isolint]` (pyproject.toml) or isolint.toml.

Every problem is a `ConfigError` naming the file, the key and what was
expected; the CLI turns it into exit code 2 without a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from . import __version__
from .rules import ENTRIES, ENTRY_BY_CODE, RuleEntry, entry
from .rules.base import Option, Rule
from .rules.sessions.family import EVIDENCE_OPTIONS as SESSION_EVIDENCE_OPTIONS
from .rules.websockets.family import EMITTER_METHODS, WEBSOCKET_NAMES
from .source import located, read_regular, resolved

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILENAMES = ("isolint.toml", ".isolint.toml", "pyproject.toml")

RUNTIME_MODULE = "isolint.runtime"  # the reference runtime that rewritten code imports
DEFAULT_CONTEXT_CLASS = f"{RUNTIME_MODULE}:UserExecutionContext"
DEFAULT_CONTEXT_PARAMS = ("context", "user_context", "ctx")
DEFAULT_ADAPTER = "isolint.runtime:ensure_context"
_IMPORT_TARGET = r"[A-Za-z_][\w.]*:[A-Za-z_]\w*"

TOP_LEVEL_OPTIONS = (
    Option("select", "list[str]", ["ALL"], "Rule codes, prefixes or names to enable."),
    Option("extend-select", "list[str]", [], "Rules to enable on top of `select`."),
    Option("ignore", "list[str]", [], "Rules to disable."),
    Option("exclude", "list[str]", [], "Gitignore-style patterns replacing the default exclusions."),
    Option("extend-exclude", "list[str]", [], "Gitignore-style patterns excluded on top of `exclude`."),
    Option("per-file-ignores", "dict[str,list[str]]", {}, "Pattern -> rules to ignore in matching files."),
    Option("respect-gitignore", "bool", True, "Skip files ignored by .gitignore during discovery."),
    Option("context-class", "str", DEFAULT_CONTEXT_CLASS, "`module:Class` of the request context the codemods target."),
    Option(
        "context-params", "list[str]", list(DEFAULT_CONTEXT_PARAMS), "Parameter names that carry the request context."
    ),
    Option("baseline", "str", "", "Baseline file of known findings for `check` and `report` (relative to this file)."),
    Option(
        "extend",
        "str",
        "",
        'Another configuration file (such as "../pyproject.toml") whose settings this one extends and overrides.',
    ),
    Option(
        "extend-rules",
        "list[str]",
        [],
        "Custom rules to load, as 'module:RuleClass' (imported from this file's directory or the environment).",
    ),
)
WEBSOCKET_VOCABULARY_OPTIONS = (WEBSOCKET_NAMES, EMITTER_METHODS)
LEGACY_STATE_OPTIONS = (
    Option("classes", "list[str]", ["DeepAgentState"], "Legacy mutable per-run state classes."),
    Option(
        "field-map",
        "dict[str,str]",
        {"user_id": "user_id", "chat_thread_id": "thread_id", "thread_id": "thread_id", "run_id": "run_id"},
        "Legacy fields that map onto context attributes.",
    ),
    Option("allow-in", "list[str]", [], "Gitignore-style paths where references are intentional (an adapter)."),
    Option(
        "adapter",
        "str",
        DEFAULT_ADAPTER,
        "`module:function` that turns a legacy state and a run id into the context (`isolint.runtime.legacy_adapter` "
        "builds one); the transitional signatures ISO405 writes call it. The default serves only the default "
        "`context-class` and `field-map`.",
    ),
)
SINGLETONS_OPTIONS = (
    Option(
        "per-request-classes",
        "list[str]",
        ["*Agent", "*State", "*Conversation", "*Memory", "*History"],
        "Globs for classes that hold per-user or per-run state: the singleton fixes (ISO101, ISO102, ISO105) make "
        "them per call. Any other class is process-wide infrastructure and gets a manual hint instead.",
    ),
)
# Tables shared by a family of rules: [tool.isolint.<name>]. The sessions and
# websockets tables hold the family's vocabulary, which its rules and its
# index share; a rule's own table may still override a key for that rule.
SECTIONS = {
    "legacy-state": LEGACY_STATE_OPTIONS,
    "singletons": SINGLETONS_OPTIONS,
    "sessions": SESSION_EVIDENCE_OPTIONS,
    "websockets": WEBSOCKET_VOCABULARY_OPTIONS,
}
TABLE_KEYS = ("rules", *SECTIONS)

DEFAULT_EXCLUDE = (
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".isolint_cache",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
)


class ConfigError(Exception):
    """A configuration or usage problem: exit code 2."""


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt `word`, if one is close enough."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = suggest(word, candidates)
    return f"; did you mean {close!r}?" if close else ""


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
    extends: tuple[Path, ...] = ()  # the files `config_file` extends, nearest first (their values are merged in)
    extend_rules: tuple[str, ...] = ()  # "module:Class" of the custom rules this configuration loads
    sections: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {name: {o.name: o.default for o in options} for name, options in SECTIONS.items()}
    )
    # Configuration that still works but is on its way out, as messages to print.
    deprecations: tuple[str, ...] = ()

    @property
    def legacy_state(self) -> Mapping[str, Any]:
        return self.sections["legacy-state"]

    @property
    def singletons(self) -> Mapping[str, Any]:
        return self.sections["singletons"]

    @property
    def context_module(self) -> str:
        return self.context_class.partition(":")[0]

    @property
    def context_name(self) -> str:
        return self.context_class.partition(":")[2]

    def enabled(self) -> tuple[RuleEntry, ...]:
        """The enabled rules as the registry lists them: no rule module imported."""
        return select_rules(self.select + self.extend_select, self.ignore)

    def enabled_rules(self) -> tuple[type[Rule], ...]:
        return tuple(rule.load() for rule in self.enabled())

    def options_for(self, rule: type[Rule] | RuleEntry) -> Mapping[str, Any]:
        return self.rule_options.get(rule.code, {})

    def family_options(self, family: str) -> Mapping[str, Any]:
        """`[tool.isolint.<family>]`: what the family's index and rules share."""
        return self.sections[family]

    def fingerprint(self) -> str:
        """Everything that can change a file's findings, hashed for the cache key."""
        enabled = self.enabled()
        data = {
            "version": __version__,
            "rules": [rule.code for rule in enabled],
            "options": {rule.code: self.options_for(rule) for rule in enabled},
            "context": [self.context_class, list(self.context_params)],
            "sections": self.sections,
            "plugins": _plugin_fingerprint(enabled),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=list).encode()).hexdigest()[:16]


def _plugin_fingerprint(enabled: Iterable[RuleEntry]) -> str:
    from .plugins import fingerprint
    from .rules import CUSTOM_PREFIX

    return fingerprint(rule.load() for rule in enabled if rule.code.startswith(CUSTOM_PREFIX))


# --- rule selection ---------------------------------------------------------

_EXACT = 100


def _specificity(selector: str, rule: RuleEntry) -> int | None:
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
        if selector == "ALL" or entry(selector):
            continue
        if re.fullmatch(r"ISO\d{0,2}", selector.upper()) and any(r.code.startswith(selector.upper()) for r in ENTRIES):
            continue
        hint = _did_you_mean(
            selector.upper() if selector.upper().startswith("ISO") else selector.lower(), _rule_words()
        )
        raise ConfigError(
            f"{where}: unknown rule selector {selector!r}{hint} (expected a rule code such as ISO101, a prefix such as ISO1, a rule name, or ALL; see `isolint rule --all`)"
        )


def _rule_words() -> list[str]:
    """Every rule code and name: what a misspelt selector is compared with."""
    return [*(rule.code for rule in ENTRIES), *(rule.name for rule in ENTRIES)]


def select_rules(select: Iterable[str], ignore: Iterable[str]) -> tuple[RuleEntry, ...]:
    """ruff's precedence: the most specific selector wins; on a tie, ignore wins."""
    select, ignore = list(select), list(ignore)
    enabled = []
    for rule in ENTRIES:
        if rule.code == "ISO000":
            enabled.append(rule)  # a skipped file is always reported
            continue
        best_select = max((s for s in (_specificity(x, rule) for x in select) if s is not None), default=None)
        best_ignore = max((s for s in (_specificity(x, rule) for x in ignore) if s is not None), default=None)
        if best_select is not None and (best_ignore is None or best_select > best_ignore):
            enabled.append(rule)
    return tuple(enabled)


def matches_any(selectors: Iterable[str], code: str) -> bool:
    rule = ENTRY_BY_CODE.get(code)
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
        raise ConfigError(
            f"{path}: `tool` must be a table (got {type(tool).__name__}), as pyproject.toml's specification says"
        )
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


def _validate_table(
    table: Mapping[str, Any], options: Iterable[Option], where: str, extra_keys: Iterable[str] = ()
) -> dict[str, Any]:
    """Check keys and types; return option name -> value with defaults filled in.
    `extra_keys` (tables validated elsewhere) are suggested for a misspelt key too."""
    by_name = {option.name: option for option in options}
    for key, value in table.items():
        option = by_name.get(key)
        if option is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError(
                f"{where}: unknown key {key!r}{_did_you_mean(key, [*by_name, *extra_keys])} (known keys: {known})"
            )
        if not _type_ok(value, option.kind):
            raise ConfigError(
                f"{where}: key {key!r} must be {_KIND_WORDS[option.kind]}, got {type(value).__name__} {value!r}"
            )
    return {name: table.get(name, option.default) for name, option in by_name.items()}


def _rule_options(
    table: Any, where: str, sections: Mapping[str, Mapping[str, Any]], deprecations: list[str]
) -> dict[str, dict[str, Any]]:
    """Each rule's options: its family table's values, then its own table's,
    which override them for that rule alone (with a deprecation note)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: key 'rules' must be a table of per-rule tables")
    resolved: dict[str, dict[str, Any]] = {}
    for key, options in table.items():
        rule = entry(key)
        if rule is None:
            hint = _did_you_mean(key.upper() if key.upper().startswith("ISO") else key.lower(), _rule_words())
            raise ConfigError(
                f"{where}: [rules.{key}] names no rule{hint} (expected a code such as ISO101 or a name such as singleton-class)"
            )
        if not isinstance(options, dict):
            raise ConfigError(f"{where}: [rules.{key}] must be a table")
        if rule.code in resolved:
            raise ConfigError(f"{where}: options for {rule.code} are given twice (by code and by name)")
        _validate_table(options, rule.options, f"{where} [rules.{key}]")
        family = sections.get(rule.family, {})
        for name in sorted(set(options) & set(family)):
            deprecations.append(
                f"{where}: [rules.{key}] {name}: set it once for the whole family in [{rule.family}] (the index and "
                f"every {rule.family} rule read it there); the per-rule key still overrides it for {rule.code} alone"
            )
        resolved[rule.code] = {**_family_defaults(rule, sections), **options}
    for rule in ENTRIES:
        resolved.setdefault(rule.code, _family_defaults(rule, sections))
    return resolved


def _family_defaults(rule: RuleEntry, sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    family = sections.get(rule.family, {})
    return {option.name: family.get(option.name, option.default) for option in rule.options}


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
    bases: list[Path] = []
    if found is not None:
        table = _extended(_isolint_table(found), found, (), bases)
    where = str(found) if found else "configuration"
    scalar = {k: v for k, v in table.items() if k not in TABLE_KEYS}
    values = _validate_table(scalar, TOP_LEVEL_OPTIONS, where, TABLE_KEYS)
    root = found.parent.resolve() if found else Path.cwd().resolve()
    # Imported here, before anything names a rule: selectors and [rules.X] may name plugin rules.
    from .plugins import load_extend_rules

    load_extend_rules(values["extend-rules"], where, root)
    sections = {}
    for name, options in SECTIONS.items():
        section = table.get(name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        sections[name] = _validate_table(section, options, f"{where} [{name}]")
    deprecations: list[str] = []
    rule_options = _rule_options(table.get("rules", {}), where, sections, deprecations)

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
    if not re.fullmatch(_IMPORT_TARGET, values["context-class"]):
        raise ConfigError(
            f"{where}: key 'context-class' must look like 'package.module:ClassName', got {values['context-class']!r}"
        )
    adapter = sections["legacy-state"]["adapter"]
    if not re.fullmatch(_IMPORT_TARGET, adapter):
        raise ConfigError(
            f"{where} [legacy-state]: key 'adapter' must look like 'package.module:function', got {adapter!r}"
        )

    overrides = dict(overrides or {})
    for key, value in overrides.items():
        validate_selectors(value, f"--{key}")
    select = overrides.get("select") or values["select"]
    extend_select = tuple(values["extend-select"]) + tuple(overrides.get("extend-select", ()))
    ignore = tuple(values["ignore"]) + tuple(overrides.get("ignore", ()))

    if values["baseline"] and not any(
        resolved(allowed / values["baseline"]).is_relative_to(allowed) for allowed in (root, *(b.parent for b in bases))
    ):
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
        extends=tuple(bases),
        extend_rules=tuple(values["extend-rules"]),
        sections=sections,
        deprecations=tuple(deprecations),
    )


def _isolint_table(path: Path) -> dict[str, Any]:
    data = _read_toml(path)
    table = _tool_table(data, path).get("isolint", {}) if path.name == "pyproject.toml" else data
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.isolint] must be a table")
    return table


def _extended(table: dict[str, Any], path: Path, chain: tuple[Path, ...], bases: list[Path]) -> dict[str, Any]:
    """`table` on top of the file its `extend` key names (recursively; each
    base is appended to `bases`): a key set here replaces the base's;
    `[rules.X]` and section tables merge key by key. The base's `baseline`
    stays relative to the base file."""
    base_name = table.get("extend")
    if base_name is None:
        return table
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{path}: key 'extend' must be a path to another configuration file, got {base_name!r}")
    base_path = (path.parent / base_name).resolve()
    chain = (*chain, path.resolve())
    if base_path in chain:
        raise ConfigError(
            f"{path}: key 'extend': {base_name} extends this file again (a cycle: {' -> '.join(str(p) for p in (*chain, base_path))})"
        )
    if not base_path.is_file():
        raise ConfigError(f"{path}: key 'extend': {base_name}: no such file")
    base = _isolint_table(base_path)
    if base_path.name == "pyproject.toml" and "isolint" not in _tool_table(_read_toml(base_path), base_path):
        raise ConfigError(f"{path}: key 'extend': {base_name} has no [tool.isolint] table")
    # A mistake in the base is reported against the base, not the file extending it.
    _validate_table(
        {k: v for k, v in base.items() if k not in TABLE_KEYS}, TOP_LEVEL_OPTIONS, str(base_path), TABLE_KEYS
    )
    bases.append(base_path)
    base = dict(_extended(base, base_path, chain, bases))
    if isinstance(base.get("baseline"), str) and base["baseline"]:
        base["baseline"] = str(base_path.parent / base["baseline"])
    merged = {**base, **{key: value for key, value in table.items() if key != "extend"}}
    for key in TABLE_KEYS:
        if isinstance(base.get(key), dict) and isinstance(table.get(key), dict):
            merged[key] = {**base[key], **table[key]}
            if key == "rules":
                merged[key] = {name: _merge_rule(base[key].get(name), options) for name, options in merged[key].items()}
    return merged


def _merge_rule(base: Any, options: Any) -> Any:
    return {**base, **options} if isinstance(base, dict) and isinstance(options, dict) else options


def _common_ancestor(paths: Iterable[Path]) -> Path:
    resolved_paths = [located(p) if not p.is_dir() else resolved(p) for p in paths] or [Path.cwd().resolve()]
    try:
        return Path(os.path.commonpath([str(p) for p in resolved_paths]))
    except ValueError:  # different drives on Windows
        return Path.cwd().resolve()
