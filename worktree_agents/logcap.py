"""Attempt logs with a size cap. Past the cap a log keeps its head (the first half) and its
tail (the rest), with one line between them saying how many bytes were cut.

The file itself is the only state: every writer of an attempt's log (setup commands, the
agent, the claude transcript, checks) appends to it through a `CappedLog`, which finds what
an earlier writer cut in the note it left. The tail lives in the file, not in memory: past
the cap plus some slack, the file is compacted in place (the note rewritten, the newest
bytes moved down), so wta's memory stays flat however much an agent prints.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024
MIN_MAX_LOG_BYTES = 4096
NOTE_RESERVE = 64  # room kept for the note, so that a compacted log fits within its cap
ALIGN_MAX = 64 * 1024  # how far to look for the next line start where the tail begins
COPY_CHUNK = 1024 * 1024
_ELLIPSIS = "\u2026"
_NOTE = re.compile(rb"\n?\[wta\] \xe2\x80\xa6 (\d{1,20}) bytes cut \xe2\x80\xa6\n")


class TextSink(Protocol):
    """Where a log's lines go: a CappedLog, or any text file."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


def cut_note(cut: int) -> str:
    """The line that stands for `cut` bytes of output left out of a log."""
    return f"[wta] {_ELLIPSIS} {cut} bytes cut {_ELLIPSIS}"


def head_size(max_bytes: int) -> int:
    """How many bytes of a log's start are kept once it is cut."""
    return max_bytes // 2


class CappedLog:
    """Appends text to a log file, keeping it within `max_bytes` (with some slack while it
    is open; exactly, once closed)."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_LOG_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        # Compacting moves the tail (about half the cap), so it waits until a quarter of the
        # cap has been written past it: about two bytes moved for each byte written.
        self.slack = max(max_bytes // 4, 1)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd: int | None = os.open(path, flags, 0o644)
        self.size = os.fstat(self._fd).st_size

    def write(self, text: str) -> None:
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        data = memoryview(text.encode("utf-8", errors="replace"))
        while data:
            data = data[os.write(self._fd, data) :]
        # With O_APPEND the offset is the file's end, other writers' appends included.
        self.size = os.lseek(self._fd, 0, os.SEEK_CUR)
        if self.size > self.max_bytes + self.slack:
            self.size = compact(self.path, self.max_bytes)

    def flush(self) -> None:
        """Nothing to do: every write goes straight to the file."""

    def close(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if self.size > self.max_bytes:
            self.size = compact(self.path, self.max_bytes)

    def __enter__(self) -> CappedLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def compact(path: Path, max_bytes: int) -> int:
    """Cut the middle of the log at `path` so that it fits in `max_bytes`: its head, the
    note, and its newest bytes from a line start. Returns the new size."""
    head = head_size(max_bytes)
    with path.open("r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size <= max_bytes:
            return size
        f.seek(head)
        # An earlier cut's note, which says how much it cut. (Output that happened to
        # match it at exactly this offset would only make the count wrong.)
        earlier = _NOTE.match(f.read(NOTE_RESERVE))
        cut_before, tail_from = (int(earlier[1]), head + earlier.end()) if earlier else (0, head)
        keep_from = _line_start(f, max(tail_from, size - (max_bytes - head - NOTE_RESERVE)), size)
        f.seek(head - 1)
        newline = b"" if f.read(1) == b"\n" else b"\n"
        note = newline + (cut_note(cut_before + keep_from - tail_from) + "\n").encode()
        f.seek(head)
        f.write(note)
        dest = head + len(note)
        while keep_from < size:  # forwards: the destination is always before the source
            f.seek(keep_from)
            chunk = f.read(min(COPY_CHUNK, size - keep_from))
            f.seek(dest)
            f.write(chunk)
            keep_from += len(chunk)
            dest += len(chunk)
        f.truncate(dest)
        return dest


def _line_start(f: BinaryIO, offset: int, size: int) -> int:
    """`offset`, moved on to the start of the next line if that is near."""
    f.seek(offset - 1)
    window = f.read(min(ALIGN_MAX, size - offset + 1))
    newline = window.find(b"\n")
    return offset if newline < 0 or offset + newline >= size else offset + newline


def read_from(data: bytes, offset: int, max_bytes: int) -> tuple[bytes, int]:
    """What a log's bytes `data` hold past `offset`, and where they end. Offsets count the
    output as it was written, before any cut, so a reader that follows the log sees each
    byte once however often it is compacted; output cut before it was read is shown as a
    note."""
    head = head_size(max_bytes)
    note = _NOTE.match(data, head) if len(data) > head else None
    if note is None:
        return (data[offset:], len(data)) if offset <= len(data) else (b"", offset)
    cut, tail_from = int(note[1]), note.end()
    end = len(data) - tail_from + head + cut
    if offset <= head:
        return data[offset:], end
    at = offset - head - cut + tail_from
    if at >= tail_from:
        return data[at:], max(end, offset)
    missed = (cut_note(head + cut - offset) + "\n").encode()
    return missed + data[tail_from:], end
