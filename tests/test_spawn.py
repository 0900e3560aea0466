"""spawn.py with real child processes: the exit is known at once, even while a grandchild
still holds the pipes (which would hold asyncio's Process.wait()), and a grandchild that
left the process group cannot make run_process hang."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

from worktree_agents.process import DRAIN_S, ProcessResult, run_process
from worktree_agents.spawn import spawn


async def _exit_while_pipes_held(cwd: Path) -> tuple[int | None, bool, bool]:
    """The child exits when told, leaving a background sleep that holds its stdout."""
    proc, exited = await spawn(
        ["/bin/sh", "-c", "sleep 60 & echo $!; read go; exit 3"],
        cwd=cwd,
        env=os.environ,
        stdin_piped=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    waiting = asyncio.ensure_future(proc.wait())  # started before the exit: waits for the pipes
    grandchild = int(await proc.stdout.readline())
    await asyncio.sleep(0.05)  # the wait has begun
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    await asyncio.wait_for(exited, timeout=10)
    done, _ = await asyncio.wait({waiting}, timeout=0.3)
    held = not proc.stdout.at_eof() and not done
    os.kill(grandchild, signal.SIGKILL)
    await asyncio.wait_for(waiting, timeout=10)  # the pipes close with the grandchild
    return proc.returncode, held, waiting.done()


def test_the_exit_is_known_while_a_grandchild_holds_the_pipes(tmp_path: Path) -> None:
    assert asyncio.run(_exit_while_pipes_held(tmp_path)) == (3, True, True)


def test_a_missing_program_raises_oserror(tmp_path: Path) -> None:
    async def start() -> None:
        await spawn(["/nonexistent/prog"], cwd=tmp_path, env=os.environ, stdin_piped=False)

    try:
        asyncio.run(start())
    except FileNotFoundError as exc:
        assert exc.filename == "/nonexistent/prog"
    else:
        raise AssertionError("spawn started a program that does not exist")


def test_a_grandchild_that_left_the_group_does_not_hold_run_process(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    leave = (
        f"setsid sh -c 'echo $$ > {pid_file}.part; mv {pid_file}.part {pid_file}; exec sleep 60'"
    )
    result = asyncio.run(
        run_process(
            # it waits until the grandchild has left its group, which a kill would otherwise
            # catch first
            ["/bin/sh", "-c", f"{leave} & while [ ! -s {pid_file} ]; do sleep 0.01; done; echo hi"],
            cwd=tmp_path,
            env=os.environ,
            log_path=tmp_path / "logs" / "out.log",
            timeout_s=30,
        )
    )
    try:
        assert replace(result, duration_s=0.0) == ProcessResult(0, None, 0.0, "hi\n")
        # It returns once the pipes have had DRAIN_S to close, not when the sleep ends.
        assert result.duration_s < DRAIN_S + 5
    finally:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
