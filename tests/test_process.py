"""Tests for process.py with real child processes: logging, redaction, timeouts that kill
the whole process group, cancellation, and unbounded output."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from worktree_agents.process import (
    MAX_LINE_CHARS,
    TAIL_CHARS,
    KillReason,
    ProcessResult,
    free_port,
    run_process,
    watch,
)


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def run(
    argv: list[str],
    tmp_path: Path,
    *,
    timeout_s: float = 10.0,
    idle_timeout_s: float | None = None,
    env: dict[str, str] | None = None,
    stdin_data: bytes | None = None,
    header: str | None = None,
) -> ProcessResult:
    return asyncio.run(
        run_process(
            argv,
            cwd=tmp_path,
            env=dict(os.environ) if env is None else env,
            log_path=tmp_path / "logs" / "out.log",
            timeout_s=timeout_s,
            idle_timeout_s=idle_timeout_s,
            stdin_data=stdin_data,
            header=header,
        )
    )


def timeless(result: ProcessResult) -> ProcessResult:
    return replace(result, duration_s=0.0)


def gone(pid: int, *, group: bool) -> bool:
    try:
        (os.killpg if group else os.kill)(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_output_goes_to_the_log_by_stream(tmp_path: Path) -> None:
    script = "echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf 'no newline'"
    result = run(sh(script), tmp_path, header="# running the script")
    assert timeless(result) == ProcessResult(0, None, 0.0, result.output_tail)
    lines = (tmp_path / "logs" / "out.log").read_text().splitlines()
    assert lines[0] == "# running the script"
    assert [line for line in lines[1:] if not line.startswith("[stderr] ")] == [
        "out1",
        "out2",
        "no newline",
    ]
    assert [line for line in lines[1:] if line.startswith("[stderr] ")] == [
        "[stderr] err1",
        "[stderr] err2",
    ]
    assert sorted(result.output_tail.splitlines()) == ["err1", "err2", "no newline", "out1", "out2"]


def test_log_is_appended_to(tmp_path: Path) -> None:
    run(sh("echo first"), tmp_path)
    run(sh("echo second"), tmp_path, header="# again")
    assert (tmp_path / "logs" / "out.log").read_text() == "first\n# again\nsecond\n"


def test_secrets_are_redacted_from_log_and_tail(tmp_path: Path) -> None:
    env = {**os.environ, "MY_API_TOKEN": "s3cr3t-v4lue-42"}
    script = 'echo "token=$MY_API_TOKEN"; echo "$MY_API_TOKEN" >&2'
    result = run(sh(script), tmp_path, env=env, header="# uses s3cr3t-v4lue-42")
    log = (tmp_path / "logs" / "out.log").read_text().splitlines()
    assert (log[0], sorted(log[1:])) == ("# uses ***", ["[stderr] ***", "token=***"])
    assert sorted(result.output_tail.splitlines()) == ["***", "token=***"]


def test_wall_timeout_kills_the_group_including_a_grandchild_ignoring_sigterm(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    script = f'trap "" TERM; sleep 60 & echo $$ $! > {pids}; wait'
    started = time.monotonic()
    result = run(sh(script), tmp_path, timeout_s=0.5)
    assert time.monotonic() - started < 9
    assert timeless(result) == ProcessResult(
        None,
        KillReason.TIMEOUT,
        0.0,
        "[wta] timeout: no exit within 0.5s; killing the process group\n"
        "[wta] the process group outlived SIGTERM by 2s; sending SIGKILL\n",
    )
    group, grandchild = map(int, pids.read_text().split())
    assert (gone(group, group=True), gone(grandchild, group=False)) == (True, True)


def test_wall_timeout_kills_a_plain_child(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = run(sh(f"echo $$ > {pids}; exec sleep 60"), tmp_path, timeout_s=0.3)
    assert timeless(result) == ProcessResult(
        None,
        KillReason.TIMEOUT,
        0.0,
        "[wta] timeout: no exit within 0.3s; killing the process group\n",
    )
    assert gone(int(pids.read_text()), group=True)
    assert result.duration_s < 3


def test_idle_timeout_fires_when_output_stops(tmp_path: Path) -> None:
    result = run(sh("echo hello; sleep 60"), tmp_path, idle_timeout_s=0.5)
    assert timeless(result) == ProcessResult(
        None,
        KillReason.IDLE,
        0.0,
        "hello\n[wta] idle: no output for 0.5s; killing the process group\n",
    )
    assert result.duration_s < 3


def test_idle_timeout_does_not_fire_while_output_continues(tmp_path: Path) -> None:
    script = "for i in 1 2 3 4 5 6 7 8; do echo $i; sleep 0.2; done"
    result = run(sh(script), tmp_path, idle_timeout_s=1.0)
    assert timeless(result) == ProcessResult(0, None, 0.0, "1\n2\n3\n4\n5\n6\n7\n8\n")
    assert result.duration_s > 1.4  # longer than the idle limit


def test_cancellation_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    log = tmp_path / "cancel.log"

    async def scenario() -> None:
        task = asyncio.create_task(
            run_process(
                sh(f"sleep 60 & echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait"),
                cwd=tmp_path,
                env=dict(os.environ),
                log_path=log,
                timeout_s=30,
            )
        )
        while not pids.exists():
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    group, grandchild = map(int, pids.read_text().split())
    assert (gone(group, group=True), gone(grandchild, group=False)) == (True, True)
    assert log.read_text() == "[wta] cancelled; killing the process group\n"


def test_missing_executable_exits_127(tmp_path: Path) -> None:
    result = run(["wta-no-such-program"], tmp_path, header="# header")
    expected = "[wta] cannot start 'wta-no-such-program': No such file or directory\n"
    assert timeless(result) == ProcessResult(127, None, 0.0, expected)
    assert (tmp_path / "logs" / "out.log").read_text() == "# header\n" + expected


def test_nonzero_exit_code_and_stdin(tmp_path: Path) -> None:
    code = "import sys; print(sys.stdin.read().upper()); sys.exit(3)"
    result = run([sys.executable, "-c", code], tmp_path, stdin_data=b"some input")
    assert timeless(result) == ProcessResult(3, None, 0.0, "SOME INPUT\n")


def test_a_2mb_line_without_newline_is_logged_in_pieces(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('x' * 2_000_000)"
    result = run([sys.executable, "-c", code], tmp_path)
    assert (result.exit_code, result.killed_for) == (0, None)
    pieces = (tmp_path / "logs" / "out.log").read_text().split("\n")
    assert pieces[-1] == ""
    assert ("".join(pieces), max(map(len, pieces)) <= MAX_LINE_CHARS) == ("x" * 2_000_000, True)
    assert (len(result.output_tail), set(result.output_tail)) == (TAIL_CHARS, {"x", "\n"})


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        assert sock.getsockname() == ("127.0.0.1", port)


def test_processes_left_behind_after_a_normal_exit_are_killed(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    result = run(sh(f"sleep 60 & echo $$ $! > {pids}"), tmp_path)
    assert timeless(result) == ProcessResult(0, None, 0.0, "")
    group, grandchild = map(int, pids.read_text().split())
    assert (tmp_path / "logs" / "out.log").read_text() == (
        f"[wta] the child exited and left processes behind (pid {grandchild}); killing them\n"
    )
    assert (gone(group, group=True), gone(grandchild, group=False)) == (True, True)


async def _watched(
    work_s: float, deadline_s: float, idle_timeout_s: float | None, activity_every_s: float
) -> tuple[KillReason | None, bool]:
    """watch() over a task that sleeps `work_s`, reporting activity every `activity_every_s`
    (0: never); returns its answer and whether the task was left running (never cancelled)."""
    last = time.monotonic()

    async def work() -> None:
        nonlocal last
        end = time.monotonic() + work_s
        while time.monotonic() < end:
            await asyncio.sleep(activity_every_s or work_s)
            if activity_every_s:
                last = time.monotonic()

    task = asyncio.create_task(work())
    reason = await watch(
        task,
        deadline=time.monotonic() + deadline_s,
        idle_timeout_s=idle_timeout_s,
        last_activity=lambda: last,
    )
    running = not task.done()
    task.cancel()
    return reason, running


@pytest.mark.parametrize(
    ("work_s", "deadline_s", "idle_timeout_s", "activity_every_s", "expected"),
    [
        (0.05, 5.0, 5.0, 0, (None, False)),  # the work ends first
        (5.0, 0.2, None, 0, (KillReason.TIMEOUT, True)),  # no idle timeout: the deadline
        (5.0, 5.0, 0.2, 0, (KillReason.IDLE, True)),  # silent: idle
        (5.0, 1.0, 0.5, 0.02, (KillReason.TIMEOUT, True)),  # active: the deadline, not idle
    ],
)
def test_watch(
    work_s: float,
    deadline_s: float,
    idle_timeout_s: float | None,
    activity_every_s: float,
    expected: tuple[KillReason | None, bool],
) -> None:
    assert asyncio.run(_watched(work_s, deadline_s, idle_timeout_s, activity_every_s)) == expected


def test_kill_reasons_are_their_names() -> None:
    # verify.py and base.py compare them with strings and put them in messages.
    assert [(str(r), f"({r})", r == r.value) for r in KillReason] == [
        ("timeout", "(timeout)", True),
        ("idle", "(idle)", True),
        ("cancelled", "(cancelled)", True),
    ]
