"""Property-based robustness: whatever valid Python isolint is given, `check`
never raises, `fix --unsafe-fixes` output parses, a second `fix` changes
nothing, and `fix` leaves files that `check` finds clean untouched.

Sources come from `hypothesmith` (valid Python from the grammar, or from
LibCST's node types), alone and with realistic pattern snippets spliced in
(tests/robustness_snippets.py), so the rules and their fixes actually fire.

Budget: about 200 examples per property in all (each example checks all four
properties), derandomized so a CI failure reproduces. Locally,
`ISOLINT_FUZZ_EXAMPLES=2000` raises the total and `ISOLINT_FUZZ_SEED=<n>`
explores other inputs (either one turns derandomization off).
"""

from __future__ import annotations

import ast
import functools
import os
import tempfile
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, assume, event, given, seed, settings
from hypothesis import strategies as st

from isolint.config import load_settings
from isolint.index import ProjectIndex, index_source
from isolint.plan import Plan, check_bytes
from isolint.rules import ALL_RULES
from isolint.runner import run_fix
from tests.robustness_snippets import (
    ALL_MODULE_SNIPPETS,
    BODY_SNIPPETS,
    in_host_function,
    parses,
    splice_body,
    splice_module,
)

TOTAL_EXAMPLES = int(os.environ.get("ISOLINT_FUZZ_EXAMPLES") or 200)
FUZZ_SEED = os.environ.get("ISOLINT_FUZZ_SEED")
EXPLORING = bool(FUZZ_SEED or os.environ.get("ISOLINT_FUZZ_EXAMPLES"))

settings.register_profile(
    "isolint-robustness",
    deadline=None,
    database=None,  # never write .hypothesis/ into the checkout; failures print a reproduction instead
    derandomize=not EXPLORING,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
ROBUSTNESS = settings.get_profile("isolint-robustness")


def budget(share: float) -> settings:
    """This test's part of the total examples, on the shared profile."""
    return settings(ROBUSTNESS, max_examples=max(1, round(TOTAL_EXAMPLES * share)))


def seeded(test):
    """Apply ISOLINT_FUZZ_SEED when exploring with a fixed seed."""
    return seed(int(FUZZ_SEED))(test) if FUZZ_SEED else test


# hypothesmith compiles what it generates; CPython's "perhaps you missed a comma?" warnings are noise here.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

PATH = "app/fuzzed.py"
MODULE = "app.fuzzed"
SETTINGS = load_settings([Path.cwd()], isolated=True)
INDEXERS = [
    (rule, prefilter) for rule in ALL_RULES if (prefilter := rule.compile_index_prefilter(SETTINGS)) is not None
]


def plan_for(raw: bytes) -> Plan:
    """A plan whose project index holds this file's own facts, as a one-file project's run would."""
    return Plan.from_settings(SETTINGS, ProjectIndex(index_source(raw, PATH, MODULE, INDEXERS, SETTINGS)))


def fix(text: str) -> tuple[str, int]:
    """`isolint fix --unsafe-fixes` on a one-file project holding `text`: the whole
    pipeline, verification gate included, as a user runs it."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "app").mkdir()
        (root / "app" / "__init__.py").write_text("")
        target = root / PATH
        target.write_bytes(text.encode("utf-8"))
        result = run_fix([target], SETTINGS, jobs=1, unsafe=True, use_cache=False)
        return target.read_bytes().decode("utf-8"), result.applied


def assert_robust(text: str) -> None:
    raw = text.encode("utf-8")
    findings = check_bytes(raw, PATH, plan_for(raw), module_name=MODULE).findings  # never raises

    fixed, applied = fix(text)
    event("ISO000" if any(f.code == "ISO000" for f in findings) else "findings" if findings else "clean")
    event("fixes applied" if applied else "no fix applied")  # visible with --hypothesis-show-statistics
    try:
        ast.parse(fixed)
    except SyntaxError as exc:  # pragma: no cover - a failure message
        pytest.fail(f"fix --unsafe-fixes output does not parse ({exc}):\n{fixed}")

    if not findings:
        assert fixed == text, "fix changed a file that check reports clean"
    if applied:
        again, reapplied = fix(fixed)
        assert (again, reapplied) == (fixed, 0), "a second fix changed the file again (not idempotent)"


def valid(text: str) -> bool:
    """What the engine is promised: text CPython parses, encodable as UTF-8.
    (hypothesmith can produce both kinds of exception on 3.11.)"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return parses(text)


# Built once: each construction compiles hypothesmith's grammar (seconds).
GRAMMAR_MODULES = hypothesmith.from_grammar()
NODE_MODULES = hypothesmith.from_node()


@st.composite
def spliced_modules(draw: st.DrawFn) -> str:
    """A generated module with pattern snippets at top level, in its functions,
    and/or in a function that takes the request context."""
    text = draw(GRAMMAR_MODULES)
    assume(valid(text))
    for snippet in draw(st.lists(st.sampled_from(ALL_MODULE_SNIPPETS), min_size=1, max_size=3)):
        text = splice_module(text, snippet, draw(st.integers(0, 50)))
    if draw(st.booleans()):
        text = splice_body(text, draw(st.sampled_from(BODY_SNIPPETS)), draw(st.integers(0, 50)))
    if draw(st.booleans()):
        statements = "".join(draw(st.lists(st.sampled_from(BODY_SNIPPETS), min_size=1, max_size=3)))
        text = in_host_function(text, statements)
    return text


@seeded
@budget(0.3)
@given(GRAMMAR_MODULES)
def test_generated_modules(text: str) -> None:
    assume(valid(text))
    assert_robust(text)


@seeded
@budget(0.55)
@given(spliced_modules())
def test_generated_modules_with_patterns_spliced_in(text: str) -> None:
    assume(valid(text))
    assert_robust(text)


@seeded
@budget(0.15)  # LibCST-node generation is slow (~0.3 s an example)
@given(NODE_MODULES)
def test_modules_generated_from_libcst_nodes(text: str) -> None:
    assume(valid(text))
    assert_robust(text)


def findings_of(text: str) -> list[str]:
    raw = text.encode()
    return [finding.code for finding in check_bytes(raw, PATH, plan_for(raw), module_name=MODULE).findings]


@pytest.mark.parametrize("snippet", ALL_MODULE_SNIPPETS, ids=lambda s: s.split("\n", 1)[0][:40])
def test_module_snippet_triggers_a_rule(snippet: str) -> None:
    """The snippets only help if the rules see them."""
    assert findings_of(snippet)


@pytest.mark.parametrize("statements", BODY_SNIPPETS, ids=lambda s: s.split("\n", 1)[0][:40])
def test_body_snippet_adds_a_finding_among_the_module_snippets(statements: str) -> None:
    """Body statements may lean on a module snippet (an accessor of a singleton defined there)."""
    assert len(findings_of(ALL_MODULES + in_host_function("", statements))) > findings_among_module_snippets()


ALL_MODULES = "\n\n".join(ALL_MODULE_SNIPPETS) + "\n\n"


@functools.cache
def findings_among_module_snippets() -> int:
    return len(findings_of(ALL_MODULES + in_host_function("", "pass\n")))
