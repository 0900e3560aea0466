"""`wta run`: preflight, then the scheduler loop over feature pipelines, then the outcome."""

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

from worktree_agents.basesync import base_followed
from worktree_agents.context import RunContext, RunOptions
from worktree_agents.dag import FeatureGraph
from worktree_agents.domain import BranchName, FeatureId, FeatureState, GuardrailRule, RunId
from worktree_agents.errors import ExitCode
from worktree_agents.events import (
    Event,
    EventLog,
    GuardrailTripped,
    RunFinished,
    RunStarted,
    Uncommitted,
)
from worktree_agents.fence_files import FilesFence
from worktree_agents.git import GitRepo
from worktree_agents.guardrails import RunGuard
from worktree_agents.journal import Journal
from worktree_agents.lock import RunLock
from worktree_agents.merge import MergeCoordinator
from worktree_agents.paths import StatePaths
from worktree_agents.pipeline import FeaturePipeline
from worktree_agents.plan import LoadedPlan
from worktree_agents.preflight import Preflight, check_options, preflight
from worktree_agents.reaper import adopting
from worktree_agents.recovery import IN_FLIGHT, recover
from worktree_agents.reintegrate import reintegrate
from worktree_agents.scheduler import SchedulerHooks, run_schedule
from worktree_agents.store import RunStatus, Store
from worktree_agents.throttle import QuotaWaitTooLong, Throttle
from worktree_agents.worktrees import WorktreeManager

__all__ = ["Orchestrator", "RunOptions", "RunOutcome", "new_run_id"]


