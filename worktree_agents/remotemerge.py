"""`wta merge --push REMOTE`: integrate whatever the remote holds, and push integration with
a lease; safe to run from two places at once.

Before anything, the remote's results (remote_state.py) are adopted (remote_adopt.py): done
features fetched, failed and skipped ones recorded; and the local integration branch
follows the remote's, so that a feature the remote already holds is never merged twice.
Then the done features are merged as `wta merge` merges them, and integration is pushed
with a lease. A refused lease means another merger pushed first: its integration is
fetched and followed, what it lacks is integrated again (reconcile.py finds those merges
lost), and the push is tried again, a bounded number of times."""

from __future__ import annotations

from collections.abc import Callable

from worktree_agents.context import RunOptions
from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import ExitCode
from worktree_agents.events import Event
from worktree_agents.git import GitRepo
from worktree_agents.lock import RunLock
from worktree_agents.mergedone import DoneMerger, merge_selection
from worktree_agents.plan import LoadedPlan
from worktree_agents.push import PushResult, push_with_lease
from worktree_agents.remote_adopt import adopt_results, follow_remote
from worktree_agents.remote_state import read_results
from worktree_agents.runner import RunOutcome
from worktree_agents.store import Store

TRIES = 3  # merges and pushes, each after following what beat the last one


def merge_from_remote(
    repo: GitRepo, loaded: LoadedPlan, remote: str, on_event: Callable[[Event], None]
) -> tuple[RunOutcome | None, PushResult | None, tuple[FeatureId, ...]]:
    """Adopt, merge and push until the push goes through (or TRIES are spent): the last
    merge's outcome (None: nothing to merge), the last push, and what was selected."""
    plan = loaded.plan
    branch = BranchName(plan.run.integration_branch)
    outcome: RunOutcome | None = None
    pushed: PushResult | None = None
    selected: tuple[FeatureId, ...] = ()
    for _ in range(TRIES):
        lease = _adopt(repo, loaded, remote, branch)
        done = merge_selection(repo, plan)
        selected = tuple(sorted({*selected, *done}, key=plan.graph.index.__getitem__))
        if done:
            outcome = DoneMerger(repo, loaded, RunOptions(only=done), on_event=on_event).run()
            if outcome.exit_code == ExitCode.INTERRUPTED:
                return outcome, None, selected
        pushed = push_with_lease(repo, remote, branch, lease)
        if pushed.detail is None:
            break
    return outcome, pushed, selected


def _adopt(repo: GitRepo, loaded: LoadedPlan, remote: str, branch: BranchName) -> CommitSha | None:
    """Under the run lock: integration follows the remote's, and the results are recorded;
    the remote's integration tip (the lease)."""
    plan = loaded.plan
    results = read_results(repo, remote)
    with RunLock(repo.state_dir()):
        base = repo.resolve_base(plan.run.base)[1]
        tip = follow_remote(repo, remote, branch, base)
        with Store.open(repo.state_dir()) as store:
            ids = [f.id for f in plan.features]
            store.sync_features(ids, {f.id for f in plan.features if f.done})
            adopt_results(repo, plan, store, remote, results)
    return tip  # the lease: where the remote's integration was when fetched
