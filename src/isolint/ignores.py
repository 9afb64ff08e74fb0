"""`per-file-ignores`: findings a file's path says not to report."""

from __future__ import annotations

from pathlib import Path

import pathspec

from .config import Settings, matches_any
from .findings import Finding


class PerFileIgnores:
    """`per-file-ignores`, plus `[legacy-state] allow-in`, which is one for ISO4."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.root
        patterns = [*settings.per_file_ignores, *((p, ("ISO4",)) for p in settings.legacy_state["allow-in"])]
        self.rules = [(pathspec.GitIgnoreSpec.from_lines([pattern]), selectors) for pattern, selectors in patterns]

    def filter(self, real_path: Path, findings: list[Finding]) -> list[Finding]:
        if not self.rules or not findings:
            return findings
        try:
            rel = real_path.relative_to(self.root).as_posix()
        except ValueError:
            rel = real_path.as_posix().lstrip("/")
        ignored = [selectors for spec, selectors in self.rules if spec.match_file(rel)]
        if not ignored:
            return findings
        return [f for f in findings if f.code == "ISO000" or not any(matches_any(s, f.code) for s in ignored)]
