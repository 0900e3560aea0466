"""What bench/hop.py, bench/scale.py and bench/bigrepo.py share: repositories, patch plans,
`wta run` as a user runs it (a subprocess, timed, with its peak memory), the run's own records
(its event log and its attempts), floor scripts that stamp their steps, interleaved rounds,
and the figures printed and written as JSON.

wta is measured as a black box: through its command, and through the records any run leaves
(`.git/wta/runs/<run id>.jsonl`, the `attempts` table of `.git/wta/state.db`), read here
without importing wta, so the benches keep working while its code changes.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from overhead import ENV, ROOT, file_path, file_text, git, run_checked, worktree_count

__all__ = ["ENV", "ROOT", "file_path", "file_text", "git", "run_checked", "worktree_count"]

T = TypeVar("T")

# Runs `wta ...` as the only child of a fresh python, so that its peak RSS
# (RUSAGE_CHILDREN, which covers the git it waited for too) is that run's alone.
MEASURE = """
import json, resource, subprocess, sys, time
out, err = open(sys.argv[1], "wb"), open(sys.argv[2], "wb")
start = time.perf_counter()
code = subprocess.run(sys.argv[3:], stdout=out, stderr=err, stdin=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "code": code, "maxrss_kb": rss}))
"""


def wta_command() -> list[str]:
    """The `wta` console script next to this python (what a user types), else `python -m`.
    PYTHONPATH (ENV) pins the code to this checkout either way."""
    script = Path(sys.executable).parent / "wta"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "worktree_agents.cli"]


def build_repo(repo: Path, files: int) -> str:
    """`files` small text files in nested directories, one commit on `main`; its sha."""
    for k in range(files):
        target = repo / file_path(k)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file_text(k), encoding="utf-8")
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "-m", "initial commit")
    git(repo, "repack", "-adq")  # packed, as a real repository is: copies are quicker
    return git(repo, "rev-parse", "HEAD")


def new_file_text(fid: str) -> str:
    return f"feature {fid}\na new file\nend\n"


def new_file_path(fid: str) -> str:
    return f"features/{fid}.txt"


def write_patches(patches: Path, ids: Sequence[str]) -> None:
    """One patch per feature, adding its own file (new_file_path, new_file_text)."""
    patches.mkdir(parents=True, exist_ok=True)
    for fid in ids:
        path, body = new_file_path(fid), new_file_text(fid).splitlines()
        lines = [
            f"diff --git a/{path} b/{path}",
            "new file mode 100644",
            "--- /dev/null",
            f"+++ b/{path}",
            f"@@ -0,0 +1,{len(body)} @@",
            *(f"+{line}" for line in body),
        ]
        (patches / f"{fid}.patch").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plan(
    plan: Path,
    patches: Path,
    ids: Sequence[str],
    parallel: int,
    chain: bool = False,
    run_keys: Sequence[str] = (),
) -> None:
    """A patch-backend plan, no checks; `chain`: each feature depends on the one before."""
    lines = ["version = 1", "", "[run]", f"max_parallel = {parallel}", *run_keys, ""]
    lines += ["[agent]", 'backend = "patch"', f'dir = "{patches}"', ""]
    lines += ["[verify]", "commands = []", "after_merge = false"]
    for i, fid in enumerate(ids):
        lines += ["", "[[feature]]", f'id = "{fid}"']
        if chain and i:
            lines.append(f'depends_on = ["{ids[i - 1]}"]')
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_text("\n".join(lines) + "\n", encoding="utf-8")


def fresh_copy(template: Path, where: Path, link: bool = False) -> Path:
    """A copy of the template repository at `where/repo` (the worktrees go next to it).

    `link`: the checked-out files are hard links to the template's (a big checkout copies
    in a second, not many), and the index is refreshed for their new ctime, so that git
    sees a clean checkout as it would in a copy. Neither wta nor the floors write there."""
    if where.exists():
        shutil.rmtree(where)
    repo = where / "repo"
    if link:
        shutil.copytree(template / ".git", repo / ".git", symlinks=True)

        def skip_git(folder: str, names: list[str]) -> list[str]:
            return [".git"] if Path(folder) == template else []

        shutil.copytree(
            template,
            repo,
            symlinks=True,
            ignore=skip_git,
            copy_function=os.link,
            dirs_exist_ok=True,
        )
        git(repo, "update-index", "--refresh", "-q")
        if git(repo, "status", "--porcelain"):
            sys.exit(f"the linked copy {repo} is not a clean checkout")
    else:
        shutil.copytree(template, repo, symlinks=True)
    os.sync()  # so the copy's writeback is not billed to the measurement
    return repo


@dataclass
class WtaRun:
    wall: float  # seconds, the `wta run` process as a user's wall clock sees it
    maxrss_kb: int
    tree: str  # of the integration branch
    events: list[dict[str, Any]]
    started: dict[str, float]  # feature -> its attempt's start (attempts.started_at)


def run_wta(repo: Path, plan: Path, extra_env: dict[str, str] | None = None) -> WtaRun:
    """`wta run --plan PLAN --no-live` from inside `repo`, in a fresh python; its records."""
    logs = repo.parent
    argv = [*wta_command(), "run", "--plan", str(plan), "--no-live"]
    helper = [sys.executable, "-c", MEASURE, str(logs / "wta.out"), str(logs / "wta.err"), *argv]
    env = {**ENV, **(extra_env or {})}
    proc = subprocess.run(helper, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"the measuring python failed: {proc.stderr[-3000:]}")
    result = json.loads(proc.stdout)
    if result["code"] != 0:
        out = (logs / "wta.out").read_text(errors="replace")[-3000:]
        err = (logs / "wta.err").read_text(errors="replace")[-3000:]
        sys.exit(f"wta run exited {result['code']} in {repo}\n{out}\n{err}")
    tree = git(repo, "rev-parse", "wta/integration^{tree}")
    return WtaRun(
        result["wall"], result["maxrss_kb"], tree, read_events(repo), attempt_starts(repo)
    )


def read_events(repo: Path) -> list[dict[str, Any]]:
    """The one run's event log, as dicts (kind, ts, feature_id, ...)."""
    logs = sorted((repo / ".git" / "wta" / "runs").glob("*.jsonl"))
    if len(logs) != 1:
        sys.exit(f"expected one run's event log in {repo}/.git/wta/runs, found {len(logs)}")
    lines = logs[0].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line]


