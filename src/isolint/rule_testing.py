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

`snapshot_problems(Rule, directory)` also pins every case's full diagnostics
(code, name, message, range, fix applicability and title, manual hint) in
`<case>.py.snap` beside it, as ruff's insta snapshots do: a difference is a
problem shown as a unified diff, `ISOLINT_UPDATE_SNAPSHOTS=1` rewrites the
snapshots, and a missing one is written (and reported) unless `CI` is set.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .config import load_settings
from .docs import SECTIONS, code_block, doc_path, section
from .findings import NO_FIX, Finding
from .rules import Rule
from .runner import run_check, run_fix

MARKER = re.compile(r"#\s*expect:\s*(?P<codes>ISO\d{3}(?:\s*,\s*ISO\d{3})*)")
SNAPSHOT_SUFFIX = ".snap"
UPDATE_ENV = "ISOLINT_UPDATE_SNAPSHOTS"


def _findings(path: Path, selector: str) -> list[Finding]:
    settings = load_settings([path], isolated=True, overrides={"select": [selector]})
    return run_check([path], settings, jobs=1, use_cache=False).findings


def fixture_cases(directory: Path) -> list[Path]:
    """The cases in a fixture directory: its `.py` files but the expected fix outputs."""
    return sorted(p for p in directory.glob("*.py") if _is_case(p))


def expected_findings(case: Path) -> list[tuple[int, str]]:
    expected: list[tuple[int, str]] = []
    for row, line in enumerate(case.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line)
        if match:
            expected.extend((row, code.strip()) for code in match["codes"].split(","))
    return sorted(expected)


def fixture_problems(rule: type[Rule], directory: Path, *, selector: str | None = None) -> list[str]:
    """Run `rule` (alone, or with `selector`) over each case in `directory`."""
    _register(rule)
    chosen = selector or rule.code
    cases = fixture_cases(directory)
    problems = []
    if not any(expected_findings(case) for case in cases):
        problems.append(f"{directory}: no positive case (a line marked `# expect: {rule.code}`)")
    if not any(not expected_findings(case) for case in cases):
        problems.append(f"{directory}: no negative case (a file without markers)")
    with tempfile.TemporaryDirectory() as scratch:
        for position, case in enumerate(cases):
            # Each case is a project of its own: `fix` verifies its changes
            # against the whole project, and the other cases are not part of it.
            target = Path(scratch) / str(position) / case.name
            target.parent.mkdir()
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
                problems.append(
                    f"{path.name}: the {name[:-3]} {'does not trigger' if reported else 'triggers'} {rule.code}"
                )
    return problems


def _register(rule: type[Rule]) -> None:
    """A plugin rule under test need not be configured anywhere: register it (built-in rules already are)."""
    from .plugins import add_rule
    from .rules import BY_CODE

    if BY_CODE.get(rule.code) is not rule:
        add_rule(rule)


def snapshot_problems(
    rule: type[Rule], directory: Path, *, selector: str | None = None, update: bool | None = None
) -> list[str]:
    """Compare each case's diagnostics with its `<case>.py.snap` (see `snapshot_problem`),
    and report snapshots left without a case; `update` (default: `ISOLINT_UPDATE_SNAPSHOTS`
    is set) rewrites the differing snapshots and deletes the orphans instead."""
    _register(rule)
    chosen = selector or rule.code
    rewrite = update_requested() if update is None else update
    problems = []
    with tempfile.TemporaryDirectory() as scratch:
        for case in fixture_cases(directory):
            target = Path(scratch) / case.name
            shutil.copyfile(case, target)
            rendered = render_snapshot(case, chosen, _findings(target, chosen), checked_in=Path(scratch))
            problem = snapshot_problem(snapshot_path(case), rendered, update=rewrite)
            if problem:
                problems.append(problem)
    for orphan in obsolete_snapshots(directory):
        if rewrite:
            orphan.unlink()
        else:
            problems.append(f"{orphan}: obsolete snapshot, its case {orphan.name[: -len(SNAPSHOT_SUFFIX)]} is gone")
    return problems


def snapshot_path(case: Path) -> Path:
    return case.with_name(case.name + SNAPSHOT_SUFFIX)


def obsolete_snapshots(directory: Path) -> list[Path]:
    """Snapshots under `directory` whose case no longer exists (renamed or deleted)."""
    return sorted(
        p for p in directory.rglob("*" + SNAPSHOT_SUFFIX) if not _is_case(p.with_name(p.name[: -len(SNAPSHOT_SUFFIX)]))
    )


