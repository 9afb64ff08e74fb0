"""`isolint baseline` and `isolint report`: record today's findings, and sum up the migration work left."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .options import (
    DEFAULT_HISTORY_COMMITS,
    EXIT_CLEAN,
    EXIT_FINDINGS,
    REPORT_FORMATS,
    checked_scope,
    emit,
    jobs_or_cpus,
    load_baseline,
    load_run_settings,
    selection_options,
    shown_path,
    warn,
)


@click.command()
@selection_options
@click.option(
    "--write",
    "write_file",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="Record every current finding (default file: the `baseline` config key, else .isolint-baseline.json).",
)
@click.option(
    "--update",
    "update_file",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="Remove the entries fixed since; never adds new ones unless --allow-new.",
)
@click.option(
    "--allow-new", is_flag=True, help="With --update, also add the findings that are not in the baseline yet."
)
def baseline(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend_select: tuple[str, ...],
    config_file: Path | None,
    isolated: bool,
    no_cache: bool,
    jobs: int | None,
    force_exclude: bool,
    write_file: str | None,
    update_file: str | None,
    allow_new: bool,
) -> int:
    """Record the current findings so that `check --baseline` fails only on new ones.

    Put PATHS before --write/--update: their FILE value is optional.
    """
    from ..baseline import Baseline, default_file, ratchet
    from ..output.text import concise
    from ..runner import run_check

    if (write_file is None) == (update_file is None):
        raise click.UsageError("give exactly one of --write [FILE] or --update [FILE]")
    if allow_new and update_file is None:
        raise click.UsageError("--allow-new only applies to --update")
    targets = list(paths) or [Path(".")]
    settings = load_run_settings(targets, config_file, isolated, select, ignore, extend_select)
    chosen = write_file if write_file is not None else update_file
    file = Path(chosen) if chosen else (settings.baseline or default_file(settings))
    previous = Baseline.load(file) if update_file is not None else None
    result = run_check(
        targets,
        settings,
        jobs=jobs_or_cpus(jobs),
        use_cache=not no_cache,
        force_exclude=force_exclude,
        build_edits=False,
    )
    warn(result.warnings)
    if previous is None:
        written = Baseline.from_findings(file, result.findings)
        written.save()
        click.echo(f"Wrote {len(written):,} finding{'s' if len(written) != 1 else ''} to {shown_path(file)}.", err=True)
        return EXIT_CLEAN
    comparison = previous.compare(result.findings, checked_scope(result, targets))
    removed, added = ratchet(previous, comparison, allow_new=allow_new)
    previous.save()
    click.echo(
        f"Removed {removed:,} fixed entr{'ies' if removed != 1 else 'y'} from {shown_path(file)}; added {added:,}; {len(previous):,} remain.",
        err=True,
    )
    if comparison.new and not allow_new:
        click.echo(concise(comparison.new), nl=False)
        count = len(comparison.new)
        click.echo(
            f"{count:,} new finding{'s' if count != 1 else ''} not added to the baseline: "
            "fix them, or accept them with `isolint baseline --update --allow-new`.",
            err=True,
        )
        return EXIT_FINDINGS
    return EXIT_CLEAN


@click.command()
@selection_options
@click.option(
    "--format",
    "report_format",
    type=click.Choice(REPORT_FORMATS),
    default="text",
    show_default=True,
    help="csv needs --history.",
)
@click.option(
    "--output",
    "-o",
    "output_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report here instead of stdout.",
)
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Show progress since this baseline; default: the `baseline` config key.",
)
@click.option("--no-baseline", is_flag=True, help="Ignore the configured baseline.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="How many directories to list.")
@click.option(
    "--history", is_flag=True, help="Totals for each commit of the git history (read from git, nothing checked out)."
)
@click.option(
    "--commits",
    type=click.IntRange(min=1),
    default=None,
    help=f"With --history: the last N commits of the current branch (default {DEFAULT_HISTORY_COMMITS}).",
)
@click.option(
    "--since", "since_rev", metavar="REV", default=None, help="With --history: the commits after REV, and REV itself."
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --history: take every K-th commit, counting back from HEAD.",
)
@click.option(
    "--link-template",
    metavar="URL",
    help="Link each finding to your code host: {path}, {line} and {commit} are filled in, "
    "e.g. 'https://github.com/org/repo/blob/{commit}/{path}#L{line}'.",
)
def report(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend_select: tuple[str, ...],
    config_file: Path | None,
    isolated: bool,
    no_cache: bool,
    jobs: int | None,
    force_exclude: bool,
    report_format: str,
    output_file: Path | None,
    baseline_file: Path | None,
    no_baseline: bool,
    top: int,
    history: bool,
    commits: int | None,
    since_rev: str | None,
    every: int,
    link_template: str | None,
) -> int:
    """Summarise the migration work left in PATHS: per family and rule, where, what fixes itself."""
    from ..report import model, render

    if not history and (commits is not None or since_rev is not None or every != 1):
        raise click.UsageError("--commits, --since and --every need --history")
    if report_format == "csv" and not history:
        raise click.UsageError("--format csv lists commits: it needs --history")
    targets = list(paths) or [Path(".")]
    settings = load_run_settings(targets, config_file, isolated, select, ignore, extend_select)
    known = load_baseline(baseline_file, settings, no_baseline, isolated)
    enabled = settings.enabled_rules()
    rows = None
    if history:
        from ..history import run_history

        walked = run_history(
            list(paths),
            settings,
            commits=commits if commits or since_rev else DEFAULT_HISTORY_COMMITS,
            since=since_rev,
            every=every,
            jobs=jobs_or_cpus(jobs),
            use_cache=not no_cache,
        )
        click.echo(
            f"History: {len(walked.results)} commit{'s' if len(walked.results) != 1 else ''}, "
            f"{walked.blobs_read:,} blobs read, {walked.blobs_checked:,} checked.",
            err=True,
        )
        rows = walked.rows(enabled)
        counts: dict[str, int]
        head = walked.results[-1]
        findings, files, counts, project = head.findings, len(head.paths), head.counts, head.project
        compared_findings = [f.with_path(str(walked.root / f.path)) for f in findings]
        checked = [walked.root / path for path in head.paths]
    else:
        from ..progress import TargetFormTotals
        from ..runner import run_check

        target_forms = TargetFormTotals()
        result = run_check(
            targets,
            settings,
            jobs=jobs_or_cpus(jobs),
            use_cache=not no_cache,
            force_exclude=force_exclude,
            target_forms=target_forms,
            build_edits=False,
        )
        warn(result.warnings)
        findings, files, project = result.findings, len(result.files), result.plan.project
        counts = target_forms.total()
        compared_findings = findings
        checked = [f.real_path for f in result.files]
    baseline_section = None
    if known is not None:
        from ..baseline import Scope

        comparison = known.compare(compared_findings, Scope.of(checked, targets))
        baseline_section = _baseline_section(known, comparison)
    if link_template is not None:
        try:
            link_template.format(path="p", line=1, commit="c")
        except (KeyError, IndexError, ValueError) as exc:
            raise click.UsageError(
                f"--link-template: only {{path}}, {{line}} and {{commit}} can be filled in ({exc})"
            ) from None
    document = model.build(
        findings,
        files=files,
        counts=counts,
        enabled=enabled,
        project=project,
        baseline=baseline_section,
        history=rows,
        top=top,
        scan=_scan_header(targets),
        link_template=link_template,
    )
    emit(render(document, report_format), output_file)
    return EXIT_CLEAN


def _scan_header(targets: Sequence[Path]) -> dict[str, Any]:
    """What the report's header says it covers: the paths, the commit checked
    out there (None outside git), and when (`SOURCE_DATE_EPOCH` when set, for
    reproducible reports)."""
    from datetime import datetime, timezone

    from ..git import head_commit

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    when = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch.isdigit() else datetime.now(timezone.utc)
    return {
        "paths": [target.as_posix() for target in targets],
        "commit": head_commit(targets[0]),
        "generated_at": when.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


def _baseline_section(known: Any, comparison: Any) -> dict[str, Any]:
    from ..baseline import relative_path

    entries = len(known)
    shown = relative_path(str(known.file), Path.cwd())
    return {
        "path": shown if not shown.startswith("../") else known.file.resolve().name,
        "entries": entries,
        "known": len(comparison.known),
        "new": len(comparison.new),
        "fixed": comparison.fixed_count,
        "fixed_percent": round(100 * comparison.fixed_count / entries, 1) if entries else None,
    }
