"""Fixtures for the isolint.runtime tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def log() -> list[str]:
    """An ordered record of what fakes did (cleanups, session steps...)."""
    return []
