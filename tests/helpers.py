"""Running isolint in-process the way the command line does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from isolint.cli import main
from isolint.config import load_settings
from isolint.findings import Finding
from isolint.index import Fact, ProjectIndex
from isolint.runner import run_check


def alias_chain(hops: int, name: str, end: str) -> list[Fact]:
    """`m0.<name>0` calling `m1.<name>1` ... calling `end`: the singletons
    family's alias facts, module after module, as generated code chains them."""
    return [
        Fact(
            "singletons:alias",
            f"m{i}.{name}{i}",
            f"m{i}.py",
            1,
            {"calls": [f"m{i + 1}.{name}{i + 1}" if i + 1 < hops else end]},
        )
        for i in range(hops)
    ]


class CountingIndex(ProjectIndex):
    """A project index that counts its lookups: the work a resolution does,
    which a test can bound where timing it would be noise."""

    lookups = 0

    def get(self, kind: str, qualname: str) -> Fact | None:
        self.lookups += 1
        return super().get(kind, qualname)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> Result:
    """`isolint ARGS` in-process, through the same `main` as the console script."""
    with CliRunner().isolation() as (stdout, stderr, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Result(code, stdout.getvalue().decode(), stderr.getvalue().decode())


def check_findings(paths: Sequence[Path], *selectors: str, isolated: bool = True) -> list[Finding]:
    overrides = {"select": list(selectors)} if selectors else None
    settings = load_settings(paths, isolated=isolated, overrides=overrides)
    return run_check(paths, settings, jobs=1, use_cache=False).findings


# A safe fix (the unclosed session) and an unsafe one (the legacy annotation), with the legacy import.
SAFE_AND_UNSAFE = """\
from app.db import SessionLocal
from app.state import DeepAgentState


def record_visit() -> None:
    session = SessionLocal()
    session.scalar("insert into visits default values")


def summarize(state: DeepAgentState) -> str:
    return state.user_id
"""


# `TriageAgent` inherits from app/base.py's `BaseAgent` through modules that
# never name what the base defines: directly, or through a third module.
SUBCLASS_LINEAGES = {
    "a subclass": {"app/triage.py": "from app.base import BaseAgent\n\n\nclass TriageAgent(BaseAgent):\n    pass\n"},
    "a subclass of a subclass in a third module": {
        "app/triage.py": "from app.middle import MiddleAgent\n\n\nclass TriageAgent(MiddleAgent):\n    pass\n",
        "app/middle.py": "from app.base import BaseAgent\n\n\nclass MiddleAgent(BaseAgent):\n    pass\n",
    },
}
