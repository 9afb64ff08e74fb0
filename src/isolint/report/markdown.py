"""`report --format markdown`: GitHub-flavoured Markdown for `$GITHUB_STEP_SUMMARY` and PR comments.

Stable for a given tree: no timestamps, no absolute paths.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..output.escape import printable
from .text import percent

BAR_WIDTH = 10


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str) -> list[str]:
    marks = {"l": ":---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _code(value: str) -> str:
    """`value` as an inline code span that it cannot close: the fence is one
    backtick longer than any run of backticks inside (CommonMark), so a path
    like ``x`<img src=x onerror=alert(1)>`` stays literal text."""
    value = printable(value)
    longest = max((len(run) for run in re.findall("`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!~])")  # `|` is `_cell`'s to escape


def _text(value: str) -> str:
    """`value` as plain text: no Markdown markup, no HTML (`<!--` would hide
    the rest of a job summary)."""
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", printable(value)), quote=False)


def _bar(value: float | None) -> str:
    if value is None:
        return "-"
    filled = round(value / 100 * BAR_WIDTH)
    return f"`{'█' * filled}{'░' * (BAR_WIDTH - filled)}` {percent(value)}"


def render(document: Mapping[str, Any]) -> str:
    summary = document["summary"]
    out = ["## isolint report", ""]
    out.append(
        f"**{summary['findings']:,}** finding{'s' if summary['findings'] != 1 else ''} in "
        f"{summary['files_with_findings']:,} of {summary['files']:,} files: "
        f"**{summary['safe']:,}** fixable with `isolint fix`, **{summary['unsafe']:,}** more with "
        f"`isolint fix --unsafe-fixes`, **{summary['manual']:,}** need manual migration."
    )
    baseline = document["baseline"]
    if baseline:
        out += [
            "",
            (
                f"Since the baseline ({_code(baseline['path'])}, {baseline['entries']:,} entries): **{baseline['fixed']:,} fixed** "
                f"({percent(baseline['fixed_percent'])}), {baseline['known']:,} still present, **{baseline['new']:,} new**."
            ),
        ]
    out += ["", "### Findings by family", ""]
    out += _table(
        ("Family", "Findings", "Safe fix", "Unsafe fix", "Manual"),
        [(f"{r['family']}", r["findings"], r["safe"], r["unsafe"], r["manual"]) for r in document["families"]],
        "lrrrr",
    )
    rules = [r for r in document["rules"] if r["findings"]]
    if rules:
        out += ["", "### Findings by rule", ""]
        out += _table(
            ("Rule", "Name", "Findings", "Safe fix", "Unsafe fix", "Manual"),
            [(r["code"], f"`{r['name']}`", r["findings"], r["safe"], r["unsafe"], r["manual"]) for r in rules],
            "llrrrr",
        )
    if document["directories"]:
        out += ["", "### Top directories", ""]
        out += _table(
            ("Directory", "Findings", "Files", "Safe fix", "Unsafe fix", "Manual"),
            [
                (_code(r["path"]), r["findings"], r["files"], r["safe"], r["unsafe"], r["manual"])
                for r in document["directories"]
            ],
            "lrrrrr",
        )
    out += ["", "### Migration progress", ""]
    out += _table(
        ("Family", "Legacy sites left", "In the target form", "Migrated"),
        [
            (
                r["family"],
                f"{r['legacy']} {r['legacy_label']}",
                f"{r['target']} {r['target_label']}",
                _bar(r["migrated_percent"]),
            )
            for r in document["progress"]
        ],
        "llll",
    )
    radius = document["blast_radius"]
    if radius["rules"]:
        out += ["", "### Blast radius", ""]
        if radius["singletons"]:
            out += _table(
                ("Singleton", "Defined at", "Call sites", "Files"),
                [
                    (
                        _code(r["name"]),
                        _code(f"{r['definition']['path']}:{r['definition']['line']}") if r["definition"] else "?",
                        r["call_sites"],
                        r["files"],
                    )
                    for r in radius["singletons"]
                ],
                "llrr",
            )
        else:
            out.append("No call sites of singletons.")
    if document["history"]:
        families = [row["family"] for row in document["families"]]
        out += ["", "### History", ""]
        out += _table(
            ("Commit", "Date", "Findings", *families, "Subject"),
            [
                (
                    f"`{row['short']}`",
                    row["date"][:10],
                    row["findings"],
                    *(row["families"].get(f, 0) for f in families),
                    _text(row["subject"]),
                )
                for row in document["history"]
            ],
            "llr" + "r" * len(families) + "l",
        )
    return "\n".join(out) + "\n"
