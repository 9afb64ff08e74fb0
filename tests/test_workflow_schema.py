"""The JSON Schema for `[tool.isolint]`: generated from the option tables,
shipped up to date, and in agreement with isolint on the shipped examples."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from isolint.config import ConfigError, load_settings
from isolint.config_schema import schema, schema_text
from isolint.docs import docs_dir
from tests.conftest import FIXTURES, REPO, write
from tests.workflow_cli import isolint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SHIPPED = REPO / "docs" / "isolint.schema.json"


def schema_accepts(pyproject: str) -> bool:
    document = schema()
    table = tomllib.loads(pyproject)["tool"]["isolint"]
    return jsonschema.validators.validator_for(document)(document).is_valid(table)


def isolint_accepts(pyproject: str, tmp_path: Path) -> bool:
    config = write(tmp_path / "pyproject.toml", pyproject)
    if "extend-rules" in pyproject:  # beside the worked example's module, in its own process: plugins stay registered
        shutil.copy(FIXTURES / "plugin_example" / "acme_isolint.py", tmp_path)
        return isolint(tmp_path, "check", "--show-settings").returncode == 0
    try:
        load_settings([tmp_path], config_file=config)
    except ConfigError:
        return False
    return True


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(), (
        "docs/isolint.schema.json is stale: regenerate it with "
        "python -c \"from isolint.config_schema import schema_text; print(schema_text(), end='')\" > docs/isolint.schema.json"
    )
    jsonschema.validators.validator_for(schema()).check_schema(schema())


def _examples() -> list[tuple[str, str]]:
    """Every `[tool.isolint...]` TOML block in README.md and the rule docs."""
    sources = [("README.md", (REPO / "README.md").read_text(encoding="utf-8"))]
    sources += [(path.name, path.read_text(encoding="utf-8")) for path in sorted(docs_dir().glob("*.md"))]
    return [
        (f"{name}#{number}", block)
        for name, text in sources
        for number, block in enumerate(re.findall(r"```toml\n(.*?)```", text, re.DOTALL))
        if "[tool.isolint" in block
    ]


EXAMPLES = _examples()


def test_there_are_examples_to_check() -> None:
    assert any(name.startswith("README") for name, _ in EXAMPLES)
    assert sum(name.startswith("ISO") for name, _ in EXAMPLES) >= 10  # the rules' Options sections


@pytest.mark.parametrize(("name", "example"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_every_shipped_example_is_valid_for_the_schema_and_for_isolint(name: str, example: str, tmp_path: Path) -> None:
    assert schema_accepts(example)
    assert isolint_accepts(example, tmp_path)


@pytest.mark.parametrize(
    "pyproject",
    [
        '[tool.isolint]\nselct = ["ALL"]\n',
        '[tool.isolint]\nselect = ["ISO8"]\n',
        '[tool.isolint]\nignore = ["sesion-on-instance"]\n',
        '[tool.isolint]\nrespect-gitignore = "yes"\n',
        '[tool.isolint.per-file-ignores]\n"tests/**" = ["ISO2", "ISO899"]\n',
        '[tool.isolint.rules.ISO201]\nnmes = ["db"]\n',
        "[tool.isolint.rules.ISO899]\n",
        '[tool.isolint.legacy-state]\nclasses = "DeepAgentState"\n',
    ],
    ids=["key", "selector", "name", "type", "per-file", "rule-key", "rule", "section"],
)
def test_what_isolint_rejects_the_schema_rejects(pyproject: str, tmp_path: Path) -> None:
    assert not isolint_accepts(pyproject, tmp_path)
    assert not schema_accepts(pyproject)
