"""`wta merge`: a run whose only work is integrating the `done` features (from
`--no-merge`), in topological order with plan order breaking ties, each by the same step
as `wta run` (integrate.py): a conflict fails the feature and skips its done dependents,
the after-merge checks run, the trailers, branch moves and events are the same."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from worktree_agents import failures
from worktree_agents.attempt import ATTEMPTS_REF, SAVED_REF, take_over
from worktree_agents.context import RunContext
from worktree_agents.dag import BLOCKING, FeatureGraph, propagate_skips
from worktree_agents.domain import CommitSha, FeatureId, FeatureState
from worktree_agents.errors import WtaError
from worktree_agents.events import WorkSaved
from worktree_agents.failures import Failure
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.integrate import checks_task, integrate
from worktree_agents.lock import RunLock
from worktree_agents.plan import Plan
from worktree_agents.process import append_log
from worktree_agents.reconcile import lost_merges
from worktree_agents.recovery import recover
from worktree_agents.runner import Orchestrator
from worktree_agents.store import FeatureRecord, Store
from worktree_agents.worktrees import Worktree


class DoneMerger(Orchestrator):
    """Run it with `RunOptions(only=<the done features>)`: preflight, the run record,
    its events and its outcome are `wta run`'s; only the work differs."""

    async def _work(self, context: RunContext, graph: FeatureGraph, slots: int) -> None:
        store = context.journal.store
        for fid in graph.topological:
            record = store.get(fid)
            if record is None or record.state is not FeatureState.DONE:
                continue
            states = store.states()
            blocker = next((d for d in graph.deps[fid] if states.get(d) in BLOCKING), None)
            if blocker is not None:
                context.journal.skipped(fid, blocker)
                continue
            failure = await self._land(context, record)
            if failure is None:
                context.guard.succeeded()
            else:
                context.guard.failed()
                context.journal.failed(fid, failure)
        # what waits on a feature that failed here can never run: skipped now, as in
        # `wta run`, not left pending until the next run finds out
        for fid, blocker in propagate_skips(self.plan.graph, store.states()).items():
            context.journal.skipped(fid, blocker)

    async def _land(self, ctx: RunContext, record: FeatureRecord) -> Failure | None:
        """Integrate one done feature from a fresh worktree at its verified commit."""
        feature, attempt = self.plan.by_id[record.id], max(record.attempts, 1)
        files = ctx.paths.attempt(record.id, attempt)
        files.dir.mkdir(parents=True, exist_ok=True)
        try:
            if record.commit_sha is None or record.base_commit is None:
                raise WtaError(f"'{record.id}' is done, but its commit was never recorded")
            head, base = record.commit_sha, record.base_commit
            worktree = await self._worktree(ctx, record, head, base)
            task = checks_task(ctx, feature, record.profile, attempt, worktree, files)
            failure = await integrate(ctx, feature, worktree, head, files, task)
            if failure is None and self.plan.run.reuse_worktrees:
                ctx.worktrees.release(worktree)  # merged: the next one may take it over
            return failure
        except Exception as exc:  # one feature's crash must not take the others down
            append_log(files.log, failures.crash_report(exc), self.plan.run.max_log_bytes)
            merged = ctx.journal.store.get(record.id)
            return None if merged and merged.state is FeatureState.MERGED else failures.crashed(exc)

    async def _worktree(
        self, ctx: RunContext, record: FeatureRecord, head: CommitSha, base: CommitSha
    ) -> Worktree:
        """The feature's worktree at `head` (a pristine checkout for the checks on the
        merged result): the last merged one's taken over, or a new one; work someone added
        on its branch since is kept first."""
        fid = record.id
        known = [f"{ATTEMPTS_REF}/{fid}/", f"{SAVED_REF}/{fid}/", HEADS + ctx.coordinator.branch]
        saved_as = f"{SAVED_REF}/{fid}/{record.attempts}-merge"
        saved = await asyncio.to_thread(ctx.worktrees.save_unrecorded_work, fid, saved_as, known)
        if saved is not None:
            ctx.journal.emit(WorkSaved(run_id=ctx.journal.run_id, feature_id=fid, ref=saved))
        worktree = await take_over(ctx, fid, head) if self.plan.run.reuse_worktrees else None
        if worktree is None:
            worktree = await asyncio.to_thread(ctx.worktrees.create, fid, head, reset=True)
        return replace(worktree, base_commit=base)  # the change is base..head


def done_features(states: dict[FeatureId, FeatureState]) -> tuple[FeatureId, ...]:
    """The done features, in plan order."""
    return tuple(f for f, s in states.items() if s is FeatureState.DONE)


def merge_selection(repo: GitRepo, plan: Plan) -> tuple[FeatureId, ...]:
    """What `wta merge` integrates, in plan order, once what a killed run left is settled
    (under the run lock): the done features, and the merges the integration branch lacks
    (a feature a killed `wta merge` was integrating is one)."""
    with RunLock(repo.state_dir()), Store.open(repo.state_dir()) as store:
        store.sync_features([f.id for f in plan.features], {f.id for f in plan.features if f.done})
        base_commit = repo.resolve_base(plan.run.base)[1]
        recover(repo, plan, store, base_commit)
        lost = set(lost_merges(repo, plan, store.all_features(), base_commit))
        done = set(done_features(store.states()))
    return tuple(f.id for f in plan.features if f.id in done | lost)
