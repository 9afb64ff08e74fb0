"""The checks every built-in rule passes, for plugin authors' own tests:

    from isolint.rule_testing import doc_problems, fixture_problems
    from acme_isolint import ModuleLevelCache

    def test_module_level_cache():
        assert fixture_problems(ModuleLevelCache, Path("fixtures/ISO901")) == []
        assert doc_problems(ModuleLevelCache) == []

Fixture cases follow fixtures/rules/README.md: a `# expect: CODE` marker on
each line that must be reported, files without markers are negative cases,
and `<case>.fixed.py` is what `isolint fix --unsafe-fixes` must make of
`<case>.py`. Each function returns what is wrong, in words; empty is a pass.
"""

from __future__ import annotations

import ast
import re
import shutil
import tempfile
from pathlib import Path

from .config import load_settings
from .docs import SECTIONS, code_block, doc_path, section
from .findings import Finding
from .rules import Rule
from .runner import run_check, run_fix

MARKER = re.compile(r"#\s*expect:\s*(?P<codes>ISO\d{3}(?:\s*,\s*ISO\d{3})*)")


def _findings(path: Path, selector: str) -> list[Finding]:
    settings = load_settings([path], isolated=True, overrides={"select": [selector]})
    return run_check([path], settings, jobs=1, use_cache=False).findings


def expected_findings(case: Path) -> list[tuple[int, str]]:
    expected = []
    for row, line in enumerate(case.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            expected.extend((row, code.strip()) for code in match["codes"].split(","))
    return sorted(expected)


def fixture_problems(rule: type[Rule], directory: Path, *, selector: str | None = None) -> list[str]:
    """Run `rule` (alone, or with `selector`) over each case in `directory`."""
    _register(rule)
    chosen = selector or rule.code
    cases = sorted(p for p in directory.glob("*.py") if not p.name.endswith(".fixed.py"))
    problems = []
    if not any(expected_findings(case) for case in cases):
        problems.append(f"{directory}: no positive case (a line marked `# expect: {rule.code}`)")
    if not any(not expected_findings(case) for case in cases):
        problems.append(f"{directory}: no negative case (a file without markers)")
    with tempfile.TemporaryDirectory() as scratch:
        for case in cases:
            target = Path(scratch) / case.name
            shutil.copyfile(case, target)
            found = sorted((f.location.row, f.code) for f in _findings(target, chosen))
            if found != expected_findings(case):
                problems.append(f"{case.name}: reported {found}, expected {expected_findings(case)}")
            fixed = case.with_name(case.stem + ".fixed.py")
            if fixed.exists():
                problems.extend(_fix_problems(target, fixed, chosen))
    return problems


def _fix_problems(target: Path, fixed: Path, selector: str) -> list[str]:
    settings = load_settings([target], isolated=True, overrides={"select": [selector]})
    run_fix([target], settings, jobs=1, unsafe=True, use_cache=False)
    result = target.read_text(encoding="utf-8")
    if result != fixed.read_text(encoding="utf-8"):
        return [f"{fixed.name}: `isolint fix --unsafe-fixes` made something else:\n{result}"]
    try:
        ast.parse(result)
    except SyntaxError as exc:
        return [f"{fixed.name}: the fixed file does not parse: {exc}"]
    if run_fix([target], settings, jobs=1, unsafe=True, use_cache=False, mode="check").applied:
        return [f"{fixed.name}: a second `isolint fix` still changes it (fixes must settle)"]
    return []


def doc_problems(rule: type[Rule], *, selector: str | None = None) -> list[str]:
    """The doc `<CODE>-<name>.md` has every section, and its examples are true."""
    _register(rule)
    path = doc_path(rule)
    if not path.is_file():
        return [f"{rule.code}: no documentation at {path}"]
    doc = path.read_text(encoding="utf-8")
    problems = []
    if not doc.startswith(f"# {rule.name} ({rule.code})"):
        problems.append(f"{path.name}: must start with '# {rule.name} ({rule.code})'")
    problems += [f"{path.name}: empty or missing section '## {title}'" for title in SECTIONS if not section(doc, title)]
    example, instead = code_block(section(doc, "Example") or ""), code_block(section(doc, "Use instead") or "")
    if example is None or instead is None:
        return [*problems, f"{path.name}: 'Example' and 'Use instead' each need a ```python block"]
    with tempfile.TemporaryDirectory() as scratch:
        for name, text, reported in (("example.py", example, True), ("instead.py", instead, False)):
            target = Path(scratch) / name
            target.write_text(text, encoding="utf-8")
            if (rule.code in {f.code for f in _findings(target, selector or rule.code)}) != reported:
                problems.append(f"{path.name}: the {name[:-3]} {'does not trigger' if reported else 'triggers'} {rule.code}")
    return problems


def _register(rule: type[Rule]) -> None:
    """A plugin rule under test need not be configured anywhere: register it (built-in rules already are)."""
    from .plugins import add_rule
    from .rules import BY_CODE

    if BY_CODE.get(rule.code) is not rule:
        add_rule(rule)
