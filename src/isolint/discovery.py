"""Finding the Python files to check.

Walks directories once, honouring `exclude` / `extend-exclude`, nested
.gitignore files (with git's precedence: the deepest file that decides wins),
virtualenvs (any directory holding a `pyvenv.cfg`) and symlink loops.
Explicitly named files are always checked unless `--force-exclude` is set,
which is how pre-commit passes them.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from .config import ConfigError, Settings
from .source import file_kind, read_regular, resolved

PYTHON_SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True)
class SourceFile:
    path: Path  # as the user will see it (relative to cwd when below it)
    real_path: Path  # symlinks resolved; where fixes are written
    # False when a symlink leads outside the paths given on the command line:
    # such a file is checked, never written.
    writable: bool = True


@dataclass
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # directories we could not list
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Ignore:
    base: Path
    spec: pathspec.GitIgnoreSpec

    def decide(self, path: Path, is_dir: bool) -> bool | None:
        return self.decide_relative(path.relative_to(self.base).as_posix(), is_dir)

    def decide_relative(self, relative: str, is_dir: bool) -> bool | None:
        """The verdict on a path given relative to `base`, in POSIX form."""
        return self.spec.check_file(relative + ("/" if is_dir else "")).include


def display_path(path: Path, cwd: Path) -> Path:
    try:
        return path.relative_to(cwd)
    except ValueError:
        return path


def _base_relative(relative: str) -> str:
    """A directory's relative POSIX path as `_below` takes it: "" for the base itself (pathlib's ".")."""
    return "" if relative == "." else relative


def _below(relative: str, name: str) -> str:
    """The relative POSIX path of `name` in the directory at `relative` ("" for the base itself)."""
    return f"{relative}/{name}" if relative else name


@dataclass(frozen=True)
class _Directory:
    """A directory being walked, with what its entries' paths derive from:
    each entry's paths are its directory's plus its name, built as strings
    (pathlib's parsing and `resolve()` per entry were most of a warm run's
    discovery: 0.3 s for 4,300 files)."""

    path: Path  # as reached (absolute, symlinks kept)
    real: Path  # resolved
    shown: Path  # as the user will see it
    relative: str  # from the project root, as `_Walker.is_excluded` matches it
    ignores: tuple[tuple[_Ignore, str], ...]  # each .gitignore in force, with this directory relative to its base
    writable: bool  # inside the given path it was reached from

    def entry(self, name: str, real: Path, writable: bool) -> _Directory:
        """The subdirectory `name`, whose real path is `real`."""
        return _Directory(
            self.path / name,
            real,
            self.shown / name,
            _below(self.relative, name),
            tuple((ignore, _below(relative, name)) for ignore, relative in self.ignores),
            writable,
        )

    def ignored(self, name: str, is_dir: bool) -> bool:
        """Whether the .gitignore files in force ignore the entry `name` (the deepest that decides wins)."""
        for ignore, relative in reversed(self.ignores):
            decision = ignore.decide_relative(_below(relative, name), is_dir)
            if decision is not None:
                return decision
        return False


class _Walker:
    def __init__(self, settings: Settings, cwd: Path) -> None:
        self.settings = settings
        self.cwd = cwd
        patterns = [*settings.exclude, *settings.extend_exclude]
        self.exclude = pathspec.GitIgnoreSpec.from_lines(patterns)
        self._by_name = _NameExclusions.of(patterns)
        self.result = Discovery()
        self._seen_files: set[Path] = set()
        self._seen_dirs: set[Path] = set()

    def is_excluded(self, path: Path, is_dir: bool, *, by_name_only: bool = False) -> bool:
        """Whether `exclude` patterns match `path`.

        Below an explicitly named path that is itself excluded (say, a
        virtualenv's site-packages), only the entry's own name is matched, as
        ruff does: naming a path means "check this".
        """
        return self._excluded(path.name if by_name_only else self._relative(path), is_dir)

    def _relative(self, path: Path) -> str:
        """`path` as `exclude` patterns see it: relative to the project root,
        or the absolute path without its leading slash when outside it."""
        try:
            return path.relative_to(self.settings.root).as_posix()
        except ValueError:
            return path.as_posix().lstrip("/")

    def _excluded(self, relative: str, is_dir: bool) -> bool:
        return bool(relative) and self.exclude.match_file(relative + ("/" if is_dir else ""))

    def _excluded_entry(self, name: str, relative: str, is_dir: bool) -> bool:
        """`_excluded` for an entry of a walked directory, named `name`. No
        part of a walked directory's path matches a plain-name pattern (the
        walk does not enter what one excludes, and below a named excluded
        path only names are matched), so the entry's own name decides those."""
        by_name = self._by_name
        if by_name is None:
            return self._excluded(relative, is_dir)
        if name in by_name.any_entry or (is_dir and name in by_name.directories):
            return True
        return by_name.rest is not None and by_name.rest.match_file(relative + ("/" if is_dir else ""))

    def add_file(self, path: Path, container: Path) -> None:
        """Add `path`, a named file or a symlink: only a file whose real path
        is inside `container` (a given path, resolved) may be written."""
        shown = display_path(path, self.cwd)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            reason = (
                "symlink loop" if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP else None
            )
            self.result.warnings.append(f"{shown}: skipped: {reason or _reason(exc, 'broken symlink')}")
            return
        try:
            mode = real.stat().st_mode
        except OSError as exc:
            self.result.warnings.append(f"{shown}: skipped: {_reason(exc, 'cannot stat')}")
            return
        if not stat.S_ISREG(mode):  # a FIFO would block the read for ever; a device may never end
            self.result.warnings.append(f"{shown}: skipped: not a regular file ({file_kind(mode)})")
            return
        self._add(shown, real, real.is_relative_to(container))

    def _add(self, shown: Path, real: Path, writable: bool) -> None:
        if real in self._seen_files:  # two links to one file: check and fix it once
            return
        self._seen_files.add(real)
        if not writable:
            self.result.warnings.append(f"{shown}: links outside the given paths (to {real}); checked, never written")
        self.result.files.append(SourceFile(shown, real, writable))

    def walk_given(self, directory: Path, ignores: list[_Ignore], by_name_only: bool) -> None:
        """Walk a directory named on the command line, under the .gitignore files above it."""
        real = resolved(directory)
        self.walk(
            _Directory(
                directory,
                real,
                display_path(directory, self.cwd),
                _base_relative(self._relative(directory)),
                tuple((ignore, _base_relative(directory.relative_to(ignore.base).as_posix())) for ignore in ignores),
                True,
            ),
            real,
            by_name_only,
        )

    def walk(self, directory: _Directory, container: Path, by_name_only: bool) -> None:
        if directory.real in self._seen_dirs:
            return  # a symlink loop, or a directory reached twice
        self._seen_dirs.add(directory.real)
        try:
            entries = sorted(os.scandir(directory.path), key=lambda e: e.name)
        except OSError as exc:
            self.result.unreadable.append((directory.path, _reason(exc, "cannot list directory")))
            return
        if self.settings.respect_gitignore and any(e.name == ".gitignore" for e in entries):
            nested = _load_gitignore(directory.path, directory.path / ".gitignore")
            directory = dataclasses.replace(directory, ignores=(*directory.ignores, (nested, "")))
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()  # follows symlinks; directory loops are caught by _seen_dirs
                is_file = not is_dir and entry.is_file()
            except OSError as exc:  # a loop of file symlinks (a.py -> b.py -> a.py)
                if name.endswith(PYTHON_SUFFIXES) or entry.is_symlink():
                    reason = "symlink loop" if exc.errno == errno.ELOOP else _reason(exc, "cannot stat")
                    self.result.warnings.append(f"{directory.shown / name}: skipped: {reason}")
                continue
            if not (is_dir or is_file):
                if entry.is_symlink() or name.endswith(PYTHON_SUFFIXES):
                    self.result.warnings.append(f"{directory.shown / name}: skipped: {_not_checked(entry)}")
                continue
            if is_file and not name.endswith(PYTHON_SUFFIXES):
                continue
            excluded = self._excluded_entry(name, name if by_name_only else _below(directory.relative, name), is_dir)
            if excluded or directory.ignored(name, is_dir):
                continue
            link = entry.is_symlink()
            if is_dir:
                if link:
                    real = resolved(directory.path / name)
                    inside = real.is_relative_to(container)
                else:  # a plain directory's real path is its real parent's plus its name: no resolve()
                    real, inside = directory.real / name, directory.writable
                if not os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                    self.walk(directory.entry(name, real, inside), container, by_name_only)
            elif link:
                self.add_file(directory.path / name, container)
            else:  # a regular file: its real path is its real directory's plus its name
                self._add(directory.shown / name, directory.real / name, directory.writable)


