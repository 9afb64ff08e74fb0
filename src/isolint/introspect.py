"""`check --show-settings` and `--show-files`: what a run would use, without running it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .config import SECTIONS, TOP_LEVEL_OPTIONS, Settings
from .discovery import discover
from .rules import ALL_RULES

Table = dict[str, object]


def _top_level(settings: Settings, baseline: Path | None) -> Table:
    top: Table = {
        "select": list(settings.select),
        "extend-select": list(settings.extend_select),
        "ignore": list(settings.ignore),
        "exclude": list(settings.exclude),
        "extend-exclude": list(settings.extend_exclude),
        "per-file-ignores": {pattern: list(selectors) for pattern, selectors in settings.per_file_ignores},
        "respect-gitignore": settings.respect_gitignore,
        "context-class": settings.context_class,
        "context-params": list(settings.context_params),
        "baseline": str(baseline) if baseline is not None else None,
        "extend-rules": list(settings.extend_rules),
    }
    # `extend` is shown as where the values came from: they are merged already.
    assert set(top) == {option.name for option in TOP_LEVEL_OPTIONS} - {"extend"}, "every option is shown"
    return top


def _tables(settings: Settings) -> dict[str, Table]:
    """[legacy-state] and the like, then [rules.CODE] for each rule with options."""
    tables = {name: dict(settings.sections[name]) for name in SECTIONS}
    tables.update({f"rules.{rule.code}": dict(settings.options_for(rule)) for rule in ALL_RULES if rule.options})
    return tables


def settings_document(settings: Settings, baseline: Path | None) -> Table:
    """The effective settings as `[tool.isolint]` keys, plus where they came from (`--output-format json`)."""
    return {
        "config-file": str(settings.config_file.resolve()) if settings.config_file else None,
        "extends": [str(path) for path in settings.extends],
        "root": str(settings.root),
        "enabled-rules": [rule.code for rule in settings.enabled_rules()],
        "settings": _top_level(settings, baseline),
        "tables": _tables(settings),
    }


def settings_text(settings: Settings, baseline: Path | None) -> str:
    """The settings as TOML a user could paste under `[tool.isolint]`, with their origin as comments."""
    config = settings.config_file.resolve() if settings.config_file else "none (defaults)"
    lines = [
        f"# Settings file: {config}",
        *(f"#   extending {path}" for path in settings.extends),
        f"# Project root: {settings.root}",
        f"# Enabled rules: {', '.join(rule.code for rule in settings.enabled_rules())}",
    ]
    lines += [_toml_line(key, value) for key, value in _top_level(settings, baseline).items()]
    for name, table in _tables(settings).items():
        lines.append(f"\n[{name}]")
        lines += [_toml_line(key, value) for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml_line(key: str, value: object) -> str:
    if value is None:
        return f"# {key} = (not set)"
    return f"{key} = {_toml_value(value)}"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(key)} = {_toml_value(item)}" for key, item in value.items()) + " }"
            if value
            else "{}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(value)


def files_text(targets: Sequence[Path], settings: Settings, force_exclude: bool) -> str:
    return "".join(f"{file.path}\n" for file in discover(targets, settings, force_exclude=force_exclude).files)
