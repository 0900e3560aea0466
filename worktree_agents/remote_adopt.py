"""The remote's results brought into this clone's state, for `wta run-feature` (its
dependencies) and `wta merge --push` (every feature): a feature done elsewhere becomes
`done` here at the commit its result names, its branch fetched from the remote; a failed
or skipped one is recorded so, and its dependents skip here as they would in one run.

The remote's integration branch is the truth for `--push` (remote_state.py holds the
claims and results): `follow_remote` makes the local integration branch the remote's, so
that nothing the remote holds is merged twice and what the local one held beyond it is
integrated again (reconcile.py finds those merges lost)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from worktree_agents.domain import BranchName, CommitSha, FailureReason, FeatureId, FeatureState
from worktree_agents.errors import RepoError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.plan import Plan
from worktree_agents.push import remote_heads
from worktree_agents.remote_state import FeatureResult
from worktree_agents.store import FeatureUpdate, Store
from worktree_agents.text import last_line

FETCHED = "refs/wta/fetched/"  # what was fetched from the remote: heads/<branch>


def fetch_branches(
    repo: GitRepo, remote: str, branches: Iterable[str]
) -> dict[str, CommitSha | None]:
    """The remote's branches fetched (one `git fetch`) under refs/wta/fetched/heads/, and
    where each is (None: the remote has no such branch)."""
    wanted = sorted(set(branches))
    if not wanted:
        return {}
    there = set(remote_heads(repo, remote, wanted))
    fetch_known(repo, remote, [b for b in wanted if b in there])
    return {b: repo.rev_parse(f"{FETCHED}heads/{b}") if b in there else None for b in wanted}


def fetch_known(repo: GitRepo, remote: str, branches: Iterable[str]) -> None:
    """Fetch branches the remote is known to have under refs/wta/fetched/heads/ (one
    `git fetch`); RepoError with git's reason when that fails."""
    specs = [f"+{HEADS}{b}:{FETCHED}heads/{b}" for b in branches]
    if not specs:
        return
    args = ("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, *specs)
    fetched = repo.run(*args, check=False)
    if fetched.exit_code != 0:
        why = last_line(fetched.stderr) or f"git fetch exited {fetched.exit_code}"
        raise RepoError(f"cannot fetch from the remote {remote!r}: {why}")


def fetched_tip(repo: GitRepo, branch: str) -> CommitSha | None:
    """Where the last fetch of the remote's `branch` left it."""
    return repo.rev_parse(f"{FETCHED}heads/{branch}")


def adopt_results(
    repo: GitRepo,
    plan: Plan,
    store: Store,
    remote: str,
    results: Mapping[str, FeatureResult],
) -> list[FeatureId]:
    """Record in the store what the remote says of each feature with a result, unless it
    is merged here already; the features recorded. A done result whose verified commit the
    remote's branch no longer holds is recorded failed, saying so."""
    prefix = plan.run.branch_prefix
    states = store.states()
    chosen = [
        FeatureId(fid)
        for fid in results
        if fid in plan.by_id and states.get(FeatureId(fid)) is not FeatureState.MERGED
    ]
    done = [f for f in chosen if results[f].state == "done"]
    tips = fetch_branches(repo, remote, [prefix + f for f in done])
    for fid in chosen:
        result = results[fid]
        changes = FeatureUpdate(
            branch=prefix + fid,
            base_commit=CommitSha(result.base_commit) if result.base_commit else None,
            commit_sha=CommitSha(result.commit) if result.commit else None,
            model=result.model,
            cost_usd=result.cost_usd,
            turns=result.turns,
            duration_s=result.duration_s,
            files_changed=result.files_changed,
            insertions=result.insertions,
            deletions=result.deletions,
        )
        where = f"by {result.worker} (a result on {remote})"
        if result.state == "done":
            tip = tips.get(prefix + fid)
            if result.commit and tip and repo.is_ancestor(CommitSha(result.commit), tip):
                store.set_state(fid, FeatureState.DONE, detail=f"done {where}", changes=changes)
                continue
            lost = f"done {where}, but {remote}'s {prefix}{fid} no longer holds its commit"
            store.set_state(fid, FeatureState.FAILED, detail=lost, changes=changes)
        elif result.state == "failed":
            reason = result.reason if result.reason in set(FailureReason) else None
            detail = f"failed {where}: {result.detail or 'no detail'}"
            store.set_state(
                fid,
                FeatureState.FAILED,
                reason=FailureReason(reason) if reason else None,
                detail=detail,
                changes=changes,
            )
        else:
            store.set_state(fid, FeatureState.SKIPPED, detail=result.detail, changes=changes)
    return chosen


def follow_remote(
    repo: GitRepo, remote: str, branch: BranchName, base: CommitSha
) -> CommitSha | None:
    """Make the local integration branch the remote's unless it holds it already (fetched;
    moved by compare-and-swap, never while checked out); where the remote has it (None: it
    has none yet, and the local branch is left as it is)."""
    tip = fetch_branches(repo, remote, [branch]).get(branch)
    if tip is None:
        return None
    ref = HEADS + branch
    local = repo.rev_parse(ref)
    shared = repo.run("merge-base", tip, base, check=False)
    if shared.exit_code != 0:
        raise RepoError(
            f"{remote}'s {branch} ({tip[:10]}) shares no history with the base; nothing"
            f" moved. Delete it on {remote} (git push {remote} :{branch}) if it is not wta's"
        )
    if local is None or not repo.is_ancestor(tip, local):  # ours holds theirs: keep it
        checked_out = repo.checked_out_branches()
        if branch in checked_out:
            raise RepoError(
                f"{branch} is checked out in {checked_out[branch]}; wta moves it to"
                f" {remote}'s, so switch that worktree to another branch first"
            )
        repo.update_ref(ref, tip, local, message=f"wta: follow {remote}'s {branch}")
    return tip
