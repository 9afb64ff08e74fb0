"""Reading source bytes into text and writing fixed text back, losslessly.

Text keeps its line endings (we decode bytes ourselves, without newline
translation); writing re-encodes with the file's own encoding, BOM included,
replaces the file atomically and keeps its permissions.
"""

from __future__ import annotations

import codecs
from bisect import bisect_right
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 10 * 1024 * 1024  # larger files are generated or vendored; skip them loudly

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SourceError(Exception):
    """The file cannot be checked; the message says why (reported as ISO000)."""


@dataclass(frozen=True)
class DecodedSource:
    text: str
    encoding: str  # a codec name; "utf-8-sig" keeps a BOM on the way back out

    def encode(self, text: str) -> bytes:
        return text.encode(self.encoding)


def decode(raw: bytes) -> DecodedSource:
    if b"\x00" in raw:
        raise SourceError("binary file: source code cannot contain null bytes")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc.msg) or "encoding problem" in str(exc.msg):
            raise SourceError(f"bad encoding declaration: {exc.msg}") from None
        encoding = "utf-8"  # no usable declaration: the first lines are not UTF-8, and decoding says where
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"cannot decode as {encoding} (byte {exc.start}); add a PEP 263 coding declaration or re-save as UTF-8"
        ) from None
    return DecodedSource(text, codecs.lookup(encoding).name)


def read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(f"file too large ({size / 1048576:.1f} MiB; the limit is {MAX_FILE_BYTES // 1048576} MiB)")
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from None


def line_starts(text: str) -> list[int]:
    """Offsets where each line begins, counting \\r\\n, \\r and \\n as LibCST does."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def offset_of(starts: list[int], row: int, column: int) -> int:
    """The character offset of a 1-based row and column."""
    return starts[row - 1] + column - 1


def location_of(starts: list[int], offset: int) -> tuple[int, int]:
    """The 1-based (row, column) of a character offset."""
    row = bisect_right(starts, offset)
    return row, offset - starts[row - 1] + 1


class StaleFileError(Exception):
    """The file changed on disk after it was read; it was not written."""


def write_atomic(path: Path, data: bytes, *, expected: bytes) -> None:
    """Replace `path` with `data`, unless its contents are no longer `expected`.

    The write goes to a temporary file in the same directory, then
    `os.replace`, so a crash never leaves a half-written file. Permission bits
    are copied from the original.
    """
    if path.read_bytes() != expected:
        raise StaleFileError(f"{path}: changed on disk since it was read; not written")
    mode = stat.S_IMODE(path.stat().st_mode)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".isolint-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