def _is_case(path: Path) -> bool:
    return path.suffix == ".py" and not path.name.endswith(".fixed.py") and path.is_file()


def update_requested() -> bool:
    return os.environ.get(UPDATE_ENV, "").lower() in {"1", "true", "yes"}


def running_in_ci() -> bool:
    # As insta reads it: CI services set `CI`; a missing snapshot there is an error, never written.
    return os.environ.get("CI", "").lower() not in {"", "0", "false"}


def snapshot_problem(
    snapshot: Path, rendered: str, *, update: bool, accept_hint: str = f"{UPDATE_ENV}=1"
) -> str | None:
    """None when `snapshot` holds `rendered`, or `update` rewrote it to; else what is wrong.

    A missing snapshot is written and reported (review it, then commit it), except
    under CI, where writing it would hide that it was never reviewed.
    """
    if snapshot.is_file():
        recorded = snapshot.read_bytes().decode("utf-8")
        if recorded == rendered:
            return None
        if update:
            snapshot.write_bytes(rendered.encode("utf-8"))
            return None
        diff = difflib.unified_diff(
            recorded.splitlines(keepends=True),
            rendered.splitlines(keepends=True),
            f"{snapshot.name} (recorded)",
            f"{snapshot.name} (reported now)",
        )
        return f"{snapshot}: the diagnostics differ from the snapshot (if intended, accept with {accept_hint}):\n{''.join(diff)}"
    if running_in_ci() and not update:
        return f"{snapshot}: no snapshot, and none is written under CI: create it locally with {accept_hint}, review and commit it"
    snapshot.write_bytes(rendered.encode("utf-8"))
    return None if update else f"{snapshot}: no snapshot yet, so it was written now: review it and commit it"


def render_snapshot(case: Path, selector: str, findings: Sequence[Finding], *, checked_in: Path) -> str:
    """The snapshot text of `case`'s findings: one block per finding, in source order.

    `checked_in` is the directory the case was copied to for the check; it is left
    out of paths in the text, so a snapshot does not depend on where it ran.
    Fix edits are not pinned: `<case>.fixed.py` pins what they make of the case.
    """
    source = case.read_text(encoding="utf-8").splitlines()
    count = f"{len(findings)} finding" + ("" if len(findings) == 1 else "s")
    lines = [f"# isolint check --select {selector} {case.name}: {count}"]
    for finding in sorted(findings, key=lambda f: f.sort_key[1:]):
        lines += ["", *_render_finding(finding, source)]
    return "\n".join(lines).replace(f"{checked_in}{os.sep}", "") + "\n"


def _render_finding(finding: Finding, source: list[str]) -> list[str]:
    start, end = finding.location, finding.end_location
    fix = NO_FIX if finding.fix is None else f"{finding.fix.applicability}: {finding.fix.message}"
    return [
        f"{finding.code} {finding.name} at {start.row}:{start.column}-{end.row}:{end.column}",
        *_excerpt(finding, source),
        _labelled("message", finding.message),
        _labelled("fix", fix),
        _labelled("manual", finding.manual or "-"),
    ]


def _labelled(label: str, text: str) -> str:
    # Continuation lines are indented under the text, so a block stays one block.
    return f"  {label}: " + text.replace("\n", "\n" + " " * (len(label) + 4))


def _excerpt(finding: Finding, source: list[str]) -> list[str]:
    """The reported source lines, the range underlined: the first row from the start
    column, the last up to the (exclusive) end column, rows between elided."""
    start, end = finding.location, finding.end_location
    if not 1 <= start.row <= end.row <= len(source):
        return []
    width = len(str(end.row))

    def underlined(row: int, first: int, stop: int) -> list[str]:
        text = source[row - 1]
        return [
            f"  {row:>{width}} | {text}".rstrip(),
            f"  {'':>{width}} | {' ' * (first - 1)}{'^' * max(1, stop - first)}",
        ]

    if start.row == end.row:
        return underlined(start.row, start.column, end.column)
    last = source[end.row - 1]
    lines = underlined(start.row, start.column, len(source[start.row - 1].rstrip()) + 1)
    if end.row - start.row > 1:
        lines.append(f"  {'':>{width}} | ...")
    return lines + underlined(end.row, len(last) - len(last.lstrip()) + 1, end.column)
