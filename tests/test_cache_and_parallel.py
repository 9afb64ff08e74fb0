"""The results cache and worker processes: same answers, less work."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from isolint.config import load_settings
from isolint.findings import Edit, Finding, Fix, Location
from isolint.index import ProjectIndex
from isolint.plan import Plan
from isolint.runner import run_check
from tests.conftest import write

SESSION = "class A{i}:\n    def __init__(self, db):\n        self.db = db\n"
LEGACY = "from app.state import DeepAgentState\n"
SINGLETON = "class Registry{i}:\n    _instance = None\n\n    @classmethod\n    def get_instance(cls):\n        if cls._instance is None:\n            cls._instance = cls()\n        return cls._instance\n"
ACCESSOR = SINGLETON.format(i="") + "\n\ndef get_registry():\n    return Registry.get_instance()\n"


def tree(root: Path, files: int = 60) -> None:
    for i in range(files):
        write(root / f"pkg{i % 5}" / f"m{i}.py", SESSION.format(i=i) + (LEGACY if i % 3 == 0 else "") + "x = 1\n" * 20)
    for i in range(20):
        write(root / "clean" / f"c{i}.py", "def f():\n    return 1\n")


def check(root: Path, jobs: int = 1, use_cache: bool = True):  # type: ignore[no-untyped-def]
    settings = load_settings([root])
    return run_check([root], settings, jobs=jobs, use_cache=use_cache)


def test_second_run_parses_nothing_and_gives_the_same_findings(in_tmp: Path) -> None:
    tree(in_tmp)
    cold = check(in_tmp)
    assert cold.stats.parsed == 60 and cold.stats.prefiltered == 20 and cold.stats.cached == 0
    warm = check(in_tmp)
    assert warm.stats.parsed == 0 and warm.stats.cached == 80
    assert warm.findings == cold.findings


def test_touched_but_unchanged_file_is_a_content_hit(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    check(in_tmp)
    target = in_tmp / "pkg0" / "m0.py"
    os.utime(target, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = check(in_tmp)
    assert again.stats.parsed == 0


def test_an_init_file_added_beside_unchanged_files_renames_their_cached_facts(in_tmp: Path) -> None:
    """`pkg/registry.py` defines `registry.get_registry` until `pkg/__init__.py`
    makes it `pkg.registry.get_registry`, which `use.py` imports: its text is
    the same, its facts are not."""
    write(in_tmp / "pkg" / "registry.py", ACCESSOR)
    write(in_tmp / "use.py", "from pkg.registry import get_registry\n\n\ndef handler():\n    return get_registry()\n")
    assert not any(f.path == "use.py" for f in check(in_tmp).findings)
    write(in_tmp / "pkg" / "__init__.py", "")
    warm = check(in_tmp)
    assert [f.code for f in warm.findings if f.path == "use.py"] == ["ISO106"]
    assert warm.findings == check(in_tmp, use_cache=False).findings
    (in_tmp / "pkg" / "__init__.py").unlink()
    assert check(in_tmp).findings == check(in_tmp, use_cache=False).findings


def test_an_init_file_added_beside_an_unchanged_file_renames_what_its_cached_findings_resolved(in_tmp: Path) -> None:
    """`from .services import MailService` names `app.services.MailService`,
    which `allow` lets be, only once `app` is a package."""
    write(in_tmp / "pyproject.toml", '[tool.isolint.rules.ISO103]\nallow = ["app.services.*"]\n')
    write(in_tmp / "app" / "services.py", "class MailService:\n    def send(self, to):\n        return to\n")
    write(in_tmp / "app" / "main.py", "from .services import MailService\n\nmailer = MailService()\n")
    assert [f.code for f in check(in_tmp).findings] == ["ISO103"]
    write(in_tmp / "app" / "__init__.py", "")
    warm = check(in_tmp)
    assert warm.findings == [] == check(in_tmp, use_cache=False).findings
    assert warm.stats.parsed >= 1  # app/main.py, whose text did not change, was checked again


def test_changed_file_is_parsed_again(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    first = check(in_tmp)
    target = in_tmp / "pkg0" / "m0.py"
    target.write_text("x = 1\n")
    again = check(in_tmp)
    assert again.stats.parsed == 0 and again.stats.prefiltered == 1
    assert len(again.findings) == len(first.findings) - 2


def test_settings_change_invalidates(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    check(in_tmp)
    write(in_tmp / "pyproject.toml", '[tool.isolint.rules.ISO201]\nnames = ["other"]\n')
    again = check(in_tmp)
    assert again.stats.cached == 0
    assert {f.code for f in again.findings} == {"ISO401"}


def test_no_cache_neither_reads_nor_writes(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    cache_dir = Path(os.environ["ISOLINT_CACHE_DIR"])
    check(in_tmp, use_cache=False)
    assert not any(cache_dir.rglob("*.json"))
    check(in_tmp)
    assert any(cache_dir.rglob("*.json"))
    assert check(in_tmp, use_cache=False).stats.cached == 0


def test_without_a_cache_no_result_key_is_computed(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A key scans the file for every indexed name and digests the facts they
    # lead to: work for the cache alone.
    tree(in_tmp, files=10)
    cached = check(in_tmp).findings

    def no_key(*args: object) -> str:
        raise AssertionError("a result key computed without a cache")

    monkeypatch.setattr(Plan, "result_key", no_key)
    assert check(in_tmp, use_cache=False).findings == cached


def test_corrupt_cache_is_ignored(in_tmp: Path) -> None:
    tree(in_tmp, files=5)
    first = check(in_tmp)
    for file in Path(os.environ["ISOLINT_CACHE_DIR"]).rglob("*.json"):
        file.write_text("{not json")
    again = check(in_tmp)
    assert again.findings == first.findings and again.stats.cached == 0


def test_cache_directory_is_marked_and_ignored_by_git(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISOLINT_CACHE_DIR")
    tree(in_tmp, files=2)
    check(in_tmp)
    assert (in_tmp / ".isolint_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (in_tmp / ".isolint_cache" / "CACHEDIR.TAG").exists()


def test_order_is_the_same_whatever_the_job_count(in_tmp: Path) -> None:
    tree(in_tmp, files=80)
    serial = check(in_tmp, jobs=1, use_cache=False)
    parallel = check(in_tmp, jobs=2, use_cache=False)
    assert parallel.findings == serial.findings
    keys = [f.sort_key for f in serial.findings]
    assert keys == sorted(keys)


def test_two_processes_sharing_one_cache_both_succeed(in_tmp: Path) -> None:
    tree(in_tmp, files=150)
    command = [sys.executable, "-m", "isolint", "check", "--output-format", "json", "--jobs", "1", "."]
    procs = [subprocess.Popen(command, cwd=in_tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [1, 1], [o[1] for o in outputs]
    assert json.loads(outputs[0][0]) == json.loads(outputs[1][0])
    for file in Path(os.environ["ISOLINT_CACHE_DIR"]).rglob("*.json"):
        json.loads(file.read_text())  # still valid JSON
    assert check(in_tmp).stats.parsed == 0


def test_a_save_rereads_the_cache_only_when_another_run_replaced_it(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import isolint.cache
    from isolint.cache import Cache

    where = Location(1, 1)
    finding = Finding("ISO201", "session-on-instance", "sessions", "m", "a.py", where, where)
    reads: list[Path] = []
    real_load = isolint.cache._load_checked

    def counted(file: Path | None) -> Any:
        reads.extend([file] if file is not None and file.exists() else [])
        return real_load(file)

    monkeypatch.setattr(isolint.cache, "_load_checked", counted)

    def saved(cache: Cache, key: str) -> None:
        source = write(in_tmp / f"{key}.py", "x = 1\n")
        cache.store(source, "digest", key, "", "module", [replace(finding, message=key)])
        cache.save()

    first, second = (Cache.open(in_tmp, "fingerprint", enabled=True) for _ in range(2))
    saved(first, "mine")
    saved(second, "theirs")  # `first` replaced the file since `second` read it: what `first` saved stays
    assert set(Cache.open(in_tmp, "fingerprint", enabled=True).results) == {"mine", "theirs"}
    reads.clear()
    saved(Cache.open(in_tmp, "fingerprint", enabled=True), "more")
    assert len(reads) == 1  # the open; a save of a file nobody replaced reads it no second time
    assert set(Cache.open(in_tmp, "fingerprint", enabled=True).results) == {"mine", "theirs", "more"}


def test_a_cached_finding_comes_back_equal_and_its_repeated_strings_are_stored_once(in_tmp: Path) -> None:
    from isolint.cache import Cache

    edit = Edit("ctx", Location(2, 5), Location(2, 19))
    fixed = Finding(
        "ISO402",
        "legacy-state-annotation",
        "legacy-state",
        "annotated with the legacy state",
        "a.py",
        Location(2, 5),
        Location(2, 19),
        Fix("unsafe", "Annotate with the context", (edit,), isolation="imports"),
        manual="rewrite the callers",
        snippet="DeepAgentState",
    )
    unbuilt = replace(fixed, location=Location(3, 1), fix=Fix("safe", "Annotate with the context", None))
    plain = replace(fixed, fix=None, manual=None, message="annotated with the legacy state")
    source = write(in_tmp / "a.py", "x = 1\n")
    cache = Cache.open(in_tmp, "fingerprint", enabled=True)
    cache.store(source, "digest", "key", "", "module", [fixed, unbuilt, plain])
    cache.save()

    [file] = Path(os.environ["ISOLINT_CACHE_DIR"]).rglob("fingerprint.json")
    on_disk = json.loads(file.read_text())
    assert on_disk["strings"].count("annotated with the legacy state") == 1
    assert on_disk["strings"].count("Annotate with the context") == 1
    back = Cache.open(in_tmp, "fingerprint", enabled=True).results_for("key", "b.py")
    assert back == [finding.with_path("b.py") for finding in (fixed, unbuilt, plain)]
    assert back[0].message is back[2].message  # one string, shared by the findings that repeat it


# --- the project index, built in worker processes --------------------------------


def index_tree(root: Path, files: int = 60) -> None:
    tree(root, files)
    for i in range(10):
        write(root / "singletons" / f"r{i}.py", SINGLETON.format(i=i))
    write(root / "singletons" / "__init__.py", "")
    write(root / "broken.py", "class Oops(:\n")


def build(root: Path, jobs: int, use_cache: bool = False):  # type: ignore[no-untyped-def]
    from isolint.cache import Cache
    from isolint.discovery import discover
    from isolint.indexing import build_index
    from isolint.pipeline import Stats

    settings = load_settings([root])
    stats = Stats()
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
    project = build_index([root], discover([root], settings), settings, cache, jobs=jobs, stats=stats)
    cache.save()
    return project, stats


def test_a_warm_index_takes_its_fingerprint_from_the_cache_and_never_a_stale_one(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import isolint.index

    index_tree(in_tmp)
    cold, _ = build(in_tmp, jobs=1, use_cache=True)
    digested: list[object] = []
    real_digest = isolint.index._digest
    monkeypatch.setattr(isolint.index, "_digest", lambda items: digested.append(1) or real_digest(items))
    warm, _ = build(in_tmp, jobs=1, use_cache=True)
    assert warm.fingerprint == cold.fingerprint and digested == []  # remembered, not digested again
    assert warm.fingerprint == ProjectIndex(warm.facts).fingerprint
    target = in_tmp / "singletons" / "r0.py"
    target.write_text(target.read_text().replace("class ", "class Renamed", 1))
    changed, _ = build(in_tmp, jobs=1, use_cache=True)
    assert changed.facts != warm.facts
    assert changed.fingerprint == ProjectIndex(changed.facts).fingerprint != warm.fingerprint
    [cache_file] = Path(os.environ["ISOLINT_CACHE_DIR"]).rglob("*.json")
    assert len(json.loads(cache_file.read_text())["fingerprints"]) == 1  # the project as the last run found it


def test_index_is_the_same_whatever_the_job_count(in_tmp: Path) -> None:
    index_tree(in_tmp)
    serial, serial_stats = build(in_tmp, jobs=1)
    parallel, parallel_stats = build(in_tmp, jobs=2)
    assert len(serial) > 0
    assert parallel.facts == serial.facts and parallel.fingerprint == serial.fingerprint
    assert parallel_stats.indexed == serial_stats.indexed == 71  # 60 + 10 classes, and the unparsable one
    assert parallel_stats.index_cached == serial_stats.index_cached == 0


def test_parallel_index_uses_the_cache_by_stat_and_by_content(in_tmp: Path) -> None:
    index_tree(in_tmp)
    first, _ = build(in_tmp, jobs=2, use_cache=True)
    warm, stats = build(in_tmp, jobs=2, use_cache=True)
    assert warm.facts == first.facts and stats.indexed == 0 and stats.index_cached == 92
    later = time.time_ns() + 10**9
    for path in in_tmp.rglob("*.py"):
        os.utime(path, ns=(later, later))  # a fresh checkout: new mtimes, same content
    touched, stats = build(in_tmp, jobs=2, use_cache=True)
    assert touched.facts == first.facts and stats.indexed == 0 and stats.index_cached == 92


def test_cached_facts_take_the_path_this_run_records(in_tmp: Path) -> None:
    # Without a configuration or a git repository the index's root is the
    # common ancestor of the paths a run names: a run over one directory
    # records its files' facts relative to that directory.
    index_tree(in_tmp)
    named = [in_tmp / "singletons"]
    run_check(named, load_settings(named), jobs=1)
    whole, fresh = check(in_tmp), check(in_tmp, use_cache=False)
    assert "singletons/r1.py" in {fact.path for fact in fresh.plan.project.facts}
    assert whole.plan.project.facts == fresh.plan.project.facts
    assert whole.findings == fresh.findings
    assert check(in_tmp).stats.cached == len(whole.files)  # and the next run's keys are the same


def test_index_workers_never_import_libcst(in_tmp: Path) -> None:
    index_tree(in_tmp)
    script = (
        "import sys\nfrom pathlib import Path\nfrom isolint.cache import Cache\nfrom isolint.config import load_settings\n"
        "from isolint.discovery import discover\nfrom isolint.indexing import build_index\n"
        "root = Path('.').resolve(); settings = load_settings([root])\n"
        "project = build_index([root], discover([root], settings), settings, Cache(None), jobs=1)\n"
        "assert len(project) > 0\nprint('libcst' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=in_tmp, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_check_that_prints_no_edits_never_imports_libcst(in_tmp: Path) -> None:
    # Every bundled rule is written on `ast`; LibCST parses a file only to
    # build edits (about 0.2 s and 9 MB a process to import).
    tree(in_tmp, files=10)
    script = (
        "import sys\nfrom isolint.cli import main\n"
        "try:\n    main(['check', '-j', '1', '--no-cache', '--output-format', sys.argv[1], '.'])\n"
        "except SystemExit as exc:\n    print(exc.code, 'libcst' in sys.modules)\n"
    )

    def run(output_format: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", script, output_format], cwd=in_tmp, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    full = run("full")
    assert "ISO201" in "".join(full) and full[-1] == "1 False"
    assert run("json")[-1] == "1 True"  # the edits of the fixes are in the JSON


def test_parallel_check_reports_its_workers_and_slowest_files(in_tmp: Path) -> None:
    tree(in_tmp, files=40)
    result = check(in_tmp, jobs=2, use_cache=False)
    stats = result.stats
    assert stats.workers == 2
    assert stats.parsed + stats.prefiltered + stats.cached == stats.files == 60
    assert len(stats.slowest) == 5 and stats.slowest == sorted(stats.slowest, reverse=True)
    assert stats.worker_total >= sum(stats.worker.get(name, 0.0) for name in ("read", "prefilter")) >= 0


def test_findings_come_back_from_a_worker_equal_and_share_what_their_rule_repeats() -> None:
    def finding(row: int, fix: Fix | None) -> Finding:
        where, message = Location(row, 5), "".join(["stores a session on ", f"self (line {row})"])
        return Finding("ISO201", "session-on-instance", "sessions", message, "a.py", where, where, fix, None, "x")

    fix = Fix("".join(["un", "safe"]), "".join(["Pass the ", "session"]), (Edit("y", Location(1, 1), Location(1, 2)),))
    sent = [finding(1, fix), finding(2, None), replace(finding(3, None), manual="".join(["Move it", " out"]))]
    received = pickle.loads(pickle.dumps(sent))  # as the driver receives a chunk's results
    assert received == sent
    again = pickle.loads(pickle.dumps(sent))
    for one, other in zip(received, again, strict=True):
        assert one.code is other.code and one.name is other.name and one.family is other.family
        assert one.manual is other.manual
    first, second = received[0].fix, again[0].fix
    assert first is not None and second is not None
    assert first.applicability is second.applicability and first.message is second.message
    assert received[0].message is not again[0].message  # each finding's own text stays its own
