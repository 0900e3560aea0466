"""wta's overhead over the least git work that does the same job.

Usage: python bench/overhead.py [--files 3000] [--features 40] [--parallel 4] [--repeat 3]
                                [--chain K] [--no-parallel-floor] [--late-remove]

What it measures. A repository of M small text files in nested directories (one commit)
and N features for the patch backend, each adding or modifying one distinct file, with no
dependencies (or, with `--chain K`, in dependency chains of K features). The same job is
then done three ways, each on a fresh copy of the same repository:

- wta: `python -m worktree_agents.cli run --plan ...` (patch backend, `max_parallel` P,
  no verify commands) then `wta clean` (which removes the worktrees), both as
  subprocesses run from inside the repository, timed together.
- the sequential floor: one bash script, timed as a whole, doing for each feature in plan
  order `git worktree add -b f<i> <dir> <tip>`, `git -C <dir> apply <patch>`,
  `git -C <dir> add -A && git -C <dir> commit`, `git merge-tree --write-tree <tip> f<i>`,
  `git commit-tree <tree> -p <tip>`, `git update-ref refs/heads/integration <new> <tip>`,
  `git worktree remove <dir>`. `<tip>` is the integration head at that moment, which
  holds every dependency (the same base wta uses); for independent features it costs the
  same as starting from the base commit. With `--late-remove`, the worktrees are removed
  after all the merges instead: measured on this machine, alternating `git worktree add`
  with `git worktree remove` of 3,000 files made the adds markedly slower (about 1.3x
  to 1.8x), so that variant is the stronger sequential floor.
- the parallel floor: per wave of the DAG, the worktree/apply/commit part through
  `xargs -P P` (each `git worktree add` under `flock`, because concurrent adds on one
  repository race and fail, which is also why wta serialises them), then the merges in
  plan order, sequentially; the worktrees are removed at the end.

The rounds alternate the order of the three (rotated each round) to spread the noise of
this shared machine; each is repeated R times, and the best and the median are printed,
with the ratios of the medians: figures from the same run, not absolute times. Wall
clock is what the goal is about; the CPU time (user + system, of every process each
variant ran) is printed too, as a cross-check that other load on the machine moves
much less. The
integration trees of all runs must be identical (`git rev-parse <branch>^{tree}`);
otherwise the comparison is between different work, and the script says so and fails.

`git worktree add` on a repository of M files (writing M files) is the dominant cost, and
both sides pay it per feature: that is the point of the comparison.

The issue's goal: wta at most 1.5x the sequential floor at N=40, M=3000.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worktree_agents.dag import FeatureGraph, waves  # noqa: E402
from worktree_agents.domain import FeatureId  # noqa: E402
from worktree_agents.git import SCRUBBED_VARS  # noqa: E402

SCRUBBED = {*SCRUBBED_VARS, "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"}
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@wta.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@wta.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "LC_ALL": "C",
}


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(IDENTITY)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    return env


ENV = clean_env()


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=ENV, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def file_path(k: int) -> str:
    return f"src/d{k % 20:02d}/e{(k // 20) % 15:02d}/file{k:05d}.txt"


def file_text(k: int) -> str:
    return f"file {k}\nsecond line of file {k}\nthird line of file {k}\n"


@dataclass
class Job:
    repo: Path  # the template; every measurement runs on a fresh copy of it
    plan: Path
    patches: Path
    ids: list[str]
    deps: dict[str, list[str]]
    waves: list[list[str]] = field(default_factory=list)


def build_job(tmp: Path, files: int, features: int, chain: int, parallel: int) -> Job:
    """The template repository, the patches and the plan."""
    if features > files:
        sys.exit("--features must not exceed --files (each feature touches a distinct file)")
    repo = tmp / "template" / "repo"
    for k in range(files):
        target = repo / file_path(k)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file_text(k), encoding="utf-8")
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "-m", "initial commit")

    patches = tmp / "plan" / "patches"
    patches.mkdir(parents=True)
    ids = [f"f{i}" for i in range(features)]
    deps: dict[str, list[str]] = {}
    for i, fid in enumerate(ids):
        deps[fid] = [ids[i - 1]] if chain > 1 and i % chain else []
        if i % 2 == 0:  # a new file
            path = f"features/{fid}.txt"
            body = [f"feature {fid}", "a new file", "end"]
            patch = [
                f"diff --git a/{path} b/{path}",
                "new file mode 100644",
                "--- /dev/null",
                f"+++ b/{path}",
                f"@@ -0,0 +1,{len(body)} @@",
                *(f"+{line}" for line in body),
            ]
        else:  # a line appended to an existing file, distinct for each feature
            k = i * files // features
            path = file_path(k)
            old = file_text(k).splitlines()
            patch = [
                f"diff --git a/{path} b/{path}",
                f"--- a/{path}",
                f"+++ b/{path}",
                f"@@ -1,{len(old)} +1,{len(old) + 1} @@",
                *(f" {line}" for line in old),
                f"+changed by feature {fid}",
            ]
        (patches / f"{fid}.patch").write_text("\n".join(patch) + "\n", encoding="utf-8")

    lines = [
        "version = 1",
        "",
        "[run]",
        f"max_parallel = {parallel}",
        "",
        "[agent]",
        'backend = "patch"',
        f'dir = "{patches}"',
        "",
        "[verify]",
        "commands = []",
        "after_merge = false",
    ]
    for fid in ids:
        lines += ["", "[[feature]]", f'id = "{fid}"']
        if deps[fid]:
            lines.append("depends_on = [" + ", ".join(f'"{d}"' for d in deps[fid]) + "]")
    plan = tmp / "plan" / "wta.toml"
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")
    graph = FeatureGraph.build(
        [FeatureId(f) for f in ids], {FeatureId(f): [FeatureId(d) for d in deps[f]] for f in ids}
    )
    return Job(repo, plan, patches, ids, deps, [[str(f) for f in w] for w in waves(graph)])


MERGE_STEP = """  tree=$(git merge-tree --write-tree "$tip" "$id")
  new=$(git commit-tree "$tree" -p "$tip" -m "$id")
  git update-ref refs/heads/integration "$new" "$tip"
  tip=$new
