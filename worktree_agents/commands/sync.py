"""`wta sync`: bring the integration branch up to date with its base, and nothing else."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.basesync import (
    BaseSync,
    base_name,
    check_base,
    check_same_base,
    follow_base,
)
from worktree_agents.domain import BranchName
from worktree_agents.git import GitRepo
from worktree_agents.lock import RunLock
from worktree_agents.merge import MergeCoordinator
from worktree_agents.output import envelope, print_json
from worktree_agents.plan import Plan
from worktree_agents.plan_load import load_plan
from worktree_agents.store import Store


def sync_integration(repo: GitRepo, plan: Plan) -> BaseSync:
    """Under the run lock: the integration branch (made at the base if it does not exist
    yet) brought up to date with the base, as `wta run` does before anything starts."""
    with RunLock(repo.state_dir()):
        base_branch, base_commit = repo.resolve_base(plan.run.base)
        check_base(base_branch, plan.run.integration_branch)
        integration = BranchName(plan.run.integration_branch)
        coordinator = MergeCoordinator(repo, integration, plan.run.merge)
        coordinator.refuse_if_checked_out()
        with Store.open(repo.state_dir()) as store:
            found = (base_branch, base_commit)
            check_same_base(repo, store, plan.run.base, found, coordinator)
        coordinator.ensure_branch(base_commit)
        base = base_name(base_branch, plan.run.base, base_commit)
        return follow_base(coordinator, base, base_commit)


def run_sync(repo_dir: Path, plan_path: Path, as_json: bool) -> int:
    plan = load_plan(plan_path).plan
    synced = sync_integration(GitRepo.open(repo_dir), plan)
    if as_json:
        data = {
            "integration": {
                "branch": synced.branch,
                "base": synced.base,
                "base_commit": synced.base_commit,
                "head": synced.new_head,
            },
            "old_head": synced.old_head,
            "how": synced.how,
        }
        print_json(envelope("sync", 0, data))
    else:
        print(synced.describe())
    return 0
