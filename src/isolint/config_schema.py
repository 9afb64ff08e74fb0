"""A JSON Schema for `[tool.isolint]` (and isolint.toml), generated from the
option tables that `config.py` validates against, so editors complete and
check the configuration exactly as isolint reads it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .config import SECTIONS, TABLE_KEYS, TOP_LEVEL_OPTIONS
from .rules import ALL_RULES, CUSTOM_PREFIX
from .rules.base import Option

_SELECTOR = {"$ref": "#/definitions/RuleSelector"}
# Custom rules are loaded at run time, so the schema knows only their code
# range: select them by code (or ISO9 prefix) for the schema to accept it.
CUSTOM_RULE = "^ISO9[0-9][0-9]$"
CUSTOM_SELECTOR = "^ISO9[0-9]{0,2}$"
BUILT_IN = [rule for rule in ALL_RULES if not rule.code.startswith(CUSTOM_PREFIX)]


def _value(option: Option) -> dict[str, Any]:
    kinds: dict[str, dict[str, Any]] = {
        "bool": {"type": "boolean"},
        "int": {"type": "integer"},
        "str": {"type": "string"},
        "list[str]": {"type": "array", "items": {"type": "string"}},
        "dict[str,str]": {"type": "object", "additionalProperties": {"type": "string"}},
        "dict[str,list[str]]": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    }
    schema = dict(kinds[option.kind])
    if option.name in ("select", "extend-select", "ignore"):
        schema["items"] = _SELECTOR
    if option.name == "per-file-ignores":
        schema["additionalProperties"] = {"type": "array", "items": _SELECTOR}
    return {**schema, "description": option.doc, "default": option.default}


def _table(options: Iterable[Option], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {option.name: _value(option) for option in options},
        "additionalProperties": False,
    }


def _selectors() -> list[str]:
    """Every selector isolint accepts, spelt canonically: ALL, each code
    prefix with a rule under it, each code and each name."""
    prefixes = sorted({rule.code[:length] for rule in BUILT_IN for length in range(3, 6)})
    return ["ALL", *prefixes, *(rule.code for rule in BUILT_IN), *(rule.name for rule in BUILT_IN)]


def schema() -> dict[str, Any]:
    rule_tables = {}
    for rule in BUILT_IN:  # a rule without options still takes an (empty) table
        table = _table(rule.options, f"{rule.code} {rule.name}: {rule.summary}")
        rule_tables[rule.code] = rule_tables[rule.name] = table
    properties = {option.name: _value(option) for option in TOP_LEVEL_OPTIONS if option.name not in TABLE_KEYS}
    properties["rules"] = {
        "type": "object",
        "description": "Per-rule options, by code ([rules.ISO201]) or name ([rules.session-on-instance]).",
        "properties": rule_tables,
        "patternProperties": {
            CUSTOM_RULE: {"type": "object", "description": "Options of a custom rule (its plugin defines them)."}
        },
        "additionalProperties": False,
    }
    for name, options in SECTIONS.items():
        properties[name] = _table(options, f"Options shared by a family of rules: [{name}].")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "isolint configuration: [tool.isolint] in pyproject.toml, or isolint.toml",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "definitions": {
            "RuleSelector": {
                "description": "A rule code, a code prefix, a rule name, or ALL (see `isolint rule --all`); ISO9xx for custom rules.",
                "anyOf": [{"type": "string", "enum": _selectors()}, {"type": "string", "pattern": CUSTOM_SELECTOR}],
            }
        },
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"
