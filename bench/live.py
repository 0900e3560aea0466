"""What the live table costs a run: `wta run` on a terminal with the table and with
`--no-live`.

Usage: python bench/live.py [--files 300] [--features 200] [--chain 4] [--parallel 4]
                            [--repeat 3] [--width 120] [--height 40]

The job of bench/overhead.py (M files, N features for the patch backend, in dependency
chains of K) is run two ways, each on a fresh copy of the same repository, alternating
which goes first each round, both with stderr on a pseudo-terminal of WIDTH x HEIGHT (so
that `wta run` sees a TTY, as a person's terminal) whose output this script reads and
throws away as fast as it comes:

- `wta run`: the live table, redrawn at most 4 times a second (colour on);
- `wta run --no-live`: one line per event, as off a terminal.

Printed: the median and best wall time of each, the ratio of the medians, and how many
bytes each wrote to the terminal. A live run must have drawn the table (its header is in
what the terminal received) and a --no-live run must not have; the integration trees of
all runs must be identical.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import ENV, Job, build_job, fresh_copy, git

HEADER = b"feature  state"
SGR = re.compile(rb"\x1b\[[0-9;]*m")  # the colours, between the header's words


def drain(fd: int, into: bytearray) -> None:
    """Read the terminal's side until the child closes it (EIO on Linux)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        into += chunk


def one_run(job: Job, where: Path, live: bool, size: tuple[int, int]) -> tuple[float, str, bytes]:
    repo = fresh_copy(job, where)
    argv = [sys.executable, "-m", "worktree_agents.cli", "run", "--plan", str(job.plan)]
    if not live:
        argv.append("--no-live")
    master, slave = pty.openpty()
    width, height = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    env = {k: v for k, v in ENV.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    shown = bytearray()
    reader = threading.Thread(target=drain, args=(master, shown))
    reader.start()
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=slave, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    os.close(slave)
    reader.join(timeout=30)
    os.close(master)
    if proc.returncode != 0:
        sys.exit(f"wta run{'' if live else ' --no-live'} exited {proc.returncode} in {repo}")
    if (HEADER in SGR.sub(b"", shown)) != live:
        sys.exit(f"the terminal of {repo} {'lacks' if live else 'has'} the live table")
    return elapsed, git(repo, "rev-parse", "wta/integration^{tree}"), bytes(shown)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--features", type=int, default=200)
    parser.add_argument("--chain", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    args = parser.parse_args()
    size = (args.width, args.height)
    times: dict[bool, list[float]] = {False: [], True: []}
    written: dict[bool, list[int]] = {False: [], True: []}
    trees = set()
    with tempfile.TemporaryDirectory(prefix="wta-bench-live-") as scratch:
        tmp = Path(scratch)
        job = build_job(tmp, args.files, args.features, args.chain, args.parallel)
        for round_ in range(args.repeat):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for live in order:
                elapsed, tree, shown = one_run(job, tmp / f"run-{round_}-{live}", live, size)
                times[live].append(elapsed)
                written[live].append(len(shown))
                trees.add(tree)
    if len(trees) != 1:
        sys.exit(f"the runs made different integration trees: {sorted(trees)}")
    lines, table = (statistics.median(times[live]) for live in (False, True))
    print(
        f"{args.features} features in chains of {args.chain}, {args.files} files,"
        f" --parallel {args.parallel}, {args.repeat} rounds, a {args.width}x{args.height} pty"
    )
    for live, name in ((True, "wta run (live table)"), (False, "wta run --no-live")):
        kib = statistics.median(written[live]) / 1024
        print(
            f"{name:22} median {statistics.median(times[live]):6.2f} s"
            f"  best {min(times[live]):6.2f} s  {kib:7.1f} KiB to the terminal"
        )
    print(f"ratio live / --no-live: {table / lines:.3f}")


if __name__ == "__main__":
    main()
