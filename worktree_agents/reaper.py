"""Processes an agent left running beyond its process group (it called setsid, daemonised,
or moved to a process group of its own), found and killed when its attempt ends, and by the
next run should this one die.

An attempt's processes are found in /proc, in one pass, two ways:
- the marker: every agent's environment holds MARKER_VAR=<attempt_marker>, which every process
  it starts inherits, whatever group, session or parent it ends up with;
- the session: a process still in a session that wta started for the attempt (the `processes`
  file records them) belongs to it even if it replaced its environment.
A process that did both, and is still running when its run ends, is found as a child of wta,
which is the subreaper of everything its agents start while the run lasts (`adopting`).

Killing works as for process groups (process.py): SIGTERM, SIGKILL after the grace period,
then confirmation. Where there is no /proc, nothing is found and the group kill is all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from worktree_agents import procfs
from worktree_agents.logcap import DEFAULT_MAX_LOG_BYTES
from worktree_agents.process import (
    CONFIRM_S,
    NOTE_PREFIX,
    POLL_S,
    TERM_GRACE_S,
    append_log,
    shielded,
)
from worktree_agents.procfs import Proc

# Not "..._TOKEN": a name like that makes redaction.py take its value for a secret.
MARKER_VAR = "WTA_ATTEMPT_MARKER"
ROUNDS = 3  # scans after a kill, for processes a survivor started meanwhile
# A process's start and /proc/uptime count the same clock in ticks: `since` is taken a tick
# early. From a wall-clock time (recovery) it is taken a second early: btime is in seconds.
SLACK_TICKS = procfs.CLOCK_TICKS
AGENT_LEFT = "that the agent left running outside its process group"

Finder = Callable[[], tuple[list[Proc], list[Proc]]]  # (live processes, dead ones to collect)
Note = Callable[[str], None]  # writes a `[wta]` note to the attempt's log


def attempt_marker(run_id: str, attempt_dir: Path) -> str:
    """One attempt's marker: its run and its directory (which names the repository, the
    feature and the attempt). It can be rebuilt from the state store, and a person reading
    /proc/<pid>/environ sees whose process it is."""
    return f"{run_id}:{attempt_dir}"


def recorded_sessions(record: Path | None) -> dict[int, int]:
    """The sessions in an attempt's `processes` file (each group wta started is a session of
    its own): leader pid -> the leader's start time."""
    if record is None:
        return {}
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    sessions = {}
    for line in lines:
        pid, _, started = line.partition(" ")
        if pid.isdigit() and started.isdigit():
            sessions[int(pid)] = int(started)
    return sessions


def _find(marker: str, sessions: dict[int, int], since: int) -> tuple[list[Proc], list[Proc]]:
    """The attempt's live processes, and its dead orphans that wta must collect."""
    entry = os.fsencode(f"{MARKER_VAR}={marker}")
    me = os.getpid()
    live, dead = [], []
    for p in procfs.scan():
        if p.pid == me or p.start < since:  # older than the attempt: not its process
            continue
        # a member starts no earlier than its leader: a session id reused after the leader's
        # pid was reused is not the attempt's
        in_session = p.sid in sessions and p.start >= sessions[p.sid]
        if p.zombie:
            if in_session and p.ppid == me and p.pid not in sessions:
                dead.append(p)
        elif in_session or procfs.environ_has(p.pid, entry):
            live.append(p)
    return live, dead


def survivors(marker: str, *, record: Path | None = None, since: int = 0) -> list[Proc]:
    """The live processes carrying `marker` (or in a session of the attempt's `record`)
    that started at or after `since` (clock ticks since boot)."""
    return _find(marker, recorded_sessions(record), since)[0]


async def kill_marked(
    marker: str,
    *,
    record: Path | None = None,
    since: int = 0,
    log_path: Path | None = None,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    left: str = AGENT_LEFT,
) -> int:
    """Kill the attempt's survivors (see `survivors`) and confirm they are gone; a note
    naming how many (`killed 2 processes <left> (pids …)`) goes to `log_path`, capped at
    `max_log_bytes`. Returns how many there were. It finishes even if the caller is
    cancelled meanwhile, then re-raises the cancellation."""
    sessions = recorded_sessions(record)

    def find() -> tuple[list[Proc], list[Proc]]:
        return _find(marker, sessions, since)

    def note(text: str) -> None:
        if log_path is not None:
            append_log(log_path, NOTE_PREFIX + text, max_log_bytes)

    return await shielded(_kill_all(find, sessions, note, left))


