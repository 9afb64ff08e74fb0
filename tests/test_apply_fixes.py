"""Applying one pass of fixes: which go in together, and which wait for the next pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from isolint import engine
from isolint.config import load_settings
from isolint.findings import SAFE, Edit, Fix, Location
from isolint.fixes import apply_fixes
from isolint.plan import Plan
from isolint.source import decode

TEXT = "import os\n\ndef a(x):\n    return x\n\ndef b(y):\n    return y\n"
IMPORT = "from isolint.runtime import UserExecutionContext\n"


def edit(row: int, column: int, end_row: int, end_column: int, content: str) -> Edit:
    return Edit(content, Location(row, column), Location(end_row, end_column))


def fix(*edits: Edit, isolation: str | None = None, message: str = "fix") -> Fix:
    return Fix(SAFE, message, edits, isolation)


ADD_IMPORT = edit(2, 1, 2, 1, IMPORT)
RENAME_X = edit(3, 7, 3, 8, "context")
RENAME_Y = edit(6, 7, 6, 8, "context")


def test_disjoint_fixes_go_in_together() -> None:
    text, applied = apply_fixes(TEXT, [fix(RENAME_X), fix(RENAME_Y)])
    assert len(applied) == 2
    assert "def a(context):" in text and "def b(context):" in text


def test_an_edit_two_fixes_share_goes_in_once() -> None:
    first, second = fix(ADD_IMPORT, RENAME_X), fix(ADD_IMPORT, RENAME_Y)
    text, applied = apply_fixes(TEXT, [first, second])
    assert applied == [first, second]
    assert text.count(IMPORT) == 1
    assert text == "import os\n" + IMPORT + "\ndef a(context):\n    return x\n\ndef b(context):\n    return y\n"


def test_overlapping_edits_wait_for_the_next_pass() -> None:
    """The fix whose edits start first goes in."""
    later, earlier = fix(RENAME_X), fix(edit(3, 5, 3, 9, "other(z)"))
    text, applied = apply_fixes(TEXT, [later, earlier])
    assert applied == [earlier]
    assert "def other(z):" in text


def test_touching_edits_wait_too() -> None:
    first, second = fix(edit(3, 7, 3, 7, "ctx, ")), fix(edit(3, 7, 3, 7, "more, "))
    _, applied = apply_fixes(TEXT, [first, second])
    assert applied == [first]


def test_a_shared_edit_does_not_excuse_an_overlapping_one() -> None:
    first = fix(ADD_IMPORT, RENAME_X)
    second = fix(ADD_IMPORT, edit(3, 7, 3, 9, "z)"))
    _, applied = apply_fixes(TEXT, [first, second])
    assert applied == [first]


@pytest.mark.parametrize(
    ("second", "goes_in"),
    [
        pytest.param(fix(ADD_IMPORT, RENAME_Y, isolation="imports"), True, id="same-import"),
        pytest.param(fix(edit(5, 1, 5, 1, "import sys\n"), RENAME_Y, isolation="imports"), False, id="other-import"),
        pytest.param(fix(RENAME_Y, isolation="imports"), False, id="no-shared-edit"),
        pytest.param(fix(ADD_IMPORT, RENAME_Y), True, id="no-group"),
    ],
)
def test_an_isolation_group_takes_one_change_per_pass_unless_the_change_is_the_same(second: Fix, goes_in: bool) -> None:
    first = fix(ADD_IMPORT, RENAME_X, isolation="imports")
    _, applied = apply_fixes(TEXT, [first, second])
    assert applied == ([first, second] if goes_in else [first])


def test_every_annotation_a_file_needs_goes_in_one_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each annotation's fix adds the same context import: they share it,
    so every annotation goes in the first pass (the text the second lint
    reads has them all), not one pass per function."""
    source = "from app.state import DeepAgentState\n\n" + "".join(
        f"\n\ndef step_{i}(state: DeepAgentState) -> None:\n    print(state.user_id)\n" for i in range(4)
    )
    lints: list[str] = []
    lint_text = engine.lint_text

    def counting(text: str, *args: object, **kwargs: object) -> object:
        lints.append(text)
        return lint_text(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "lint_text", counting)
    plan = Plan.from_settings(load_settings([tmp_path], isolated=True), build_edits=False)
    outcome = engine.fix_text(decode(source.encode()), "steps.py", plan, unsafe=True, module_name="steps")
    assert outcome.text.count("def step_") == 4
    assert outcome.text.count("state: UserExecutionContext") == 4
    assert outcome.text.count("import UserExecutionContext") == 1
    assert lints[0] == source and lints[1].count("state: UserExecutionContext") == 4