"""


def sequential_floor(job: Job, late_remove: bool = False) -> str:
    remove = 'git worktree remove "$W/$id"\n'
    return (
        "set -euo pipefail\n"
        "P=$1; W=$2\n"
        "git branch integration main\n"
        "tip=$(git rev-parse integration)\n"
        f"for id in {' '.join(job.ids)}; do\n"
        '  git worktree add -q -b "$id" "$W/$id" "$tip"\n'
        '  git -C "$W/$id" apply "$P/$id.patch"\n'
        '  git -C "$W/$id" add -A && git -C "$W/$id" commit -qm "$id"\n'
        + MERGE_STEP
        + ("" if late_remove else "  " + remove)
        + "done\n"
        + (f"for id in {' '.join(job.ids)}; do {remove.strip()}; done\n" if late_remove else "")
    )


def parallel_floor(job: Job, parallel: int) -> str:
    out = [
        "set -euo pipefail",
        "P=$1; W=$2",
        "export P W",
        "work() {",
        '  flock "$W.lock" git worktree add -q -b "$1" "$W/$1" "$BASE"',
        '  git -C "$W/$1" apply "$P/$1.patch"',
        '  git -C "$W/$1" add -A && git -C "$W/$1" commit -qm "$1"',
        "}",
        "export -f work",
        "git branch integration main",
        "tip=$(git rev-parse integration)",
    ]
    for wave in job.waves:
        out += [
            "export BASE=$tip",
            f"printf '%s\\n' {' '.join(wave)} | xargs -P {parallel} -n 1 bash -c 'work \"$1\"' _",
            f"for id in {' '.join(wave)}; do",
            MERGE_STEP.rstrip("\n"),
            "done",
        ]
    out.append(
        f"printf '%s\\n' {' '.join(job.ids)}"
        f' | xargs -P {parallel} -I{{}} flock "$W.lock" git worktree remove "$W/{{}}"'
    )
    return "\n".join(out) + "\n"


@dataclass
class Measured:
    seconds: float  # wall clock
    cpu: float  # user + system time of every process it ran
    tree: str
    detail: str = ""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_copy(job: Job, where: Path) -> Path:
    if where.exists():
        shutil.rmtree(where)
    repo = where / "repo"
    shutil.copytree(job.repo, repo, symlinks=True)
    os.sync()  # so the copy's writeback is not billed to the measurement
    return repo


def worktree_count(repo: Path) -> int:
    listing = git(repo, "worktree", "list", "--porcelain").splitlines()
    return sum(1 for line in listing if line.startswith("worktree "))


def run_checked(argv: list[str], repo: Path, what: str) -> None:
    proc = subprocess.run(argv, cwd=repo, env=ENV, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{what} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def measure_wta(job: Job, where: Path) -> Measured:
    repo = fresh_copy(job, where)
    wta = [sys.executable, "-m", "worktree_agents.cli"]
    cpu = children_cpu()
    start = time.perf_counter()
    run_checked([*wta, "run", "--plan", str(job.plan)], repo, "wta run")
    mid = time.perf_counter()
    run_checked([*wta, "clean", "--plan", str(job.plan)], repo, "wta clean")
    end = time.perf_counter()
    cpu = children_cpu() - cpu
    if worktree_count(repo) != 1:
        sys.exit(f"wta clean left worktrees behind in {repo}")
    tree = git(repo, "rev-parse", "wta/integration^{tree}")
    shutil.rmtree(where)
    return Measured(end - start, cpu, tree, f"run {mid - start:.2f} s + clean {end - mid:.2f} s")


def measure_floor(job: Job, where: Path, script: str) -> Measured:
    repo = fresh_copy(job, where)
    path = where / "floor.sh"
    path.write_text(script, encoding="utf-8")
    cpu = children_cpu()
    start = time.perf_counter()
    run_checked(["bash", str(path), str(job.patches), str(where / "wt")], repo, "the floor script")
    end = time.perf_counter()
    cpu = children_cpu() - cpu
    if worktree_count(repo) != 1:
        sys.exit(f"the floor script left worktrees behind in {repo}")
    tree = git(repo, "rev-parse", "integration^{tree}")
    shutil.rmtree(where)
    return Measured(end - start, cpu, tree)


def startup_time(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "worktree_agents.cli", "--version"],
            env=ENV,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000, help="M, files in the repository")
    parser.add_argument("--features", type=int, default=40, help="N, features")
    parser.add_argument("--parallel", type=int, default=4, help="max_parallel (and xargs -P)")
    parser.add_argument("--repeat", type=int, default=3, help="R, rounds")
    parser.add_argument("--chain", type=int, default=0, help="dependency chains of K features")
    parser.add_argument("--no-parallel-floor", action="store_true", help="skip that variant")
    parser.add_argument(
        "--late-remove",
        action="store_true",
        help="sequential floor: remove the worktrees after all merges, not after each feature",
    )
    parser.add_argument("--tmp", type=Path, default=None, help="where to build (default: /tmp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wta-overhead-", dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        built = time.perf_counter()
        job = build_job(tmp, args.files, args.features, args.chain, args.parallel)
        print(
            f"repo: {args.files} files, {args.features} features"
            f"{f', chains of {args.chain}' if args.chain > 1 else ', independent'}"
            f" ({len(job.waves)} waves), parallel {args.parallel}, {args.repeat} rounds"
            f"  [built in {time.perf_counter() - built:.1f} s]",
            flush=True,
        )
        print(f"wta from {ROOT} (python {sys.executable})", flush=True)
        seq_name = "floor, seq, late rm" if args.late_remove else "floor, sequential"
        variants = {
            "wta run + clean": lambda: measure_wta(job, tmp / "run"),
            seq_name: lambda: measure_floor(
                job, tmp / "run", sequential_floor(job, args.late_remove)
            ),
        }
        if not args.no_parallel_floor:
            pscript = parallel_floor(job, args.parallel)
            variants[f"floor, xargs -P {args.parallel}"] = lambda: measure_floor(
                job, tmp / "run", pscript
            )
        names = list(variants)
        results: dict[str, list[Measured]] = {name: [] for name in names}
        for r in range(args.repeat):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                m = variants[name]()
                results[name].append(m)
                extra = f"  ({m.detail})" if m.detail else ""
                print(
                    f"  round {r + 1}: {name:<20} {m.seconds:7.2f} s wall,"
                    f" {m.cpu:6.2f} s cpu{extra}",
                    flush=True,
                )
        startup = startup_time(3)

    n = args.features
    print()
    print(
        f"{'':<20} {'best s':>8} {'median s':>9} {'ms/feature':>11}"
        f" {'cpu best s':>11} {'cpu median s':>13}"
    )
    medians: dict[str, float] = {}
    cpu_medians: dict[str, float] = {}
    for name in names:
        secs = [m.seconds for m in results[name]]
        cpus = [m.cpu for m in results[name]]
        medians[name] = statistics.median(secs)
        cpu_medians[name] = statistics.median(cpus)
        print(
            f"{name:<20} {min(secs):8.2f} {medians[name]:9.2f} {medians[name] * 1000 / n:11.1f}"
            f" {min(cpus):11.2f} {cpu_medians[name]:13.2f}"
        )
    wta_name, seq_name = names[0], names[1]
    print(f"python start-up (wta --version): {startup:.2f} s; wta pays it twice (run, clean)")
    for name in names[1:]:
        print(
            f"ratio of medians, wta / {name}: wall {medians[wta_name] / medians[name]:.2f},"
            f" cpu {cpu_medians[wta_name] / cpu_medians[name]:.2f}"
        )
    paired = [
        statistics.median(
            w.seconds / f.seconds for w, f in zip(results[wta_name], results[name], strict=True)
        )
        for name in names[1:]
    ]
    print(
        "median of the per-round ratios (each wta run against the same round's floor): "
        + ", ".join(f"{name} {ratio:.2f}" for name, ratio in zip(names[1:], paired, strict=True))
    )
    print(
        f"overhead over the sequential floor: {medians[wta_name] - medians[seq_name]:+.2f} s,"
        f" {(medians[wta_name] - medians[seq_name]) * 1000 / n:+.1f} ms per feature (wall);"
        f" {(cpu_medians[wta_name] - cpu_medians[seq_name]) * 1000 / n:+.1f} ms per feature (cpu)"
    )

    trees = {m.tree for ms in results.values() for m in ms}
    if len(trees) == 1:
        print(f"integration trees: identical in all runs ({next(iter(trees))[:12]})")
    else:
        print("!" * 72)
        print("!!! INTEGRATION TREES DIFFER: the benchmark compared DIFFERENT work !!!")
        for name in names:
            print(f"!!!   {name}: {sorted({m.tree[:12] for m in results[name]})}")
        print("!" * 72)
    ratio = medians[wta_name] / medians[seq_name]
    met = ratio <= 1.5 and len(trees) == 1
    where = "" if (args.files, args.features) == (3000, 40) else " (the issue sets N=40, M=3000)"
    print(
        f"goal: wta at most 1.5x the sequential floor at N={n}, M={args.files}{where}:"
        f" {ratio:.2f}x -> {'met' if met else 'NOT met'}"
        + ("" if len(trees) == 1 else " (invalid: the trees differ)")
    )
    if len(trees) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
