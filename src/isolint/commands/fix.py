"""`isolint fix`: compute, verify and write (or diff) the fixes; what the gate refused and the contracts changed."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..config import Settings
from ..output.escape import printable
from .options import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    OUTPUT_FORMATS,
    STDIN_HELP,
    TIMINGS_HELP,
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
    from ..verify import ContractChange


def _fix_stdin(
    name: Path,
    settings: Settings,
    unsafe: bool,
    show_diff: bool,
    check_only: bool,
    exit_zero: bool,
    output_format: str,
    baseline_file: Path | None,
    no_baseline: bool,
    isolated: bool,
    jobs: int | None,
    no_cache: bool,
) -> int:
    """The fixed source on stdout (or its diff with --diff); what remains on stderr."""
    from ..fixes import unified_diff
    from ..output import render
    from ..stdin import fix_stdin

    known = load_baseline(baseline_file, settings, no_baseline, isolated)
    raw = read_stdin()
    fixed = fix_stdin(raw, name, settings, jobs=jobs_or_cpus(jobs), use_cache=not no_cache, unsafe=unsafe)
    remaining = fixed.findings
    if known is not None:
        remaining = known.compare(remaining, scope_of_paths([name], [name])).new
    if show_diff or check_only:
        if show_diff and fixed.applied:
            from ..source import decode

            click.echo(unified_diff(str(name), decode(raw).text, decode(fixed.output).text), nl=False)
        return EXIT_FINDINGS if fixed.applied else EXIT_CLEAN
    sys.stdout.buffer.write(fixed.output)
    click.echo(render(remaining, "concise" if output_format == "full" else output_format), nl=False, err=True)
    return EXIT_FINDINGS if remaining and not exit_zero else EXIT_CLEAN


@click.command()
@selection_options
@click.option(
    "--unsafe-fixes", is_flag=True, help="Apply unsafe fixes too (they may change behaviour; review the diff)."
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Print a unified diff of the fixes and write nothing; exit 1 if anything would change.",
)
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if anything would be fixed.")
@click.option(
    "--output-format",
    type=click.Choice(OUTPUT_FORMATS),
    default="concise",
    show_default=True,
    help="Format of the findings that remain.",
)
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Fail only on remaining findings not in this baseline file; default: the `baseline` config key.",
)
@click.option("--no-baseline", is_flag=True, help="Ignore the configured baseline.")
@click.option("--timings", is_flag=True, help=TIMINGS_HELP + " Includes the fix phase.")
@click.option("--stdin-filename", type=click.Path(path_type=Path), help=STDIN_HELP + " Prints the fixed source.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
def fix(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend_select: tuple[str, ...],
    config_file: Path | None,
    isolated: bool,
    no_cache: bool,
    jobs: int | None,
    force_exclude: bool,
    unsafe_fixes: bool,
    show_diff: bool,
    check_only: bool,
    output_format: str,
    baseline_file: Path | None,
    no_baseline: bool,
    timings: bool,
    stdin_filename: Path | None,
    exit_zero: bool,
) -> int:
    """Apply the available fixes in PATHS; report what remains.

    With a baseline, everything fixable is still fixed, but only remaining
    findings that are not in the baseline are listed and make the exit code 1."""
    started = time.perf_counter()
    from ..output import EDIT_FORMATS, TEXT_FORMATS, render
    from ..runner import run_fix

    if show_diff and check_only:
        raise click.UsageError("--diff and --check cannot be combined")
    stdin_name = stdin_name_of(paths, stdin_filename)
    targets = [stdin_name] if stdin_name is not None else (list(paths) or [Path(".")])
    settings = load_run_settings(targets, config_file, isolated, select, ignore, extend_select)
    if stdin_name is not None:
        from ..stdin import excluded

        if force_exclude and excluded(stdin_name, settings):
            if not (show_diff or check_only):
                sys.stdout.buffer.write(read_stdin())  # an excluded buffer comes back unchanged
            return EXIT_CLEAN
        return _fix_stdin(
            stdin_name,
            settings,
            unsafe_fixes,
            show_diff,
            check_only,
            exit_zero,
            output_format,
            baseline_file,
            no_baseline,
            isolated,
            jobs,
            no_cache,
        )
    mode = "diff" if show_diff else "check" if check_only else "write"
    known = load_baseline(baseline_file, settings, no_baseline, isolated)  # before the run: a bad file fails fast
    result = run_fix(
        targets,
        settings,
        jobs=jobs_or_cpus(jobs),
        unsafe=unsafe_fixes,
        mode=mode,
        use_cache=not no_cache,
        force_exclude=force_exclude,
        build_edits=output_format in EDIT_FORMATS,
    )
    warn(result.warnings)
    output_start = time.perf_counter()

    def done(code: int) -> int:
        if timings:
            result.stats.timings["output"] = time.perf_counter() - output_start
            show_timings(result.stats, started)
        return code

    for failed in (f for f in result.fixed_files if f.error):
        click.echo(f"warning: {printable(failed.path)}: {printable(failed.error or '')}", err=True)
    _show_refusals(result.refusals)
    _show_contracts(result.contracts, would=mode != "write")
    _note_undeclared_runtime(result.undeclared_runtime, settings)
    changed = [f for f in result.fixed_files if f.applied]
    if mode != "write":
        if mode == "diff":
            click.echo("".join(f.diff for f in changed), nl=False)
        else:
            for f in changed:
                click.echo(f"Would fix {f.applied} finding{'s' if f.applied != 1 else ''} in {printable(f.path)}")
        click.echo(
            f"Would apply {result.applied} fix{'es' if result.applied != 1 else ''} in {len(changed)} file{'s' if len(changed) != 1 else ''}.",
            err=True,
        )
        return done(EXIT_FINDINGS if changed else EXIT_CLEAN)

    remaining = result.findings
    baseline_note = ""
    if known is not None:
        comparison = known.compare(remaining, scope_of_paths(result.checked_paths, targets))
        remaining, baseline_note = comparison.new, "; " + comparison.summary()
    report = render(remaining, output_format, styled=is_styled(None))
    manual = sum(1 for f in remaining if f.fix is None and f.code != "ISO000")
    unsafe_left = sum(1 for f in remaining if f.fix is not None and f.fix.applicability != "safe")
    line = f"{result.applied} fix{'es' if result.applied != 1 else ''} applied, {len(remaining)} finding{'s' if len(remaining) != 1 else ''} remaining ({manual} need manual migration)"
    if unsafe_left and not unsafe_fixes:
        # Offered, not yet verified: the gate ran on the safe fixes only.
        line += f"; {unsafe_left} more fixable with --unsafe-fixes, which checks them against the whole program first"
    line += baseline_note
    if output_format in TEXT_FORMATS:
        click.echo(report + ("\n" if report else "") + line + ".")
    else:
        click.echo(report, nl=False)
        click.echo(line + ".", err=True)
    return done(EXIT_FINDINGS if remaining and not exit_zero else EXIT_CLEAN)


def _note_undeclared_runtime(importers: Sequence[str], settings: Settings) -> None:
    """A fix that makes the project import isolint.runtime adds a dependency: say so."""
    if not importers:
        return
    count = len(importers)
    click.echo(
        f"note: the fixes import `isolint.runtime` in {count} file{'s' if count != 1 else ''} ({', '.join(importers[:3])}"
        f"{', ...' if count > 3 else ''}), but {settings.root} declares no dependency on isolint (pyproject.toml, "
        "setup.cfg, setup.py, requirements*.txt): add it, or set `context-class` to your own context type.",
        err=True,
    )


def _show_contracts(contracts: Sequence[ContractChange], *, would: bool) -> None:
    """Each signature the fixes change, as one unit with its call sites."""
    if not contracts:
        return
    click.echo(f"Signatures {'the fixes would change' if would else 'changed'}, each with its call sites:", err=True)
    for contract in contracts:
        click.echo(f"  {printable(contract.path)}: {printable(contract.describe())}", err=True)


def _show_refusals(refusals: Sequence[Refusal]) -> None:
    """Each fix group the verification gate refused, and why; the findings stay as manual work."""
    _show_groups(
        [r for r in refusals if r.fallback],
        "Kept the old call shape working in {groups} whose new form would break the program "
        "(transitional form; the findings remain):",
    )
    _show_groups(
        [r for r in refusals if not r.fallback],
        "Refused {groups} that would break the program (their findings remain, as manual work):",
    )


def _show_groups(refusals: Sequence[Refusal], heading: str) -> None:
    """`heading` (counting the fix groups) and each refusal below it; nothing when there is none."""
    if not refusals:
        return
    groups = len({(r.path, r.code) for r in refusals})
    click.echo(heading.format(groups=f"{groups} fix group{'s' if groups != 1 else ''}"), err=True)
    for refusal in refusals:
        click.echo(f"  {printable(refusal.describe())}", err=True)
