"""`wta clean`: remove the worktrees of finished features. Branches are kept."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.domain import FeatureState
from worktree_agents.errors import GitError
from worktree_agents.git import GitRepo
from worktree_agents.lock import RunLock
from worktree_agents.plan import load_plan
from worktree_agents.store import Store
from worktree_agents.worktrees import WorktreeManager, resolve_worktree_root

REMOVABLE = frozenset({FeatureState.MERGED, FeatureState.SKIPPED, FeatureState.DONE})


def run_clean(repo_dir: Path, plan_path: Path, include_failed: bool, force: bool) -> int:
    """Remove worktrees of merged, done and skipped features (and failed ones with --all).

    A worktree with uncommitted changes is kept unless `force`. No branch is deleted.
    """
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    plan = loaded.plan
    root = resolve_worktree_root(repo, plan.run.worktree_root, loaded.base_dir)
    manager = WorktreeManager(repo, root, plan.run.branch_prefix)
    removable = REMOVABLE | ({FeatureState.FAILED} if include_failed else set())
    with RunLock(repo.state_dir()), Store.open(repo.state_dir()) as store:
        states = {r.id: r.state for r in store.all_features(include_retired=True)}
        removed, kept = [], []
        for worktree in manager.list():
            state = states.get(worktree.feature_id)
            if state not in removable:
                continue
            try:
                manager.remove(worktree.feature_id, force=force)
                removed.append(worktree.feature_id)
            except GitError:
                kept.append(worktree.feature_id)
        manager.prune()
    print(f"removed {len(removed)} worktrees" + (f": {', '.join(removed)}" if removed else ""))
    if kept:
        print(
            f"kept {len(kept)} with uncommitted changes: {', '.join(kept)};"
            " pass --force to remove them anyway"
        )
    return 0
