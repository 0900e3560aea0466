"""A big repository: wta against a script doing the same git work with a fresh worktree per
feature, with and without reused worktrees.

Usage: python bench/bigrepo.py [--files 10000] [--features-a 12] [--slots-a 4]
                               [--features-b 8] [--repeat 2] [--part a|b|both]
                               [--json FILE] [--dir DIR]

What it measures. A repository of M small text files in nested directories (one commit),
on the file system of --dir (default /tmp; the goal is about ext4), and independent patch
features, each adding one file of its own, no checks. Every measurement runs on a fresh
copy of the repository (its checked-out files hard links to the template's, its index
refreshed: a clean checkout, copied in a second); the rounds rotate the order of the
variants.

- (a) A features on S slots (`max_parallel` S): `wta run --plan ... --no-live`, timed as a
  subprocess, twice: `[run] reuse_worktrees = true` (wta's default) and `= false`.
- (b) B features on 1 slot: the same wta variants.
- the fresh floor, in both parts: one bash script that does per feature, in plan order,
  `git worktree add -b <id> <dir> <tip>`, `git apply`, `git add -A && git commit`,
  `git merge-tree --write-tree`, `git commit-tree`, `git update-ref` with the old value.
  Like wta, it leaves its worktrees (wta removes them only on `wta clean`).
- the reuse floor, in (b): the same script with one worktree, taken over by each next
  feature with `git switch --discard-changes --detach <tip>`, `git clean -fdxq` and
  `git switch -c <id>`.

The worktree step of a feature: for wta, from its attempt's start (`attempts.started_at` in
`.git/wta/state.db`) to its `worktree_created` event; for the scripts, around their worktree
commands ($EPOCHREALTIME stamps). Its median is taken over the features that come after
the first S (a) or the first one (b): those that could take over a finished worktree.

Printed per variant: the median wall clock over rounds, its ratio to the fresh floor's, and
the median of each round's own ratio (the steadier figure on a loaded machine).

Goals: (b) the whole run of wta with reuse at most 0.5x the fresh floor; its worktree step
at most 100 ms per feature. The integration trees of every variant of a part must agree.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import (
    Report,
    Script,
    WtaRun,
    build_repo,
    create_steps,
    fresh_copy,
    interleave,
    median,
    run_script,
    run_wta,
    write_patches,
    write_plan,
    wta_command,
)

HEAD = """set -euo pipefail
P=$1; W=$2
git branch integration main
tip=$(git rev-parse integration)
"""
WORK = """  echo "T wt1 $id $EPOCHREALTIME"
  git -C "$D" apply "$P/$id.patch"
  git -C "$D" add -A && git -C "$D" commit -qm "$id"
  tree=$(git merge-tree --write-tree "$tip" "$id")
  new=$(git commit-tree "$tree" -p "$tip" -m "$id")
  git update-ref refs/heads/integration "$new" "$tip"
  tip=$new
done
"""
FRESH = """for id in {ids}; do
  D="$W/$id"
  echo "T wt0 $id $EPOCHREALTIME"
  git worktree add -q -b "$id" "$D" "$tip"
"""
REUSE = """D="$W/slot"
for id in {ids}; do
  echo "T wt0 $id $EPOCHREALTIME"
  if [ -d "$D" ]; then
    git -C "$D" switch -q --discard-changes --detach "$tip"
    git -C "$D" clean -fdxq
    git -C "$D" switch -q -c "$id"
  else
    git worktree add -q -b "$id" "$D" "$tip"
  fi
