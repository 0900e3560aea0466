"""`wta run`: preflight, then the scheduler loop over feature pipelines, then the report.

Preflight checks everything that can be checked before any agent starts (lock, base,
integration branch, selection), so a usage error changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from worktree_agents.dag import SATISFIED_MERGED, FeatureGraph
from worktree_agents.domain import BranchName, CommitSha, FeatureId, FeatureState, RunId
from worktree_agents.errors import ExitCode, UsageError
from worktree_agents.events import (
    Event,
    EventLog,
    GuardrailTripped,
    RunFinished,
    RunStarted,
    events_path,
)
from worktree_agents.git import GitRepo
from worktree_agents.guardrails import RunGuard
from worktree_agents.lock import RunLock
from worktree_agents.merge import MergeCoordinator, feature_trailers
from worktree_agents.pipeline import FeaturePipeline, RunContext
from worktree_agents.plan import LoadedPlan
from worktree_agents.process import PROCESS_RECORD, kill_recorded
from worktree_agents.scheduler import SchedulerHooks, run_schedule
from worktree_agents.store import AttemptOutcome, FeatureUpdate, RunStatus, Store
from worktree_agents.worktrees import WorktreeManager, resolve_worktree_root

IN_FLIGHT = frozenset({FeatureState.RUNNING, FeatureState.VERIFYING, FeatureState.INTEGRATING})
SATISFIED_NO_MERGE = frozenset({FeatureState.MERGED, FeatureState.DONE})


@dataclass(frozen=True)
class RunOptions:
    parallel: int | None = None
    only: tuple[FeatureId, ...] = ()
    profile: str | None = None
    no_merge: bool = False
    retry_failed: bool = False


@dataclass
class RunOutcome:
    run_id: RunId
    exit_code: ExitCode
    selected: tuple[FeatureId, ...]
    duration_s: float = 0.0
    interrupted: bool = False
    not_started: tuple[FeatureId, ...] = field(default=())
    stopped_by: str | None = None  # the run-wide guardrail that stopped new attempts


def new_run_id() -> RunId:
    return RunId(time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2))


class Orchestrator:
    """One `wta run` on one repository."""

    def __init__(
        self,
        repo: GitRepo,
        loaded: LoadedPlan,
        options: RunOptions,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.repo = repo
        self.loaded = loaded
        self.plan = loaded.plan
        self.options = options
        self.on_event = on_event
        self.state_dir = repo.state_dir()
        self._base_commit: CommitSha | None = None

    def run(self) -> RunOutcome:
        """Run the plan; returns the outcome (exit code 0, 1 or 130)."""
        self._check_options()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.state_dir), Store.open(self.state_dir) as store:
            return self._run_locked(store)

    def _check_options(self) -> None:
        known = set(self.plan.by_id)
        unknown = [f for f in self.options.only if f not in known]
        if unknown:
            raise UsageError(
                f"--only names {', '.join(repr(u) for u in unknown)}, which the plan does not"
                " have; see `wta plan` for the feature ids"
            )
        profile = self.options.profile
        if profile is not None and profile not in self.plan.profile_names():
            raise UsageError(
                f"--profile {profile!r} is not defined; the plan has: "
                + ", ".join(self.plan.profile_names())
            )
        if self.options.parallel is not None and self.options.parallel < 1:
            raise UsageError("--parallel must be at least 1")

    def _selection(self, store: Store) -> tuple[FeatureId, ...]:
        if not self.options.only:
            return tuple(f.id for f in self.plan.features)
        chosen = set(self.options.only)
        states = store.states()
        satisfied = SATISFIED_NO_MERGE if self.options.no_merge else SATISFIED_MERGED
        missing = sorted(
            {
                dep
                for fid in chosen
                for dep in self.plan.by_id[fid].depends_on
                if dep not in chosen and states.get(dep) not in satisfied
            }
        )
        if missing:
            raise UsageError(
                "--only leaves out dependencies that are not merged yet: "
                + ", ".join(missing)
                + "; add them to --only, or run them first"
            )
        return tuple(f.id for f in self.plan.features if f.id in chosen)

    def _run_locked(self, store: Store) -> RunOutcome:
        plan = self.plan
        store.sync_features([f.id for f in plan.features], {f.id for f in plan.features if f.done})
        selected = self._selection(store)
        base_branch, base_commit = self.repo.resolve_base(plan.run.base)
        self._base_commit = base_commit
        if base_branch is not None and base_branch == plan.run.integration_branch:
            raise UsageError(
                f"the base branch '{base_branch}' is the integration branch; check out the branch"
                " you want to build on, or set [run] base in wta.toml"
            )
        root = resolve_worktree_root(self.repo, plan.run.worktree_root, self.loaded.base_dir)
        integration = BranchName(plan.run.integration_branch)
        coordinator = MergeCoordinator(self.repo, integration, plan.run.merge)
        holder = self.repo.checked_out_branches().get(integration)
        if holder is not None:
            raise UsageError(
                f"the integration branch '{plan.run.integration_branch}' is checked out in"
                f" {holder}; switch that worktree to another branch first"
            )
        self._recover(store)
        self._check_branches(store, selected)
        coordinator.ensure_branch(base_commit)
        if self.options.retry_failed:
            again = [
                fid
                for fid, state in store.states().items()
                if fid in selected and state in (FeatureState.FAILED, FeatureState.SKIPPED)
            ]
            store.reset(again)

        run_id = new_run_id()
        slots = self.options.parallel or plan.run.max_parallel
        events = EventLog(events_path(self.state_dir, run_id))
        options_json = json.dumps(
            {
                "parallel": slots,
                "only": list(self.options.only),
                "profile": self.options.profile,
                "no_merge": self.options.no_merge,
                "retry_failed": self.options.retry_failed,
                "base_branch": base_branch,
                "base_commit": base_commit,
            }
        )
        store.start_run(
            run_id, os.getpid(), socket.gethostname(), str(self.loaded.path), options_json
        )
        context = RunContext(
            repo=self.repo,
            loaded=self.loaded,
            run_id=run_id,
            store=store,
            events=events,
            on_event=self.on_event,
            worktrees=WorktreeManager(self.repo, root, plan.run.branch_prefix),
            coordinator=coordinator,
            state_dir=self.state_dir,
            profile_override=self.options.profile,
            no_merge=self.options.no_merge,
            guard=RunGuard(plan.guardrails),
        )
        context.guard.on_trip = lambda rule, detail: context.emit(
            GuardrailTripped(run_id=run_id, feature_id=None, rule=rule, detail=detail)
        )
        context.emit(RunStarted(run_id=run_id, plan_path=str(self.loaded.path), parallel=slots,
                                features=selected))  # fmt: skip
        started = time.monotonic()
        graph = plan.graph.subgraph(set(selected))
        interrupted = False
        try:
            asyncio.run(self._schedule(context, graph, slots))
        except (KeyboardInterrupt, asyncio.CancelledError):
            interrupted = True
        duration = time.monotonic() - started
        return self._finish(context, selected, duration, interrupted)

    async def _schedule(self, context: RunContext, graph: FeatureGraph, slots: int) -> None:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, main.cancel)
        pipeline = FeaturePipeline(context)
        hooks = SchedulerHooks(
            states=context.store.states,
            start=pipeline.run_feature,
            skip=pipeline.skip,
            may_dispatch=pipeline.may_dispatch,
            ready=pipeline.ready,
        )
        satisfied = SATISFIED_NO_MERGE if self.options.no_merge else SATISFIED_MERGED
        try:
            await run_schedule(graph, slots, hooks, satisfied)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    def _landed(self) -> dict[FeatureId, CommitSha]:
        """Features the integration branch holds beyond the base, from their `Wta-Feature`
        trailers (only the commits since the base are read: the cost stays small)."""
        integration = "refs/heads/" + self.plan.run.integration_branch
        if not self.repo.ref_exists(integration):
            return {}
        since = f"{self._base_commit}..{integration}" if self._base_commit else integration
        return {feature: commit for commit, feature in feature_trailers(self.repo, since)}

    def _recover(self, store: Store) -> None:
        """Settle features left in flight by a run that died.

        A feature whose commit already reached the integration branch (the run died
        between moving the ref and recording it) is marked merged, so it is never merged
        twice; any other is restarted from pending.
        """
        stranded = [r for r in store.all_features() if r.state in IN_FLIGHT]
        landed = self._landed() if stranded else {}
        for record in stranded:
            attempts = store.attempts(record.id)
            if attempts and attempts[-1].finished_at is None and attempts[-1].log_path:
                # its agent and checks outlive a run killed by SIGKILL: stop them first,
                # so that they cannot write into the restarted attempt's worktree
                log = Path(attempts[-1].log_path)
                asyncio.run(kill_recorded(log.with_name(PROCESS_RECORD), log))
            if attempts and attempts[-1].finished_at is None:
                store.finish_attempt(
                    record.id,
                    attempts[-1].n,
                    outcome=AttemptOutcome.INTERRUPTED,
                    detail="the run that started this attempt stopped before it finished",
                )
            if record.id in landed:
                self._settle(store, record.id, landed[record.id], "after an interrupted run")
            else:
                store.reset([record.id])

    def _settle(self, store: Store, fid: FeatureId, commit: CommitSha, when: str) -> None:
        store.set_state(
            fid,
            FeatureState.MERGED,
            detail=f"found on the integration branch {when}",
            changes=FeatureUpdate(commit_sha=commit, branch=self.plan.run.branch_prefix + fid),
        )

    def _check_branches(self, store: Store, selected: tuple[FeatureId, ...]) -> None:
        """Settle what the integration branch already holds, and never take over a feature
        branch wta has no record of making.

        A selected feature whose `Wta-Feature` trailer is on the integration branch is
        merged, whatever the state store says (it may have been lost): it is recorded so,
        never run again. Any other `<prefix><id>` branch unknown to the store is refused.
        """
        prefix = self.plan.run.branch_prefix
        records = {r.id: r for r in store.all_features()}
        landed = self._landed()
        for fid in selected:
            record = records.get(fid)
            if fid in landed and (record is None or record.state is not FeatureState.MERGED):
                self._settle(store, fid, landed[fid], "(the state had no record of it)")
        unknown = [
            prefix + fid
            for fid in selected
            if fid not in landed
            and (records.get(fid) is None or records[fid].branch is None)
            and self.repo.branch_exists(prefix + fid)
        ]
        if unknown:
            verb, them = ("exists", "it") if len(unknown) == 1 else ("exist", "them")
            raise UsageError(
                f"{', '.join(unknown)} already {verb}, but wta has no record of making {them};"
                f" rename or delete {them} (git branch -m / -D) so wta does not overwrite {them}"
            )

    def _finish(
        self,
        context: RunContext,
        selected: tuple[FeatureId, ...],
        duration: float,
        interrupted: bool,
    ) -> RunOutcome:
        store = context.store
        if interrupted:
            self._recover(store)
        records = {r.id: r for r in store.all_features()}
        chosen = [records[f] for f in selected]
        good = SATISFIED_NO_MERGE if self.options.no_merge else SATISFIED_MERGED
        counts = {
            state: sum(1 for r in chosen if r.state is state)
            for state in (FeatureState.MERGED, FeatureState.FAILED, FeatureState.SKIPPED)
        }
        not_started = tuple(
            r.id for r in chosen if r.state in (FeatureState.PENDING, FeatureState.READY)
        )
        if interrupted:
            code, status = ExitCode.INTERRUPTED, RunStatus.INTERRUPTED
        elif all(r.state in good for r in chosen):
            code, status = ExitCode.OK, RunStatus.SUCCESS
        else:
            code, status = ExitCode.PARTIAL, RunStatus.PARTIAL
        context.emit(
            RunFinished(
                run_id=context.run_id,
                status=status.value,
                merged=counts[FeatureState.MERGED],
                failed=counts[FeatureState.FAILED],
                skipped=counts[FeatureState.SKIPPED],
                cost_usd=round(context.guard.spent_usd, 6),
                duration_s=round(duration, 3),
            )
        )
        store.finish_run(context.run_id, status, round(context.guard.spent_usd, 6))
        return RunOutcome(
            context.run_id,
            code,
            selected,
            duration,
            interrupted,
            not_started,
            context.guard.stopped_by,
        )
