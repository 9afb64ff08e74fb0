"""What CI formats attach to a finding: its rule's documentation link, and a
fingerprint that survives line shifts (so code hosts track a finding across
commits, as baselines do)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from ..findings import Finding
from ..rules import ENTRY_BY_CODE

DOCS_URL_ENV = "ISOLINT_RULE_DOCS_URL"


def rule_url(code: str) -> str | None:
    """The rule's documentation: `$ISOLINT_RULE_DOCS_URL` with `{code}` and
    `{name}` filled in (say, the `rules/` folder where your organisation hosts
    isolint), else the doc shipped with this installation, as a file URI."""
    rule = ENTRY_BY_CODE.get(code)
    if rule is None:
        return None
    template = os.environ.get(DOCS_URL_ENV)
    if template:
        return template.format(code=rule.code, name=rule.name)
    from ..docs import doc_path

    path = doc_path(rule.load())
    return path.resolve().as_uri() if path.is_file() else None


def fingerprints(findings: Sequence[Finding]) -> dict[int, str]:
    """id(finding) -> a stable fingerprint: the file, the rule, the finding's
    source text and its occurrence among identical ones, never its line."""
    from ..baseline import entries_for

    fingerprinted = {}
    for (path, code, print_), finding in entries_for(findings, Path.cwd()):
        fingerprinted[id(finding)] = hashlib.sha256(
            f"{path}\0{code}\0{print_}".encode("utf-8", "surrogatepass")
        ).hexdigest()[:32]
    return fingerprinted


def relative(path: str) -> str:
    """A finding's path relative to the working directory (the checkout in CI), with forward slashes."""
    return Path(os.path.relpath(os.path.abspath(path))).as_posix()
