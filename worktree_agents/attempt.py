"""One attempt at one feature, as steps with one job each: find the base, make the
worktree, prepare it (.worktreeinclude, `[run] setup`), run the agent inside the fence,
commit what it left, verify, integrate.

A step that fails returns a Failure and the attempt ends there. The fence's checks sit
around the agent (`_run_agent`): that is the seam for every "before the agent" and "after
the agent" check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from worktree_agents import failures, refguard
from worktree_agents.agents.base import AgentResult, AgentTask, Spend
from worktree_agents.agents.registry import backend_for, capabilities_for, recorded_model
from worktree_agents.checks import run_feature_checks
from worktree_agents.context import RunContext
from worktree_agents.domain import CommitSha, FeatureId, FeatureState
from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    GuardrailTripped,
    ToolDenied,
    ToolUsed,
    WorkSaved,
    WorktreeCreated,
)
from worktree_agents.failures import Failure
from worktree_agents.fence import Check, StashCheck, WorktreeCheck, fenced
from worktree_agents.fence_refs import STASH_REF, RefCheck
from worktree_agents.git import HEADS
from worktree_agents.guardrails import check_diff, diff_stats
from worktree_agents.integrate import integrate
from worktree_agents.merge import StackConflict, stack_bases
from worktree_agents.plan import Feature, ResolvedProfile
from worktree_agents.process import NOTE_PREFIX, append_log, free_port
from worktree_agents.prompt import build_prompt, build_system_append
from worktree_agents.reaper import SurvivorCheck, attempt_marker
from worktree_agents.store import AttemptRecord, FeatureUpdate
from worktree_agents.worktree_include import copy_included
from worktree_agents.worktrees import Worktree

ATTEMPTS_REF = "refs/wta/attempts"
SAVED_REF = "refs/wta/saved"


class Attempt:
    """One attempt: `run()` takes it through its steps. `result` and `head` say how far it
    got, for the record the pipeline closes it with."""

    def __init__(
        self,
        ctx: RunContext,
        feature: Feature,
        record: AttemptRecord,
        profile: ResolvedProfile,
        feedback: str | None,
    ) -> None:
        self.ctx = ctx
        self.feature = feature
        self.fid: FeatureId = feature.id
        self.n = record.n
        self.profile = profile
        self.feedback = feedback
        self.files = ctx.paths.attempt(feature.id, record.n)
        self.checks = [*ctx.loaded.plan.verify.commands, *feature.acceptance]
        self.result: AgentResult | None = None
        # what the agent spent so far: read if the attempt is cancelled, or the run killed
        self.spend = Spend(record=self.files.spend)
        self.head: CommitSha | None = None

    async def run(self) -> Failure | None:
        base = await asyncio.to_thread(self._base)
        if isinstance(base, Failure):
            return base
        worktree = await self._worktree(base)
        task = self._task(worktree)
        failure = await self._prepare(worktree, task)
        if failure is not None:
            return failure
        result, findings = await self._run_agent(task, worktree)
        if findings:
            return self._fenced(findings)
        self.head = await asyncio.to_thread(self._commit_leftovers, worktree)
        if not result.ok:
            return failures.agent_failed(result)
        failure = await self._verify(worktree, task)
        if failure is not None:
            return failure
        if self.ctx.options.no_merge:
            self.ctx.journal.done(self.fid, self.head)
            return None
        # the agent left its branch at the base, and wta committed what it left: one commit
        one_commit = self._at_end.tip == worktree.base_commit
        failure = await integrate(
            self.ctx, self.feature, worktree, self.head, self.files, task, one_commit=one_commit
        )
        if failure is None and self.ctx.loaded.plan.run.reuse_worktrees:
            self.ctx.worktrees.release(worktree)  # merged: the next feature may take it over
        return failure

    def _fenced(self, findings: Sequence[failures.Finding]) -> Failure:
        """A guardrail_tripped event per finding; the attempt fails with all of them."""
        for finding in findings:
            tripped = GuardrailTripped(
                run_id=self.ctx.journal.run_id,
                feature_id=self.fid,
                rule=finding.rule,
                detail=finding.detail,
            )
            self.ctx.journal.emit(tripped)
        return failures.fenced(findings)

    # the steps

    def _base(self) -> CommitSha | Failure:
        """Where the branch starts: the integration tip, or with --no-merge the branches of
        its dependencies, stacked."""
        # where this run last left it: anything else is an agent's move, which the
        # coordinator puts back before the next merge
        tip = self.ctx.coordinator.known or self.ctx.coordinator.tip()
        assert tip is not None, "the integration branch exists from preflight on"
        if not self.ctx.options.no_merge or not self.feature.depends_on:
            return tip
        tips: list[CommitSha] = []
        for dep in self.feature.depends_on:
            record = self.ctx.journal.store.get(dep)
            if record is not None and record.state is FeatureState.DONE and record.commit_sha:
                tips.append(record.commit_sha)
            elif tip not in tips:  # merged already: its work is on the integration branch
                tips.insert(0, tip)
        stacked = stack_bases(self.ctx.repo, tips)
        if isinstance(stacked, StackConflict):
            return failures.dependencies_conflict(stacked.paths)
        return stacked.commit

    async def _worktree(self, base: CommitSha) -> Worktree:
        """Keep unrecorded work on the branch, then a worktree at `base`, recorded: a merged
        feature's, taken over (`[run] reuse_worktrees`), or a new one. A feature that has a
        worktree already (a retry) gets a new one, as do all when reuse is off."""
        ctx, fid = self.ctx, self.fid
        await asyncio.to_thread(self._keep_earlier_work)
        # recorded before the branch is made: a run killed in between leaves a branch that
        # the next run knows as its own (it holds nothing beyond this base)
        store, branch = ctx.journal.store, ctx.worktrees.branch_for(fid)
        store.annotate_attempt(
            fid, self.n, base_commit=base, log_path=str(self.files.log), branch=branch
        )
        worktree = await take_over(ctx, fid, base) if ctx.loaded.plan.run.reuse_worktrees else None
        if worktree is None:
            worktree = await asyncio.to_thread(ctx.worktrees.create, fid, base, reset=True)
        self.files.dir.mkdir(parents=True, exist_ok=True)
        for note in worktree.notes:
            append_log(self.files.log, NOTE_PREFIX + note, ctx.loaded.plan.run.max_log_bytes)
        created = WorktreeCreated(
            run_id=ctx.journal.run_id,
            feature_id=fid,
            path=str(worktree.path),
            branch=worktree.branch,
            base_commit=base,
        )
        ctx.journal.emit(created)
        return worktree

    async def _prepare(self, worktree: Worktree, task: AgentTask) -> Failure | None:
        """wta's setup of the new worktree, before the agent: the ignored files that
        .worktreeinclude names are copied in from the user's checkout, then `[run] setup`
        runs. What setup leaves that git does not ignore is committed with the agent's work.

        Setup gets the agent's environment without the fence's ref guard, which is the
        agent's: a setup step's git may move refs (`git submodule update --init` writes the
        submodule's remote-tracking refs), and the fence's snapshot is taken after it."""
        ctx, run = self.ctx, self.ctx.loaded.plan.run
        included = await asyncio.to_thread(
            copy_included, ctx.repo, ctx.repo.toplevel, worktree.path
        )
        if notes := included.notes():
            append_log(task.log_path, "\n".join(NOTE_PREFIX + n for n in notes), task.max_log_bytes)
        if not run.setup:
            return None
        unguarded = replace(task, fence_env={}, fence_git_config=())
        report = await run_feature_checks(
            ctx, self.fid, run.setup, unguarded, worktree, "setup", run.setup_timeout
        )
        return None if report.failed is None else failures.setup_failed(report, report.failed)

    def _keep_earlier_work(self) -> None:
        """What a person added on the branch since the last attempt is kept before the reset."""
        fid = self.fid
        known = [
            f"{ATTEMPTS_REF}/{fid}/",
            f"{SAVED_REF}/{fid}/",
            HEADS + self.ctx.loaded.plan.run.integration_branch,
        ]
        saved_as = f"{SAVED_REF}/{fid}/{self.n}"
        saved = self.ctx.worktrees.save_unrecorded_work(fid, saved_as, known)
        if saved is not None:
            journal = self.ctx.journal
            journal.emit(WorkSaved(run_id=journal.run_id, feature_id=fid, ref=saved))

    def _task(self, worktree: Worktree) -> AgentTask:
        prompt = build_prompt(self.feature, self.checks, self.feedback)
        self.files.prompt.write_text(prompt, encoding="utf-8")
        return AgentTask(
            feature_id=self.fid,
            title=self.feature.display_title,
            attempt=self.n,
            run_id=self.ctx.journal.run_id,
            worktree=worktree.path,
            base_commit=worktree.base_commit,
            prompt=prompt,
            prompt_file=self.files.prompt,
            log_path=self.files.log,
            port=free_port(),
            profile=self.profile,
            plan_dir=self.ctx.loaded.base_dir,
            system_append=build_system_append(self.feature, self.checks),
            resume_session=self._session_to_resume(),
            on_tool=self._tool_used,
            fence_env=refguard.agent_vars(
                self.ctx.repo, HEADS + worktree.branch, self.files.refused_refs
            ),
            fence_git_config=refguard.agent_settings(refguard.hooks_dir(self.ctx.repo)),
            on_tool_denied=self._tool_denied,
            max_log_bytes=self.ctx.loaded.plan.run.max_log_bytes,
            spend=self.spend,
        )

    def _tool_used(self, tool: str, summary: str) -> None:
        journal = self.ctx.journal
        used = ToolUsed(
            run_id=journal.run_id, feature_id=self.fid, attempt=self.n, tool=tool, summary=summary
        )
        journal.emit(used)

    def _tool_denied(self, tool: str, path: str, reason: str) -> None:
        journal = self.ctx.journal
        denied = ToolDenied(
            run_id=journal.run_id,
            feature_id=self.fid,
            attempt=self.n,
            tool=tool,
            path=path,
            reason=reason,
        )
        journal.emit(denied)

    def _session_to_resume(self) -> str | None:
        """With `resume_on_retry`, a retry continues the failed attempt's Claude session."""
        resumable = capabilities_for(self.profile.backend).supports_resume
        if not resumable or not self.profile.resume_on_retry:
            return None
        previous = self.ctx.journal.store.attempts(self.fid)[:-1]
        return previous[-1].session_id if previous else None

    async def _run_agent(
        self, task: AgentTask, worktree: Worktree
    ) -> tuple[AgentResult, Sequence[failures.Finding]]:
        """The agent, inside the fence: its checks run before it starts and after it ends."""
        ctx, profile = self.ctx, self.profile
        model = recorded_model(profile)
        started = AgentStarted(
            run_id=ctx.journal.run_id,
            feature_id=self.fid,
            attempt=self.n,
            profile=profile.name,
            backend=profile.backend,
            model=model,
        )
        ctx.journal.emit(started)
        async with fenced(self._fence(task, worktree)) as findings:
            result = self.result = await backend_for(profile).run(task)
            ctx.guard.settle(self.fid, result.cost_usd)
            ctx.journal.emit(self._finished(result))
            self._record_result(result)
        return result, findings

    def _fence(self, task: AgentTask, worktree: Worktree) -> list[Check]:
        """The checks around the agent (fence.md), entered in order and left in reverse."""
        ctx = self.ctx
        self._at_end = WorktreeCheck(ctx.worktrees, worktree)  # it reads the branch's tip
        return [
            StashCheck(ctx.repo, ctx.stash_lock, worktree.branch),
            RefCheck(
                ctx.repo,
                ctx.coordinator,
                ctx.merge_lock,
                self.files.refused_refs,
                worktree,
                self._unwatched_refs(worktree),
            ),
            self._at_end,
            *ctx.fence_files.checks(self.fid),
            # last, so left first: nothing the agent left running acts after the checks look
            SurvivorCheck(
                attempt_marker(task.run_id, self.files.dir),
                self.files.processes,
                self.files.log,
                task.max_log_bytes,
            ),
        ]

    def _unwatched_refs(self, worktree: Worktree) -> tuple[str, ...]:
        """The refs the ref check's backstop leaves alone: the attempt's own branch, the
        integration branch (the coordinator puts it back) and the stash (StashCheck's)."""
        integration = HEADS + self.ctx.loaded.plan.run.integration_branch
        return (HEADS + worktree.branch, integration, STASH_REF)

    def _finished(self, result: AgentResult) -> AgentFinished:
        return AgentFinished(
            run_id=self.ctx.journal.run_id,
            feature_id=self.fid,
            attempt=self.n,
            ok=result.ok,
            reason=result.reason,
            cost_usd=result.cost_usd,
            turns=result.turns,
            duration_s=round(result.duration_s, 3),
            cost_estimated=result.cost_estimated,
            rate_limited=result.rate_limited and not result.ok,
        )

    def _record_result(self, result: AgentResult) -> None:
        """The agent's summary, model and turns (summed over attempts, like cost)."""
        if not (result.summary or result.model or result.turns is not None):
            return
        record = self.ctx.journal.store.get(self.fid)
        earlier = record.turns if record is not None and record.turns else 0
        turns = None if result.turns is None else earlier + result.turns
        changes = FeatureUpdate(summary=result.summary, model=result.model, turns=turns)
        self.ctx.journal.update(self.fid, changes)

    def _commit_leftovers(self, worktree: Worktree) -> CommitSha:
        """Commit what the agent left uncommitted (its own commits stay), and keep the
        attempt's work reachable under refs/wta/attempts. Returns HEAD."""
        for lock in self.ctx.worktrees.clear_stale_locks(worktree):  # the agent is gone
            append_log(self.files.log, f"{NOTE_PREFIX}removed {lock}, left by the agent's git")
        note = f"Work left uncommitted by the agent (attempt {self.n})."
        message = f"{self.feature.display_title}\n\n{note}"
        head = self.ctx.worktrees.commit_all(worktree, message)
        if head != worktree.base_commit:
            self.ctx.repo.run("update-ref", f"{ATTEMPTS_REF}/{self.fid}/{self.n}", head)
        return head

    async def _verify(self, worktree: Worktree, task: AgentTask) -> Failure | None:
        """The diff guardrails, then the verify and acceptance commands, in the worktree."""
        ctx, fid, head = self.ctx, self.fid, self.head
        assert head is not None
        ctx.journal.verifying(fid)
        stats = await asyncio.to_thread(diff_stats, ctx.repo, worktree.base_commit, head)
        changes = FeatureUpdate(
            files_changed=stats.files_changed,
            insertions=stats.insertions,
            deletions=stats.deletions,
        )
        ctx.journal.update(fid, changes)
        if stats.files_changed == 0:
            return failures.no_changes()
        violations = check_diff(stats, ctx.loaded.plan.guardrails)
        for v in violations:
            run_id = ctx.journal.run_id
            ctx.journal.emit(
                GuardrailTripped(run_id=run_id, feature_id=fid, rule=v.rule, detail=v.detail)
            )
        if violations:
            return failures.guardrails_broken(violations)
        report = await run_feature_checks(ctx, fid, self.checks, task, worktree, "feature")
        if report.failed is not None:
            return failures.checks_failed(report, report.failed)
        return None


async def take_over(ctx: RunContext, fid: FeatureId, base: CommitSha) -> Worktree | None:
    """A merged feature's worktree, made a fresh checkout at `base` for `fid`
    (`[run] reuse_worktrees`), once the work after its merge (its branch's move: tidy.py) is
    done. None when there is none to take, or it cannot be taken: then a new one is made."""
    worktrees = ctx.worktrees
    old = await asyncio.to_thread(worktrees.claim, fid)
    if old is None:
        return None
    await ctx.tidy.take(old.path)
    return await asyncio.to_thread(worktrees.take_over, fid, base, old)
