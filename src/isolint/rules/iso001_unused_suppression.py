"""ISO001 unused-suppression: a suppression comment that hides no finding."""

from __future__ import annotations

import re

from ..findings import SAFE
from .ast_context import AstRule

# Bytes that may hold one of isolint's directives (see isolint.suppressions),
# each a comment: the leading `#` lets `re` jump from one `#` to the next
# (without it, the case-insensitive `noqa` was tried at every byte: 28 times slower).
DIRECTIVE_PREFILTER = re.compile(rb"#\s*(?:isolint:\s*(?:file-)?ignore|(?i:noqa):[^\n]*(?i:iso))")


class UnusedSuppression(AstRule):
    """Reported by the engine's suppression pass (isolint.hygiene), never by a
    visit: it needs every other rule's findings for the file first. Its fix
    removes the unused codes, or the whole directive."""

    code = "ISO001"
    name = "unused-suppression"
    family = "core"
    summary = "A suppression comment hides no finding, so it would silently hide a future one"
    fix_safety = SAFE
    prefilter = DIRECTIVE_PREFILTER