class SurvivorCheck:
    """The fence's check on processes: what the agent left running is killed once it ends,
    on every way out. That is cleanup, not a finding: the attempt's outcome stays what it
    was, and its log says how many processes were killed."""

    def __init__(self, marker: str, record: Path, log_path: Path, max_log_bytes: int) -> None:
        self.marker = marker
        self.record = record
        self.log_path = log_path
        self.max_log_bytes = max_log_bytes

    @asynccontextmanager
    async def watch(self, findings: Sequence[object]) -> AsyncIterator[None]:
        since = procfs.ticks_now() - 1  # what setup left running is the attempt's end's
        try:
            yield
        finally:
            await kill_marked(
                self.marker,
                record=self.record,
                since=since,
                log_path=self.log_path,
                max_log_bytes=self.max_log_bytes,
            )


@asynccontextmanager
async def adopting() -> AsyncIterator[bool]:
    """For the body's duration, wta is the subreaper of everything its agents start: an
    orphan comes to wta rather than to init, so wta collects the survivors it kills, and a
    process that left both its session and its environment behind is still wta's child at
    the end, when it is killed. Yields whether the system allowed it."""
    since = procfs.ticks_now() - SLACK_TICKS
    was = procfs.is_subreaper()
    adopted = was or procfs.set_subreaper(True)
    try:
        yield adopted
    finally:
        if adopted:
            await shielded(_kill_all(lambda: _strays(since), (), lambda _: None, ""))
            if not was:
                procfs.set_subreaper(False)


def _strays(since: int) -> tuple[list[Proc], list[Proc]]:
    """wta's children from other sessions than its own, started since `since`: once every
    attempt has ended, whatever of these is left came from an agent."""
    me, session = os.getpid(), os.getsid(0)
    mine = [p for p in procfs.scan() if p.ppid == me and p.sid != session and p.start >= since]
    return [p for p in mine if not p.zombie], [p for p in mine if p.zombie]


async def _kill_all(find: Finder, keep: Collection[int], note: Note, left: str) -> int:
    """Kill what `find` finds, and look again (a survivor may have started more meanwhile)."""
    killed: dict[int, Proc] = {}
    for _ in range(ROUNDS):
        live, dead = find()
        for p in dead:
            procfs.reap(p.pid)
        live = [p for p in live if p.pid not in killed]  # one that outlived SIGKILL: noted
        if not live:
            break
        await _kill(live, keep, note)
        killed.update((p.pid, p) for p in live)
    if killed:
        count = f"{len(killed)} process" + ("es" if len(killed) > 1 else "")
        note(f"killed {count} {left} ({_pids(killed.values())})")
    return len(killed)


def _signal(p: Proc, sig: signal.Signals) -> None:
    now = procfs.read(p.pid)
    if now is not None and now.start == p.start:  # not a new process with a reused pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p.pid, sig)


def _dead(p: Proc, keep: Collection[int]) -> bool:
    """Whether `p` has died; a dead orphan that came to wta as subreaper is collected. The
    processes in `keep` were started by wta itself: their own waiters collect them."""
    now = procfs.read(p.pid)
    if now is None or now.start != p.start:
        return True
    if now.zombie and now.ppid == os.getpid() and p.pid not in keep:
        procfs.reap(p.pid)
    return now.zombie


async def _wait_dead(procs: Sequence[Proc], keep: Collection[int], within_s: float) -> list[Proc]:
    deadline = time.monotonic() + within_s
    while True:
        left = [p for p in procs if not _dead(p, keep)]
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(POLL_S)


async def _kill(procs: Sequence[Proc], keep: Collection[int], note: Note) -> None:
    """SIGTERM, SIGKILL what outlives the grace period, then confirm, as for a group."""
    for p in procs:
        _signal(p, signal.SIGTERM)
        _signal(p, signal.SIGCONT)  # a stopped process acts on SIGTERM only once continued
    left = await _wait_dead(procs, keep, TERM_GRACE_S)
    if not left:
        return
    note(f"{_pids(left)} outlived SIGTERM by {TERM_GRACE_S:g}s; sending SIGKILL")
    for p in left:
        _signal(p, signal.SIGKILL)
    left = await _wait_dead(left, keep, CONFIRM_S)
    if left:
        note(f"{_pids(left)} still alive {CONFIRM_S:g}s after SIGKILL")


def _pids(procs: Collection[Proc]) -> str:
    return ("pid " if len(procs) == 1 else "pids ") + ", ".join(
        map(str, sorted(p.pid for p in procs))
    )
