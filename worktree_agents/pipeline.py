"""One feature's way through a run: worktree, agent, commit, guardrails, verify, merge,
and retries with feedback. Every step records its state and emits its event."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from worktree_agents.agents.base import AgentResult, AgentTask, agent_env
from worktree_agents.agents.registry import backend_for
from worktree_agents.domain import (
    CommitSha,
    FailureReason,
    FeatureId,
    FeatureState,
    RunId,
)
from worktree_agents.errors import AgentError, GitError, WtaError
from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    Conflict,
    Event,
    EventLog,
    FeatureFailed,
    FeatureReady,
    GuardrailTripped,
    Merged,
    MergeStarted,
    Retry,
    Skipped,
    ToolUsed,
    VerifyFinished,
    VerifyStarted,
    WorkSaved,
    WorktreeCreated,
)
from worktree_agents.git import GitRepo, restore_stash, stash_entries
from worktree_agents.guardrails import RunGuard, check_diff, diff_stats, format_feedback
from worktree_agents.merge import FeatureChange, MergeCoordinator, stack_bases
from worktree_agents.plan import Feature, LoadedPlan, ResolvedProfile
from worktree_agents.process import append_log, free_port
from worktree_agents.prompt import build_prompt, build_system_append
from worktree_agents.store import AttemptOutcome, AttemptRecord, FeatureUpdate, Store
from worktree_agents.verify import CheckReport, CheckRun, run_checks
from worktree_agents.worktrees import Worktree, WorktreeManager

ATTEMPTS_REF = "refs/wta/attempts"
SAVED_REF = "refs/wta/saved"
WAITING = (FeatureState.PENDING, FeatureState.READY)
IN_FLIGHT = (FeatureState.RUNNING, FeatureState.VERIFYING, FeatureState.INTEGRATING)


@dataclass
class RunContext:
    """Everything a feature pipeline shares with the rest of the run."""

    repo: GitRepo
    loaded: LoadedPlan
    run_id: RunId
    store: Store
    events: EventLog
    on_event: Callable[[Event], None] | None
    worktrees: WorktreeManager
    coordinator: MergeCoordinator
    state_dir: Path
    profile_override: str | None
    no_merge: bool
    guard: RunGuard
    merge_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stash_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def emit(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed: the reason, one line for people, and feedback for a retry."""

    reason: FailureReason
    detail: str
    feedback: str
    head: CommitSha | None = None
    conflict_paths: tuple[str, ...] = ()


