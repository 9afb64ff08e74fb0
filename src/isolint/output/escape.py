"""Making untrusted text (file names, source lines, commit subjects) safe to show.

A file name may hold terminal escape sequences, control characters or bytes
that are not UTF-8 (Python keeps those as lone surrogates). Shown raw, such
a name can rewrite the terminal or be silently altered (`click.echo` strips
ANSI sequences when not writing to a terminal), so the name the reader sees
would differ from the real one. Each such character is shown as a Python
escape instead, which names it exactly.
"""

from __future__ import annotations

import re

# C0 controls but tab, DEL, C1 controls, lone surrogates, and the line and
# paragraph separators some terminals and editors treat as line breaks.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# What XML 1.0 cannot carry at all (tab, line feed and carriage return it can).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` for one line of terminal output: controls shown as escapes."""
    if text.isprintable():  # every character `_UNPRINTABLE` names is one `isprintable` rejects
        return text
    return _UNPRINTABLE.sub(_escaped, text)


def xml_safe(text: str) -> str:
    """`text` with the characters XML 1.0 forbids shown as escapes."""
    return _NOT_XML.sub(_escaped, text)
