"""Running the installed `isolint` as a user would: a subprocess in a directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def isolint(
    cwd: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`isolint ARGS` in `cwd`, without colour unless `env` asks for it."""
    environment = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env if env is not None else {"NO_COLOR": "1"})
    return subprocess.run(
        [sys.executable, "-m", "isolint", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