class FeaturePipeline:
    def __init__(self, context: RunContext) -> None:
        self.ctx = context
        self.plan = context.loaded.plan

    # scheduler hooks

    def may_dispatch(self) -> bool:
        """Whether a new attempt may start: the run budget and the circuit breaker say."""
        return self.ctx.guard.may_start()

    def ready(self, feature_id: FeatureId) -> None:
        if self.ctx.store.get(feature_id) is not None:
            self.ctx.store.set_state(feature_id, FeatureState.READY)
        self.ctx.emit(FeatureReady(run_id=self.ctx.run_id, feature_id=feature_id))

    def skip(self, feature_id: FeatureId, because: FeatureId) -> None:
        cause = self.ctx.store.get(because)
        what = cause.state.value if cause is not None else "not run"
        self.ctx.store.set_state(
            feature_id,
            FeatureState.SKIPPED,
            detail=f"dependency '{because}' {what}",
            changes=FeatureUpdate(skipped_because=because),
        )
        self.ctx.emit(Skipped(run_id=self.ctx.run_id, feature_id=feature_id, because=because))

    async def run_feature(self, feature_id: FeatureId) -> None:
        """Attempt the feature until it succeeds or runs out of attempts."""
        feature = self.plan.by_id[feature_id]
        profile_name = self.plan.profile_for(feature, self.ctx.profile_override)
        feedback: str | None = None
        started = time.monotonic()
        max_attempts = self.plan.guardrails.max_attempts
        for number in range(1, max_attempts + 1):
            profile = self.plan.resolve_profile(profile_name)
            from_states = WAITING if number == 1 else IN_FLIGHT
            attempt = self.ctx.store.claim(
                feature_id,
                self.ctx.run_id,
                from_states,
                profile=profile.name,
                model=profile.model if profile.backend == "claude" else None,
            )
            if attempt is None:
                return  # someone else has it, or it is no longer waiting
            try:
                failure = await self._attempt(feature, attempt, profile, feedback)
            except Exception as exc:  # one feature's crash must not take the run down
                failure = self._crashed(attempt, exc)
            if failure is None:
                self.ctx.guard.succeeded()
                self._finish_duration(feature_id, started)
                return
            retryable = _retryable(failure.reason, profile, self.plan.guardrails.retry_conflicts)
            if number < max_attempts and retryable and self.may_dispatch():
                profile_name = profile.escalate_to or profile_name
                feedback = failure.feedback
                self.ctx.emit(
                    Retry(
                        run_id=self.ctx.run_id,
                        feature_id=feature_id,
                        attempt=number + 1,
                        reason=failure.reason,
                        profile=profile_name,
                    )
                )
                continue
            self._fail(feature_id, failure)
            self._finish_duration(feature_id, started)
            return

    # one attempt

    async def _attempt(
        self,
        feature: Feature,
        attempt: AttemptRecord,
        profile: ResolvedProfile,
        feedback: str | None,
    ) -> Failure | None:
        ctx = self.ctx
        fid = feature.id
        base = await asyncio.to_thread(self._base_for, feature)
        if isinstance(base, Failure):
            self._close_attempt(attempt, base, None)
            return base
        await asyncio.to_thread(self._keep_earlier_work, fid, attempt.n)
        worktree = await asyncio.to_thread(ctx.worktrees.create, fid, base, reset=True)
        attempt_dir = ctx.state_dir / "attempts" / fid / str(attempt.n)
        attempt_dir.mkdir(parents=True, exist_ok=True)
        log_path = attempt_dir / "log.txt"
        ctx.store.annotate_attempt(fid, attempt.n, base_commit=base, log_path=str(log_path))
        ctx.store.update_feature(fid, FeatureUpdate(branch=worktree.branch, base_commit=base))
        ctx.emit(
            WorktreeCreated(
                run_id=ctx.run_id,
                feature_id=fid,
                path=str(worktree.path),
                branch=worktree.branch,
                base_commit=base,
            )
        )
        checks = [*self.plan.verify.commands, *feature.acceptance]
        prompt = build_prompt(feature, checks, feedback)
        prompt_file = attempt_dir / "prompt.md"
        prompt_file.write_text(prompt, encoding="utf-8")
        task = AgentTask(
            feature_id=fid,
            title=feature.display_title,
            attempt=attempt.n,
            run_id=ctx.run_id,
            worktree=worktree.path,
            base_commit=base,
            prompt=prompt,
            prompt_file=prompt_file,
            log_path=log_path,
            port=free_port(),
            profile=profile,
            plan_dir=ctx.loaded.base_dir,
            system_append=build_system_append(feature, checks),
            resume_session=self._session_to_resume(fid, profile),
            on_tool=lambda tool, summary: ctx.emit(
                ToolUsed(
                    run_id=ctx.run_id,
                    feature_id=fid,
                    attempt=attempt.n,
                    tool=tool,
                    summary=summary,
                )
            ),
        )
        ctx.emit(
            AgentStarted(
                run_id=ctx.run_id,
                feature_id=fid,
                attempt=attempt.n,
                profile=profile.name,
                backend=profile.backend,
                model=profile.model if profile.backend == "claude" else None,
            )
        )
        stash = await asyncio.to_thread(stash_entries, ctx.repo)
        result = await backend_for(profile).run(task)
        ctx.guard.spent(result.cost_usd)
        ctx.emit(
            AgentFinished(
                run_id=ctx.run_id,
                feature_id=fid,
                attempt=attempt.n,
                ok=result.ok,
                reason=result.reason,
                cost_usd=result.cost_usd,
                turns=result.turns,
                duration_s=round(result.duration_s, 3),
            )
        )
        async with ctx.stash_lock:
            restored = await asyncio.to_thread(restore_stash, ctx.repo, stash)
        failure: Failure | None
        if restored:
            detail = (
                f"the agent changed the stash, which your checkout shares; wta put back"
                f" {restored} entr{'y' if restored == 1 else 'ies'} it had removed"
            )
            failure = Failure(FailureReason.GUARDRAIL, detail, detail + ". Never use git stash.")
        else:
            failure = await self._after_agent(feature, attempt, worktree, result, task, checks)
        self._close_attempt(attempt, failure, result)
        return failure

    async def _after_agent(
        self,
        feature: Feature,
        attempt: AttemptRecord,
        worktree: Worktree,
        result: AgentResult,
        task: AgentTask,
        checks: list[str],
    ) -> Failure | None:
        ctx = self.ctx
        fid = feature.id
        if result.summary or result.model or result.turns is not None:
            record = ctx.store.get(fid)
            earlier = record.turns if record is not None and record.turns else 0
            turns = None if result.turns is None else earlier + result.turns  # like cost: summed
            ctx.store.update_feature(
                fid, FeatureUpdate(summary=result.summary, model=result.model, turns=turns)
            )
        moved = await asyncio.to_thread(ctx.worktrees.off_branch, worktree)
        if moved is not None:
            detail = f"the agent left the branch {worktree.branch} (the worktree is on {moved})"
            return Failure(FailureReason.GUARDRAIL, detail, detail + ". Stay on your branch.")
        head = await asyncio.to_thread(self._commit_leftovers, worktree, feature, attempt.n)
        if not result.ok:
            reason = result.reason or FailureReason.AGENT_ERROR
            detail = result.detail or "the agent failed"
            return Failure(reason, detail, f"The agent stopped with an error: {detail}", head)
        ctx.store.set_state(fid, FeatureState.VERIFYING)
        stats = await asyncio.to_thread(diff_stats, ctx.repo, worktree.base_commit, head)
        ctx.store.update_feature(
            fid,
            FeatureUpdate(
                files_changed=stats.files_changed,
                insertions=stats.insertions,
                deletions=stats.deletions,
            ),
        )
        if stats.files_changed == 0:
            detail = "the agent finished without changing any file"
            return Failure(FailureReason.NO_CHANGES, detail, detail + "; make the change.", head)
        violations = check_diff(stats, self.plan.guardrails)
        if violations:
            for violation in violations:
                ctx.emit(
                    GuardrailTripped(
                        run_id=ctx.run_id, feature_id=fid, rule=violation.rule,
                        detail=violation.detail,
                    )
                )  # fmt: skip
            detail = "; ".join(v.detail for v in violations)
            return Failure(FailureReason.GUARDRAIL, detail, format_feedback(violations), head)
        report = await self._checks(fid, checks, worktree.path, task, "feature")
        if not report.ok and report.failed is not None:
            return Failure(
                FailureReason.VERIFY_FAILED, _check_detail(report.failed), report.feedback(), head
            )
        if ctx.no_merge:
            ctx.store.set_state(fid, FeatureState.DONE, changes=FeatureUpdate(commit_sha=head))
            return None
        return await self._integrate(feature, worktree, head, task)

    async def _integrate(
        self, feature: Feature, worktree: Worktree, head: CommitSha, task: AgentTask
    ) -> Failure | None:
        ctx = self.ctx
        fid = feature.id
        ctx.store.set_state(fid, FeatureState.INTEGRATING)
        ctx.emit(MergeStarted(run_id=ctx.run_id, feature_id=fid))
        change = FeatureChange(fid, feature.display_title, worktree.base_commit, head)
        verify = (
            self._merge_verifier(fid, worktree.path, task) if self._verify_after_merge() else None
        )
        async with ctx.merge_lock:
            result = await ctx.coordinator.integrate(change, verify)
        if result.outcome == "conflict" and result.conflict is not None:
            conflict = result.conflict
            ctx.emit(
                Conflict(
                    run_id=ctx.run_id, feature_id=fid, paths=conflict.paths,
                    touched_by=conflict.touched_by,
                )
            )  # fmt: skip
            report = "\n".join([*conflict.messages, "", conflict.hunks])
            task.log_path.with_name("conflict.txt").write_text(report, encoding="utf-8")
            by = (
                f" (also changed by {', '.join(conflict.touched_by)})"
                if conflict.touched_by
                else ""
            )
            detail = f"conflict in {', '.join(conflict.paths)}{by}"
            feedback = (
                f"Merging onto the integration branch conflicted in {', '.join(conflict.paths)}"
                f"{by}.\n\n{conflict.hunks}"
            )
            return Failure(FailureReason.CONFLICT, detail, feedback, head, conflict.paths)
        if result.outcome == "verify_failed":
            # back onto the feature's branch, so the worktree shows the feature again
            await asyncio.to_thread(
                ctx.repo.run, "checkout", "--quiet", "--force", worktree.branch, cwd=worktree.path
            )
            detail = result.verify_detail or "verification of the merged result failed"
            return Failure(FailureReason.MERGE_VERIFY_FAILED, detail, detail, head)
        merged = result.commit or result.onto
        # recorded at once: from here on nothing may make this feature run (and merge) again
        ctx.store.set_state(fid, FeatureState.MERGED, changes=FeatureUpdate(commit_sha=merged))
        ctx.emit(Merged(run_id=ctx.run_id, feature_id=fid, commit=merged, integration_head=merged))
        try:
            await asyncio.to_thread(ctx.worktrees.move_branch, worktree, head, merged)
        except GitError as exc:  # the merge stands; only the branch's tip is off
            append_log(
                task.log_path,
                f"[wta] merged, but {worktree.branch} could not be moved to {merged}: {exc}",
            )
        return None

    # steps

    def _session_to_resume(self, fid: FeatureId, profile: ResolvedProfile) -> str | None:
        """With `resume_on_retry`, a retry continues the failed attempt's Claude session."""
        if profile.backend != "claude" or not profile.resume_on_retry:
            return None
        previous = self.ctx.store.attempts(fid)[:-1]
        return previous[-1].session_id if previous else None

    def _base_for(self, feature: Feature) -> CommitSha | Failure:
        """Where the feature's branch starts: the integration tip, or with --no-merge the
        branches of its dependencies (stacked)."""
        ctx = self.ctx
        tip = ctx.coordinator.tip()
        assert tip is not None, "the integration branch exists from preflight on"
        if not ctx.no_merge or not feature.depends_on:
            return tip
        tips: list[CommitSha] = []
        for dep in feature.depends_on:
            record = ctx.store.get(dep)
            if record is not None and record.state is FeatureState.DONE and record.commit_sha:
                tips.append(record.commit_sha)
            elif tip not in tips:  # merged already: its work is on the integration branch
                tips.insert(0, tip)
        stacked = stack_bases(ctx.repo, tips)
        if isinstance(stacked, tuple):
            paths = stacked
            detail = f"its dependencies' branches conflict in {', '.join(paths)}"
            return Failure(FailureReason.CONFLICT, detail, detail, None, paths)
        return stacked

    def _keep_earlier_work(self, fid: FeatureId, attempt: int) -> None:
        """Keep what a person may have added on the feature's branch since the last attempt
        before the new attempt resets it."""
        integration = "refs/heads/" + self.plan.run.integration_branch
        saved = self.ctx.worktrees.save_unrecorded_work(
            fid,
            f"{SAVED_REF}/{fid}/{attempt}",
            [f"{ATTEMPTS_REF}/{fid}/", f"{SAVED_REF}/{fid}/", integration],
        )
        if saved is not None:
            self.ctx.emit(WorkSaved(run_id=self.ctx.run_id, feature_id=fid, ref=saved))

    def _commit_leftovers(self, worktree: Worktree, feature: Feature, attempt: int) -> CommitSha:
        """Commit what the agent left uncommitted (its own commits stay), and keep the
        attempt's work reachable under refs/wta/attempts. Returns HEAD."""
        note = f"Work left uncommitted by the agent (attempt {attempt})."
        head = self.ctx.worktrees.commit_all(worktree, f"{feature.display_title}\n\n{note}")
        if head != worktree.base_commit:
            self.ctx.repo.run("update-ref", f"{ATTEMPTS_REF}/{feature.id}/{attempt}", head)
        return head

    def _verify_after_merge(self) -> bool:
        return self.plan.verify.after_merge and bool(self.plan.verify.commands)

    def _merge_verifier(
        self, fid: FeatureId, path: Path, task: AgentTask
    ) -> Callable[[CommitSha], Awaitable[str | None]]:
        """Check out the merged commit (detached) in the feature's worktree and verify it."""
        commands = list(self.plan.verify.commands)
        repo = self.ctx.repo

        async def verify(commit: CommitSha) -> str | None:
            # a pristine checkout: no build output left by the feature's own checks
            await asyncio.to_thread(
                repo.run, "checkout", "--quiet", "--force", "--detach", commit, cwd=path
            )
            await asyncio.to_thread(repo.run, "clean", "-ffdq", cwd=path)
            report = await self._checks(fid, commands, path, task, "merge")
            if report.ok or report.failed is None:
                return None
            return "on the merged result: " + _check_detail(report.failed)

        return verify

    async def _checks(
        self, fid: FeatureId, commands: list[str], cwd: Path, task: AgentTask, stage: str
    ) -> CheckReport:
        ctx = self.ctx

        def started(command: str) -> None:
            ctx.emit(
                VerifyStarted(run_id=ctx.run_id, feature_id=fid, command=command, stage=stage)  # type: ignore[arg-type]
            )

        def finished(run: CheckRun) -> None:
            ctx.emit(
                VerifyFinished(
                    run_id=ctx.run_id, feature_id=fid, command=run.command, stage=stage,  # type: ignore[arg-type]
                    ok=run.ok, exit_code=run.exit_code, duration_s=round(run.duration_s, 3),
                )
            )  # fmt: skip

        return await run_checks(
            commands,
            cwd=cwd,
            env=agent_env(task),
            timeout_s=self.plan.verify.timeout,
            log_path=task.log_path,
            on_start=started,
            on_finish=finished,
        )

    # bookkeeping

    def _crashed(self, attempt: AttemptRecord, exc: Exception) -> Failure | None:
        """Record an unexpected error in one attempt; the traceback goes to its log.

        None when the feature had merged before the error: it must not run again."""
        reason = FailureReason.AGENT_ERROR if isinstance(exc, AgentError) else FailureReason.CRASHED
        detail = exc.message if isinstance(exc, WtaError) else f"{type(exc).__name__}: {exc}"
        log = self.ctx.state_dir / "attempts" / attempt.feature_id / str(attempt.n) / "log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.write("[wta] the attempt failed unexpectedly:\n")
            out.write("".join(traceback.format_exception(exc)))
        record = self.ctx.store.get(attempt.feature_id)
        if record is not None and record.state is FeatureState.MERGED:
            return None
        failure = Failure(reason, detail, detail)
        attempt_now = self.ctx.store.attempts(attempt.feature_id)[-1]
        if attempt_now.finished_at is None:
            self._close_attempt(attempt, failure, None)
        return failure

    def _close_attempt(
        self, attempt: AttemptRecord, failure: Failure | None, result: AgentResult | None
    ) -> None:
        self.ctx.store.finish_attempt(
            attempt.feature_id,
            attempt.n,
            outcome=AttemptOutcome.OK if failure is None else AttemptOutcome.FAILED,
            reason=None if failure is None else failure.reason,
            detail=None if failure is None else failure.detail,
            head_commit=None if failure is None else failure.head,
            cost_usd=result.cost_usd if result else None,
            turns=result.turns if result else None,
            session_id=result.session_id if result else None,
        )

    def _fail(self, feature_id: FeatureId, failure: Failure) -> None:
        ctx = self.ctx
        ctx.guard.failed()
        ctx.store.set_state(
            feature_id,
            FeatureState.FAILED,
            reason=failure.reason,
            detail=failure.detail,
            changes=FeatureUpdate(conflict_paths=failure.conflict_paths or None),
        )
        ctx.emit(
            FeatureFailed(
                run_id=ctx.run_id, feature_id=feature_id, reason=failure.reason,
                detail=failure.detail,
            )
        )  # fmt: skip

    def _finish_duration(self, feature_id: FeatureId, started: float) -> None:
        self.ctx.store.update_feature(
            feature_id, FeatureUpdate(duration_s=round(time.monotonic() - started, 3))
        )


def _retryable(reason: FailureReason, profile: ResolvedProfile, retry_conflicts: bool) -> bool:
    """A conflict is retried only with retry_conflicts; a feature the agent reported blocked
    only when the profile escalates to another one (the same agent would say the same)."""
    if reason is FailureReason.CONFLICT:
        return retry_conflicts
    if reason is FailureReason.BLOCKED:
        return profile.escalate_to not in (None, profile.name)
    return True


def _check_detail(run: CheckRun) -> str:
    if run.killed_for is not None:
        return f"`{run.command}` was stopped ({run.killed_for})"
    return f"`{run.command}` exited {run.exit_code}"
