"""What the kernel tells about processes, read from /proc (Linux), and the subreaper flag:
the facts the reaper works from, with nothing of wta in them. Where there is no /proc or no
prctl, every reading finds nothing and the subreaper cannot be had."""

from __future__ import annotations

import contextlib
import ctypes
import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Proc:
    """One process as /proc/<pid>/stat shows it."""

    pid: int
    ppid: int
    pgrp: int
    sid: int
    start: int  # clock ticks since boot: with the pid, it names one process across pid reuse
    zombie: bool  # dead, waiting for its parent to collect it


def _slurp(path: str) -> bytes:
    """A whole /proc file, through os.open: less than half the cost of Path.read_bytes, which
    counts when a scan reads one file per process."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read(pid: int) -> Proc | None:
    """The process `pid`, or None if there is none (or no /proc)."""
    try:
        stat = _slurp(f"{PROC}/{pid}/stat")
    except OSError:
        return None
    # the command name (in parentheses) may hold spaces and parentheses itself
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        ppid, pgrp, sid, start = (int(fields[i]) for i in (1, 2, 3, 19))
    except (IndexError, ValueError):
        return None
    return Proc(pid, ppid, pgrp, sid, start, fields[0] in (b"Z", b"X"))


def scan() -> list[Proc]:
    """Every process, in one pass over /proc; [] where there is no /proc."""
    try:
        names = [entry.name for entry in PROC.iterdir()]
    except OSError:
        return []
    found = (read(int(name)) for name in names if name.isdigit())
    return [p for p in found if p is not None]


def environ_has(pid: int, entry: bytes) -> bool:
    """Whether `entry` (b"NAME=value") is in the environment the process was started with.
    False when it cannot be read (gone, a zombie, another user's)."""
    try:
        environ = _slurp(f"{PROC}/{pid}/environ")
    except OSError:
        return False
    return (b"\0" + entry + b"\0") in (b"\0" + environ)


def ticks_now() -> int:
    """Now, in the clock ticks since boot that Proc.start counts; 0 where there is no /proc."""
    try:
        uptime = (PROC / "uptime").read_text(encoding="ascii").split()[0]
    except (OSError, IndexError):
        return 0
    return int(float(uptime) * CLOCK_TICKS)


def ticks_at(wall_time: float) -> int:
    """`wall_time` (seconds since the epoch) in clock ticks since boot; 0 if it cannot tell."""
    try:
        lines = (PROC / "stat").read_text(encoding="ascii").splitlines()
        boot = next(int(line.split()[1]) for line in lines if line.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return 0
    return max(0, int((wall_time - boot) * CLOCK_TICKS))


def reap(pid: int) -> None:
    """Collect the exit status of a dead child that nobody else waits for (an orphan that
    came to this process as its subreaper), so that it does not stay a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _prctl(option: int, arg: int | ctypes.c_int) -> bool:
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return False
    value = ctypes.byref(arg) if isinstance(arg, ctypes.c_int) else arg
    return int(prctl(option, value, 0, 0, 0)) == 0


def set_subreaper(on: bool) -> bool:
    """Make this process the subreaper of its descendants (orphans come to it, not to init),
    or stop being one; False where the system cannot."""
    return _prctl(PR_SET_CHILD_SUBREAPER, int(on))


def is_subreaper() -> bool:
    flag = ctypes.c_int(0)
    return _prctl(PR_GET_CHILD_SUBREAPER, flag) and flag.value != 0
