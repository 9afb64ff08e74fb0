"""The rule registry lists every rule without importing it, and a warm check
imports only what it uses (issue: warm `check` and small runs start fast)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import isolint
from isolint import config, rules
from isolint.config import load_settings
from isolint.rules import ENTRIES, RuleEntry, discover
from tests.conftest import write

ROOT = Path(__file__).resolve().parents[1]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_rule_registry", ROOT / "scripts" / "gen_rule_registry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_registry_is_what_the_generator_makes_of_the_rule_modules() -> None:
    assert generator().render() == (ROOT / "src" / "isolint" / "rules" / "_registry.py").read_text(encoding="utf-8")
    built_in = [entry for entry in ENTRIES if not entry.code.startswith(rules.CUSTOM_PREFIX)]
    assert built_in == [RuleEntry.of(rule) for rule in discover()]


def test_an_entry_that_no_longer_matches_its_class_is_refused_when_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = rules.ENTRY_BY_CODE["ISO201"]
    stale = dataclasses.replace(entry, reads_facts=())
    monkeypatch.delitem(rules._classes, "ISO201", raising=False)
    with pytest.raises(ImportError, match="gen_rule_registry"):
        stale.load()


def test_a_changed_option_default_in_the_registry_changes_the_cache_key(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = load_settings([in_tmp]).fingerprint()
    position, entry = next((i, e) for i, e in enumerate(ENTRIES) if e.code == "ISO101")
    [option] = entry.options  # instance-attributes: no family table overrides it
    changed = dataclasses.replace(entry, options=(dataclasses.replace(option, default=["_the_one"]),))
    monkeypatch.setattr(config, "ENTRIES", [*ENTRIES[:position], changed, *ENTRIES[position + 1 :]])
    assert load_settings([in_tmp]).fingerprint() != before


SESSION = "class A:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from app.state import DeepAgentState\n\n\ndef run(state: DeepAgentState) -> None:\n    state.x = 1\n"
# Modules a check whose every file the cache answers has no use for: LibCST,
# the fix machinery, the engine and the rules' own modules.
NOT_FOR_A_WARM_CHECK = (
    "libcst",
    "isolint.engine",
    "isolint.fixing",
    "isolint.transaction",
    "isolint.verify",
    "isolint.semantic",
    "isolint.pool",
    "importlib.metadata",
    "pkgutil",
)


def modules_after_check(root: Path) -> set[str]:
    """The modules `isolint check` imported, in a fresh interpreter."""
    probe = (
        "import json, sys\n"
        "from isolint.cli import main\n"
        "try:\n"
        "    main(['check', '--jobs', '1', '.'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(isolint.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True, check=True)
    return set(json.loads(done.stderr.splitlines()[-1]))


def rule_modules(modules: set[str]) -> set[str]:
    return {name for name in modules if re.fullmatch(r"iso\d{3}_\w+|edits", name.rpartition(".")[2])}


def test_a_warm_check_imports_neither_libcst_nor_fix_machinery_nor_any_rule(in_tmp: Path) -> None:
    write(in_tmp / "a.py", SESSION)
    write(in_tmp / "b.py", LEGACY)
    cold = modules_after_check(in_tmp)
    assert "isolint.engine" in cold and rule_modules(cold)  # the probe sees what a parse imports
    assert "libcst" not in cold  # every rule is on `ast`, and text output prints no edits
    warm = modules_after_check(in_tmp)
    assert not {name for name in warm if name.partition(".")[0] == "libcst"}
    assert not warm & set(NOT_FOR_A_WARM_CHECK)
    assert not rule_modules(warm)
