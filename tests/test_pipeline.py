"""The pipeline every run goes through: units of any source, typed stages, the cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from isolint import pipeline, workers
from isolint.cache import Cache, stat_signature
from isolint.config import load_settings
from isolint.pipeline import CheckState, FileResult, Stats, Unit, check_source
from isolint.plan import Plan
from tests.conftest import write

SESSION = "class Agent:\n    def __init__(self, db):\n        self.db = db\n"


class Units:
    """A source that lists the units it is given."""

    def __init__(self, units: Sequence[Unit]) -> None:
        self._units = units

    def units(self) -> Iterator[Unit]:
        yield from self._units


def _check(units: Sequence[Unit], plan: Plan, cache: Cache) -> list[tuple[Unit, FileResult]]:
    return list(check_source(Units(units), {"": plan}, cache, jobs=1, stats=Stats()))


def test_a_file_on_disk_and_the_same_bytes_from_another_source_give_the_same_findings(tmp_path: Path) -> None:
    path = write(tmp_path / "app" / "agent.py", SESSION)
    plan = Plan.from_settings(load_settings([tmp_path], isolated=True))
    on_disk = Unit(0, "app/agent.py", "", path, signature=stat_signature(path))
    read_already = Unit(1, "app/agent.py", "", SESSION.encode(), module=("app.agent", False))
    [(_, from_disk), (_, from_bytes)] = _check([on_disk, read_already], plan, Cache(None))
    assert [f.code for f in from_disk.findings] == ["ISO201"]
    assert from_bytes.findings == from_disk.findings
    assert from_bytes.digest == from_disk.digest and from_bytes.parsed


def test_a_file_whose_stat_did_not_change_is_answered_by_the_cache_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "agent.py", SESSION)
    settings = load_settings([tmp_path], isolated=True)
    plan = Plan.from_settings(settings)

    def unit() -> Unit:
        return Unit(0, "agent.py", "", path, signature=stat_signature(path))

    cache = Cache.open(tmp_path, settings.fingerprint(), enabled=True)
    [(_, first)] = _check([unit()], plan, cache)

    def never(unit: Unit) -> object:
        raise AssertionError(f"{unit.shown} was read")

    monkeypatch.setattr(pipeline, "read_unit", never)
    [(_, again)] = _check([unit()], plan, cache)
    assert again.from_cache and again.findings == first.findings


def test_a_result_the_cache_holds_is_not_computed_again_for_a_touched_file(tmp_path: Path) -> None:
    path = write(tmp_path / "agent.py", SESSION)
    settings = load_settings([tmp_path], isolated=True)
    plan = Plan.from_settings(settings)
    cache = Cache.open(tmp_path, settings.fingerprint(), enabled=True)
    [(_, first)] = _check([Unit(0, "agent.py", "", path, signature=stat_signature(path))], plan, cache)
    # A stat the cache does not know (a fresh clone, a touch), the same content: read and keyed, not parsed.
    [(_, again)] = _check([Unit(0, "agent.py", "", path, signature=(0, 0))], plan, cache)
    assert again.from_cache and not again.parsed and again.key == first.key
    assert again.findings == first.findings


def test_an_unreadable_file_is_a_finding_not_an_error(tmp_path: Path) -> None:
    plan = Plan.from_settings(load_settings([tmp_path], isolated=True))
    missing = tmp_path / "gone.py"
    [(_, result)] = _check([Unit(0, "gone.py", "", missing)], plan, Cache(None))
    assert result.digest is None and [f.code for f in result.findings] == ["ISO000"]


def test_a_worker_reads_its_state_by_the_type_it_expects() -> None:
    workers.install("not a check state")
    with pytest.raises(RuntimeError, match="no CheckState installed in this process"):
        workers.installed(CheckState)
