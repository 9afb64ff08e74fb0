"""What the fix report keeps: a finding whose own code did not change never leaves it."""

from __future__ import annotations

from isolint.findings import Finding, Location
from isolint.transaction import carried_over


def finding(path: str, row: int, code: str = "ISO405", snippet: str = "agent.execute(state, run_id)") -> Finding:
    return Finding(
        code,
        "legacy-execute-signature",
        "legacy-state",
        "m",
        path,
        Location(row, 5),
        Location(row, 30),
        snippet=snippet,
    )


BEFORE = "import x\n\n\nasync def run(agent, state, run_id):\n    await agent.execute(state, run_id)\n"


def test_a_finding_whose_code_is_unchanged_is_kept_and_moved_with_its_line() -> None:
    after_text = (
        "import x\nimport y\n\n\nasync def run(agent, state, run_id):\n    await agent.execute(state, run_id)\n"
    )
    kept = carried_over([finding("a.py", 5)], [], {"a.py": (BEFORE, after_text)}, lambda f: False)
    assert [(f.location.row, f.end_location.row, f.fix) for f in kept] == [(6, 6, None)]
    assert kept[0].manual is not None and kept[0].manual.startswith(
        "Still to migrate: the fixes changed code this finding depends on elsewhere"
    )


def test_a_kept_finding_is_placed_by_lines_as_python_numbers_them_past_a_form_feed() -> None:
    # `str.splitlines` breaks at the form feed too: the call's line 6 was taken for the changed `def` line.
    before = "import x\n\f\n" + BEFORE.removeprefix("import x\n")
    after_text = before.replace("async def run(", "async def run_again(")
    kept = carried_over([finding("a.py", 6)], [], {"a.py": (before, after_text)}, lambda f: False)
    assert [f.location.row for f in kept] == [6]


def test_a_finding_in_a_file_the_fixes_did_not_touch_is_kept_where_it_was() -> None:
    kept = carried_over([finding("b.py", 5)], [], {}, lambda f: False)
    assert [(f.path, f.location.row) for f in kept] == [("b.py", 5)]


def test_a_finding_whose_own_code_changed_or_whose_fix_went_in_is_not_kept() -> None:
    rewritten = BEFORE.replace("agent.execute(state, run_id)", "agent.execute(context)")
    assert carried_over([finding("a.py", 5)], [], {"a.py": (BEFORE, rewritten)}, lambda f: False) == []
    assert carried_over([finding("b.py", 5)], [], {}, lambda f: True) == []


def test_a_finding_still_reported_after_the_fixes_is_not_doubled() -> None:
    assert carried_over([finding("b.py", 5)], [finding("b.py", 5)], {}, lambda f: False) == []
