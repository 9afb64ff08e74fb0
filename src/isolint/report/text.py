"""`report --format text`: aligned plain-text tables for a terminal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:g}%"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> list[str]:
    """`align` has one letter per column: l(eft) or r(ight)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [cell.rjust(widths[i]) if align[i] == "r" else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  " + "  ".join(parts).rstrip())
    return lines


def headline(summary: Mapping[str, Any]) -> list[str]:
    total = summary["findings"]
    noun = "finding" if total == 1 else "findings"
    lines = [f"{total:,} {noun} in {summary['files_with_findings']:,} of {summary['files']:,} files"]
    if total:
        lines.append(
            f"{summary['safe']:,} fixable with `isolint fix`, {summary['unsafe']:,} more with `--unsafe-fixes`, "
            f"{summary['manual']:,} need manual migration"
        )
    return lines


def baseline_lines(baseline: Mapping[str, Any]) -> list[str]:
    return [
        (
            f"Baseline {baseline['path']}: {baseline['entries']:,} entries; {baseline['fixed']:,} fixed since "
            f"({percent(baseline['fixed_percent'])}), {baseline['known']:,} still present, {baseline['new']:,} new"
        )
    ]


def render(document: Mapping[str, Any]) -> str:
    out = ["isolint report", "", *headline(document["summary"])]
    if document["baseline"]:
        out += ["", *baseline_lines(document["baseline"])]
    out += ["", "By family"]
    out += table(
        ("family", "findings", "safe", "unsafe", "manual"),
        [(r["family"], r["findings"], r["safe"], r["unsafe"], r["manual"]) for r in document["families"]],
        "lrrrr",
    )
    rules = [r for r in document["rules"] if r["findings"]]
    if rules:
        out += ["", "By rule"]
        out += table(
            ("rule", "name", "findings", "safe", "unsafe", "manual"),
            [(r["code"], r["name"], r["findings"], r["safe"], r["unsafe"], r["manual"]) for r in rules],
            "llrrrr",
        )
    if document["directories"]:
        out += ["", "Top directories"]
        out += table(
            ("directory", "findings", "files", "safe", "unsafe", "manual"),
            [
                (r["path"], r["findings"], r["files"], r["safe"], r["unsafe"], r["manual"])
                for r in document["directories"]
            ],
            "lrrrrr",
        )
    out += ["", "Migration progress (legacy sites left / sites in the target form)"]
    out += table(
        ("family", "legacy", "target", "migrated", "legacy sites", "target form"),
        [
            (
                r["family"],
                r["legacy"],
                r["target"],
                percent(r["migrated_percent"]),
                r["legacy_label"],
                r["target_label"],
            )
            for r in document["progress"]
        ],
        "lrrrll",
    )
    radius = document["blast_radius"]
    out += ["", "Blast radius (call sites per singleton)"]
    if not radius["rules"]:
        out.append("  not available: enable ISO106 and ISO205 to see it")
    elif not radius["singletons"]:
        out.append("  no call sites of singletons")
    else:
        out += table(
            ("singleton", "defined at", "call sites", "files"),
            [(r["name"], _where(r["definition"]), r["call_sites"], r["files"]) for r in radius["singletons"]],
            "llrr",
        )
    if document["history"]:
        out += ["", "History (oldest first)"]
        out += history_table(document)
    return "\n".join(out) + "\n"


def history_table(document: Mapping[str, Any]) -> list[str]:
    families = [row["family"] for row in document["families"]]
    return table(
        ("commit", "date", "findings", *families, "subject"),
        [
            (
                row["short"],
                row["date"][:10],
                row["findings"],
                *(row["families"].get(f, 0) for f in families),
                row["subject"],
            )
            for row in document["history"]
        ],
        "llr" + "r" * len(families) + "l",
    )


def _where(definition: Mapping[str, Any] | None) -> str:
    return f"{definition['path']}:{definition['line']}" if definition else "?"
