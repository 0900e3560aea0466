"""`wta run-feature ID --push REMOTE`: one feature, the way one CI job runs it, with the
remote as the only state it shares with the others.

1. The remote's results (remote_state.py) say what is done already. A feature with a done
   result, or another worker's, is left alone (exit 0).
2. A dependency with no result, or a failed or skipped one, skips the feature: recorded as a
   skipped result, with the reason (exit 0: the job did its part).
3. The run-wide budget is checked against the costs the results record, before anything.
4. The claim: a ref created on the remote by a push that fails if it exists; the loser
   stands down (exit 0), since someone else does the work.
5. The dependencies' results are adopted (remote_adopt.py): their branches fetched, and
   recorded done here, so the feature starts from them stacked, as with `--no-merge`.
6. The feature runs as `wta run --only ID --no-merge` would, then its branch and its result
   are pushed in one atomic push, each with a lease: done (exit 0) or failed (exit 1).
   A failed or skipped result may be redone (by a re-run of the job, or a new run); a done
   one is final.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worktree_agents.context import RunOptions
from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.errors import ExitCode, UsageError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.plan import LoadedPlan
from worktree_agents.plan_load import load_plan
from worktree_agents.progress import LinePrinter, money
from worktree_agents.push import check_remote, remote_head
from worktree_agents.remote_adopt import adopt_results
from worktree_agents.remote_state import (
    FeatureResult,
    RefUpdate,
    claim,
    claim_holder,
    publish_result,
    read_results,
    remote_cost,
)
from worktree_agents.runner import Orchestrator
from worktree_agents.statusview import status_data
from worktree_agents.store import Store

DEFAULT_CLAIM_TTL_S = 6 * 3600.0  # GitHub's longest job on its hosted runners


@dataclass(frozen=True)
class FeatureJob:
    """One `wta run-feature`: what it ran, and what it says."""

    feature_id: FeatureId
    outcome: str  # done, failed, skipped, already, standing_down, interrupted
    message: str
    exit_code: ExitCode
    result: FeatureResult | None = None


def run_feature(
    repo_dir: Path, plan_path: Path, feature_id: str, remote: str, ttl_s: float
) -> FeatureJob:
    loaded = load_plan(plan_path)
    plan = loaded.plan
    if feature_id not in plan.by_id:
        raise UsageError(
            f"the plan has no feature {feature_id!r}; see `wta plan` for the feature ids"
        )
    fid = FeatureId(feature_id)
    check_remote(remote)
    repo = GitRepo.open(repo_dir)
    if plan.by_id[fid].done:
        return FeatureJob(fid, "already", f"{fid} is marked done in the plan", ExitCode.OK)
    results = read_results(repo, remote)
    holder = claim_holder(os.environ)
    mine = results.get(fid)
    if mine is not None and mine.state == "done":  # final; a failed or skipped one is redone
        said = f"{fid} is already done on {remote} (by {mine.worker}); nothing to do"
        return FeatureJob(fid, "already", said, ExitCode.OK, mine)
    blocker = _blocker(loaded, fid, results)
    if blocker is None:
        _check_budget(loaded, results, remote)
    claimed = claim(repo, remote, fid, holder, ttl_s=ttl_s)
    if not claimed.won and claimed.result is not None and claimed.result.state == "done":
        said = f"{fid} is already done on {remote} (by {claimed.result.worker}); nothing to do"
        return FeatureJob(fid, "already", said, ExitCode.OK, claimed.result)
    if not claimed.won:
        who = claimed.claim.holder if claimed.claim else "another worker"
        said = f"{fid} is claimed on {remote} by {who}; standing down"
        return FeatureJob(fid, "standing_down", said, ExitCode.OK)
    if blocker is not None:
        skipped = _skipped(fid, blocker, holder)
        publish_result(repo, remote, skipped)
        return FeatureJob(fid, "skipped", f"{fid} skipped: {blocker}", ExitCode.OK, skipped)
    return _run(repo, loaded, fid, remote, holder, results)


def _blocker(loaded: LoadedPlan, fid: FeatureId, results: dict[str, FeatureResult]) -> str | None:
    """Why the feature cannot run: a dependency with no done result (None: it can)."""
    plan = loaded.plan
    for dep in plan.by_id[fid].depends_on:
        if plan.by_id[dep].done:
            continue
        result = results.get(dep)
        if result is None:
            return f"dependency {dep!r} has no result on the remote"
        if result.state != "done":
            return f"dependency {dep!r} {result.state}"
    return None


def _check_budget(loaded: LoadedPlan, results: dict[str, FeatureResult], remote: str) -> None:
    budget = loaded.plan.guardrails.run_budget_usd
    spent = remote_cost(results)
    if budget is not None and spent >= budget:
        raise UsageError(
            f"the features on {remote} have spent {money(spent, False)} of the run budget"
            f" ({money(budget, False, 2)}); no agent was started. Raise run_budget_usd in"
            " wta.toml to go on"
        )


def _skipped(fid: FeatureId, why: str, holder: str) -> FeatureResult:
    return FeatureResult(
        feature_id=fid, state="skipped", detail=why, worker=holder, finished_at=time.time()
    )


def _run(
    repo: GitRepo,
    loaded: LoadedPlan,
    fid: FeatureId,
    remote: str,
    holder: str,
    results: dict[str, FeatureResult],
) -> FeatureJob:
    plan = loaded.plan
    with Store.open(repo.state_dir()) as store:
        store.sync_features([f.id for f in plan.features], {f.id for f in plan.features if f.done})
        deps: dict[str, FeatureResult] = {
            d: results[d] for d in plan.by_id[fid].depends_on if d in results
        }
        adopt_results(repo, plan, store, remote, deps)
    options = RunOptions(only=(fid,), no_merge=True)
    outcome = Orchestrator(repo, loaded, options, on_event=LinePrinter()).run()
    with Store.open(repo.state_dir()) as store:
        shown = next(f for f in status_data(plan, repo, store)["features"] if f["id"] == fid)
    if outcome.exit_code == ExitCode.INTERRUPTED or shown["state"] not in ("done", "failed"):
        said = f"{fid} was interrupted; its claim stays, and a re-run of this job takes it over"
        return FeatureJob(fid, "interrupted", said, outcome.exit_code)
    branch = plan.run.branch_prefix + fid
    result = _result(fid, shown, holder, branch if shown["state"] == "done" else None)
    refs: list[RefUpdate] = []
    if result.state == "done" and result.commit:
        # the branch and its result in one atomic push: a job cannot die between the two
        ref = HEADS + branch
        refs.append(RefUpdate(ref, CommitSha(result.commit), remote_head(repo, remote, branch)))
    publish_result(repo, remote, result, with_refs=refs)
    if result.state == "done":
        cost = money(result.cost_usd, result.cost_estimated)
        said = f"{fid} done at {(result.commit or '')[:10]}: {branch} pushed to {remote}; {cost}"
        return FeatureJob(fid, "done", said, ExitCode.OK, result)
    said = f"{fid} failed ({result.reason}): {result.detail}; recorded on {remote}"
    return FeatureJob(fid, "failed", said, ExitCode.PARTIAL, result)


def _result(
    fid: FeatureId, shown: dict[str, Any], holder: str, branch: str | None
) -> FeatureResult:
    """The result record, from the feature as `wta status --json` shows it."""
    return FeatureResult(
        branch=branch,
        summary=shown["summary"],
        feature_id=fid,
        state=shown["state"],
        reason=shown["reason"],
        detail=shown["detail"],
        cost_usd=shown["cost_usd"] or 0.0,
        cost_estimated=bool(shown["cost_estimated"]),
        turns=shown["turns"],
        model=shown["model"],
        duration_s=shown["duration_s"],
        files_changed=shown["files_changed"] or 0,
        insertions=shown["insertions"] or 0,
        deletions=shown["deletions"] or 0,
        base_commit=shown["base_commit"],
        commit=shown["commit"],
        attempts=shown["attempts"] or 0,
        worker=holder,
        finished_at=time.time(),
    )
