"""Baselines: accept today's findings, fail CI only on new ones.

A baseline file lists each known finding as (path, rule code, fingerprint).
Paths are relative to the baseline file's directory, so the file works from
any working directory. The fingerprint hashes the rule code, the finding's
normalised source text (`Finding.snippet`) and its occurrence index among the
file's findings with the same code and text, never its line number: edits
elsewhere in the file that shift lines leave it unchanged.

The file is JSON with one entry per line, sorted, so it diffs and merges
cleanly in git.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, Settings
from .findings import Finding
from .source import read_regular, resolved

FORMAT_VERSION = 1
DEFAULT_FILENAME = ".isolint-baseline.json"
MAX_BASELINE_BYTES = 256 * 1024 * 1024  # about two million entries

Entry = tuple[str, str, str]  # (path relative to the baseline's directory, code, fingerprint)


def default_file(settings: Settings) -> Path:
    """Where `baseline --write` writes without a `baseline` key, and where
    `check`, `fix` and `report` look for one: the project root (the
    configuration's directory, else the working directory)."""
    return settings.root / DEFAULT_FILENAME


def fingerprint(code: str, snippet: str, occurrence: int) -> str:
    return hashlib.sha256(f"{code}\0{snippet}\0{occurrence}".encode("utf-8", "surrogatepass")).hexdigest()[:20]


def relative_path(path: str, base: Path) -> str:
    """`path` (as findings show it) relative to `base`, with forward slashes."""
    return Path(os.path.relpath(os.path.abspath(path), base)).as_posix()


def entries_for(findings: Sequence[Finding], base: Path) -> list[tuple[Entry, Finding]]:
    """Each finding with its baseline entry. Occurrence indices follow the
    findings' order within a file (by position), per (code, snippet)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    paired = []
    for finding in sorted(findings, key=lambda f: f.sort_key):
        path = relative_path(finding.path, base)
        # A file that cannot be checked has no snippet: its message tells the problems apart.
        text = finding.snippet or (finding.message if finding.code == "ISO000" else "")
        occurrence = seen[(path, finding.code, text)]
        seen[(path, finding.code, text)] += 1
        paired.append(((path, finding.code, fingerprint(finding.code, text, occurrence)), finding))
    return paired


@dataclass
class Baseline:
    file: Path
    entries: Counter[Entry] = field(default_factory=Counter)

    @property
    def base(self) -> Path:
        return resolved(self.file).parent

    def __len__(self) -> int:
        return sum(self.entries.values())

    @classmethod
    def load(cls, file: Path) -> Baseline:
        """Read a baseline; a missing or malformed file is an error (exit 2), never "no baseline"."""
        if not file.exists() and not file.is_symlink():
            raise ConfigError(f"baseline {file}: no such file (create it with `isolint baseline --write {file}`)")
        try:
            text = read_regular(file, MAX_BASELINE_BYTES, ConfigError).decode("utf-8")
        except ConfigError as exc:
            raise ConfigError(f"baseline {file}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"baseline {file}: not UTF-8 (byte {exc.start}); regenerate it with `isolint baseline --write`"
            ) from None
        try:
            data = json.loads(text)
        except RecursionError:
            raise ConfigError(
                f"baseline {file}: nested too deeply to be a baseline; regenerate it with `isolint baseline --write`"
            ) from None
        except ValueError as exc:
            raise ConfigError(
                f"baseline {file}: not valid JSON ({exc}); regenerate it with `isolint baseline --write`"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("version") != FORMAT_VERSION
            or not isinstance(data.get("findings"), list)
        ):
            raise ConfigError(
                f'baseline {file}: not an isolint baseline (expected {{"version": {FORMAT_VERSION}, "findings": [...]}})'
            )
        entries: Counter[Entry] = Counter()
        for position, item in enumerate(data["findings"]):
            if not (
                isinstance(item, dict)
                and all(isinstance(item.get(key), str) for key in ("path", "code", "fingerprint"))
            ):
                raise ConfigError(
                    f"baseline {file}: entry {position} needs string keys path, code and fingerprint, got {item!r}"
                )
            entries[(item["path"], item["code"], item["fingerprint"])] += 1
        return cls(file, entries)

    @classmethod
    def from_findings(cls, file: Path, findings: Sequence[Finding]) -> Baseline:
        baseline = cls(file)
        baseline.entries.update(entry for entry, _ in entries_for(findings, baseline.base))
        return baseline

    def save(self) -> None:
        lines = [
            json.dumps({"path": path, "code": code, "fingerprint": print_}, ensure_ascii=False)
            for path, code, print_ in sorted(self.entries.elements())
        ]
        body = ",\n".join(f"    {line}" for line in lines)
        text = f'{{\n  "version": {FORMAT_VERSION},\n  "tool": "isolint",\n  "findings": [\n{body}{chr(10) if lines else ""}  ]\n}}\n'
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_name(self.file.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.file)

    def compare(self, findings: Sequence[Finding], scope: Scope) -> Comparison:
        """Split the current findings into known and new; count the entries
        fixed since (those in scope with no current finding)."""
        remaining = Counter(self.entries)
        comparison = Comparison()
        for entry, finding in entries_for(findings, self.base):
            if remaining[entry] > 0:
                remaining[entry] -= 1
                comparison.known.append(finding)
            else:
                comparison.new.append(finding)
                comparison.new_entries.append(entry)
        comparison.fixed = Counter(
            {entry: n for entry, n in remaining.items() if n > 0 and scope.covers(self.base / entry[0])}
        )
        return comparison


@dataclass
class Scope:
    """What a run looked at: the files it checked, and the paths it was given
    (a baselined file that no longer exists under them was fixed by deletion)."""

    checked: frozenset[Path]
    roots: tuple[Path, ...]

    @classmethod
    def of(cls, checked: Iterable[Path], roots: Iterable[Path]) -> Scope:
        return cls(frozenset(resolved(p) for p in checked), tuple(Path(os.path.abspath(r)) for r in roots))

    def covers(self, path: Path) -> bool:
        absolute = Path(os.path.abspath(path))
        if resolved(absolute) in self.checked:
            return True
        return not absolute.exists() and any(absolute == root or root in absolute.parents for root in self.roots)


@dataclass
class Comparison:
    known: list[Finding] = field(default_factory=list)
    new: list[Finding] = field(default_factory=list)
    new_entries: list[Entry] = field(default_factory=list)  # parallel to `new`
    fixed: Counter[Entry] = field(default_factory=Counter)

    @property
    def fixed_count(self) -> int:
        return sum(self.fixed.values())

    def summary(self) -> str:
        """e.g. "1,204 known findings (baseline), 37 fixed since the baseline: run ..."."""
        known = f"{len(self.known):,} known finding{'s' if len(self.known) != 1 else ''} (baseline)"
        if not self.fixed_count:
            return known
        return f"{known}, {self.fixed_count:,} fixed since the baseline: run `isolint baseline --update` to lock in progress"


def ratchet(baseline: Baseline, comparison: Comparison, *, allow_new: bool) -> tuple[int, int]:
    """Drop fixed entries; add new ones only when allowed. Returns (removed, added)."""
    baseline.entries.subtract(comparison.fixed)
    baseline.entries = +baseline.entries  # drop zero counts
    if not allow_new:
        return comparison.fixed_count, 0
    baseline.entries.update(comparison.new_entries)
    return comparison.fixed_count, len(comparison.new_entries)
