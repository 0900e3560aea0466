"""How fast wta starts: `wta --version`, `wta status` and `wta plan` against Python's own
start-up, measured in the same run.

Usage: python bench/startup.py [--features 15] [--files 100] [--repeat 15]
                               [--run-features 0]

A repository of M files (bench/overhead.py's job) gets a finished `wta run` of N patch
features in chains of 3. Then, from inside it, each round runs once each of (in an order
rotated every round, to spread this shared machine's noise):

- `python -c pass` and `python -c "import typer"`: the floors;
- `wta --version`, `wta status` (the finished run) and `wta plan`.

`wta` is the console script next to this Python when there is one (what a user runs),
else `python -m worktree_agents.cli`. Each command runs once before the rounds, so the
plan cache in the state directory is warm, as it is for a user's second command, and so
are the byte-compiled modules: PYTHONDONTWRITEBYTECODE is dropped from the environment,
since an install compiles wta's modules as it does typer's.

Printed: each command's median and best wall time and the ratios of the medians to both
floors. The issue's goals: `wta --version` at most 1.5x `import typer`, `wta status` and
`wta plan` at most 4x. With `--run-features K`, the peak RSS of a `wta run` of K features
(the issue's goal: at most 45 MB at K=300), read with getrusage(RUSAGE_CHILDREN) by a
helper process that runs only that `wta run`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import ENV, ROOT, build_job, run_checked

TIMED_ENV = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}

GOALS = {"wta --version": 1.5, "wta status": 4.0, "wta plan": 4.0}
MEMORY_GOAL_MB = 45.0
# runs `wta run` (its arguments) and prints the peak RSS in KiB of it and its children
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "proc = subprocess.run(sys.argv[1:], capture_output=True)\n"
    "if proc.returncode: sys.exit(proc.stderr.decode()[-3000:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def wta_argv() -> list[str]:
    script = Path(sys.executable).parent / "wta"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "worktree_agents.cli"]


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=TIMED_ENV, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{argv} exited {proc.returncode}\n{proc.stderr.decode()[-3000:]}")
    return elapsed


def peak_rss_mb(tmp: Path, features: int) -> float:
    job = build_job(tmp / "memory", max(features, 100), features, 1, 4)
    run = [*wta_argv(), "run", "--no-live", "--plan", str(job.plan)]
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *run],
        cwd=job.repo,
        env=TIMED_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"wta run of {features} features failed\n{proc.stderr}")
    return int(proc.stdout) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--features", type=int, default=15, help="N, features of the run")
    parser.add_argument("--files", type=int, default=100, help="M, files in the repository")
    parser.add_argument("--repeat", type=int, default=15, help="R, rounds")
    parser.add_argument("--run-features", type=int, default=0, help="K: peak RSS of a run")
    args = parser.parse_args()
    wta = wta_argv()
    with tempfile.TemporaryDirectory(prefix="wta-bench-startup-") as scratch:
        tmp = Path(scratch)
        job = build_job(tmp, args.files, args.features, 3, 4)
        run_checked([*wta, "run", "--no-live", "--plan", str(job.plan)], job.repo, "wta run")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import typer'": [sys.executable, "-c", "import typer"],
            "wta --version": [*wta, "--version"],
            "wta status": [*wta, "status", "--plan", str(job.plan)],
            "wta plan": [*wta, "plan", "--plan", str(job.plan)],
        }
        names = list(commands)
        for argv in commands.values():  # warm: the page cache, and wta's plan cache
            timed(argv, job.repo)
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.repeat):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(timed(commands[name], job.repo))
        memory = peak_rss_mb(tmp, args.run_features) if args.run_features else None

    print(
        f"wta from {ROOT} as {' '.join(Path(a).name for a in wta)};"
        f" a finished run of {args.features} features, {args.files} files;"
        f" {args.repeat} rounds"
    )
    medians = {name: statistics.median(times[name]) for name in names}
    floor_pass, floor_typer = medians[names[0]], medians[names[1]]
    print(f"{'':<26} {'median ms':>10} {'best ms':>8} {'/ pass':>7} {'/ typer':>8}")
    for name in names:
        print(
            f"{name:<26} {medians[name] * 1000:10.1f} {min(times[name]) * 1000:8.1f}"
            f" {medians[name] / floor_pass:7.2f} {medians[name] / floor_typer:8.2f}"
        )
    for name, goal in GOALS.items():
        ratio = medians[name] / floor_typer
        verdict = "met" if ratio <= goal else "NOT met"
        print(f"goal: {name} at most {goal}x import typer: {ratio:.2f}x -> {verdict}")
    if memory is not None:
        verdict = "met" if memory <= MEMORY_GOAL_MB else "NOT met"
        where = "" if args.run_features == 300 else " (the issue sets K=300)"
        print(
            f"goal: peak RSS of wta run, {args.run_features} features, at most"
            f" {MEMORY_GOAL_MB:.0f} MB{where}: {memory:.1f} MB -> {verdict}"
        )


if __name__ == "__main__":
    main()
