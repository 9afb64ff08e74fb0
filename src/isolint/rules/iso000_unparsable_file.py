"""ISO000 unparsable-file: a file isolint had to skip."""

from __future__ import annotations

import re

from .ast_context import AstRule


class UnparsableFile(AstRule):
    """Reported by the engine itself, never by a visit: the file could not be
    read, decoded or parsed, so no other rule saw it."""

    code = "ISO000"
    name = "unparsable-file"
    family = "core"
    summary = "A file could not be read, decoded or parsed, so it was not checked"
    prefilter = re.compile(rb"(?!)")  # never triggers a parse on its own
