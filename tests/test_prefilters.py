"""Prefilters combined from compiled patterns (isolint.prefilters)."""

from __future__ import annotations

import re

import pytest

from isolint.prefilters import AllOf, AnyOf

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
