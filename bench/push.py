"""What `wta run --push` costs the user's wall clock, end to end.

Usage: python bench/push.py [--files 300] [--features 20] [--chain 4] [--parallel 4]
                            [--repeat 5]

The job of bench/overhead.py (M files, N features for the patch backend, in dependency
chains of K) is run two ways, each on a fresh copy of the same repository, alternating
which goes first each round:

- `wta run` alone;
- `wta run --push origin`, `origin` being a bare repository on this disk (made fresh for
  each run): integration and every review branch are pushed as features land (in the
  background) and once more at the end.

Printed: the median and best wall time of each, and the ratio of the medians. A remote on
the same disk costs little per push, so this measures what pushing adds to the run itself
(rebuilding the review branches, the pushes' git processes, waiting for the last push),
not a network's latency. Each --push run must leave the remote's integration branch at the
local one, with one review branch per feature; the integration trees of all runs must be
identical.
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

from overhead import ENV, Job, build_job, fresh_copy, git, run_checked


def one_run(job: Job, where: Path, push: bool) -> tuple[float, str]:
    repo = fresh_copy(job, where)
    argv = [sys.executable, "-m", "worktree_agents.cli", "run", "--plan", str(job.plan)]
    if push:
        remote = where / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, env=ENV)
        git(repo, "remote", "add", "origin", str(remote))
        argv += ["--push", "origin"]
    start = time.perf_counter()
    run_checked(argv, repo, "wta run" + (" --push" if push else ""))
    elapsed = time.perf_counter() - start
    head = git(repo, "rev-parse", "wta/integration")
    if push:
        remote_head = git(where / "remote.git", "rev-parse", "refs/heads/wta/integration")
        reviews = git(where / "remote.git", "for-each-ref", "refs/heads/wta/review/")
        if remote_head != head or len(reviews.splitlines()) != len(job.ids):
            sys.exit(f"the remote in {where} lacks the run's integration or review branches")
    return elapsed, git(repo, "rev-parse", "wta/integration^{tree}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chain", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wta-bench-push-") as scratch:
        tmp = Path(scratch)
        job = build_job(tmp, args.files, args.features, args.chain, args.parallel)
        times: dict[bool, list[float]] = {False: [], True: []}
        trees = set()
        for round_ in range(args.repeat):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for push in order:
                elapsed, tree = one_run(job, tmp / f"run-{round_}-{push}", push)
                times[push].append(elapsed)
                trees.add(tree)
        if len(trees) != 1:
            sys.exit(f"the runs made different integration trees: {sorted(trees)}")
    plain, pushed = (statistics.median(times[p]) for p in (False, True))
    print(
        f"{args.features} features in chains of {args.chain}, {args.files} files,"
        f" --parallel {args.parallel}, {args.repeat} rounds"
    )
    print(f"wta run             median {plain:6.2f} s  best {min(times[False]):6.2f} s")
    print(f"wta run --push      median {pushed:6.2f} s  best {min(times[True]):6.2f} s")
    print(f"ratio --push / plain: {pushed / plain:.2f}")


if __name__ == "__main__":
    main()
