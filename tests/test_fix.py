"""`isolint fix`: what it writes, what it refuses to write, and how it reports."""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from isolint import pipeline, source
from isolint.config import load_settings
from isolint.runner import run_fix
from tests.conftest import write
from tests.helpers import SAFE_AND_UNSAFE, run_cli

LEGACY = "from app.state import DeepAgentState  # the old state\n"
FIXED = "from isolint.runtime import UserExecutionContext  # the old state\n"
SINGLETON = "class RunState:\n    _instance = None\n\n    @classmethod\n    def get_instance(cls):\n        cls._instance = cls._instance or cls()\n        return cls._instance\n"


def test_fix_writes_reports_and_exits_by_what_remains(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    result = run_cli("fix")
    assert (in_tmp / "a.py").read_text() == FIXED
    assert "1 fix applied, 0 findings remaining (0 need manual migration)." in result.stdout
    assert result.exit_code == 0

    write(in_tmp / "b.py", LEGACY + "\n\n" + SINGLETON)
    result = run_cli("fix")
    assert (
        "1 fix applied, 1 finding remaining (0 need manual migration); 1 more fixable with --unsafe-fixes, which "
        "checks them against the whole program first." in result.stdout
    )
    assert "b.py:4:7: ISO101" in result.stdout  # a per-run class: the unsafe fix makes one per call
    assert result.exit_code == 1


def test_diff_prints_and_writes_nothing(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    result = run_cli("fix", "--diff")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "--- a.py",
        "+++ a.py",
        "@@ -1 +1 @@",
        "-" + LEGACY.rstrip("\n"),
        "+" + FIXED.rstrip("\n"),
    ]
    assert (in_tmp / "a.py").read_text() == LEGACY
    assert "Would apply 1 fix in 1 file." in result.stderr


def test_check_mode_exit_codes(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    assert run_cli("fix", "--check").exit_code == 1
    assert (in_tmp / "a.py").read_text() == LEGACY
    run_cli("fix")
    assert run_cli("fix", "--check").exit_code == 0


def test_diff_and_check_together_is_a_usage_error(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    assert run_cli("fix", "--diff", "--check").exit_code == 2


def test_select_limits_fixes(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    assert run_cli("fix", "--select", "ISO1").exit_code == 0
    assert (in_tmp / "a.py").read_text() == LEGACY


def test_second_fix_changes_nothing(in_tmp: Path) -> None:
    write(
        in_tmp / "a.py",
        "from a import DeepAgentState\nfrom b import DeepAgentState as Legacy\n\n\ndef f(s: Legacy) -> None:\n    pass\n",
    )
    run_cli("fix")
    once = (in_tmp / "a.py").read_text()
    assert "from isolint.runtime import UserExecutionContext" in once
    assert once.count("from isolint.runtime import UserExecutionContext") == 1  # several fixes add it; it goes in once
    run_cli("fix")
    assert (in_tmp / "a.py").read_text() == once


def test_file_mode_is_kept(in_tmp: Path) -> None:
    path = write(in_tmp / "tool.py", "#!/usr/bin/env python\n" + LEGACY)
    os.chmod(path, 0o751)
    run_cli("fix")
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert path.read_text().endswith(FIXED)


def test_symlinked_file_is_fixed_through_the_link(in_tmp: Path) -> None:
    real = write(in_tmp / "real" / "a.py", LEGACY)
    os.symlink(real, in_tmp / "link.py")
    run_cli("fix", "link.py")
    assert (in_tmp / "link.py").is_symlink()
    assert real.read_text() == FIXED


def test_never_writes_a_file_that_changed_since_it_was_read(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(in_tmp / "a.py", LEGACY)
    real_write = source.write_atomic

    def concurrent_edit(target: Path, data: bytes, *, expected: bytes) -> None:
        target.write_text("# edited by someone else\n" + LEGACY)
        real_write(target, data, expected=expected)

    monkeypatch.setattr("isolint.runner.write_atomic", concurrent_edit)
    result = run_cli("fix")
    assert path.read_text() == "# edited by someone else\n" + LEGACY
    assert "changed on disk since it was read" in result.stderr


def test_write_is_atomic_and_leaves_no_temporary_files(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    run_cli("fix")
    assert sorted(p.name for p in in_tmp.iterdir()) == ["a.py"]


def test_a_failing_write_leaves_the_original(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(in_tmp / "a.py", LEGACY)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("isolint.source.os.replace", failing_replace)
    result = run_cli("fix")
    assert path.read_text() == LEGACY
    assert "No space left on device" in result.stderr
    assert sorted(p.name for p in in_tmp.iterdir()) == ["a.py"]


def test_fix_in_parallel_matches_serial(in_tmp: Path) -> None:
    for i in range(40):
        write(in_tmp / f"m{i:02}.py", LEGACY + SINGLETON)
    settings = load_settings([in_tmp])
    result = run_fix([in_tmp], settings, jobs=2, unsafe=False, use_cache=False)
    assert result.applied == 40
    assert all((in_tmp / f"m{i:02}.py").read_text().startswith(FIXED) for i in range(40))
    assert [f.path for f in result.findings] == [f"m{i:02}.py" for i in range(40)]


def test_the_gate_takes_the_models_of_the_changed_files_from_the_fix_workers(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each fixed file's models (before and after) are built beside its
    fixes, in the worker processes; the main process builds only those of
    the files the fixes left alone that the gate reads."""
    from isolint.verify import model as verify  # where the gate's model cache builds each model

    for i in range(30):
        write(
            in_tmp / f"m{i:02}.py",
            LEGACY + f"\n\ndef step_{i}(state: DeepAgentState) -> None:\n    print(state.user_id)\n",
        )
    built_here: list[bool] = []  # the flow flag of each model the main process builds
    text_model = verify.text_model

    def recording(source: verify.ModuleSource, text: str, *, flow: bool = True) -> object:
        if os.getpid() == main_process:
            built_here.append(flow)
        return text_model(source, text, flow=flow)

    main_process = os.getpid()
    monkeypatch.setattr(verify, "text_model", recording)
    result = run_fix([in_tmp], load_settings([in_tmp]), jobs=2, unsafe=True, mode="diff", use_cache=False)
    assert result.applied == 30
    assert True not in built_here


def _lazy_accessor(root: Path, class_name: str) -> None:
    write(
        root / "app" / "registry.py",
        f"class {class_name}:\n    pass\n\n\n_registry = None\n\n\n"
        f"def get_registry():\n    global _registry\n    if _registry is None:\n        _registry = {class_name}()\n    return _registry\n",
    )
    write(root / "app" / "__init__.py", "")
    write(
        root / "app" / "use.py", "from app.registry import get_registry\n\n\ndef handle():\n    return get_registry()\n"
    )


def test_a_call_site_whose_code_did_not_change_stays_in_the_report(in_tmp: Path) -> None:
    """The accessor of a per-request class is made per call; the ISO106 call site in
    another file no longer reaches a singleton, but its code did not change, so the
    fix's report keeps it, saying why."""
    _lazy_accessor(in_tmp, "ConversationMemory")
    assert "ISO106" in run_cli("check", "--output-format", "concise").stdout
    fixed = run_cli("fix", "--unsafe-fixes", "--output-format", "json")
    assert "return ConversationMemory()" in (in_tmp / "app" / "registry.py").read_text()
    [kept] = json.loads(fixed.stdout)
    assert (kept["code"], kept["location"]["row"], kept["fix"]) == ("ISO106", 5, None)
    assert kept["message"].startswith(
        "`get_registry()` returns a new `ConversationMemory` per call since `isolint fix` (ISO102) made it per call"
    )


def test_the_call_sites_of_a_singleton_made_per_call_stay_listed_until_the_marker_goes(in_tmp: Path) -> None:
    """The fix leaves a comment on the accessor; every later check lists its callers
    (one may have relied on sharing the instance); deleting the comment ends it."""
    _lazy_accessor(in_tmp, "ConversationMemory")
    run_cli("fix", "--unsafe-fixes")
    registry = in_tmp / "app" / "registry.py"
    assert (
        "# isolint ISO102: a new instance per call now; ISO106 lists the callers that shared one.\n"
        in registry.read_text()
    )
    [listed] = json.loads(run_cli("check", "--no-cache", "--output-format", "json").stdout)
    assert (listed["code"], listed["location"]["row"]) == ("ISO106", 5)
    assert (
        "delete the `# isolint ISO102: ...` comment at the definition (app/registry.py:" in listed["isolint"]["manual"]
    )
    registry.write_text(
        "\n".join(line for line in registry.read_text().splitlines() if "isolint ISO102" not in line) + "\n"
    )
    assert json.loads(run_cli("check", "--no-cache", "--output-format", "json").stdout) == []


def test_process_wide_infrastructure_is_never_made_per_call(in_tmp: Path) -> None:
    _lazy_accessor(in_tmp, "Registry")
    fixed = run_cli("fix", "--unsafe-fixes", "--output-format", "json")
    assert "_registry = Registry()" in (in_tmp / "app" / "registry.py").read_text()
    findings = json.loads(fixed.stdout)
    assert sorted(f["code"] for f in findings) == ["ISO102", "ISO106"]
    [accessor] = [f for f in findings if f["code"] == "ISO102"]
    assert accessor["fix"] is None
    assert "looks like process-wide infrastructure" in accessor["isolint"]["manual"]


def test_a_fix_that_adds_a_dependency_on_isolint_says_so(in_tmp: Path) -> None:
    write(in_tmp / "a.py", LEGACY)
    result = run_cli("fix")
    assert (in_tmp / "a.py").read_text() == FIXED
    assert "note: the fixes import `isolint.runtime` in 1 file (a.py), but" in result.stderr
    assert "declares no dependency on isolint" in result.stderr


def test_no_dependency_note_when_the_project_declares_isolint(in_tmp: Path) -> None:
    write(in_tmp / "pyproject.toml", '[project]\nname = "app"\ndependencies = ["isolint>=0.1"]\n')
    write(in_tmp / "a.py", LEGACY)
    result = run_cli("fix")
    assert (in_tmp / "a.py").read_text() == FIXED
    assert "note:" not in result.stderr


def _analysed(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each file is parsed and analysed (the pipeline's last stage) from now on."""
    counted: Counter[str] = Counter()
    real_analyse = pipeline.analyse

    def analyse(keyed: pipeline.Keyed) -> pipeline.FileResult:
        counted[keyed.read.unit.shown] += 1
        return real_analyse(keyed)

    monkeypatch.setattr(pipeline, "analyse", analyse)
    return counted


def test_after_writing_only_the_written_files_are_linted_again_when_their_facts_did_not_change(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(in_tmp / "a.py", LEGACY)
    write(in_tmp / "other.py", SINGLETON)
    analysed = _analysed(monkeypatch)
    result = run_fix([in_tmp], load_settings([in_tmp]), jobs=1, unsafe=False, use_cache=False)
    assert (in_tmp / "a.py").read_text() == FIXED
    assert analysed == {"a.py": 2, "other.py": 1}  # the check before fixing, and a.py's lint after writing
    assert [(f.path, f.code) for f in result.findings] == [("other.py", "ISO101")]


def test_after_writing_new_facts_the_files_that_depend_on_them_are_checked_again(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The accessor made per call is a fact use.py depends on (ISO106 at its
    call site); other.py mentions nothing that changed: its cached result stands."""
    _lazy_accessor(in_tmp, "ConversationMemory")
    write(in_tmp / "app" / "other.py", "def unrelated():\n    return 1\n")
    analysed = _analysed(monkeypatch)
    result = run_fix([in_tmp], load_settings([in_tmp]), jobs=1, unsafe=True)
    assert "return ConversationMemory()" in (in_tmp / "app" / "registry.py").read_text()
    assert analysed["app/registry.py"] == analysed["app/use.py"] == 2
    assert analysed["app/other.py"] == 1
    assert sorted((f.path, f.code) for f in result.findings) == [("app/use.py", "ISO106")]


@pytest.mark.parametrize("through_stdin", [False, True], ids=["tree", "stdin"])
def test_a_rule_the_file_ignores_has_its_fixes_held_though_another_rule_fixes_the_file(
    in_tmp: Path, through_stdin: bool
) -> None:
    """`per-file-ignores` turns a rule off for the file, its fixes included:
    the legacy annotation's fix goes in, the unclosed session stays as it was
    and is not reported."""
    write(in_tmp / "pyproject.toml", '[tool.isolint.per-file-ignores]\n"app/mod.py" = ["ISO204"]\n')
    write(in_tmp / "app" / "__init__.py", "")
    write(in_tmp / "app" / "mod.py", SAFE_AND_UNSAFE)
    if through_stdin:
        from isolint.stdin import fix_stdin

        result = fix_stdin(
            SAFE_AND_UNSAFE.encode(),
            Path("app/mod.py"),
            load_settings([in_tmp / "app" / "mod.py"]),
            jobs=1,
            use_cache=False,
            unsafe=True,
        )
        fixed, remaining, applied = result.output.decode(), result.findings, result.applied
    else:
        fix = run_fix([in_tmp], load_settings([in_tmp]), jobs=1, unsafe=True, use_cache=False)
        fixed, remaining, applied = (in_tmp / "app" / "mod.py").read_text(), fix.findings, fix.applied
    assert "    session = SessionLocal()\n" in fixed and "with SessionLocal()" not in fixed
    assert "def summarize(state: UserExecutionContext) -> str:" in fixed
    assert "ISO204" not in {f.code for f in remaining}
    assert applied == 1


def _lints_of(monkeypatch: pytest.MonkeyPatch, text: str) -> list[bool]:
    """Spy on the engine: for each lint of `text`, whether it built edits."""
    from isolint import engine

    lints: list[bool] = []
    lint_text = engine.lint_text

    def spy(linted: str, *args: object, **kwargs: object) -> object:
        if linted == text:
            lints.append(bool(kwargs.get("build_edits", True)))
        return lint_text(linted, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "lint_text", spy)
    return lints


@pytest.mark.parametrize("unsafe", [False, True])
def test_a_fix_starts_from_the_checks_lint_of_the_file(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, unsafe: bool
) -> None:
    """The check lints each file as the fix's first lint would, edits of the
    fixes it may apply included: the file as it is is linted once."""
    text = LEGACY + "\n\n" + SINGLETON
    write(in_tmp / "a.py", text)
    lints = _lints_of(monkeypatch, text)
    result = run_cli("fix", "--no-cache", "--jobs", "1", *(["--unsafe-fixes"] if unsafe else []))
    assert lints == [True]
    fixed = (in_tmp / "a.py").read_text()
    assert fixed.startswith(FIXED) and ("_instance = None" not in fixed) == unsafe
    assert result.exit_code == (0 if unsafe else 1)


def test_a_file_whose_bytes_are_not_its_texts_utf8_is_linted_again_by_its_fix(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fix's prefilters read the UTF-8 of the text; the check's read the
    file's own bytes, here Latin-1: the check's lint does not stand for the fix's."""
    text = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + LEGACY
    (in_tmp / "a.py").write_bytes(text.encode("latin-1"))
    lints = _lints_of(monkeypatch, text)
    run_cli("fix", "--no-cache", "--jobs", "1")
    assert lints == [True, True]
    assert (in_tmp / "a.py").read_bytes() == ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + FIXED).encode("latin-1")
