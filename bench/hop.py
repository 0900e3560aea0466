"""One hop of a dependency chain: how long wta takes from one feature's merge to the next's.

Usage: python bench/hop.py [--features 15] [--files 100] [--repeat 5] [--json FILE] [--tmp DIR]

What it measures. A repository of M small text files (one commit) and a chain of N patch
features, each depending on the one before and adding one file of its own; `max_parallel
= 1`, no checks. Each round, on a fresh copy of the repository:

- wta: `wta run --plan ... --no-live` (a subprocess, from inside the repository). Its hop
  is the median of the gaps between consecutive features' `merged` events in the run's
  event log (N-1 gaps: each is the next feature's claim, worktree, agent, commit and
  merge). Also printed: (wall clock of `wta run` - wall clock of `wta --version`) / N.
  wta reuses a merged feature's worktree for the next (its default); the same run with
  `[run] reuse_worktrees = false`, a new worktree per feature as the floor makes, is
  measured too (`wta fresh`).
- the floor: one bash script doing the same git work per feature, in chain order:
  `git worktree add -b <id> <dir> <tip>`, `git apply`, `git add -A && git commit`,
  `git merge-tree --write-tree <tip> <id>`, `git commit-tree`, `git update-ref` with the
  old value, `git worktree remove`. Its hop is its whole wall clock / N (the goal's
  figure); the median gap between its own update-refs (bash's $EPOCHREALTIME) is printed
  too.

The rounds alternate the order of the three. The goal compares the medians over rounds:
wta's hop at most 2x the floor's; the median of each round's own ratio is printed too (on
a loaded machine it is the steadier of the two). Both must produce the same integration tree.

Git calls, from untimed runs with WTA_GIT_TRACE=FILE (one line per git command wta runs):
the lines of an N-feature run / N, and the per-feature cost without the run's fixed start
and end, (calls(N) - calls(K)) / (N - K) with K = N // 3 (5 for 15), per git subcommand
too. Goal: at most 12 per feature.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import (
    ENV,
    Report,
    Script,
    WtaRun,
    build_repo,
    event_times,
    fresh_copy,
    gaps,
    interleave,
    median,
    run_script,
    run_wta,
    write_patches,
    write_plan,
    wta_command,
)

FLOOR = """set -euo pipefail
P=$1; W=$2
git branch integration main
tip=$(git rev-parse integration)
for id in {ids}; do
  git worktree add -q -b "$id" "$W/$id" "$tip"
  git -C "$W/$id" apply "$P/$id.patch"
  git -C "$W/$id" add -A && git -C "$W/$id" commit -qm "$id"
  tree=$(git merge-tree --write-tree "$tip" "$id")
  new=$(git commit-tree "$tree" -p "$tip" -m "$id")
  git update-ref refs/heads/integration "$new" "$tip"
  tip=$new
  echo "T merged $id $EPOCHREALTIME"
  git worktree remove "$W/$id"