# A pattern that is a plain name (`node_modules`, `.venv`, `build/`): with no
# slash inside, gitignore matches it against every part of a path, and a
# trailing slash limits it to directories. The default exclusions are all such.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+/?")


@dataclass(frozen=True)
class _NameExclusions:
    """Exclusion patterns as sets of names, with the patterns that are not plain names left to pathspec."""

    any_entry: frozenset[str]  # names that exclude a file or a directory
    directories: frozenset[str]  # names that exclude a directory
    rest: pathspec.GitIgnoreSpec | None

    @classmethod
    def of(cls, patterns: Sequence[str]) -> _NameExclusions | None:
        """None when a pattern negates (`!keep`): then the order of every match counts."""
        if any(pattern.startswith("!") for pattern in patterns):
            return None
        plain = [p for p in patterns if _PLAIN_NAME.fullmatch(p) and p.rstrip("/") not in (".", "..")]
        rest = [p for p in patterns if p not in plain]
        return cls(
            frozenset(p for p in plain if not p.endswith("/")),
            frozenset(p.rstrip("/") for p in plain if p.endswith("/")),
            pathspec.GitIgnoreSpec.from_lines(rest) if rest else None,
        )


def _not_checked(entry: os.DirEntry[str]) -> str:
    """Why an entry that is neither a directory nor a regular file is skipped."""
    try:
        mode = os.stat(entry.path).st_mode
    except OSError:
        return "broken symlink"
    return f"not a regular file ({file_kind(mode)})"


