"""kill -9 trials: `wta run` killed at random instants (the orchestrator alone, or its whole
process group), one or two kills, then run to completion; what it must end with is checked.

Shared by tests/test_kill9.py and bench/kill9.py. Each trial is replayable from its seed.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gitutil import SCRUBBED_GIT_VARS, git
from runutil import BASE, Spec, plan_repo

# A chain, a diamond and a leaf: merges depend on order, so a lost or doubled merge shows.
SPECS = (
    Spec("base", {"src/core.py": "VALUE = 1\nBASE = True\n"}),
    Spec("left", {"left.txt": "left\n"}, depends_on=["base"]),
    Spec("right", {"right.txt": "right\n"}, depends_on=["base"]),
    Spec("top", {"top.txt": "top\n"}, depends_on=["left", "right"]),
    Spec("leaf", {"leaf.txt": "leaf\n"}),
)
SETTINGS = "[run]\nmax_parallel = 3\n"
SEQUENCER_STATE = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")
MAX_KILL_DELAY_S = 2.0  # about an uninterrupted run, with Python's start-up


@dataclass(frozen=True)
class Kill:
    delay_s: float
    group: bool  # the whole process group, else the orchestrator alone


@dataclass(frozen=True)
class Trial:
    seed: int
    kills: tuple[Kill, ...]

    @classmethod
    def of(cls, seed: int) -> Trial:
        rng = random.Random(seed)
        kills = tuple(
            Kill(round(rng.uniform(0.2, MAX_KILL_DELAY_S), 3), rng.random() < 0.5)
            for _ in range(rng.choice((1, 2)))
        )
        return cls(seed, kills)


def make_repo(root: Path) -> Path:
    """The trial's repository, with user state wta must leave alone: a stash, a staged
    change, an unstaged one, an untracked file, a branch and a tag."""
    repo = plan_repo(root, list(SPECS), BASE, SETTINGS)
    git(repo, "branch", "mine")
    git(repo, "tag", "v1")
    (repo / "README.md").write_text("# stashed\n")
    git(repo, "stash", "--quiet")
    (repo / "README.md").write_text("# staged\n")
    git(repo, "add", "README.md")
    (repo / "src" / "core.py").write_text("VALUE = 2\n")
    (repo / "notes.txt").write_text("untracked\n")
    return repo


def user_state(repo: Path) -> dict[str, str]:
    outside = [
        line
        for line in git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
        if not line.split()[1].startswith(("refs/heads/wta/", "refs/wta/"))
    ]
    return {
        "head": git(repo, "symbolic-ref", "HEAD") + " " + git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "diff", "--cached"),
        "worktree": git(repo, "diff"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "refs": "\n".join(outside),
    }


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}


def wta_process(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    plan = repo.parent / "plan" / "wta.toml"
    argv = [sys.executable, "-m", "worktree_agents.cli", *args, "--plan", str(plan)]
    return subprocess.run(
        argv, cwd=repo, env=_env(), capture_output=True, text=True, check=False, timeout=120
    )


def kill_run(repo: Path, kill: Kill) -> None:
    """Start `wta run` in its own process group and kill it after `kill.delay_s` (if it is
    still running then); the survivors of a kill of the orchestrator alone live on."""
    plan = repo.parent / "plan" / "wta.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "worktree_agents.cli", "run", "--plan", str(plan)],
        cwd=repo,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=kill.delay_s)
    except subprocess.TimeoutExpired:
        if kill.group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def half_done(repo: Path) -> list[str]:
    """Git state an interrupted operation leaves: sequencer state, lock files, worktree
    records whose directory is gone."""
    common = repo / ".git"
    found = []
    for admin in [common, *sorted((common / "worktrees").glob("*"))]:
        for name in (
            "MERGE_HEAD",
            "CHERRY_PICK_HEAD",
            "REVERT_HEAD",
            "rebase-merge",
            "rebase-apply",
        ):
            if (admin / name).exists():
                found.append(str(admin / name))
    state = common / "wta"  # wta's own flock files live there, and stay
    found += sorted(str(p) for p in common.rglob("*.lock") if state not in p.parents)
    listing = git(repo, "worktree", "list", "--porcelain")
    found += [line for line in listing.splitlines() if line.startswith("prunable")]
    found += [f"{lock} is held" for lock in sorted(state.glob("*.lock")) if _held(lock)]
    return found


def _held(lock: Path) -> bool:
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def outcome(repo: Path, before: dict[str, str], reference_tree: str) -> list[str]:
    """What is wrong with the repository after the final run (nothing: an empty list)."""
    problems = []
    tree = git(repo, "rev-parse", "wta/integration^{tree}")
    if tree != reference_tree:
        problems.append(f"integration tree {tree}, an uninterrupted run makes {reference_tree}")
    log = "--format=%(trailers:key=Wta-Feature,valueonly)"
    trailers = sorted(git(repo, "log", log, "wta/integration").split())
    if trailers != sorted(s.id for s in SPECS):
        problems.append(f"trailers on integration: {trailers}")
    problems += [f"half-done: {what}" for what in half_done(repo)]
    clean = wta_process(repo, "clean")
    if clean.returncode != 0:
        problems.append(f"wta clean exited {clean.returncode}: {clean.stderr.strip()}")
    listed = git(repo, "worktree", "list", "--porcelain").split("\n\n")[1:]
    if listed:  # each as git lists it (branch or detached, locked, prunable), to debug
        left = "; ".join(" ".join(entry.split()) for entry in listed)
        problems.append(f"{len(listed)} worktrees left after wta clean: {left}")
    after = user_state(repo)
    problems += [f"user's {key} changed" for key in before if before[key] != after[key]]
    return problems


def reference_tree(root: Path) -> str:
    """The integration tree of an uninterrupted run."""
    repo = make_repo(root)
    done = wta_process(repo, "run")
    assert done.returncode == 0, done.stderr
    return git(repo, "rev-parse", "wta/integration^{tree}")


def run_trial(root: Path, trial: Trial, reference: str) -> list[str]:
    """Run one trial in `root` (a new directory); the problems found, or an empty list."""
    repo = make_repo(root)
    before = user_state(repo)
    for kill in trial.kills:
        kill_run(repo, kill)
    started = time.monotonic()
    final = wta_process(repo, "run")
    while final.returncode == 2 and "another wta run" in final.stderr:
        if time.monotonic() - started > 30:  # a survivor should not hold the lock this long
            break
        time.sleep(0.1)
        final = wta_process(repo, "run")
    if final.returncode != 0:
        return [f"the final wta run exited {final.returncode}: {final.stderr.strip()[-400:]}"]
    return outcome(repo, before, reference)
