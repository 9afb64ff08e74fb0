"""Custom rules: the worked example under fixtures/plugin_example, loaded by
`extend-rules` and by the `isolint.rules` entry-point group, held to the
built-in rules' checks. Each run is a subprocess, so no plugin is left
registered in the test process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from isolint.rule_testing import doc_problems, fixture_problems
from isolint.rules import ALL_RULES, Rule
from isolint.suppressions import HYGIENE_CODES
from tests.conftest import FIXTURES, write
from tests.workflow_cli import isolint

EXAMPLE = FIXTURES / "plugin_example"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "example"))


def test_extend_rules_loads_the_example_rule_with_its_options(example: Path) -> None:
    result = isolint(example, "check", "app", "--output-format", "concise")
    assert result.returncode == 1
    assert (
        result.stdout.splitlines()[0]
        == "app/profiles.py:1:1: ISO901 module-level `profile_cache` is one cache shared by every request and user"
    )
    write(example / "app" / "memo.py", "lookup_memo = {}\n")  # matched by the configured `names`
    assert "app/memo.py:1:1: ISO901" in isolint(example, "check", "app", "--output-format", "concise").stdout
    # Selection, suppression and the docs work as for a built-in rule.
    assert isolint(example, "check", "app", "--ignore", "ISO901").returncode == 0
    write(example / "app" / "profiles.py", "profile_cache = {}  # isolint: ignore[module-level-cache]\n")
    write(example / "app" / "memo.py", "x = 1\n")
    assert isolint(example, "check", "app").returncode == 0
    doc = isolint(example, "rule", "ISO901")
    assert doc.returncode == 0 and doc.stdout.startswith("# module-level-cache (ISO901)")
    listed = json.loads(isolint(example, "rule", "--all", "--output-format", "json").stdout)
    assert {"code": "ISO901", "name": "module-level-cache", "family": "singletons"}.items() <= listed[-1].items()


def test_the_example_passes_the_built_in_rules_checks(example: Path) -> None:
    script = (
        "from pathlib import Path\n"
        "from acme_isolint import ModuleLevelCache as R\n"
        "from isolint.rule_testing import doc_problems, fixture_problems\n"
        "print(fixture_problems(R, Path('fixtures/ISO901')) + doc_problems(R))\n"
    )
    checked = subprocess.run([sys.executable, "-c", script], cwd=example, capture_output=True, text=True, timeout=120)
    assert (checked.returncode, checked.stdout) == (0, "[]\n"), checked.stderr
    # The helpers do fail: a case whose marker is wrong, and a doc whose example is clean.
    write(example / "fixtures" / "ISO901" / "wrong.py", "x_cache = {}\nDEFAULTS = {}  # expect: ISO901\n")
    doc = example / "ISO901-module-level-cache.md"
    doc.write_text(doc.read_text().replace("profile_cache = {}\n", "profile_cache = load()\n", 1))
    failing = subprocess.run([sys.executable, "-c", script], cwd=example, capture_output=True, text=True, timeout=120)
    assert "wrong.py: reported [(1, 'ISO901')], expected [(2, 'ISO901')]" in failing.stdout
    assert "ISO901-module-level-cache.md: the example does not trigger ISO901" in failing.stdout


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.code != "ISO000"], ids=lambda r: r.code)
def test_the_helpers_pass_every_built_in_rule(rule: type[Rule]) -> None:
    selector = "ALL" if rule.code in HYGIENE_CODES else None  # they judge suppressions of the rules that ran
    assert fixture_problems(rule, FIXTURES / "rules" / rule.code, selector=selector) == []
    assert doc_problems(rule, selector=selector) == []


def test_an_installed_package_registers_rules_by_entry_point(example: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(example / "acme_isolint.py", site / "acme_isolint.py")
    shutil.copy(example / "ISO901-module-level-cache.md", site / "ISO901-module-level-cache.md")
    write(site / "acme_isolint-1.0.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: acme-isolint\nVersion: 1.0\n")
    write(
        site / "acme_isolint-1.0.dist-info" / "entry_points.txt",
        "[isolint.rules]\nmodule-level-cache = acme_isolint:ModuleLevelCache\n",
    )
    project = tmp_path / "project"
    write(project / "app.py", "profile_cache = {}\n")
    env = {"NO_COLOR": "1", "PYTHONPATH": str(site)}
    result = isolint(project, "check", "--output-format", "concise", env=env)
    assert result.returncode == 1 and "app.py:1:1: ISO901" in result.stdout
    assert isolint(project, "rule", "ISO901", env=env).stdout.startswith("# module-level-cache (ISO901)")


@pytest.mark.parametrize(
    ("module", "spec", "message"),
    [
        ("class Nothing:\n    pass\n", "bad_rules:Nothing", "is not an isolint Rule subclass"),
        ("import missing_dependency\n", "bad_rules:Rule", "cannot import 'bad_rules': ModuleNotFoundError"),
        (
            "import re\nfrom isolint.rules import Rule\nclass Taken(Rule):\n    code = 'ISO201'\n    name = 'taken'\n"
            "    family = 'sessions'\n    summary = 's'\n    prefilter = re.compile(rb'x')\n",
            "bad_rules:Taken",
            "custom rules use ISO900-ISO999",
        ),
        (
            "import re\nfrom isolint.rules import Rule\nclass Clash(Rule):\n    code = 'ISO950'\n    name = 'session-on-instance'\n"
            "    family = 'sessions'\n    summary = 's'\n    prefilter = re.compile(rb'x')\n",
            "bad_rules:Clash",
            "reuses the name of",
        ),
        ("", "not a spec", "must look like 'package.module:RuleClass'"),
    ],
    ids=["not-a-rule", "import-error", "built-in-code", "name-clash", "malformed"],
)
def test_a_broken_plugin_is_a_configuration_error(tmp_path: Path, module: str, spec: str, message: str) -> None:
    write(tmp_path / "bad_rules.py", module)
    write(tmp_path / "pyproject.toml", f'[tool.isolint]\nextend-rules = ["{spec}"]\n')
    write(tmp_path / "a.py", "x = 1\n")
    result = isolint(tmp_path, "check")
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_cached_results_follow_the_plugin_source(example: Path, tmp_path: Path) -> None:
    env = {"NO_COLOR": "1", "ISOLINT_CACHE_DIR": str(tmp_path / "cache")}
    assert isolint(example, "check", "app", env=env).returncode == 1
    warm = isolint(example, "check", "app", env=env)
    assert (warm.returncode, warm.stderr) == (1, "")  # the plugin's cached findings are read back, not discarded
    plugin = example / "acme_isolint.py"
    plugin.write_text(plugin.read_text().replace("return not value.keys", "return False"))
    assert isolint(example, "check", "app", env=env).returncode == 0