def _reason(exc: BaseException, fallback: str) -> str:
    return getattr(exc, "strerror", None) or fallback


MAX_GITIGNORE_BYTES = 4 * 1024 * 1024


def _load_gitignore(base: Path, file: Path) -> _Ignore:
    """A .gitignore is part of the (possibly hostile) tree: only a regular
    file is read, and a line git would not accept is skipped, as git does."""
    try:
        lines = read_regular(file, MAX_GITIGNORE_BYTES, OSError).decode("utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:  # pathspec's GitIgnorePatternError: keep the lines that compile
        spec = pathspec.GitIgnoreSpec.from_lines([line for line in lines if _valid_pattern(line)])
    return _Ignore(base, spec)


def _valid_pattern(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def _gitignored(ignores: Sequence[_Ignore], path: Path, is_dir: bool) -> bool:
    for ignore in reversed(ignores):
        decision = ignore.decide(path, is_dir)
        if decision is not None:
            return decision
    return False


def _ancestor_ignores(directory: Path) -> list[_Ignore]:
    """.gitignore files above `directory`, up to the repository root, outermost first."""
    found: list[_Ignore] = []
    for parent in directory.parents:
        if (parent / ".gitignore").is_file():
            found.append(_load_gitignore(parent, parent / ".gitignore"))
        if (parent / ".git").exists():
            exclude = parent / ".git" / "info" / "exclude"
            if exclude.is_file():
                found.append(_load_gitignore(parent, exclude))
            break
    else:
        return []  # not inside a git repository: .gitignore files above mean nothing
    return list(reversed(found))


def discover(paths: Iterable[Path], settings: Settings, *, force_exclude: bool = False) -> Discovery:
    """The files to check under `paths`, sorted and de-duplicated."""
    cwd = resolved(Path.cwd())
    walker = _Walker(settings, cwd)
    for given in paths:
        absolute = Path(os.path.abspath(given))
        if not absolute.exists() and not absolute.is_symlink():
            raise ConfigError(f"{given}: no such file or directory")
        if absolute.is_dir():
            ignores = _ancestor_ignores(absolute) if settings.respect_gitignore else []
            excluded = walker.is_excluded(absolute, True)
            ignored = _gitignored(ignores, absolute, True)
            if force_exclude and (excluded or ignored):
                continue
            # A named directory inside an ignored one is checked; the ancestors'
            # verdict does not reach its contents.
            walker.walk_given(absolute, [] if ignored else ignores, by_name_only=excluded)
        elif force_exclude and (walker.is_excluded(absolute, False) or _explicit_in_excluded_dir(walker, absolute)):
            continue
        else:
            # A named file may be a symlink: it is written only if it leads
            # inside the directory that holds the link.
            walker.add_file(absolute, resolved(absolute.parent))
    walker.result.files.sort(key=lambda f: f.path.as_posix())
    return walker.result


def _explicit_in_excluded_dir(walker: _Walker, path: Path) -> bool:
    """With --force-exclude, a file inside an excluded or gitignored directory is skipped too."""
    ignores = _ancestor_ignores(path) if walker.settings.respect_gitignore else []
    if _gitignored(ignores, path, False):
        return True
    root = walker.settings.root
    return any(
        walker.is_excluded(parent, True) for parent in path.parents if parent != root and parent.is_relative_to(root)
    )
