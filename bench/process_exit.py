"""What running one short command through `run_process` costs, against asyncio's own floor.

Usage: python bench/process_exit.py [--calls 200] [--repeat 5] [-- COMMAND ...]

What it measures. The command (by default `true`; try `-- git --version`) is run
`--calls` times in a row, two ways, in one event loop:

- wta: `process.run_process`, as the command and patch agents, setup and checks call it
  (its own session, stdout and stderr logged to a file, a wall-clock timeout, the process
  group checked and the pipes drained after the exit);
- the floor: `asyncio.create_subprocess_exec` with stdout and stderr piped, in its own
  session, then `await proc.wait()`.

The two alternate `--repeat` times (the order rotated each round) to spread the noise of
this shared machine. It prints the median and best milliseconds per call of each, and the
ratio of the medians: figures from the same run, not absolute times.

The issue's point: a 3 ms command took about 24 ms when the exit was polled every 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worktree_agents.process import run_process


async def floor(argv: Sequence[str], cwd: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    if await proc.wait() != 0:
        raise SystemExit(f"{argv[0]} exited {proc.returncode}")


async def wta(argv: Sequence[str], cwd: Path) -> None:
    result = await run_process(
        argv, cwd=cwd, env=os.environ, log_path=cwd / "logs" / "bench.log", timeout_s=60.0
    )
    if result.exit_code != 0:
        raise SystemExit(f"{argv[0]} exited {result.exit_code}: {result.output_tail}")


async def timed(run: Callable[[], Awaitable[None]], calls: int) -> list[float]:
    """Milliseconds of each of `calls` runs in a row."""
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def bench(argv: Sequence[str], calls: int, repeat: int, cwd: Path) -> dict[str, list[float]]:
    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "floor": lambda: floor(argv, cwd),
        "wta": lambda: wta(argv, cwd),
    }
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        for name in names[round_ % 2 :] + names[: round_ % 2]:
            times[name] += await timed(variants[name], calls)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("command", nargs="*", default=["true"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="process-exit-") as scratch:
        times = asyncio.run(bench(args.command, args.calls, args.repeat, Path(scratch)))
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{' '.join(args.command)!r}, {args.calls} calls x {args.repeat} rounds")
    for name, t in times.items():
        print(f"{name:6} median {medians[name]:7.2f} ms   best {min(t):7.2f} ms per call")
    print(f"ratio wta / floor (medians): {medians['wta'] / medians['floor']:.2f}x")


if __name__ == "__main__":
    main()
