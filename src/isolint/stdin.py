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
from .discovery import Discovery
from .findings import Finding
from .index import EMPTY, module_name_for
from .plan import Plan, check_bytes
from .runner import _PerFileIgnores, build_index
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
    return any(spec.match_file("/".join(parts[:depth]) + "/") for depth in range(1, len(parts))) or spec.match_file("/".join(parts))


def _plan(filename: Path, settings: Settings, jobs: int, use_cache: bool) -> Plan:
    absolute = Path(os.path.abspath(filename))
    if not absolute.parent.is_dir():  # a buffer not saved anywhere yet: no project around it
        return Plan.from_settings(settings, EMPTY)
    cache = Cache.open(settings.root, settings.fingerprint(), enabled=use_cache)
    project = build_index([absolute], Discovery(), settings, cache, jobs=jobs)
    cache.save()
    return Plan.from_settings(settings, project)


def check_stdin(raw: bytes, filename: Path, settings: Settings, *, jobs: int, use_cache: bool) -> list[Finding]:
    absolute = Path(os.path.abspath(filename))
    plan = _plan(filename, settings, jobs, use_cache)
    findings, _ = check_bytes(raw, str(filename), plan, module_name=module_name_for(absolute), is_package=absolute.name == "__init__.py")
    return sorted(_PerFileIgnores(settings).filter(absolute, findings), key=lambda f: f.sort_key)


def fix_stdin(raw: bytes, filename: Path, settings: Settings, *, jobs: int, use_cache: bool, unsafe: bool) -> StdinFix:
    from .engine import fix_text

    absolute = Path(os.path.abspath(filename))
    plan = _plan(filename, settings, jobs, use_cache)
    try:
        source = decode(raw)
    except SourceError:
        return StdinFix(raw, 0, check_stdin(raw, filename, settings, jobs=jobs, use_cache=use_cache))
    outcome = fix_text(source, str(filename), plan, unsafe=unsafe, module_name=module_name_for(absolute), is_package=absolute.name == "__init__.py")
    remaining = _PerFileIgnores(settings).filter(absolute, outcome.findings)
    output = source.encode(outcome.text) if outcome.applied else raw
    return StdinFix(output, outcome.applied, sorted(remaining, key=lambda f: f.sort_key))
