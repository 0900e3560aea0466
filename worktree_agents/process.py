"""Run one child process safely: its own process group, logged and redacted output, and a
wall-clock and idle timeout that kill the whole group and confirm the kill."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import io
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, TypeVar

from worktree_agents import procfs
from worktree_agents.logcap import DEFAULT_MAX_LOG_BYTES, CappedLog, TextSink
from worktree_agents.redaction import Redactor
from worktree_agents.spawn import spawn

TAIL_CHARS = 4096
MAX_LINE_CHARS = 64 * 1024  # a longer line is written to the log in pieces
READ_CHUNK = 64 * 1024
TERM_GRACE_S = 2.0  # SIGTERM first; SIGKILL whatever is still alive after this
CONFIRM_S = 5.0  # how long to wait for the group to be gone after the kill
DRAIN_S = 2.0  # how long to read what is left in the pipes once the group is gone
POLL_S = 0.05
STDERR_PREFIX = "[stderr] "
NOTE_PREFIX = "[wta] "

_T = TypeVar("_T")


class KillReason(StrEnum):
    """Why wta killed a child (a process, or the claude CLI): each compares equal to its value."""

    TIMEOUT = "timeout"  # the wall-clock limit
    IDLE = "idle"  # no output, or no message, for the idle timeout
    CANCELLED = "cancelled"  # wta itself was cancelled


@dataclass(frozen=True)
class ProcessResult:
    """How a child ended. `exit_code` is None only when wta killed it (`killed_for` says why)."""

    exit_code: int | None
    killed_for: KillReason | None
    duration_s: float
    output_tail: str  # the last TAIL_CHARS of stdout and stderr, redacted, without prefixes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def append_log(log_path: Path, line: str, max_bytes: int = DEFAULT_MAX_LOG_BYTES) -> None:
    """Append one line to a transcript, creating it (and its parents) if needed."""
    with CappedLog(log_path, max_bytes) as log:
        log.write(line.rstrip("\n") + "\n")


class _Output:
    """The log, the secrets to redact from it, the rolling tail and the last activity."""

    def __init__(self, log: TextSink, env: Mapping[str, str]) -> None:
        self.log = log
        self.redactor = Redactor(env, os.environ)
        self.tail = ""
        self.last_activity = time.monotonic()

    def write(self, text: str, prefix: str = "", *, keep: bool = True) -> None:
        text = self.redactor.redact(text)
        self.log.write(prefix + text + "\n")
        self.log.flush()
        if keep:
            self.tail = (self.tail + text + "\n")[-TAIL_CHARS:]

    def note(self, text: str) -> None:
        self.write(NOTE_PREFIX + text)


async def _pump(stream: asyncio.StreamReader, out: _Output, prefix: str) -> None:
    """Copy one stream to the log line by line, with bounded memory for unending lines."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    while chunk := await stream.read(READ_CHUNK):
        out.last_activity = time.monotonic()
        *lines, pending = (pending + decoder.decode(chunk)).split("\n")
        for line in lines:
            out.write(line.removesuffix("\r"), prefix)
        while len(pending) > MAX_LINE_CHARS:
            # Redact before cutting, and hold back a secret's length minus one, so no
            # secret is split between two pieces.
            pending = out.redactor.redact(pending)
            cut = min(MAX_LINE_CHARS, len(pending) - out.redactor.overlap)
            if cut <= 0:
                break
            out.write(pending[:cut], prefix)
            pending = pending[cut:]
    pending += decoder.decode(b"", final=True)
    if pending:
        out.write(pending.removesuffix("\r"), prefix)


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()
    stdin.close()


def _has_live_member(pgid: int) -> bool | None:
    """Whether a non-zombie process is in the group; None when /proc cannot tell."""
    live = _live_members(pgid, first_only=True)
    return None if live is None else bool(live)


def _live_members(pgid: int, *, first_only: bool = False) -> list[int] | None:
    """The group's non-zombie processes; None when /proc cannot tell."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return None
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, pgrp, *_ = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(pgrp) == pgid and state not in ("Z", "X"):
                found.append(int(entry.name))
                if first_only:
                    break
        except (OSError, ValueError):  # it exited while we looked
            continue
    return sorted(found)


def _group_exists(pgid: int, *, count_zombies: bool) -> bool:
    """Whether the process group has members; zombies (dead, not yet reaped) count if asked."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if count_zombies:
        return True
    live = _has_live_member(pgid)
    return True if live is None else live


