"""Configuration: discovery, validation with clear exit-2 errors, per-rule options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import write
from tests.helpers import run_cli

SESSION_CLASS = "class A:\n    def __init__(self, conn):\n        self.conn = conn\n        self.db = conn\n"


def codes(*args: str) -> list[tuple[str, int]]:
    return [
        (row["code"], row["location"]["row"])
        for row in json.loads(run_cli("check", "--output-format", "json", *args).stdout)
    ]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[tool.isolint]\nselct = ["ISO1"]\n', "unknown key 'selct'"),
        ('[tool.isolint]\nselect = "ISO1"\n', "key 'select' must be a list of strings"),
        ('[tool.isolint]\nrespect-gitignore = "yes"\n', "key 'respect-gitignore' must be true or false"),
        ('[tool.isolint]\nselect = ["ISO9"]\n', "unknown rule selector 'ISO9'"),
        ("[tool.isolint.rules.ISO999]\nnames = []\n", "[rules.ISO999] names no rule"),
        ("[tool.isolint.rules.ISO201]\nnamez = []\n", "unknown key 'namez'"),
        ('[tool.isolint.rules.session-on-instance]\nnames = "db"\n', "key 'names' must be a list of strings"),
        ('[tool.isolint]\ncontext-class = "NoColon"\n', "key 'context-class' must look like"),
        ("[tool.isolint\nselect = [", "invalid TOML"),
        ('[tool.isolint.per-file-ignores]\n"tests/*" = ["ISO7"]\n', "unknown rule selector 'ISO7'"),
    ],
)
def test_bad_config_is_exit_two_naming_file_and_key(in_tmp: Path, config: str, message: str) -> None:
    write(in_tmp / "pyproject.toml", config)
    write(in_tmp / "a.py", "x = 1\n")
    result = run_cli("check")
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert "pyproject.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_found_by_walking_up_from_the_paths(in_tmp: Path) -> None:
    write(in_tmp / "proj" / "pyproject.toml", '[tool.isolint]\nselect = ["ISO2"]\n')
    write(in_tmp / "proj" / "pkg" / "a.py", SESSION_CLASS)
    assert codes("proj/pkg") == [("ISO201", 4)]


def test_isolint_toml_wins_over_pyproject_and_isolated_ignores_both(in_tmp: Path) -> None:
    write(in_tmp / "pyproject.toml", '[tool.isolint]\nselect = ["ISO1"]\n')
    write(in_tmp / "isolint.toml", 'select = ["ISO2"]\n')
    write(in_tmp / "a.py", SESSION_CLASS)
    assert codes() == [("ISO201", 4)]
    write(in_tmp / "isolint.toml", 'select = ["ISO1"]\n')
    assert codes() == []
    assert codes("--isolated") == [("ISO201", 4)]


def test_rule_options_by_code_or_name(in_tmp: Path) -> None:
    write(in_tmp / "a.py", SESSION_CLASS)
    write(in_tmp / "pyproject.toml", '[tool.isolint.rules.ISO201]\nnames = ["conn"]\n')
    assert codes() == [("ISO201", 3)]
    write(
        in_tmp / "pyproject.toml",
        '[tool.isolint.rules.session-on-instance]\nnames = ["conn", "db"]\nexclude-names = ["db"]\n',
    )
    assert codes() == [("ISO201", 3)]


def test_same_rule_configured_twice_is_an_error(in_tmp: Path) -> None:
    write(
        in_tmp / "pyproject.toml",
        "[tool.isolint.rules.ISO201]\nnames = []\n[tool.isolint.rules.session-on-instance]\nnames = []\n",
    )
    write(in_tmp / "a.py", "x = 1\n")
    result = run_cli("check")
    assert result.exit_code == 2 and "given twice" in result.stderr


def test_explicit_config_file(in_tmp: Path) -> None:
    write(in_tmp / "conf" / "strict.toml", 'select = ["ISO2"]\n')
    write(in_tmp / "a.py", SESSION_CLASS)
    assert codes("--config", "conf/strict.toml") == [("ISO201", 4)]
    assert run_cli("check", "--config", "conf/missing.toml").exit_code == 2


def test_per_file_ignores(in_tmp: Path) -> None:
    write(
        in_tmp / "pyproject.toml",
        '[tool.isolint.per-file-ignores]\n"tests/**" = ["ISO2"]\n"legacy_*.py" = ["session-on-instance"]\n',
    )
    write(in_tmp / "tests" / "deep" / "t.py", SESSION_CLASS)
    write(in_tmp / "legacy_db.py", SESSION_CLASS)
    write(in_tmp / "app.py", SESSION_CLASS)
    result = json.loads(run_cli("check", "--output-format", "json").stdout)
    assert [Path(r["filename"]).name for r in result] == ["app.py"]


def test_context_class_setting_drives_the_fix(in_tmp: Path) -> None:
    write(in_tmp / "pyproject.toml", '[tool.isolint]\ncontext-class = "app.ctx:RequestContext"\n')
    write(in_tmp / "a.py", "from app.state import DeepAgentState\n")
    run_cli("fix")
    assert (in_tmp / "a.py").read_text() == "from app.ctx import RequestContext\n"


def test_legacy_state_section_is_validated_and_allow_in_silences_iso4(in_tmp: Path) -> None:
    write(in_tmp / "adapters" / "legacy.py", "from app.state import DeepAgentState\n")
    write(in_tmp / "app.py", "from app.state import DeepAgentState\n")
    write(in_tmp / "pyproject.toml", '[tool.isolint.legacy-state]\nallow-in = ["adapters/"]\n')
    assert codes() == [("ISO401", 1)]
    write(in_tmp / "pyproject.toml", '[tool.isolint.legacy-state]\nfield-map = ["user_id"]\n')
    result = run_cli("check")
    assert result.exit_code == 2 and "[legacy-state]: key 'field-map' must be a table of strings" in result.stderr


SESSION_IN_ANOTHER_MODULE = (
    "class Store:\n"
    "    def __init__(self, conn):\n"
    "        self.conn = conn\n"
    "\n"
    "    def save(self, row):\n"
    "        self.conn.add(row)\n"
)
BUILDS_IT = "from app.store import Store\n\n\ndef handle(conn):\n    return Store(conn)\n"


def test_a_family_table_sets_the_vocabulary_once_for_every_rule_and_the_index(in_tmp: Path) -> None:
    """`conn` is a session only because [sessions] says so: ISO201 sees it where it is
    stored, and ISO205 sees it passed in another module, through the index."""
    write(in_tmp / "app" / "__init__.py", "")
    write(in_tmp / "app" / "store.py", SESSION_IN_ANOTHER_MODULE)
    write(in_tmp / "app" / "handlers.py", BUILDS_IT)
    assert run_cli("check", "--no-cache", "--select", "ISO2", "--output-format", "concise").exit_code == 0
    write(in_tmp / "pyproject.toml", '[tool.isolint.sessions]\nnames = ["conn"]\n')
    result = run_cli("check", "--no-cache", "--select", "ISO2", "--output-format", "concise")
    found = sorted(line.split(" ")[0:2] for line in result.stdout.splitlines() if ": ISO" in line)
    assert found == [["app/handlers.py:5:12:", "ISO205"], ["app/store.py:3:9:", "ISO201"]]
    assert "warning:" not in result.stderr


def test_a_family_key_in_a_rule_table_still_works_for_that_rule_and_says_where_it_belongs(in_tmp: Path) -> None:
    write(in_tmp / "app" / "__init__.py", "")
    write(in_tmp / "app" / "store.py", SESSION_IN_ANOTHER_MODULE)
    write(in_tmp / "app" / "handlers.py", BUILDS_IT)
    write(in_tmp / "pyproject.toml", '[tool.isolint.rules.ISO201]\nnames = ["conn"]\n')
    result = run_cli("check", "--no-cache", "--select", "ISO2", "--output-format", "concise")
    assert [line.split(" ")[1] for line in result.stdout.splitlines() if ": ISO" in line] == ["ISO201"]
    assert (
        "[rules.ISO201] names: set it once for the whole family in [sessions] (the index and every sessions rule "
        "read it there); the per-rule key still overrides it for ISO201 alone"
    ) in result.stderr


def test_the_websocket_index_knows_the_request_context_by_the_configured_context_params(in_tmp: Path) -> None:
    """A function taking the configured context parameter builds its manager per request:
    it is no accessor of the shared one, so its callers are not reported."""
    write(in_tmp / "app" / "__init__.py", "")
    write(
        in_tmp / "app" / "sockets.py",
        "class WebSocketManager:\n    pass\n\n\ndef get_ws_manager(request_scope):\n    return WebSocketManager()\n",
    )
    write(
        in_tmp / "app" / "use.py",
        "from app.sockets import get_ws_manager\n\n\ndef emit(request_scope):\n    get_ws_manager(request_scope)\n",
    )
    before = run_cli("check", "--no-cache", "--select", "ISO302", "--output-format", "concise").stdout
    assert "app/use.py:5:5: ISO302" in before
    write(in_tmp / "pyproject.toml", '[tool.isolint]\ncontext-params = ["request_scope"]\n')
    after = run_cli("check", "--no-cache", "--select", "ISO302", "--output-format", "concise").stdout
    assert "app/use.py" not in after