done
"""


def merged_gaps(events: list[dict[str, object]]) -> list[float]:
    times = sorted(event_times(events, "merged").values())
    return gaps(times)


def script_gaps(script: Script) -> list[float]:
    times = [at for label, _, at in script.stamps if label == "merged"]
    return gaps(times)


def version_time() -> float:
    start = time.perf_counter()
    subprocess.run([*wta_command(), "--version"], env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def subcommand(args: list[str]) -> str:
    """`worktree list` of `-c x=y --no-optional-locks worktree list --porcelain`."""
    words, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-c":
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    if words[:1] in (["worktree"], ["stash"], ["config"]):
        return " ".join(words[:2])
    return words[0] if words else "?"


def traced(template: Path, tmp: Path, plan: Path, name: str) -> collections.Counter[str]:
    """Per git subcommand, how many times an untimed run of `plan` ran it."""
    trace = tmp / f"trace-{name}.txt"
    run_wta(fresh_copy(template, tmp / name), plan, {"WTA_GIT_TRACE": str(trace)})
    if not trace.is_file():
        sys.exit(f"wta wrote no {trace}: does it still know WTA_GIT_TRACE?")
    lines = trace.read_text(encoding="utf-8").splitlines()
    return collections.Counter(subcommand(line.split("\t")[1:]) for line in lines)


def git_calls(template: Path, tmp: Path, plans: tuple[Path, Path], n: int, k: int) -> Report:
    report = Report()
    big, small = traced(template, tmp, plans[0], "long"), traced(template, tmp, plans[1], "short")
    total_n, total_k = sum(big.values()), sum(small.values())
    print(f"\ngit calls (WTA_GIT_TRACE): {total_n} in a {n}-feature run, {total_k} in {k}")
    report.figure("git_calls_per_feature_whole_run", total_n / n, f"all calls / {n}")
    per_feature = (total_n - total_k) / (n - k)
    report.figure("git_calls_per_feature", per_feature, f"(calls({n}) - calls({k})) / {n - k}")
    for name in sorted(big, key=lambda s: (-(big[s] - small[s]), s)):
        extra = (big[name] - small[name]) / (n - k)
        if extra:
            print(f"    {name:<28} {extra:6.2f} per feature")
    report.goal("git_calls_per_feature", per_feature, 12, "git calls per feature")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--features", type=int, default=15, help="N, the chain's length")
    parser.add_argument("--files", type=int, default=100, help="M, files in the repository")
    parser.add_argument("--repeat", type=int, default=5, help="rounds")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--tmp", type=Path, default=None, help="where to build (default: /tmp)")
    args = parser.parse_args()
    n, k = args.features, max(1, args.features // 3)
    if n < 3:
        parser.error("--features must be at least 3")

    with tempfile.TemporaryDirectory(prefix="wta-hop-", dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        template, patches = tmp / "template" / "repo", tmp / "plan" / "patches"
        build_repo(template, args.files)
        ids = [f"f{i:02d}" for i in range(n)]
        write_patches(patches, ids)
        plan, plan_k = tmp / "plan" / "wta.toml", tmp / "plan" / "short.toml"
        plan_fresh = tmp / "plan" / "fresh.toml"
        write_plan(plan, patches, ids, 1, chain=True)
        write_plan(plan_fresh, patches, ids, 1, chain=True, run_keys=["reuse_worktrees = false"])
        write_plan(plan_k, patches, ids[:k], 1, chain=True)
        print(f"chain of {n} features, {args.files} files, {args.repeat} rounds; {wta_command()}")

        script = FLOOR.replace("{ids}", " ".join(ids))
        todo: dict[str, Callable[[], WtaRun | Script]] = {
            "wta run": lambda: run_wta(fresh_copy(template, tmp / "run"), plan),
            "wta fresh": lambda: run_wta(fresh_copy(template, tmp / "run"), plan_fresh),
            "floor script": lambda: run_script(
                fresh_copy(template, tmp / "run"), script, str(patches), str(tmp / "wt")
            ),
        }
        results = interleave(todo, args.repeat, lambda m: f"{m.wall:7.3f} s wall")
        versions = [version_time() for _ in range(args.repeat)]
        runs = [m for m in results["wta run"] if isinstance(m, WtaRun)]
        scripts = [m for m in results["floor script"] if isinstance(m, Script)]
        fresh = [m for m in results["wta fresh"] if isinstance(m, WtaRun)]

        report = git_calls(template, tmp, (plan, plan_k), n, k)
    print()
    wta_hop = median([median(merged_gaps(r.events)) for r in runs])
    version = median(versions)
    floor_hop = median([s.wall / n for s in scripts])
    report.figure("wta_hop_s", wta_hop, "wta: median gap between merged events, s")
    report.figure("wta_run_s", median([r.wall for r in runs]), "wta: wall clock of wta run, s")
    report.figure("wta_version_s", version, "wta --version, s")
    wall_hop = median([(r.wall - version) / n for r in runs])
    report.figure("wta_hop_from_wall_s", wall_hop, f"wta: (run - --version) / {n}, s")
    report.figure("floor_hop_s", floor_hop, f"floor: script wall clock / {n}, s")
    floor_gap = median([median(script_gaps(s)) for s in scripts])
    report.figure("floor_gap_s", floor_gap, "floor: median gap between its update-refs, s")
    fresh_hop = median([median(merged_gaps(r.events)) for r in fresh])
    report.figure("wta_fresh_hop_s", fresh_hop, "wta fresh (no reuse): median gap, s")
    report.figure("fresh_ratio", fresh_hop / floor_hop, "wta fresh hop / floor hop")
    report.figure("ratio", wta_hop / floor_hop, "wta hop / floor hop")
    paired = [
        median(merged_gaps(r.events)) * n / s.wall for r, s in zip(runs, scripts, strict=True)
    ]
    report.figure("paired_ratio", median(paired), "median of each round's wta hop / floor hop")
    report.goal("hop_ratio", wta_hop / floor_hop, 2, "one hop at most 2x the bash floor")
    trees = {"wta run": {r.tree for r in runs}, "wta fresh": {r.tree for r in fresh}}
    report.check_trees({**trees, "floor": {s.tree for s in scripts}})
    report.finish(args.json)


if __name__ == "__main__":
    main()
