"""What the commands share: their common options, settings, output and baseline helpers, and exit codes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ..config import Settings, load_settings
from ..output.escape import printable

# isolint.output.FORMATS, without importing the renderers at start-up
OUTPUT_FORMATS = (
    "full",
    "concise",
    "json",
    "json-lines",
    "sarif",
    "github",
    "junit",
    "gitlab",
    "rdjson",
    "pylint",
    "azure",
    "grouped",
)
REPORT_FORMATS = ("text", "markdown", "json", "html", "csv")  # isolint.report.REPORT_FORMATS, without importing it
DEFAULT_HISTORY_COMMITS = 50
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _split_selectors(values: Sequence[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def selection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--select",
            multiple=True,
            metavar="RULES",
            help="Rules to enable (codes, prefixes, names, ALL); replaces the configured `select`.",
        ),
        click.option(
            "--ignore", multiple=True, metavar="RULES", help="Rules to disable, on top of the configured `ignore`."
        ),
        click.option("--extend-select", multiple=True, metavar="RULES", help="Rules to enable on top of `select`."),
        click.option(
            "--config",
            "config_file",
            type=click.Path(path_type=Path, dir_okay=False),
            help="Use this isolint.toml or pyproject.toml.",
        ),
        click.option("--isolated", is_flag=True, help="Ignore all configuration files."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the results cache."),
        click.option(
            "--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: CPU count)."
        ),
        click.option(
            "--force-exclude",
            is_flag=True,
            help="Apply exclusions to paths named on the command line too (as pre-commit passes them).",
        ),
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path)),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def load_run_settings(
    paths: Sequence[Path],
    config_file: Path | None,
    isolated: bool,
    select: Sequence[str],
    ignore: Sequence[str],
    extend_select: Sequence[str],
) -> Settings:
    overrides = {}
    for key, value in (("select", select), ("ignore", ignore), ("extend-select", extend_select)):
        if value:
            overrides[key] = _split_selectors(value)
    settings = load_settings(paths, config_file=config_file, isolated=isolated, overrides=overrides)
    warn(settings.deprecations)
    return settings


def jobs_or_cpus(jobs: int | None) -> int:
    return jobs or os.cpu_count() or 1


def is_styled(output_file: Path | None) -> bool:
    """Whether text for people goes out in colour: to a terminal, unless the
    colour setting (NO_COLOR, FORCE_COLOR) says otherwise, as `click.echo`
    decides. Text that will not be is rendered plain, rather than styled and
    stripped again."""
    if output_file is not None:
        return False
    color = click.get_current_context().color
    return color if color is not None else sys.stdout is not None and sys.stdout.isatty()


def emit(text: str, output_file: Path | None) -> None:
    if output_file is None:
        click.echo(text, nl=False)
        return
    output_file.parent.mkdir(parents=True, exist_ok=True)
    output_file.write_text(click.unstyle(text), encoding="utf-8")


def warn(messages: Sequence[str]) -> None:
    for message in messages:
        click.echo(f"warning: {printable(message)}", err=True)


STDIN_HELP = (
    "Read the source from stdin (PATHS: `-`) and report (or fix) it as this file: its configuration, ignores and name."
)
# More findings than fit a terminal in `full` format: say how to see less, where it is read last.
SCREENFUL = 10
SHORTER_VIEWS = (
    "Too long to read? `--statistics` counts the findings per rule, `--output-format concise` prints one line each, "
    "and `isolint report` sums up the migration work by family, rule and directory.\n"
)
TIMINGS_HELP = "Show files seen, cached, skipped by prefilter and parsed, and the time per phase (on stderr)."


def show_timings(stats: Any, started: float) -> None:
    from ..output.text import timings_text

    click.echo(timings_text(stats, total=time.perf_counter() - started), nl=False, err=True)


def load_baseline(given: Path | None, settings: Settings, disabled: bool, isolated: bool) -> Any:
    """The baseline a run compares against: --baseline, else the `baseline`
    key, else `.isolint-baseline.json` in the project root when it exists (what
    `baseline --write` writes by default), so writing one is enough to use it."""
    from ..baseline import Baseline

    path = baseline_path(given, settings, disabled, isolated)
    return Baseline.load(path) if path is not None else None


def baseline_path(given: Path | None, settings: Settings, disabled: bool, isolated: bool) -> Path | None:
    from ..baseline import default_file

    if disabled:
        return None
    path = given or settings.baseline
    if path is None and not isolated and default_file(settings).is_file():
        path = default_file(settings)
    return path


def stdin_name_of(paths: Sequence[Path], stdin_filename: Path | None) -> Path | None:
    """The name stdin is checked under, or None when PATHS are files on disk."""
    reads_stdin = any(str(p) == "-" for p in paths)
    if reads_stdin and len(paths) > 1:
        raise click.UsageError("`-` (stdin) cannot be combined with other paths")
    if stdin_filename is not None and paths and not reads_stdin:
        raise click.UsageError("--stdin-filename names the source read from stdin: give `-` as the only path")
    if stdin_filename is not None:
        return stdin_filename
    return Path("-") if reads_stdin else None


def read_stdin() -> bytes:
    return sys.stdin.buffer.read()


def shown_path(file: Path) -> str:
    """A path as the user would type it: relative to the working directory when under it."""
    from ..baseline import relative_path

    shown = relative_path(str(file), Path.cwd())
    return str(file) if shown.startswith("../") else shown


def checked_scope(result: Any, targets: Sequence[Path]) -> Any:
    return scope_of_paths([f.real_path for f in result.files], targets)


def scope_of_paths(checked: Sequence[Path], targets: Sequence[Path]) -> Any:
    from ..baseline import Scope

    return Scope.of(checked, targets)
