"""Prefilters combined from compiled patterns (isolint.prefilters)."""

from __future__ import annotations

import re

import pytest

from isolint.prefilters import NEVER, AllOf, AnyOf

AGENT = re.compile(rb"gent(?<=[Aa]gent)")
STORE = re.compile(rb"register\s*\(")


@pytest.mark.parametrize(
    ("raw", "matches"),
    [
        (b"registry.register(agent)\n", True),
        (b"agent = make()\n\n\nhub.register (x)\n", True),  # on lines of their own
        (b"hub.register(x)\n# the agent\n", True),  # in either order
        (b"agent = make()\n", False),
        (b"hub.register(tool)\n", False),
        (b"", False),
    ],
)
def test_all_of_matches_a_text_holding_each_pattern_somewhere(raw: bytes, matches: bool) -> None:
    assert (AllOf(AGENT, STORE).search(raw) is not None) is matches


@pytest.mark.parametrize(
    ("raw", "matches"),
    [
        (b"TriageAgent()\n", True),
        (b"agent\nhub.register(x)\n", True),
        (b"agent\n", False),
        (b"hub.register(tool)\n", False),
    ],
)
def test_any_of_matches_a_text_one_of_its_parts_matches(raw: bytes, matches: bool) -> None:
    prefilter = AnyOf(re.compile(rb"Agent\s*\("), AllOf(AGENT, STORE))
    assert (prefilter.search(raw) is not None) is matches


def test_never_matches_no_text() -> None:
    assert NEVER.search(b"") is None
    assert NEVER.search(b"class SessionHolder:\n    pass\n") is None


@pytest.mark.parametrize("code", ["ISO106", "ISO205", "ISO407"])
def test_a_rule_built_from_indexed_names_reads_no_file_when_none_are_indexed(code: str) -> None:
    from pathlib import Path

    from isolint.config import load_settings
    from isolint.index import EMPTY
    from isolint.rules import BY_CODE

    assert BY_CODE[code].compile_prefilter(load_settings([Path(".")], isolated=True), EMPTY) is NEVER
