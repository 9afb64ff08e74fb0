"""Reading source bytes into text and writing fixed text back, losslessly.

Text keeps its line endings (we decode bytes ourselves, without newline
translation); writing re-encodes with the file's own encoding, BOM included,
replaces the file atomically and keeps its permissions.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import re
import stat
import tempfile
import tokenize
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 10 * 1024 * 1024  # larger files are generated or vendored; skip them loudly

LINE_BREAK = re.compile(r"\r\n|\r|\n")  # where CPython and LibCST end a line


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
    """The bytes of the regular file at `path`, at most MAX_FILE_BYTES of them.

    Anything else (a FIFO, a device, a socket) is refused without blocking:
    opening a FIFO for reading waits for a writer, and a device like
    /dev/zero never ends. The limit holds whatever `st_size` says.
    """
    return read_regular(path, MAX_FILE_BYTES, SourceError)


def read_regular(path: Path, limit: int, error: type[Exception]) -> bytes:
    """Read a regular file of at most `limit` bytes; anything else raises `error`
    with a message saying why. Shared by sources, configuration and baselines."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise error(f"cannot read file: {_os_reason(exc)}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise error(f"not a regular file ({file_kind(status.st_mode)})")
        if status.st_size > limit:
            raise error(f"file too large ({_size(status.st_size)}; the limit is {_size(limit)})")
        chunks = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise error(f"cannot read file: {_os_reason(exc)}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise error(f"file too large (more than {_size(limit)} read; the limit is {_size(limit)})")
    return b"".join(chunks)


def file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _size(count: int) -> str:
    return f"{count / 1048576:.1f} MiB" if count >= 1048576 else f"{count:,} bytes"


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return exc.strerror or str(exc)


def resolved(path: Path) -> Path:
    """`path` with symlinks resolved as far as they go; a loop or an unreadable
    link leaves the rest as given (absolute), never an exception."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: pathlib's "Symlink loop" before Python 3.13
        return Path(os.path.abspath(path))


def located(path: Path) -> Path:
    """Where `path` itself lives: its directory resolved, its own name kept.
    A named symlink to /dev/zero or to a file elsewhere stays where it was
    given, so the project it belongs to is the link's, not the target's."""
    absolute = Path(os.path.abspath(path))
    return resolved(absolute.parent) / absolute.name if absolute.name else absolute


def split_lines(text: str) -> list[str]:
    """`text`'s lines without their breaks, numbered as CPython and LibCST
    number them: only \\r\\n, \\r and \\n end a line (`str.splitlines` also
    breaks at \\f, \\v, \\x1c-\\x1e, \\x85 and \\u2028-9, and a line after a
    form feed would get the wrong number). Like `splitlines`, no empty line
    after a final break."""
    # Without a carriage return only \n ends a line, and str.split is some
    # ten times faster than the pattern: `full` splits every file it shows.
    lines = LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def line_starts(text: str) -> list[int]:
    """Offsets where each line begins, counting \\r\\n, \\r and \\n as LibCST does."""
    return [0, *(match.end() for match in LINE_BREAK.finditer(text))]


def offset_of(starts: list[int], row: int, column: int) -> int:
    """The character offset of a 1-based row and column."""
    return starts[row - 1] + column - 1


def location_of(starts: Sequence[int], offset: int) -> tuple[int, int]:
    """The 1-based (row, column) of a character offset."""
    row = bisect_right(starts, offset)
    return row, offset - starts[row - 1] + 1


class StaleFileError(Exception):
    """The file changed on disk after it was read; it was not written."""


class UnsafeWriteError(StaleFileError):
    """The path is no longer the file that was read (now a symlink or another kind of file); it was not written."""


def write_atomic(path: Path, data: bytes, *, expected: bytes) -> None:
    """Replace `path` with `data`, unless its contents are no longer `expected`.

    The write goes to a temporary file in the same directory, then
    `os.replace`, so a crash never leaves a half-written file. Permission bits,
    and the owner and group where the platform lets us, are copied from the
    original. The file is checked again (inode, size, mtime, content)
    immediately before the replace: an editor saving it while the new content
    was being written must not lose that save.
    """
    if resolved(path) != Path(os.path.abspath(path)):
        raise UnsafeWriteError(f"{path}: a directory on its path is now a symlink; not written")
    before = _current(path, expected)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _keep_owner(tmp_name, before)  # before chmod: chown clears set-id bits
        os.chmod(tmp_name, stat.S_IMODE(before.st_mode))
        after = _current(path, expected)
        if _identity(after) != _identity(before):
            raise StaleFileError(f"{path}: changed on disk while the fix was being written; not written")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):  # never created, or already moved into place
            os.unlink(tmp_name)
        raise


TEMP_SUFFIX = ".isolint-tmp"


def _current(path: Path, expected: bytes) -> os.stat_result:
    """The file's stat, after checking it is still the regular file holding `expected`."""
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        raise StaleFileError(f"{path}: deleted since it was read; not written") from None
    if not stat.S_ISREG(link.st_mode):
        raise UnsafeWriteError(
            f"{path}: is now {'a symlink' if stat.S_ISLNK(link.st_mode) else file_kind(link.st_mode)}; not written"
        )
    try:
        content = read_regular(path, max(len(expected), MAX_FILE_BYTES), StaleFileError)
    except StaleFileError:
        raise StaleFileError(f"{path}: cannot be read again before writing; not written") from None
    if content != expected:
        raise StaleFileError(f"{path}: changed on disk since it was read; not written")
    return link


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _keep_owner(tmp_name: str, original: os.stat_result) -> None:
    """Give the new file the original's owner and group (a root run on a bind
    mount must not hand the user's files to root). Without the right to, keep
    at least the group; failing that, the file is the running user's, as any
    editor's save would make it."""
    if not hasattr(os, "chown"):
        return
    current = os.stat(tmp_name)
    if (current.st_uid, current.st_gid) == (original.st_uid, original.st_gid):
        return
    for uid, gid in ((original.st_uid, original.st_gid), (-1, original.st_gid)):
        try:
            os.chown(tmp_name, uid, gid)
            return
        except OSError:
            continue
