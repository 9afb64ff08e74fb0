"""`isolint check`: report, or with --fix/--diff hand over to `fix`; also stdin, --show-settings and --show-files."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import Settings
from ..output.escape import printable
from .fix import fix
from .options import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    OUTPUT_FORMATS,
    SCREENFUL,
    SHORTER_VIEWS,
    STDIN_HELP,
    TIMINGS_HELP,
    baseline_path,
    checked_scope,
    emit,
    is_styled,
    jobs_or_cpus,
    load_baseline,
    load_run_settings,
    read_stdin,
    scope_of_paths,
    selection_options,
    show_timings,
    stdin_name_of,
    warn,
)

if TYPE_CHECKING:
    from ..transaction import Refusal


@click.command()
@selection_options
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS), default="full", show_default=True)
@click.option(
    "--output-file",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report here instead of stdout.",
)
@click.option("--statistics", is_flag=True, help="Show a count per rule instead of each finding.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--show-fixes", is_flag=True, help="Show the diff each available fix would make.")
@click.option("--unsafe-fixes", is_flag=True, help="Count unsafe fixes as available in --show-fixes.")
@click.option("--add-ignore", is_flag=True, help="Stamp `# isolint: ignore[CODE]` on every current finding.")
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Report (and fail on) only findings not in this baseline file; default: the `baseline` config key.",
)
@click.option("--no-baseline", is_flag=True, help="Ignore the configured baseline.")
@click.option("--timings", is_flag=True, help=TIMINGS_HELP)
@click.option("--fix", "apply_fixes", is_flag=True, help="Apply the available fixes, as `isolint fix` does.")
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Print the diff the fixes would make and write nothing, as `isolint fix --diff`.",
)
@click.option("--stdin-filename", type=click.Path(path_type=Path), help=STDIN_HELP)
@click.option("--show-settings", is_flag=True, help="Print the settings a run over PATHS would use, and exit.")
@click.option("--show-files", is_flag=True, help="Print the files a run over PATHS would check, and exit.")
@click.pass_context
def check(
    ctx: click.Context,
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend_select: tuple[str, ...],
    config_file: Path | None,
    isolated: bool,
    no_cache: bool,
    jobs: int | None,
    force_exclude: bool,
    output_format: str,
    output_file: Path | None,
    statistics: bool,
    exit_zero: bool,
    show_fixes: bool,
    unsafe_fixes: bool,
    add_ignore: bool,
    baseline_file: Path | None,
    no_baseline: bool,
    timings: bool,
    apply_fixes: bool,
    show_diff: bool,
    stdin_filename: Path | None,
    show_settings: bool,
    show_files: bool,
) -> int:
    """Report isolation problems in PATHS (default: the current directory)."""
    started = time.perf_counter()
    from ..output import EDIT_FORMATS, STATISTICS_FORMATS, TEXT_FORMATS, render
    from ..output.text import summary
    from ..runner import add_ignores, run_check

    if statistics and output_format not in STATISTICS_FORMATS:  # before the run, not after it
        raise click.UsageError(f"--statistics has no {output_format} form; use {', '.join(STATISTICS_FORMATS)}")

    if apply_fixes or show_diff:
        if add_ignore or statistics or show_fixes:
            raise click.UsageError(
                "--fix and --diff cannot be combined with --add-ignore, --statistics or --show-fixes"
            )
        return ctx.invoke(
            fix,
            paths=paths,
            select=select,
            ignore=ignore,
            extend_select=extend_select,
            config_file=config_file,
            isolated=isolated,
            no_cache=no_cache,
            jobs=jobs,
            force_exclude=force_exclude,
            unsafe_fixes=unsafe_fixes,
            show_diff=show_diff,
            check_only=False,
            output_format=output_format,
            baseline_file=baseline_file,
            no_baseline=no_baseline,
            timings=timings,
            stdin_filename=stdin_filename,
            exit_zero=exit_zero,
        )
    stdin_name = stdin_name_of(paths, stdin_filename)
    targets = [stdin_name] if stdin_name is not None else (list(paths) or [Path(".")])
    if add_ignore and timings:
        raise click.UsageError("--timings does not apply to --add-ignore")
    if stdin_name is not None and (add_ignore or show_fixes or timings or show_files):
        raise click.UsageError("reading stdin: --add-ignore, --show-fixes, --show-files and --timings do not apply")
    settings = load_run_settings(targets, config_file, isolated, select, ignore, extend_select)
    if show_settings or show_files:
        return _introspect(
            settings, targets, show_settings, output_format, force_exclude, baseline_file, no_baseline, isolated
        )
    if stdin_name is not None:
        from ..stdin import excluded

        if force_exclude and excluded(stdin_name, settings):
            read_stdin()
            return EXIT_CLEAN
        return _check_stdin(
            stdin_name,
            settings,
            output_format,
            output_file,
            statistics,
            exit_zero,
            baseline_file,
            no_baseline,
            isolated,
            jobs,
            no_cache,
        )
    if add_ignore:
        stamped, left, warnings = add_ignores(targets, settings, jobs=jobs_or_cpus(jobs), force_exclude=force_exclude)
        warn(warnings)
        click.echo(f"Added {stamped} isolint: ignore directive{'s' if stamped != 1 else ''}.", err=True)
        for finding in left:
            why = {
                "ISO001": "is an unused suppression: `isolint fix` removes it",
                "ISO002": "names no rule in a suppression: correct it",
            }
            click.echo(
                f"warning: {finding.path}:{finding.location.row}: {finding.code} {why.get(finding.code, 'could not be suppressed here')}",
                err=True,
            )
        return EXIT_FINDINGS if left and not exit_zero else EXIT_CLEAN

    known = load_baseline(baseline_file, settings, no_baseline, isolated)  # before the run: a bad file fails fast
    # Edits are built only for what shows them: the previews and the formats that print them.
    build_edits = (show_fixes and output_format in TEXT_FORMATS) or (output_format in EDIT_FORMATS and not statistics)
    result = run_check(
        targets,
        settings,
        jobs=jobs_or_cpus(jobs),
        use_cache=not no_cache,
        force_exclude=force_exclude,
        build_edits=build_edits,
    )
    warn(result.warnings)
    findings = result.findings
    baseline_note = ""
    if known is not None:
        comparison = known.compare(findings, checked_scope(result, targets))
        findings, baseline_note = comparison.new, comparison.summary() + ".\n"
    output_start = time.perf_counter()
    if statistics:
        text = _statistics(findings, output_format)
    else:
        text = render(findings, output_format, styled=is_styled(output_file))
        if output_format in TEXT_FORMATS:
            if show_fixes:
                from ..findings import SAFE, UNSAFE
                from ..runner import run_fix

                # The verification gate decides which previews would really be applied.
                gated = run_fix(
                    targets,
                    settings,
                    jobs=jobs_or_cpus(jobs),
                    unsafe=unsafe_fixes,
                    mode="check",
                    use_cache=not no_cache,
                    force_exclude=force_exclude,
                    build_edits=False,
                )
                text += _fix_previews(findings, unsafe_fixes, gated.refusals)
                verified = frozenset({SAFE, UNSAFE} if unsafe_fixes else {SAFE})
                refused = _refused(findings, verified, gated.refusals)
                text += ("\n" if findings else "") + summary(findings, refused=refused, verified=verified)
            else:
                text += ("\n" if findings else "") + summary(findings)
            text += baseline_note
            baseline_note = ""
            if output_format == "full" and len(findings) > SCREENFUL:
                text += SHORTER_VIEWS
    emit(text, output_file)
    if baseline_note:  # machine formats keep stdout parseable
        click.echo(baseline_note, nl=False, err=True)
    if timings:
        result.stats.timings["output"] = time.perf_counter() - output_start
        show_timings(result.stats, started)
    return EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN


def _statistics(findings: Sequence[Any], output_format: str) -> str:
    """A count per rule, in the output format when it can hold one (JSON: an
    array; JSON lines: one object per rule); a usage error when it cannot."""
    from ..output import STATISTICS_FORMATS
    from ..output.text import statistics as stats_rows
    from ..output.text import statistics_text

    if output_format not in STATISTICS_FORMATS:
        raise click.UsageError(f"--statistics has no {output_format} form; use {', '.join(STATISTICS_FORMATS)}")
    if output_format == "json":
        return json.dumps(stats_rows(findings), indent=2) + "\n"
    if output_format == "json-lines":
        return "".join(json.dumps(row) + "\n" for row in stats_rows(findings))
    return statistics_text(findings)


def _check_stdin(
    name: Path,
    settings: Settings,
    output_format: str,
    output_file: Path | None,
    statistics: bool,
    exit_zero: bool,
    baseline_file: Path | None,
    no_baseline: bool,
    isolated: bool,
    jobs: int | None,
    no_cache: bool,
) -> int:
    from ..output import EDIT_FORMATS, TEXT_FORMATS, render
    from ..output.text import summary
    from ..stdin import check_stdin

    known = load_baseline(baseline_file, settings, no_baseline, isolated)
    build_edits = output_format in EDIT_FORMATS and not statistics
    findings = check_stdin(
        read_stdin(), name, settings, jobs=jobs_or_cpus(jobs), use_cache=not no_cache, build_edits=build_edits
    )
    note = ""
    if known is not None:
        comparison = known.compare(findings, scope_of_paths([name], [name]))
        findings, note = comparison.new, comparison.summary() + ".\n"
    if statistics:
        text = _statistics(findings, output_format)
    else:
        text = render(findings, output_format, styled=is_styled(output_file))
        if output_format in TEXT_FORMATS:
            text += ("\n" if findings else "") + summary(findings) + note
    emit(text, output_file)
    return EXIT_FINDINGS if findings and not exit_zero else EXIT_CLEAN


def _introspect(
    settings: Settings,
    targets: Sequence[Path],
    show_settings: bool,
    output_format: str,
    force_exclude: bool,
    baseline_file: Path | None,
    no_baseline: bool,
    isolated: bool,
) -> int:
    from ..introspect import files_text, settings_document, settings_text

    if show_settings:
        path = baseline_path(baseline_file, settings, no_baseline, isolated)
        if output_format == "json":
            click.echo(json.dumps(settings_document(settings, path), indent=2))
        else:
            click.echo(settings_text(settings, path), nl=False)
    else:
        click.echo(files_text(targets, settings, force_exclude), nl=False)
    return EXIT_CLEAN


def _refused(findings: Sequence[Any], verified: frozenset[str], refusals: Sequence[Refusal]) -> int:
    """How many of the findings' fixes of the `verified` applicabilities the
    gate refused (a group that fell back to its transitional form still fixes)."""
    groups = {(r.path, r.code) for r in refusals if not r.fallback}
    return sum(
        1 for f in findings if f.fix is not None and f.fix.applicability in verified and (f.path, f.code) in groups
    )


def _fix_previews(findings: Sequence[Any], unsafe: bool, refusals: Sequence[Refusal]) -> str:
    from ..findings import SAFE
    from ..fixes import apply_fixes, unified_diff
    from ..source import decode, read_bytes

    refused = {
        (r.path, r.code): r.violation.describe()
        + ("; `isolint fix` writes a transitional form instead where it can" if r.fallback else "")
        for r in reversed(refusals)
    }
    chunks = []
    for finding in findings:
        if finding.fix is None or not (unsafe or finding.fix.applicability == SAFE):
            continue
        label = printable(f"{finding.code} at {finding.path}:{finding.location.row}: {finding.fix.message}")
        reason = refused.get((finding.path, finding.code))
        if reason is not None:
            chunks.append(f"Fix for {label}\nrefused, it would break the program: {reason}\n")
            continue
        text = decode(read_bytes(Path(finding.path))).text
        new_text, _ = apply_fixes(text, [finding.fix])
        chunks.append(f"Fix for {label}\n{unified_diff(finding.path, text, new_text)}")
    return ("\n" + "\n".join(chunks)) if chunks else ""
