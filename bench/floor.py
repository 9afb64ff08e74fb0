"""The floor under any checker written in Python on the standard library's
`ast`, measured as a benchmark row beside the tools:

    python bench/floor.py parse DIRECTORY   # start-up, then read and parse every .py file once
    python bench/floor.py start-up          # start-up, then import isolint's command line

`parse` reads and parses every `.py` file under DIRECTORY once, with
`ast.parse`, in as many forked processes as there are CPUs (files largest
first, as isolint hands them out), and does nothing else: no rule, no
index, no output. A cold `isolint check` parses a file that passes the
prefilters twice (once for the project index, once for the rules), so it
cannot take less than this row, and on the dense corpus about twice its
parse time. `start-up` is what a warm run pays before it reads its cache.
Neither imports anything the corpus names; a file `ast` rejects is counted
and skipped.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import sys
import warnings
from pathlib import Path


def _parse(path: Path) -> int:
    """The lines of `path` if `ast` parses it, else 0."""
    source = path.read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return 0
    return source.count(b"\n")


def parse_everything(root: Path) -> tuple[int, int]:
    """(files, lines parsed) under `root`."""
    files = sorted(root.rglob("*.py"), key=lambda path: -path.stat().st_size)
    jobs = os.cpu_count() or 1
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        lines = pool.map(_parse, files, chunksize=max(1, len(files) // (jobs * 32)))
    return len(files), sum(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["parse"] and len(argv) == 2:
        files, lines = parse_everything(Path(argv[1]))
        print(f"{files} files, {lines} lines parsed")
    elif argv == ["start-up"]:
        import isolint.cli  # noqa: F401  (what every isolint command imports)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