"""


@dataclass
class Part:
    name: str
    ids: list[str]
    slots: int


Measured = WtaRun | Script


def worktree_step(m: Measured, slots: int) -> float:
    """Median seconds of the worktree step, over the features after the first `slots`."""
    if isinstance(m, WtaRun):
        steps = create_steps(m)
        order = sorted(m.started, key=m.started.__getitem__)
        return median([steps[fid] for fid in order[slots:]])
    begun = {fid: at for label, fid, at in m.stamps if label == "wt0"}
    done = [(begun[fid], at - begun[fid]) for label, fid, at in m.stamps if label == "wt1"]
    return median([seconds for _, seconds in sorted(done)[slots:]])


def variants(
    part: Part, template: Path, tmp: Path, patches: Path
) -> dict[str, Callable[[], Measured]]:
    plans = {"wta reuse": ("reuse_worktrees = true",), "wta fresh": ("reuse_worktrees = false",)}
    out: dict[str, Callable[[], Measured]] = {}
    for name, keys in plans.items():
        plan = tmp / "plan" / f"{part.name}-{name.replace(' ', '-')}.toml"
        write_plan(plan, patches, part.ids, part.slots, run_keys=keys)
        out[name] = functools.partial(wta_variant, template, tmp, plan)
    ids = " ".join(part.ids)
    scripts = {"fresh script": HEAD + FRESH.replace("{ids}", ids) + WORK}
    if part.slots == 1:
        scripts["reuse script"] = HEAD + REUSE.replace("{ids}", ids) + WORK
    for name, text in scripts.items():
        out[name] = functools.partial(script_variant, template, tmp, patches, text)
    return out


def wta_variant(template: Path, tmp: Path, plan: Path) -> Measured:
    return run_wta(fresh_copy(template, tmp / "run", link=True), plan)


def script_variant(template: Path, tmp: Path, patches: Path, text: str) -> Measured:
    repo = fresh_copy(template, tmp / "run", link=True)
    return run_script(repo, text, str(patches), str(tmp / "run" / "wt"))


def measure(part: Part, results: dict[str, list[Measured]], report: Report) -> None:
    print(f"\n({part.name}) {len(part.ids)} features on {part.slots} slot(s), medians:")
    walls = {name: median([m.wall for m in ms]) for name, ms in results.items()}
    fresh = walls["fresh script"]
    for name, ms in results.items():
        key = f"{part.name}_{name.replace(' ', '_')}"
        report.figure(f"{key}_s", walls[name], f"{name}: whole run, s")
        report.figure(f"{key}_ratio", walls[name] / fresh, f"{name} / fresh script")
        own = zip(ms, results["fresh script"], strict=True)
        paired = median([m.wall / f.wall for m, f in own])
        report.figure(f"{key}_paired", paired, "  median of each round's ratio")
        step = median([worktree_step(m, part.slots) for m in ms]) * 1000
        report.figure(f"{key}_worktree_ms", step, f"{name}: worktree step, ms per feature")
    report.check_trees({name: {m.tree for m in ms} for name, ms in results.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--files", type=int, default=10000, help="M, files in the repository")
    parser.add_argument("--features-a", type=int, default=12, help="A, features of part (a)")
    parser.add_argument("--slots-a", type=int, default=4, help="S, max_parallel of part (a)")
    parser.add_argument("--features-b", type=int, default=8, help="B, features of part (b)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds")
    parser.add_argument("--part", choices=["a", "b", "both"], default="both")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: /tmp)")
    args = parser.parse_args()

    parts = []
    if args.part in ("a", "both"):
        parts.append(Part("a", [f"a{i:02d}" for i in range(args.features_a)], args.slots_a))
    if args.part in ("b", "both"):
        parts.append(Part("b", [f"b{i:02d}" for i in range(args.features_b)], 1))
    report = Report()
    with tempfile.TemporaryDirectory(prefix="wta-bigrepo-", dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        template, patches = tmp / "template" / "repo", tmp / "plan" / "patches"
        build_repo(template, args.files)
        write_patches(patches, [fid for part in parts for fid in part.ids])
        print(f"{args.files} files in {tmp}, {args.repeat} rounds; {wta_command()}", flush=True)
        for part in parts:
            print(f"({part.name}) {len(part.ids)} features on {part.slots} slot(s)", flush=True)
            todo = variants(part, template, tmp, patches)
            results = interleave(todo, args.repeat, lambda m: f"{m.wall:7.2f} s wall")
            measure(part, results, report)
    goals(report, "b" in [p.name for p in parts])
    report.finish(args.json)


def goals(report: Report, part_b: bool) -> None:
    if not part_b:
        return
    name, which = "b_wta_reuse", "with reuse_worktrees = true"
    print()
    ratio = report.figures[f"{name}_ratio"]
    report.goal("b_run_ratio", ratio, 0.5, f"(b) wta {which} / fresh script, whole run")
    step = report.figures[f"{name}_worktree_ms"]
    report.goal("b_worktree_ms", step, 100, f"(b) wta {which}: worktree step, ms per feature")


if __name__ == "__main__":
    main()
