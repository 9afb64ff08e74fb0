"""Checking and fixing source read from stdin under a given file name
(`--stdin-filename NAME -`), as editors and formatters call linters.

The name decides the configuration, per-file-ignores, the module name and how
findings are shown; the project index (for cross-file rules) comes from the
saved files of the project around it, with the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pathspec

from .cache import Cache
from .config import Settings
from .discovery import Discovery, discover
from .findings import Finding
from .ignores import PerFileIgnores
from .index import EMPTY, module_name_for
from .indexing import build_index
from .plan import Plan, check_bytes
from .source import SourceError, decode


@dataclass
class StdinFix:
    output: bytes  # the fixed source, in the input's encoding (the input itself when nothing applied)
    applied: int
    findings: list[Finding]  # what remains


def excluded(filename: Path, settings: Settings) -> bool:
    """Whether `exclude` / `extend-exclude` match the name or a directory above
    it (within the project): with --force-exclude such a buffer is left alone,
    as an editor passing every file it opens expects."""
    spec = pathspec.GitIgnoreSpec.from_lines([*settings.exclude, *settings.extend_exclude])
    absolute = Path(os.path.abspath(filename))
    try:
        parts = absolute.relative_to(settings.root).parts
    except ValueError:
        parts = absolute.parts[1:]
    return any(spec.match_file("/".join(parts[:depth]) + "/") for depth in range(1, len(parts))) or spec.match_file(
        "/".join(parts)
    )


def _plan(filename: Path, settings: Settings, jobs: int, use_cache: bool, build_edits: bool = True) -> Plan:
    absolute = Path(os.path.abspath(filename))
    if not absolute.parent.is_dir():  # a buffer not saved anywhere yet: no project around it
        return Plan.from_settings(settings, EMPTY, build_edits=build_edits)
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
    project = build_index([absolute], Discovery(), settings, cache, jobs=jobs)
    cache.save()
    return Plan.from_settings(settings, project, build_edits=build_edits)


def check_stdin(
    raw: bytes, filename: Path, settings: Settings, *, jobs: int, use_cache: bool, build_edits: bool = True
) -> list[Finding]:
    """The buffer's findings; with `build_edits` (the editor's code actions,
    formats that print them) their fixes carry edits."""
    absolute = Path(os.path.abspath(filename))
    plan = _plan(filename, settings, jobs, use_cache, build_edits)
    findings = check_bytes(
        raw, str(filename), plan, module_name=module_name_for(absolute), is_package=absolute.name == "__init__.py"
    ).findings
    return sorted(PerFileIgnores(settings).filter(absolute, findings), key=lambda f: f.sort_key)


def fix_stdin(raw: bytes, filename: Path, settings: Settings, *, jobs: int, use_cache: bool, unsafe: bool) -> StdinFix:
    """The buffer's fixes, verified against the saved project around it as
    `isolint fix` verifies a tree: a group that would break a caller
    elsewhere is refused (its findings stay, with the reason)."""
    from .engine import fix_text
    from .fixing import project_reader, vocabulary
    from .transaction import ComputedFix, mark_refused, settle

    absolute = Path(os.path.abspath(filename))
    plan = _plan(filename, settings, jobs, use_cache)
    ignores = PerFileIgnores(settings)
    try:
        source = decode(raw)
    except SourceError:
        return StdinFix(raw, 0, check_stdin(raw, filename, settings, jobs=jobs, use_cache=use_cache))
    shown, module, is_package = str(filename), module_name_for(absolute), absolute.name == "__init__.py"

    ignored = ignores.ignored(absolute, (rule.code for rule, _ in plan.rules))

    computed: dict[str, ComputedFix] = {}

    def compute(refused: frozenset[str]) -> ComputedFix:
        # The refused rules and those the file ignores run with their fixes
        # held back, from the buffer's first lint once there is one (fixing._fix_worker).
        earlier = computed[shown].first if shown in computed else None
        outcome = fix_text(
            source,
            shown,
            plan,
            unsafe=unsafe,
            module_name=module,
            is_package=is_package,
            held=refused | ignored,
            first=earlier.findings if earlier is not None else None,
        )
        return ComputedFix.of(outcome, shown, module, is_package, raw, source)

    computed[shown] = compute(frozenset())
    if computed[shown].changed:
        # The project around the buffer: its configuration's root, where its callers live.
        around = discover([settings.root], settings).files if absolute.parent.is_dir() else []
        others = [f for f in around if Path(os.path.abspath(f.real_path)) != absolute]
        refusals, _ = settle(
            computed,
            lambda again: {path: compute(codes) for path, codes in again.items()},
            project_reader(others, computed),
            vocabulary(settings),
        )
    else:
        refusals = []
    fix = computed[shown]
    remaining = ignores.filter(absolute, mark_refused(fix.findings, refusals))
    output = source.encode(fix.text) if fix.changed else raw
    return StdinFix(output, fix.applied if fix.changed else 0, sorted(remaining, key=lambda f: f.sort_key))
