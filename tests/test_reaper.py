"""Tests for reaper.py and procfs.py with real processes: finding an attempt's survivors by
its marker and its sessions, killing them, and wta as the subreaper of a run."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worktree_agents import procfs
from worktree_agents.process import run_process, start_time
from worktree_agents.reaper import (
    MARKER_VAR,
    adopting,
    attempt_marker,
    kill_marked,
    survivors,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

MARKER = attempt_marker("run-1", Path("/state/attempts/feat/1"))


def orphan(script: str, env: dict[str, str] | None = None) -> int:
    """Start `script` in the background of a shell that exits at once, so that it is
    orphaned; returns its pid."""
    done = subprocess.run(
        ["/bin/sh", "-c", f"{script} >/dev/null 2>&1 & echo $!"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(done.stdout)


def marked_env() -> dict[str, str]:
    return {**os.environ, MARKER_VAR: MARKER}


def running(pid: int) -> bool:
    proc = procfs.read(pid)
    return proc is not None and not proc.zombie


def pids_of(found: list[procfs.Proc]) -> list[int]:
    return sorted(p.pid for p in found)


def test_survivors_are_the_processes_carrying_the_marker(tmp_path: Path) -> None:
    since = procfs.ticks_now() - procfs.CLOCK_TICKS
    setsid = orphan("setsid sleep 60", marked_env())
    plain = orphan("sleep 60", {**os.environ, MARKER_VAR: MARKER + "-another"})
    try:
        assert pids_of(survivors(MARKER, since=since)) == [setsid]
        assert survivors(MARKER, since=procfs.ticks_now() + 100 * procfs.CLOCK_TICKS) == []
    finally:
        for pid in (setsid, plain):
            os.kill(pid, 9)


def test_a_process_in_a_recorded_session_is_found_without_the_marker(tmp_path: Path) -> None:
    leader = subprocess.Popen(
        ["/bin/sh", "-c", "env -i sleep 60 & echo $!; wait"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert leader.stdout is not None
    member = int(leader.stdout.readline())
    record = tmp_path / "processes"
    record.write_text(f"{leader.pid} {start_time(leader.pid)}\n")
    log = tmp_path / "log.txt"

    found = survivors(MARKER, record=record)
    killed = asyncio.run(kill_marked(MARKER, record=record, log_path=log))

    assert (pids_of(found), killed) == (sorted([leader.pid, member]), 2)
    assert leader.wait(timeout=10) < 0
    leader.stdout.close()
    assert running(member) is False
    pids = ", ".join(map(str, sorted([leader.pid, member])))
    assert log.read_text() == (
        f"[wta] killed 2 processes that the agent left running outside its process group"
        f" (pids {pids})\n"
    )


def test_a_survivor_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    pid = orphan("""setsid sh -c 'trap "" TERM; exec sleep 60'""", marked_env())
    log = tmp_path / "log.txt"
    time.sleep(0.1)  # the trap is set

    assert asyncio.run(kill_marked(MARKER, log_path=log)) == 1

    assert running(pid) is False
    assert log.read_text().splitlines() == [
        f"[wta] pid {pid} outlived SIGTERM by 2s; sending SIGKILL",
        f"[wta] killed 1 process that the agent left running outside its process group (pid {pid})",
    ]


def test_nothing_to_kill_writes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    assert asyncio.run(kill_marked(MARKER, log_path=log)) == 0
    assert log.exists() is False


async def _adopted(body: str) -> tuple[bool, list[int], bool]:
    async with adopting() as adopted:
        pids = [orphan(line) for line in body.splitlines()]
        inside = procfs.is_subreaper()
        await asyncio.sleep(0.5)
        # each came to this process, its subreaper; the second is dead, not yet collected
        found = [procfs.read(pid) for pid in pids]
        assert [(p.ppid, p.zombie) for p in found if p] == [
            (os.getpid(), False),
            (os.getpid(), True),
        ]
    return adopted and inside, pids, procfs.is_subreaper()


def test_a_run_adopts_orphans_and_kills_and_collects_them_at_its_end() -> None:
    # one that left its session and its environment behind, one that has already exited
    body = "env -i setsid sleep 60\nsetsid sleep 0.1"
    adopted, pids, after = asyncio.run(_adopted(body))
    time.sleep(0.1)

    assert (adopted, after) == (True, False)
    assert [procfs.read(pid) for pid in pids] == [None, None]  # dead, and no zombie left


def test_a_group_kill_collects_the_orphans_it_adopted(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    async def left_behind() -> float:
        async with adopting():
            started = time.monotonic()
            await run_process(
                ["/bin/sh", "-c", f"sleep 60 & echo $! > {pids}"],
                cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "log.txt", timeout_s=10,
            )  # fmt: skip
            return time.monotonic() - started

    took = asyncio.run(left_behind())

    assert procfs.read(int(pids.read_text())) is None  # collected, not left a zombie
    assert took < 4.0  # not the 5 s that waiting for someone else to collect it would take


def test_without_proc_nothing_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(procfs, "PROC", tmp_path / "no-proc")
    assert (procfs.scan(), procfs.read(1), procfs.ticks_now(), procfs.ticks_at(time.time())) == (
        [],
        None,
        0,
        0,
    )
    assert (survivors(MARKER), asyncio.run(kill_marked(MARKER))) == ([], 0)


def test_the_marker_names_the_run_and_the_attempt() -> None:
    assert (MARKER_VAR, MARKER, sys.platform.startswith("linux")) == (
        "WTA_ATTEMPT_MARKER",
        "run-1:/state/attempts/feat/1",
        True,
    )
