"""ISO002 unknown-suppression-code: a suppression naming no isolint rule."""

from __future__ import annotations

from .ast_context import AstRule
from .iso001_unused_suppression import DIRECTIVE_PREFILTER


class UnknownSuppressionCode(AstRule):
    """Reported by the engine's suppression pass (isolint.hygiene), never by a
    visit. No fix: the intended code is the author's to choose, and the
    message suggests the closest one."""

    code = "ISO002"
    name = "unknown-suppression-code"
    family = "core"
    summary = "A suppression comment names no isolint rule (a typo, or a removed rule), so it hides nothing"
    prefilter = DIRECTIVE_PREFILTER
