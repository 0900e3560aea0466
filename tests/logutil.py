"""The capped log as the docs state it, written out apart from the code that makes it."""

from __future__ import annotations


def capped(output: bytes, cap: int) -> bytes:
    """What a log of `output` must hold under `cap`, as the docs state it: the first half of
    the cap, a note, and the newest output that fits in the rest (less 64 bytes kept for the
    note), starting at a line."""
    head = cap // 2
    if len(output) <= cap:
        return output
    start = output.index(b"\n", len(output) - (cap - head - 64) - 1) + 1
    newline = b"" if output[head - 1 : head] == b"\n" else b"\n"
    note = f"[wta] \u2026 {start - head} bytes cut \u2026\n".encode()
    return output[:head] + newline + note + output[start:]
