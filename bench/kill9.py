"""kill -9 at random instants: does the next `wta run` always finish the plan cleanly?

Usage: python bench/kill9.py [--trials 200] [--seed 0] [--jobs 2] [--only SEED ...]

Each trial builds a fresh repository (a five-feature plan on the patch agent, plus user
state: a stash, staged and unstaged changes, an untracked file, a branch, a tag), starts
`wta run` and kills it with SIGKILL once or twice at random instants, the orchestrator
alone or its whole process group, then runs `wta run` to completion. It passes when the
integration tree is an uninterrupted run's, every `Wta-Feature` trailer is there exactly
once, nothing is half-done (sequencer state, lock files, dangling worktree records, a held
run lock), `wta clean` leaves no worktree, and the user's state is unchanged.

Trial i uses seed `--seed + i`; `--only SEED` replays given seeds. Prints how many passed,
each failure with its seed and problems, and the time taken.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from gitutil import PINNED_GIT_ENV
from killutil import Trial, reference_tree, run_trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", type=int, nargs="*", default=None)
    args = parser.parse_args()
    seeds = args.only if args.only else list(range(args.seed, args.seed + args.trials))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kill9-") as scratch:
        root = Path(scratch)
        home = root / "home"  # git config of the user running the bench is not read
        os.environ.update({**PINNED_GIT_ENV, "HOME": str(home), "XDG_CONFIG_HOME": str(home)})
        reference = reference_tree(root / "reference")

        def trial(seed: int) -> tuple[Trial, list[str]]:
            planned = Trial.of(seed)
            return planned, run_trial(root / f"trial-{seed}", planned, reference)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(trial, seeds))
    elapsed = time.monotonic() - started
    failed = [(t, problems) for t, problems in results if problems]
    print(f"{len(results) - len(failed)} of {len(results)} trials passed in {elapsed:.1f}s")
    for planned, problems in failed:
        kills = ", ".join(
            f"{'group' if k.group else 'orchestrator'} at {k.delay_s}s" for k in planned.kills
        )
        print(f"seed {planned.seed} ({kills}):")
        for problem in problems:
            print(f"  {problem}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