def _reap_orphans(pgid: int) -> None:
    """Collect the group's dead members that came to wta as their subreaper (their parent
    died first); the leader is wta's own child, which its waiter collects."""
    me = os.getpid()
    for p in procfs.scan():
        if p.pgrp == pgid and p.zombie and p.ppid == me and p.pid != pgid:
            procfs.reap(p.pid)


async def _wait_gone(pgid: int, within_s: float, *, count_zombies: bool) -> bool:
    deadline = time.monotonic() + within_s
    while _group_exists(pgid, count_zombies=count_zombies):
        if count_zombies:
            _reap_orphans(pgid)
            if not _group_exists(pgid, count_zombies=True):
                break
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


def _signal(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _kill_group(pgid: int, out: _Output) -> None:
    """SIGTERM the group, SIGKILL what survives the grace period, then confirm it is gone.

    The direct child is reaped by asyncio; orphaned grandchildren are reaped by init, which
    may take a moment, or during a run by wta itself, their subreaper. So confirmation waits
    for the group to vanish entirely.
    """
    if not _group_exists(pgid, count_zombies=False):
        if _group_exists(pgid, count_zombies=True):  # only the dead are left
            _reap_orphans(pgid)
        return
    _signal(pgid, signal.SIGTERM)
    _signal(pgid, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    if not await _wait_gone(pgid, TERM_GRACE_S, count_zombies=False):
        out.note(f"the process group outlived SIGTERM by {TERM_GRACE_S:g}s; sending SIGKILL")
        _signal(pgid, signal.SIGKILL)
    if not await _wait_gone(pgid, CONFIRM_S, count_zombies=True) and _group_exists(
        pgid, count_zombies=False
    ):
        out.note(f"process group {pgid} is still alive {CONFIRM_S:g}s after SIGKILL")


async def kill_process_group(pgid: int, log_path: Path | None = None) -> None:
    """Kill a process group that wta started in its own session, and confirm it is gone.

    SIGTERM, then SIGKILL after TERM_GRACE_S; notes go to `log_path`. A group that is
    already gone is a no-op. It finishes even if the caller is cancelled meanwhile, then
    re-raises the cancellation.
    """
    with contextlib.ExitStack() as stack:
        log: IO[str] = (
            stack.enter_context(log_path.open("a", encoding="utf-8"))
            if log_path is not None
            else io.StringIO()
        )
        await shielded(_kill_group(pgid, _Output(log, {})))


async def shielded(work: Coroutine[Any, Any, _T]) -> _T:
    """Finish `work` even if the caller is cancelled meanwhile; then re-raise the cancel."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


async def watch(
    work: asyncio.Future[Any],
    *,
    deadline: float,
    idle_timeout_s: float | None,
    last_activity: Callable[[], float],
) -> KillReason | None:
    """Wait for `work` to finish; return why it must be killed if the deadline (monotonic)
    comes first, or `idle_timeout_s` passes after `last_activity()`. Never cancels `work`."""
    while True:
        now = time.monotonic()
        left, reason = deadline - now, KillReason.TIMEOUT
        if idle_timeout_s is not None:
            idle_left = last_activity() + idle_timeout_s - now
            if idle_left < left:
                left, reason = idle_left, KillReason.IDLE
        if left <= 0:
            return reason
        done, _ = await asyncio.wait({work}, timeout=left)
        if done:
            return None


def _kill_note(
    killed_for: KillReason | None, timeout_s: float, idle_timeout_s: float | None
) -> str | None:
    """Why the group is being killed, for the log; None when the child exited by itself."""
    return {
        None: None,
        KillReason.TIMEOUT: f"timeout: no exit within {timeout_s:g}s",
        KillReason.IDLE: f"idle: no output for {idle_timeout_s or 0:g}s",
        KillReason.CANCELLED: "cancelled",
    }[killed_for]


async def _finish(
    proc: asyncio.subprocess.Process,
    exited: asyncio.Future[None],
    tasks: list[asyncio.Task[None]],
    out: _Output,
    why: str | None,
) -> None:
    """Kill the group (or what the child left behind), then drain and close the pipes."""
    if why is not None:
        out.note(f"{why}; killing the process group")
    elif _group_exists(proc.pid, count_zombies=False):
        # Log only: the tail stays the child's output, for "exited N: <last line>".
        left = _live_members(proc.pid) or []
        pids = f" ({'pid' if len(left) == 1 else 'pids'} {', '.join(map(str, left))})"
        note = f"the child exited and left processes behind{pids if left else ''}; killing them"
        out.write(NOTE_PREFIX + note, keep=False)
    await _kill_group(proc.pid, out)
    await asyncio.wait({exited}, timeout=CONFIRM_S)
    _, stuck = await asyncio.wait(tasks, timeout=DRAIN_S)
    for task in stuck:  # a process that left the group still holds a pipe open
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if stuck:
        transport = getattr(proc, "_transport", None)
        if isinstance(transport, asyncio.BaseTransport):
            transport.close()


PROCESS_RECORD = "processes"


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (ticks since boot), or None if there is no such
    process: with the pid, it names one process even after pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def record_process(record: Path, pid: int) -> None:
    """Note a process group wta started, so that a later run can find it if this one dies."""
    with record.open("a", encoding="utf-8") as out:
        out.write(f"{pid} {start_time(pid) or '?'}\n")


async def kill_recorded(record: Path, log_path: Path | None = None) -> list[int]:
    """Kill the recorded process groups that are still alive (a run that died by SIGKILL
    leaves its agents and checks running); returns their ids."""
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    killed = []
    for line in lines:
        pid, _, started = line.partition(" ")
        if pid.isdigit() and started != "?" and start_time(int(pid)) == started:
            await kill_process_group(int(pid), log_path)
            killed.append(int(pid))
    return killed


def _pipes(
    proc: asyncio.subprocess.Process, out: _Output, stdin_data: bytes | None
) -> list[asyncio.Task[None]]:
    """Tasks that copy the child's stdout and stderr to the log, and feed its stdin."""
    assert proc.stdout is not None and proc.stderr is not None
    tasks = [
        asyncio.create_task(_pump(proc.stdout, out, "")),
        asyncio.create_task(_pump(proc.stderr, out, STDERR_PREFIX)),
    ]
    if stdin_data is not None and proc.stdin is not None:
        tasks.append(asyncio.create_task(_feed(proc.stdin, stdin_data)))
    return tasks


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout_s: float,
    idle_timeout_s: float | None = None,
    stdin_data: bytes | None = None,
    header: str | None = None,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
) -> ProcessResult:
    """Run `argv` (never through a shell) in its own session, logging its output to `log_path`
    (capped at `max_log_bytes`, logcap.py) and noting its process group in PROCESS_RECORD
    beside it.

    On timeout, idle timeout or cancellation the whole process group is killed; a
    cancellation is re-raised once the kill is confirmed.
    """
    if not argv:
        raise ValueError("run_process needs a non-empty argv")
    started = time.monotonic()
    with CappedLog(log_path, max_log_bytes) as log:
        out = _Output(log, env)
        if header is not None:
            out.write(header, keep=False)
        try:
            proc, exited = await spawn(argv, cwd=cwd, env=env, stdin_piped=stdin_data is not None)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename not in (None, argv[0]) else ""
            out.note(f"cannot start {argv[0]!r}: {exc.strerror or exc}{where}")
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            return ProcessResult(code, None, time.monotonic() - started, out.tail)
        record_process(log_path.with_name(PROCESS_RECORD), proc.pid)
        tasks = _pipes(proc, out, stdin_data)
        killed_for: KillReason | None = KillReason.CANCELLED  # unless watch returns
        try:
            killed_for = await watch(
                exited,  # done once the child is reaped, whatever holds its pipes
                deadline=started + timeout_s,
                idle_timeout_s=idle_timeout_s,
                last_activity=lambda: out.last_activity,
            )
        finally:
            why = _kill_note(killed_for, timeout_s, idle_timeout_s)
            await shielded(_finish(proc, exited, tasks, out, why))
        exit_code = None if killed_for is not None else proc.returncode
        return ProcessResult(exit_code, killed_for, time.monotonic() - started, out.tail)
