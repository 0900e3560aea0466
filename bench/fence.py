"""What the fence costs: an agent's git behind wta's hook, and the checks around an attempt.

Usage: python bench/fence.py [--commits 40] [--refs 2000] [--repeat 5]

1. Agent commits. In a feature worktree, C empty commits made by `git commit`, once with
   the environment every agent gets (core.hooksPath at wta's hooks, whose
   reference-transaction hook checks each ref update) and once with the environment
   minus those settings, alternating, R rounds. Prints the median per commit and the
   ratio hooked / plain.
2. The fence around one attempt. In a repository with F refs outside wta's namespaces
   (branches and tags), the enter and exit of every check wta puts around an agent
   (stash, refs, worktree, the shared git files, the user's checkout) around an agent
   that does nothing, against the yardstick of
   one `git status` in the same worktree. Prints the medians and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from worktree_agents.agents.base import AGENT_GIT_CONFIG
from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.fence import Check, StashCheck, WorktreeCheck, fenced
from worktree_agents.fence_files import CheckoutCheck, CheckoutWatch, GitFilesCheck, SharedGitFiles
from worktree_agents.fence_refs import STASH_REF, RefCheck
from worktree_agents.git import HEADS, GitRepo, git_config_env, git_env
from worktree_agents.merge import MergeCoordinator
from worktree_agents.refguard import agent_settings, agent_vars, install_hooks
from worktree_agents.worktrees import WorktreeManager

IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def make_repo(root: Path, refs: int) -> GitRepo:
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "a.txt").write_text("a\n")
    env = {**os.environ, **IDENTITY}
    subprocess.run(["git", "add", "a.txt"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=repo, check=True, env=env)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    lines = "".join(
        f"create refs/{'heads/b' if i % 2 else 'tags/t'}{i} {head}\n" for i in range(refs)
    )
    subprocess.run(["git", "update-ref", "--stdin"], cwd=repo, input=lines, text=True, check=True)
    return GitRepo.open(repo)


def time_commits(path: Path, env: dict[str, str], commits: int) -> float:
    started = time.perf_counter()
    for n in range(commits):
        args = ["git", "commit", "-q", "--allow-empty", "-m", f"c{n}"]
        subprocess.run(args, cwd=path, env=env, check=True)
    return (time.perf_counter() - started) / commits


def bench_commits(repo: GitRepo, worktree: Path, branch: str, commits: int, rounds: int) -> None:
    hooks = install_hooks(repo)
    plain = git_env(IDENTITY)
    plain.update(git_config_env(AGENT_GIT_CONFIG, plain))
    hooked = dict(plain)
    hooked.update(agent_vars(repo, HEADS + branch, worktree.parent / "refused"))
    hooked.update(git_config_env(AGENT_GIT_CONFIG + agent_settings(hooks), git_env(IDENTITY)))
    with_hook, without = [], []
    for _ in range(rounds):
        with_hook.append(time_commits(worktree, hooked, commits))
        without.append(time_commits(worktree, plain, commits))
    a, b = statistics.median(with_hook), statistics.median(without)
    print(f"agent commit, behind wta's hook: {a * 1000:7.2f} ms")
    print(f"agent commit, no hook:           {b * 1000:7.2f} ms")
    print(f"ratio hooked / plain:            {a / b:7.2f}")


def bench_fence(repo: GitRepo, manager: WorktreeManager, refs: int, rounds: int) -> None:
    worktree = manager.create(FeatureId("f"), CommitSha(repo.head_commit()), reset=True)
    coordinator = MergeCoordinator(repo, BranchName("wta/integration"), "squash")
    coordinator.ensure_branch(worktree.base_commit)
    skip = (HEADS + worktree.branch, HEADS + "wta/integration", STASH_REF)
    stash_lock = threading.Lock()
    shared = SharedGitFiles(repo.common_dir)
    checkout = CheckoutWatch(repo, manager.root, lambda change: None)

    async def one() -> float:
        checks: list[Check] = [
            StashCheck(repo, stash_lock, worktree.branch),
            RefCheck(repo, coordinator, asyncio.Lock(), worktree.path.parent / "r", worktree, skip),
            WorktreeCheck(manager, worktree),
            CheckoutCheck(checkout, worktree.feature_id),
            GitFilesCheck(shared, worktree.feature_id),
        ]
        started = time.perf_counter()
        async with fenced(checks) as findings:
            pass
        assert findings == [], findings
        return time.perf_counter() - started

    fence_times, status_times = [], []
    for _ in range(rounds):
        fence_times.append(asyncio.run(one()))
        started = time.perf_counter()
        repo.run("status", "--porcelain", cwd=worktree.path)
        status_times.append(time.perf_counter() - started)
    a, b = statistics.median(fence_times), statistics.median(status_times)
    print(f"fence around one attempt ({refs} refs): {a * 1000:7.2f} ms")
    print(f"one git status (the yardstick):       {b * 1000:7.2f} ms")
    print(f"ratio fence / git status:             {a / b:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=40)
    parser.add_argument("--refs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp), args.refs)
        manager = WorktreeManager(repo, Path(tmp) / "trees", "wta/")
        worktree = manager.create(FeatureId("c"), CommitSha(repo.head_commit()))
        bench_commits(repo, worktree.path, worktree.branch, args.commits, args.repeat)
        bench_fence(repo, manager, args.refs, args.repeat)


if __name__ == "__main__":
    main()
