"""Costs at scale: wta's merge step and create step, first features against last, and its
peak memory, for a run of many independent features.

Usage: python bench/scale.py [--features 300] [--files 100] [--parallel 4] [--repeat 1]
                             [--edge 20] [--json FILE] [--tmp DIR]

What it measures. A repository of M small text files (one commit) and N independent patch
features, each adding one file of its own; `max_parallel` P, no checks. Each round:

- wta: `wta run --plan ... --no-live` on a fresh copy (a subprocess of a fresh python, which
  reads the run's peak RSS from getrusage(RUSAGE_CHILDREN) afterwards: the largest of wta
  and the git it waited for). From the run's own records:
  - the create step of a feature: from its attempt's start (`attempts.started_at`, the claim
    of a slot, in `.git/wta/state.db`) to its `worktree_created` event. It includes finding
    the base and waiting for the worktree lock other slots may hold.
  - the merge step: from its `merge_started` event, or the previous feature's `merged`
    event if that is later (the merge lock was held until then), to its `merged` event.
  Printed: the median over the first E features (by start, or by merge) against the last E.
- the floor, right after, on the same repository (with wta's N worktrees and branches): a
  commit per feature adding its file onto `main` is made beforehand with `git fast-import`
  (untimed); then one bash script does, in wta's merge order, `git merge-tree --write-tree
  <tip> <commit>`, `git commit-tree <tree> -p <tip>`, `git update-ref <ref> <new> <tip>`,
  stamping each merge with bash's $EPOCHREALTIME (no process). Its merge step: the gap
  between consecutive stamps.

Goals: wta's merge step at most 1.5x the floor's (medians over all features), and flat (the
last E at most 1.2x the first E); the create step of the last E at most 1.2x the first E;
peak RSS at most 45 MB. wta's integration tree must equal the floor's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import (
    ENV,
    Report,
    Script,
    WtaRun,
    build_repo,
    create_steps,
    fresh_copy,
    gaps,
    git,
    median,
    merge_steps,
    new_file_path,
    new_file_text,
    run_script,
    run_wta,
    write_patches,
    write_plan,
    wta_command,
)

FLOOR = """set -euo pipefail
git update-ref refs/heads/floor main
tip=$(git rev-parse main)
echo "T start - $EPOCHREALTIME"
for id in {ids}; do
  tree=$(git merge-tree --write-tree "$tip" "refs/floor/$id")
  new=$(git commit-tree "$tree" -p "$tip" -m "$id")
  git update-ref refs/heads/floor "$new" "$tip"
  tip=$new
  echo "T merged $id $EPOCHREALTIME"
done
"""


def floor_commits(repo: Path, ids: list[str]) -> None:
    """refs/floor/<id>: a commit on main adding the feature's file, as its patch does."""
    main = git(repo, "rev-parse", "main")
    stream = []
    for fid in ids:
        body = new_file_text(fid).encode()
        stream += [
            f"commit refs/floor/{fid}\ncommitter Bench <bench@wta.invalid> 0 +0000\n".encode(),
            f"data {len(fid)}\n{fid}\nfrom {main}\n".encode(),
            f"M 100644 inline {new_file_path(fid)}\ndata {len(body)}\n".encode() + body + b"\n",
        ]
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=repo, env=ENV, input=b"".join(stream), check=True
    )


def floor_steps(script: Script) -> list[float]:
    times = [at for _, _, at in script.stamps]
    return gaps(times)


def one_round(template: Path, tmp: Path, plan: Path, ids: list[str]) -> tuple[WtaRun, Script]:
    repo = fresh_copy(template, tmp / "run")
    run = run_wta(repo, plan)
    order = [fid for fid, _ in merge_steps(run.events)]
    if sorted(order) != sorted(ids):
        sys.exit(f"wta merged {len(order)} of the {len(ids)} features")
    floor_commits(repo, ids)
    script = run_script(repo, FLOOR.replace("{ids}", " ".join(order)), branch="floor")
    return run, script