def attempt_starts(repo: Path) -> dict[str, float]:
    """feature -> when its attempt began (claimed for a slot): attempts.started_at."""
    db = repo / ".git" / "wta" / "state.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT feature_id, n, started_at FROM attempts").fetchall()
    if any(n != 1 for _, n, _ in rows):
        sys.exit(f"a feature needed more than one attempt in {repo}: the bench expects none")
    return {fid: started for fid, _, started in rows}


def event_times(events: Sequence[dict[str, Any]], kind: str) -> dict[str, float]:
    """feature -> the time of its event of this kind (each feature has one per run)."""
    times = {e["feature_id"]: float(e["ts"]) for e in events if e["kind"] == kind}
    if not times:
        sys.exit(f"the run's event log has no '{kind}' event: the bench cannot time that step")
    return times


def create_steps(run: WtaRun) -> dict[str, float]:
    """feature -> seconds from its attempt's start (claim) to its worktree_created event."""
    created = event_times(run.events, "worktree_created")
    missing = sorted(set(run.started) - set(created))
    if missing:
        sys.exit(f"no worktree_created event for {missing[:5]}")
    return {fid: created[fid] - start for fid, start in run.started.items()}


def merge_steps(events: Sequence[dict[str, Any]]) -> list[tuple[str, float]]:
    """In merge order, (feature, seconds) of the merge critical section: from its
    merge_started event, or the previous feature's merged event if that came later (the
    merge lock was held until then), to its merged event."""
    started = event_times(events, "merge_started")
    merged = sorted((float(e["ts"]), e["feature_id"]) for e in events if e["kind"] == "merged")
    steps, previous = [], -math.inf
    for ts, fid in merged:
        steps.append((fid, ts - max(started[fid], previous)))
        previous = ts
    return steps


@dataclass
class Script:
    wall: float
    stamps: list[tuple[str, str, float]]  # (label, feature, $EPOCHREALTIME) lines it printed
    tree: str


def run_script(repo: Path, text: str, *args: str, branch: str = "integration") -> Script:
    """A floor script run by bash from inside `repo`, timed as a whole. Lines it prints as
    `T <label> <feature> $EPOCHREALTIME` (a builtin: no process) are its step stamps."""
    path = repo.parent / "floor.sh"
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run(
        ["bash", str(path), *args], cwd=repo, env=ENV, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"the floor script exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr}")
    stamps = []
    for line in proc.stdout.splitlines():
        if line.startswith("T "):
            _, label, fid, at = line.split()
            stamps.append((label, fid, float(at)))
    return Script(wall, stamps, git(repo, "rev-parse", f"{branch}^{{tree}}"))


def interleave(
    variants: dict[str, Callable[[], T]], repeat: int, describe: Callable[[T], str]
) -> dict[str, list[T]]:
    """Each variant `repeat` times, in rounds whose order rotates (noise is spread evenly)."""
    names = list(variants)
    results: dict[str, list[T]] = {name: [] for name in names}
    for r in range(repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            result = variants[name]()
            results[name].append(result)
            print(f"  round {r + 1}: {name:<24} {describe(result)}", flush=True)
    return results


def gaps(times: Sequence[float]) -> list[float]:
    """The differences between consecutive times."""
    return [b - a for a, b in itertools.pairwise(times)]


def median(values: Sequence[float]) -> float:
    if not values:
        sys.exit("no values to take the median of")
    return statistics.median(values)


@dataclass
class Report:
    """The figures a bench prints, its goals, and its tree check; `--json FILE` writes them."""

    figures: dict[str, float] = field(default_factory=dict)
    goals: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked: int = 0  # tree checks made, and passed
    passed: int = 0

    def figure(self, key: str, value: float, text: str) -> None:
        self.figures[key] = value
        print(f"{text:<58} {value:10.3f}  [{key}]")

    def goal(self, key: str, value: float, limit: float, text: str) -> None:
        met = value <= limit
        self.goals[key] = {"value": value, "limit": limit, "met": met}
        print(f"goal: {text}: {value:.2f} (at most {limit:g}) -> {'met' if met else 'NOT met'}")

    def check_trees(self, named: dict[str, set[str]]) -> bool:
        """Every run's integration tree must be the same, or the work compared differs."""
        trees = {t for group in named.values() for t in group}
        self.checked += 1
        if len(trees) == 1:
            self.passed += 1
            print(f"integration trees: identical in all runs ({next(iter(trees))[:12]})")
            return True
        print("!" * 72)
        print("!!! INTEGRATION TREES DIFFER: the benchmark compared DIFFERENT work !!!")
        for name, group in named.items():
            print(f"!!!   {name}: {sorted(t[:12] for t in group)}")
        print("!" * 72)
        return False

    def finish(self, json_path: Path | None) -> None:
        identical = self.checked > 0 and self.passed == self.checked
        if json_path is not None:
            data = {"figures": self.figures, "goals": self.goals, "trees_identical": identical}
            json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        if not identical:
            sys.exit(1)