@dataclass
class RunOutcome:
    run_id: RunId
    exit_code: ExitCode
    selected: tuple[FeatureId, ...]
    duration_s: float = 0.0
    interrupted: bool = False
    not_started: tuple[FeatureId, ...] = field(default=())
    stopped_by: GuardrailRule | None = None  # the run-wide guardrail that stopped new attempts
    cut_short: tuple[FeatureId, ...] = ()  # features whose attempt the interruption stopped


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
        self.paths = StatePaths(repo.state_dir())

    def run(self) -> RunOutcome:
        """Run the plan; returns the outcome (exit code 0, 1 or 130)."""
        check_options(self.plan, self.options)
        self.repo.pin_identity()  # before any agent can change the repository's config
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with RunLock(self.paths.root), Store.open(self.paths.root) as store:
            integration = BranchName(self.plan.run.integration_branch)
            coordinator = MergeCoordinator(self.repo, integration, self.plan.run.merge)
            checked = preflight(self.repo, self.loaded, self.options, store, coordinator)
            context = self._context(store, coordinator, checked)
            started = time.monotonic()
            graph = self.plan.graph.subgraph(set(checked.selected))
            interrupted = False
            try:
                asyncio.run(self._schedule(context, graph, checked))
            except (KeyboardInterrupt, asyncio.CancelledError, QuotaWaitTooLong):
                interrupted = True  # a quota that resets too late stops the run, resumable
            duration = time.monotonic() - started
            return self._finish(context, checked, duration, interrupted)

    def _context(
        self, store: Store, coordinator: MergeCoordinator, checked: Preflight
    ) -> RunContext:
        run_id, recorded = new_run_id(), {r.id for r in store.runs()}
        while run_id in recorded:  # two runs in one second drew the same four hex digits
            run_id = new_run_id()
        options_json = json.dumps(
            {
                "parallel": checked.slots,
                "only": list(self.options.only),
                "profile": self.options.profile,
                "no_merge": self.options.no_merge,
                "retry_failed": self.options.retry_failed,
                "base_branch": checked.base_branch,
                "base_commit": checked.base_commit,
            }
        )
        plan_path = str(self.loaded.path)
        store.start_run(run_id, os.getpid(), socket.gethostname(), plan_path, options_json)
        events = EventLog(self.paths.run_events(run_id))
        journal = Journal(store, events, run_id, self.on_event)
        guard = RunGuard(self.plan.guardrails)
        guard.on_trip = lambda rule, detail: journal.emit(
            GuardrailTripped(run_id=run_id, feature_id=None, rule=rule, detail=detail)
        )
        prefix = self.plan.run.branch_prefix
        context = RunContext(
            repo=self.repo,
            loaded=self.loaded,
            options=self.options,
            journal=journal,
            paths=self.paths,
            worktrees=WorktreeManager(
                self.repo, checked.worktree_root, prefix, tuple(self.plan.run.keep_ignored)
            ),
            coordinator=coordinator,
            guard=guard,
            fence_files=FilesFence(self.repo, journal, checked.worktree_root),
            throttle=Throttle(
                run_id, checked.slots, self.plan.guardrails.max_quota_wait, journal.emit
            ),
        )
        journal.emit(
            RunStarted(
                run_id=run_id,
                plan_path=plan_path,
                parallel=checked.slots,
                features=checked.selected,
            )
        )
        if checked.synced is not None and checked.synced.moved:
            journal.emit(base_followed(run_id, checked.synced))
        if checked.uncommitted:
            journal.emit(Uncommitted(run_id=run_id, paths=checked.uncommitted))
        return context

    async def _schedule(self, context: RunContext, graph: FeatureGraph, checked: Preflight) -> None:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, main.cancel)
        try:
            # merges the integration branch lost come back first, so that nothing is built
            # on a dependency it no longer holds (`wta merge` does the same)
            await reintegrate(context, checked.lost)
            await self._work(context, graph, checked.slots)
        finally:
            await context.tidy.drain()  # before the run is recorded as ended
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    async def _work(self, context: RunContext, graph: FeatureGraph, slots: int) -> None:
        """The run's work, under its signal handlers: the features' pipelines, scheduled."""
        pipeline = FeaturePipeline(context)
        hooks = SchedulerHooks(
            states=context.journal.store.states,
            start=pipeline.run_feature,
            skip=pipeline.skip,
            may_dispatch=pipeline.may_dispatch,
            ready=pipeline.ready,
            admit=pipeline.admit,
            capacity=context.throttle.capacity,
            hold=context.throttle.hold,
        )
        async with adopting():  # orphans of agents come to wta, not init
            await run_schedule(graph, slots, hooks, self.options.satisfied)

    def _finish(
        self, context: RunContext, checked: Preflight, duration: float, interrupted: bool
    ) -> RunOutcome:
        store = context.journal.store
        states = store.states()
        cut_short = tuple(f for f in checked.selected if states.get(f) in IN_FLIGHT)
        if interrupted:
            recover(self.repo, self.plan, store, checked.base_commit)
        records = {r.id: r for r in store.all_features()}
        chosen = [records[f] for f in checked.selected]
        counts = {
            state: sum(1 for r in chosen if r.state is state)
            for state in (FeatureState.MERGED, FeatureState.FAILED, FeatureState.SKIPPED)
        }
        not_started = tuple(
            r.id
            for r in chosen
            if r.state in (FeatureState.PENDING, FeatureState.READY) and r.id not in cut_short
        )
        if interrupted:
            code, status = ExitCode.INTERRUPTED, RunStatus.INTERRUPTED
        elif all(r.state in self.options.satisfied for r in chosen):
            code, status = ExitCode.OK, RunStatus.SUCCESS
        else:
            code, status = ExitCode.PARTIAL, RunStatus.PARTIAL
        guard, run_id = context.guard, context.journal.run_id
        context.journal.emit(
            RunFinished(
                run_id=run_id,
                status=status,
                merged=counts[FeatureState.MERGED],
                failed=counts[FeatureState.FAILED],
                skipped=counts[FeatureState.SKIPPED],
                cost_usd=round(guard.spent_usd, 6),
                duration_s=round(duration, 3),
            )
        )
        store.finish_run(run_id, status, round(guard.spent_usd, 6))
        return RunOutcome(
            run_id,
            code,
            checked.selected,
            duration,
            interrupted,
            not_started,
            guard.stopped_by,
            cut_short,
        )