def edges(values: list[float], edge: int) -> tuple[float, float]:
    return median(values[:edge]), median(values[-edge:])


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--features", type=int, default=300, help="N, independent features")
    parser.add_argument("--files", type=int, default=100, help="M, files in the repository")
    parser.add_argument("--parallel", type=int, default=4, help="P, max_parallel")
    parser.add_argument("--repeat", type=int, default=1, help="rounds")
    parser.add_argument("--edge", type=int, default=20, help="E, first and last features")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--tmp", type=Path, default=None, help="where to build (default: /tmp)")
    args = parser.parse_args()
    if args.features < 2 * args.edge:
        parser.error("--features must be at least twice --edge")

    rounds: list[tuple[WtaRun, Script]] = []
    with tempfile.TemporaryDirectory(prefix="wta-scale-", dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        template, patches = tmp / "template" / "repo", tmp / "plan" / "patches"
        build_repo(template, args.files)
        ids = [f"f{i:03d}" for i in range(args.features)]
        write_patches(patches, ids)
        plan = tmp / "plan" / "wta.toml"
        write_plan(plan, patches, ids, args.parallel)
        print(
            f"{args.features} independent features, {args.files} files, parallel"
            f" {args.parallel}, {args.repeat} rounds; {wta_command()}",
            flush=True,
        )
        for r in range(args.repeat):
            run, script = one_round(template, tmp, plan, ids)
            rounds.append((run, script))
            print(
                f"  round {r + 1}: wta run {run.wall:7.2f} s, peak RSS"
                f" {run.maxrss_kb / 1024:.1f} MB; floor script {script.wall:6.2f} s",
                flush=True,
            )
    summarise(rounds, args.edge, args.json)


def summarise(rounds: list[tuple[WtaRun, Script]], edge: int, json_path: Path | None) -> None:
    report = Report()
    creates, merges, floors = [], [], []
    for run, script in rounds:
        by_start = sorted(run.started, key=run.started.__getitem__)
        steps = create_steps(run)
        creates.append(edges([steps[fid] for fid in by_start], edge))
        merged = [seconds for _, seconds in merge_steps(run.events)]
        merges.append((*edges(merged, edge), median(merged)))
        floor = floor_steps(script)
        floors.append((*edges(floor, edge), median(floor)))
    ms = 1000.0
    print()
    figures = [
        ("create_first_ms", median([c[0] for c in creates]) * ms, f"create step, first {edge}"),
        ("create_last_ms", median([c[1] for c in creates]) * ms, f"create step, last {edge}"),
        ("merge_first_ms", median([m[0] for m in merges]) * ms, f"merge step, first {edge}"),
        ("merge_last_ms", median([m[1] for m in merges]) * ms, f"merge step, last {edge}"),
        ("merge_all_ms", median([m[2] for m in merges]) * ms, "merge step, all features"),
        ("floor_first_ms", median([f[0] for f in floors]) * ms, f"floor merge, first {edge}"),
        ("floor_last_ms", median([f[1] for f in floors]) * ms, f"floor merge, last {edge}"),
        ("floor_all_ms", median([f[2] for f in floors]) * ms, "floor merge, all features"),
    ]
    for key, value, text in figures:
        report.figure(key, value, f"{text}, median ms")
    f = report.figures
    report.figure("run_s", median([run.wall for run, _ in rounds]), "wta run wall clock, s")
    rss = median([run.maxrss_kb / 1024 for run, _ in rounds])
    report.figure("peak_rss_mb", rss, "wta run peak RSS, MB")
    report.goal("merge_ratio", f["merge_all_ms"] / f["floor_all_ms"], 1.5, "merge / floor merge")
    flat = f["merge_last_ms"] / f["merge_first_ms"]
    report.goal("merge_flat", flat, 1.2, f"merge step, last {edge} / first {edge}")
    grows = f["create_last_ms"] / f["create_first_ms"]
    report.goal("create_flat", grows, 1.2, f"create step, last {edge} / first {edge}")
    report.goal("peak_rss_mb", rss, 45, "peak RSS of wta run, MB")
    report.check_trees(
        {"wta run": {run.tree for run, _ in rounds}, "floor": {s.tree for _, s in rounds}}
    )
    report.finish(json_path)


if __name__ == "__main__":
    main()
