"""The data a check produces: findings, their fixes and text edits."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

SAFE = "safe"
UNSAFE = "unsafe"
NO_FIX = "none"
FIX_SAFETIES = (SAFE, UNSAFE, NO_FIX)


@dataclass(frozen=True, slots=True)
class Location:
    """A 1-based row and a 1-based column counted in characters, as ruff reports them."""

    row: int
    column: int

    def to_json(self) -> dict[str, int]:
        return {"row": self.row, "column": self.column}


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text between two locations with `content`."""

    content: str
    location: Location
    end_location: Location

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "location": self.location.to_json(),
            "end_location": self.end_location.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Fix:
    applicability: str  # SAFE or UNSAFE
    message: str
    # None: not built. A plain `check` only says that a fix exists and how
    # safe it is; building the edits costs a code generation and a re-parse of
    # the file per fix, so they are built only for what applies or shows them.
    edits: tuple[Edit, ...] | None
    # Fixes sharing an isolation group go in one per pass (two fixes that each
    # add an import could add it twice, or in two ways), unless they make the
    # same edit there: apply_fixes then makes it once.
    isolation: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_fix, (self.applicability, self.message, self.edits, self.isolation))

    @property
    def built(self) -> bool:
        return self.edits is not None

    def required_edits(self) -> tuple[Edit, ...]:
        """The edits, for a caller that applies or shows them: the run must
        have asked for them (`Plan.build_edits`)."""
        if self.edits is None:
            raise ValueError(f"the edits of fix {self.message!r} were not built in this run")
        return self.edits

    def to_json(self) -> dict[str, Any]:
        return {
            "applicability": self.applicability,
            "message": self.message,
            "edits": [edit.to_json() for edit in self.required_edits()],
        }


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    name: str
    family: str
    message: str
    path: str  # as shown to the user; output formats derive absolute paths
    location: Location
    end_location: Location
    fix: Fix | None = None
    manual: str | None = None
    snippet: str = ""  # the reported source text, normalised; baselines fingerprint it

    def __reduce__(self) -> tuple[Any, ...]:
        # Check results come back from the workers pickled, and a large
        # project's run holds hundreds of thousands of them.
        fields = (self.code, self.name, self.family, self.message, self.path, self.location, self.end_location)
        return (_finding, (*fields, self.fix, self.manual, self.snippet))

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.location.row, self.location.column, self.code)

    def with_path(self, path: str) -> Finding:
        return replace(self, path=path)

    def to_row(self) -> list[Any]:
        """A JSON-safe row without the path, since cached results are keyed
        by content: [code, name, family, message, row, column, end row, end
        column, manual, snippet, fix], the fix [applicability, message,
        isolation, edits] and each edit [content, row, column, end row, end
        column]. Rows, not objects: a large project's cache holds hundreds of
        thousands of findings, and a warm run decodes them all."""
        fix = self.fix
        return [
            self.code,
            self.name,
            self.family,
            self.message,
            self.location.row,
            self.location.column,
            self.end_location.row,
            self.end_location.column,
            self.manual,
            self.snippet,
            None
            if fix is None
            else [
                fix.applicability,
                fix.message,
                fix.isolation,
                None
                if fix.edits is None
                else [
                    [e.content, e.location.row, e.location.column, e.end_location.row, e.end_location.column]
                    for e in fix.edits
                ],
            ],
        ]

    @classmethod
    def from_row(cls, row: Sequence[Any], path: str) -> Finding:
        """The finding `to_row` gave, at `path`: the row's shape already checked."""
        code, name, family, message, line, column, end_line, end_column, manual, snippet, fix = row
        return cls(
            code,
            name,
            family,
            message,
            path,
            Location(line, column),
            Location(end_line, end_column),
            None if fix is None else _fix_from_row(fix),
            manual,
            snippet,
        )


def _fix_from_row(row: Sequence[Any]) -> Fix:
    applicability, message, isolation, edits = row
    if edits is not None:
        edits = tuple(Edit(c, Location(r, col), Location(er, ec)) for c, r, col, er, ec in edits)
    return Fix(applicability, message, edits, isolation)


# Findings unpickled from a worker: the strings every finding of a rule
# repeats are shared, not copied per finding (a quarter of what a finding
# costs in memory). The cache shares them through its table of strings.


def _finding(
    code: str,
    name: str,
    family: str,
    message: str,
    path: str,
    location: Location,
    end_location: Location,
    fix: Fix | None,
    manual: str | None,
    snippet: str,
) -> Finding:
    intern = sys.intern
    shared_manual = None if manual is None else intern(manual)
    return Finding(
        intern(code), intern(name), intern(family), message, path, location, end_location, fix, shared_manual, snippet
    )


def _fix(applicability: str, message: str, edits: tuple[Edit, ...] | None, isolation: str | None) -> Fix:
    return Fix(sys.intern(applicability), sys.intern(message), edits, isolation)
