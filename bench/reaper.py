"""What looking for an attempt's survivors costs, with a few hundred processes running.

Usage: python bench/reaper.py [--processes 300] [--repeat 50]

It starts N `sleep` processes (on top of what the machine runs), then times, best and
median of R runs:

- scan: one pass over /proc reading every process's stat;
- attempt end: `kill_marked` as it is called when an attempt's agent ends (the fence) and
  again when the attempt ends (for what setup or a check left), finding nothing: one scan,
  reading the environment only of the processes started since the attempt began (here:
  none of the N). An attempt pays this twice;
- recovery (worst case): the same with every process started since (`since` = 0), so the
  environment of every process is read;
- one survivor: an attempt end that finds a marked setsid `sleep` and kills it (SIGTERM,
  then polling every 50 ms until it is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from worktree_agents import procfs
from worktree_agents.reaper import MARKER_VAR, attempt_marker, kill_marked

MARKER = attempt_marker("bench", Path("/nowhere/attempts/bench/1"))


def timed(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Best and median milliseconds of `repeat` runs of `work`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def one_survivor() -> None:
    env = {**os.environ, MARKER_VAR: MARKER}
    subprocess.Popen(["setsid", "sleep", "60"], env=env, start_new_session=True).wait()
    asyncio.run(kill_marked(MARKER, since=procfs.ticks_now() - procfs.CLOCK_TICKS))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    if not procfs.scan():
        sys.exit("bench/reaper.py: needs /proc (Linux)")
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(args.processes)]
    try:
        time.sleep(0.2)
        since = procfs.ticks_now()
        rows = {
            "scan": lambda: procfs.scan(),
            "attempt end": lambda: asyncio.run(kill_marked(MARKER, since=since)),
            "recovery (worst case)": lambda: asyncio.run(kill_marked(MARKER, since=0)),
            "one survivor": one_survivor,
        }
        print(f"{len(procfs.scan())} processes running")
        for name, work in rows.items():
            repeat = args.repeat if name != "one survivor" else max(3, args.repeat // 10)
            best, median = timed(work, repeat)
            print(f"{name:24} best {best:7.2f} ms   median {median:7.2f} ms")
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


if __name__ == "__main__":
    main()
