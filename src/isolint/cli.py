"""The `isolint` command line: check, fix, baseline, report, rule, server.

The commands live in isolint.commands, one module per command or pair of
them; this module puts them in the group and runs it. Exit codes follow
ruff: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from . import __version__
from .commands.check import check
from .commands.fix import fix
from .commands.options import EXIT_CLEAN, EXIT_ERROR, OUTPUT_FORMATS
from .commands.report import baseline, report
from .config import ConfigError, load_settings
from .output.escape import printable
from .rules import FAMILIES, lookup
from .workers import collect_garbage_less_often

__all__ = ["OUTPUT_FORMATS", "cli", "console_main", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="isolint")
def cli() -> None:
    """Find and fix the patterns that leak one user's request into another's."""


for command in (check, fix, baseline, report):
    cli.add_command(command)


@cli.command()
@click.argument("rule_id", required=False, metavar="CODE|NAME")
@click.option("--all", "show_all", is_flag=True, help="List every rule.")
@click.option("--output-format", type=click.Choice(("text", "json")), default="text", show_default=True)
def rule(rule_id: str | None, show_all: bool, output_format: str) -> int:
    """Show a rule's documentation, or list every rule with --all."""
    from .docs import read_doc
    from .rules import ALL_RULES

    load_settings([Path.cwd()])  # loads the custom rules (plugins, `extend-rules`) the project uses

    if show_all == (rule_id is not None):
        raise click.UsageError("give either a rule code or name, or --all")
    if show_all:
        rows = [
            {"code": r.code, "name": r.name, "family": r.family, "fix": r.fix_safety, "summary": r.summary}
            for r in ALL_RULES
        ]
        if output_format == "json":
            click.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                click.echo(
                    f"{row['code']}  {row['name']:<36} {row['family']:<13} fix: {row['fix']:<7} {row['summary']}"
                )
        return EXIT_CLEAN
    found = lookup(rule_id or "")
    if found is None:
        from .config import suggest

        words = [*(r.code for r in ALL_RULES), *(r.name for r in ALL_RULES)]
        close = suggest(
            (rule_id or "").upper() if (rule_id or "").upper().startswith("ISO") else (rule_id or "").lower(), words
        )
        raise ConfigError(
            f"unknown rule {rule_id!r}{f'; did you mean {close!r}?' if close else ''} (see `isolint rule --all`)"
        )
    doc = read_doc(found)
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "code": found.code,
                    "name": found.name,
                    "family": found.family,
                    "family_title": FAMILIES[found.family],
                    "fix": found.fix_safety,
                    "summary": found.summary,
                    "explanation": doc,
                },
                indent=2,
            )
        )
    else:
        click.echo(
            doc if doc is not None else f"{found.code} {found.name}: {found.summary}\n(no documentation file found)"
        )
    return EXIT_CLEAN


@cli.command("server")
def server_command() -> int:
    """Run the language server on stdio, for editors (needs the `server` extra)."""
    try:
        from .server import serve
    except ImportError as exc:
        if exc.name not in ("pygls", "lsprotocol") and not (exc.name or "").startswith(("pygls.", "lsprotocol.")):
            raise
        raise ConfigError("`isolint server` needs pygls: pip install 'isolint[server]'") from None
    serve()
    return EXIT_CLEAN


def color_from_environment(environ: Mapping[str, str]) -> bool | None:
    """NO_COLOR (no-color.org) turns colour off, FORCE_COLOR on even when
    piped; None leaves it to whether the output is a terminal."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return None


def console_main() -> None:
    """`main` for a process that ends with it: the console script and
    `python -m isolint`. The interpreter collects garbage as it shuts down,
    walking every object the run still holds (a large project's cached
    findings and index facts): measured on a warm check of 4,278 files (1.5M
    lines), exiting took 0.5 s of its 1.3 s. Frozen objects are left out of
    those walks; they are still freed as the interpreter frees its modules.
    A test calling `main` in-process keeps collecting its garbage."""
    try:
        main()
    finally:
        gc.freeze()


def main(argv: Sequence[str] | None = None) -> None:
    collect_garbage_less_often()
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="isolint",
            standalone_mode=False,
            color=color_from_environment(os.environ),
        )
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = EXIT_ERROR
    except click.Abort:
        click.echo("Aborted.", err=True)
        code = EXIT_ERROR
    except ConfigError as exc:
        click.echo(f"isolint: error: {printable(str(exc))}", err=True)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        code = 130
    except Exception:  # anything else is our bug: say so, exit 2
        click.echo("isolint: internal error (please report it with the traceback below)", err=True)
        click.echo(traceback.format_exc(), err=True)
        code = EXIT_ERROR
    sys.exit(code or 0)
