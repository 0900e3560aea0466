"""One feature's way through a run: attempts until one succeeds or the retry policy says
stop, and the scheduler's hooks. Each attempt's steps are in attempt.py."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence

from worktree_agents import failures, procfs
from worktree_agents.agents.registry import recorded_model
from worktree_agents.attempt import Attempt
from worktree_agents.context import RunContext
from worktree_agents.domain import FailureReason, FeatureId, FeatureState
from worktree_agents.events import AttemptInterrupted, Retry
from worktree_agents.failures import Failure
from worktree_agents.plan import ResolvedProfile
from worktree_agents.process import append_log
from worktree_agents.reaper import attempt_marker, kill_marked
from worktree_agents.store import AttemptOutcome, AttemptRecord, FeatureUpdate

WAITING = (FeatureState.PENDING, FeatureState.READY)
IN_FLIGHT = (FeatureState.RUNNING, FeatureState.VERIFYING, FeatureState.INTEGRATING)


def retryable(reason: FailureReason, profile: ResolvedProfile, retry_conflicts: bool) -> bool:
    """A conflict is retried only with retry_conflicts; a feature the agent reported blocked
    only when the profile escalates to another one (the same agent would say the same)."""
    if reason is FailureReason.CONFLICT:
        return retry_conflicts
    if reason is FailureReason.BLOCKED:
        return profile.escalate_to not in (None, profile.name)
    return True


def tries_before(attempts: Sequence[AttemptRecord]) -> int:
    """The tries from earlier runs that count against max_attempts: those of the runs that
    were interrupted with the feature in flight, back to the last run that was not (its
    attempts ended the feature, and a person has reset it since). Interrupted attempts are
    never tries."""
    tries = 0
    by_run = [list(group) for _, group in itertools.groupby(attempts, lambda a: a.run_id)]
    for group in reversed(by_run):
        if group[-1].outcome is not AttemptOutcome.INTERRUPTED:
            break
        tries += sum(1 for a in group if a.outcome is not AttemptOutcome.INTERRUPTED)
    return tries


class FeaturePipeline:
    def __init__(self, context: RunContext) -> None:
        self.ctx = context
        self.plan = context.loaded.plan
        self.journal = context.journal

    # scheduler hooks

    def may_dispatch(self) -> bool:
        """Whether a new attempt may start: the run budget and the circuit breaker say."""
        return self.ctx.guard.may_start()

    def ready(self, feature_id: FeatureId) -> None:
        self.journal.ready(feature_id)

    def skip(self, feature_id: FeatureId, because: FeatureId) -> None:
        self.journal.skipped(feature_id, because)

    def admit(self, feature_id: FeatureId) -> bool:
        """Reserve the feature's first attempt's max_budget_usd against the run budget."""
        feature = self.plan.by_id[feature_id]
        profile_name = self.plan.profile_for(feature, self.ctx.options.profile)
        budget = self.plan.resolve_profile(profile_name).max_budget_usd
        return self.ctx.guard.reserve(feature_id, budget)

    async def run_feature(self, feature_id: FeatureId) -> None:
        """Attempt the feature until it succeeds or runs out of attempts."""
        try:
            await self._run_feature(feature_id)
        finally:
            self.ctx.guard.settle(feature_id, None)  # what is left of its reservation

    async def _run_feature(self, feature_id: FeatureId) -> None:
        feature = self.plan.by_id[feature_id]
        profile_name = self.plan.profile_for(feature, self.ctx.options.profile)
        feedback: str | None = None
        started = time.monotonic()
        max_attempts = self.plan.guardrails.max_attempts
        # at least one try, even if max_attempts was lowered since the interrupted run
        tries = min(tries_before(self.journal.store.attempts(feature_id)), max_attempts - 1)
        from_states: tuple[FeatureState, ...] = WAITING
        while True:
            profile = self.plan.resolve_profile(profile_name)
            record = self._claim(feature_id, profile, from_states)
            if record is None:
                return  # someone else has it, or it is no longer waiting
            from_states, tries = IN_FLIGHT, tries + 1
            attempt = Attempt(self.ctx, feature, record, profile, feedback)
            failure = await self._attempt(attempt)
            if self._throttled(attempt):
                return  # back to pending: it starts again when the quota or the slots allow
            if failure is None:
                self.ctx.guard.succeeded()
                break
            retry = retryable(failure.reason, profile, self.plan.guardrails.retry_conflicts)
            if tries < max_attempts and retry and self.may_dispatch():
                profile_name = profile.escalate_to or profile_name
                feedback = failure.feedback
                budget = self.plan.resolve_profile(profile_name).max_budget_usd
                self.ctx.guard.reserve(feature_id, budget, wait=False)
                self.journal.emit(
                    Retry(
                        run_id=self.journal.run_id,
                        feature_id=feature_id,
                        attempt=record.n + 1,  # the next claim's number: one run per feature
                        reason=failure.reason,
                        profile=profile_name,
                    )
                )
                continue
            self.ctx.guard.failed()
            self.journal.failed(feature_id, failure)
            break
        duration_s = round(time.monotonic() - started, 3)
        self.journal.update(feature_id, FeatureUpdate(duration_s=duration_s))

    def _throttled(self, attempt: Attempt) -> bool:
        """Tell the throttle how the agent ended. An attempt stopped by a spent quota or a
        rate limit is no failure: the feature goes back to pending (the throttle may then
        stop the run, resumable, if the wait is too long)."""
        result = attempt.result
        if result is None:
            return False  # the agent never ran
        if result.ok or not result.rate_limited:
            self.ctx.throttle.ran_clean()
            return False
        self.journal.store.reset([attempt.fid])
        if result.resets_at is not None:
            self.ctx.throttle.quota_spent(attempt.fid, result.resets_at, result.detail or "")
        else:
            self.ctx.throttle.rate_limited(attempt.fid)
        return True

    def _claim(
        self, feature_id: FeatureId, profile: ResolvedProfile, from_states: tuple[FeatureState, ...]
    ) -> AttemptRecord | None:
        return self.journal.store.claim(
            feature_id,
            self.journal.run_id,
            from_states,
            profile=profile.name,
            model=recorded_model(profile),
        )

    async def _attempt(self, attempt: Attempt) -> Failure | None:
        """Run one attempt and close its record. An unexpected error fails the attempt as
        crashed (its traceback goes to the log), unless the feature had merged before it."""
        since = procfs.ticks_now() - 1
        try:
            failure = await attempt.run()
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM: the run stops
            self._interrupted(attempt)
            raise
        except Exception as exc:  # one feature's crash must not take the run down
            cap = self.plan.run.max_log_bytes
            append_log(attempt.files.log, failures.crash_report(exc), cap)
            record = self.journal.store.get(attempt.fid)
            merged = record is not None and record.state is FeatureState.MERGED
            failure = None if merged else failures.crashed(exc)
        finally:
            await self._end_processes(attempt, since)
        self._close(attempt, failure)
        return failure

    async def _end_processes(self, attempt: Attempt, since: int) -> None:
        """Every process the attempt started ends with it: the agent's were killed when it
        ended (the fence); what setup or a check left running, carrying the attempt's marker
        (they run with the agent's environment), is killed now, on every way out."""
        await kill_marked(
            attempt_marker(self.journal.run_id, attempt.files.dir),
            record=attempt.files.processes,
            since=since,
            log_path=attempt.files.log,
            max_log_bytes=self.plan.run.max_log_bytes,
            left="that setup or a check left running",
        )

    def _interrupted(self, attempt: Attempt) -> None:
        """Close an attempt cut short as interrupted (not a try, not a failure), with what its
        agent spent: reported, or estimated from its usage if it was killed; the run's budget
        counts it."""
        result = attempt.result
        spent = (result.cost_usd, result.cost_estimated) if result else None
        cost, estimated = spent or (attempt.spend.cost_usd, attempt.spend.estimated)
        if result is None:  # the agent's own end counted what it reported
            self.ctx.guard.spent(cost)
        self.journal.store.finish_attempt(
            attempt.fid,
            attempt.n,
            outcome=AttemptOutcome.INTERRUPTED,
            detail="the run was interrupted (Ctrl-C or SIGTERM) during this attempt",
            cost_usd=cost,
            cost_estimated=estimated,
            turns=result.turns if result else None,
            session_id=result.session_id if result else None,
        )
        interrupted = AttemptInterrupted(
            run_id=self.journal.run_id,
            feature_id=attempt.fid,
            attempt=attempt.n,
            cost_usd=cost,
            cost_estimated=estimated,
        )
        self.journal.emit(interrupted)

    def _close(self, attempt: Attempt, failure: Failure | None) -> None:
        result = attempt.result
        outcome = AttemptOutcome.OK if failure is None else AttemptOutcome.FAILED
        if failure is not None and result is not None and result.rate_limited:
            outcome = AttemptOutcome.INTERRUPTED  # by a quota or a rate limit: no failure
        self.journal.store.finish_attempt(
            attempt.fid,
            attempt.n,
            outcome=outcome,
            reason=None if failure is None else failure.reason,
            detail=None if failure is None else failure.detail,
            head_commit=None if failure is None else attempt.head,
            cost_usd=result.cost_usd if result else None,
            turns=result.turns if result else None,
            session_id=result.session_id if result else None,
            cost_estimated=result.cost_estimated if result else False,
        )
