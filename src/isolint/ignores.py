"""`per-file-ignores`: findings a file's path says not to report."""

from __future__ import annotations

from collections.abc import Iterable
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
        ignored = self._selectors(real_path)
        if not ignored:
            return findings
        return [f for f in findings if f.code == "ISO000" or not any(matches_any(s, f.code) for s in ignored)]

    def ignored(self, real_path: Path, codes: Iterable[str]) -> frozenset[str]:
        """The rules among `codes` this file ignores: their fixes must not be
        applied there either, though another rule's finding makes it fixable."""
        ignored = self._selectors(real_path) if self.rules else []
        return frozenset(code for code in codes if any(matches_any(s, code) for s in ignored))

    def _selectors(self, real_path: Path) -> list[tuple[str, ...]]:
        try:
            rel = real_path.relative_to(self.root).as_posix()
        except ValueError:
            rel = real_path.as_posix().lstrip("/")
        return [selectors for spec, selectors in self.rules if spec.match_file(rel)]
