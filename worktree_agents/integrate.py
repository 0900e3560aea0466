"""The last step of an attempt: integrate the verified feature onto the integration branch,
checking the merged result first when the plan asks for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import assert_never

from worktree_agents import failures
from worktree_agents.agents.base import AgentTask
from worktree_agents.checks import run_feature_checks
from worktree_agents.context import RunContext
from worktree_agents.domain import CommitSha
from worktree_agents.errors import GitError
from worktree_agents.events import Conflict
from worktree_agents.failures import Failure
from worktree_agents.git import HEADS
from worktree_agents.merge import AlreadyPresent, Conflicted, FeatureChange, Merged, VerifyFailed
from worktree_agents.paths import AttemptFiles
from worktree_agents.plan import Feature
from worktree_agents.process import append_log, free_port
from worktree_agents.worktrees import Worktree


def checks_task(
    ctx: RunContext,
    feature: Feature,
    profile: str | None,
    attempt: int,
    worktree: Worktree,
    files: AttemptFiles,
) -> AgentTask:
    """The environment the checks on the merged result run with when no agent ran just
    before (`wta merge`, a lost merge integrated again), as in an attempt of `wta run`."""
    plan = ctx.loaded.plan
    return AgentTask(
        feature_id=feature.id,
        title=feature.display_title,
        attempt=attempt,
        run_id=ctx.journal.run_id,
        worktree=worktree.path,
        base_commit=worktree.base_commit,
        prompt="",
        prompt_file=files.prompt,
        log_path=files.log,
        port=free_port(),
        profile=plan.resolve_profile(profile or plan.profile_for(feature)),
        plan_dir=ctx.loaded.base_dir,
        max_log_bytes=plan.run.max_log_bytes,
    )


async def integrate(
    ctx: RunContext,
    feature: Feature,
    worktree: Worktree,
    head: CommitSha,
    files: AttemptFiles,
    task: AgentTask,
    *,
    one_commit: bool = False,
) -> Failure | None:
    """Merge `head` onto the integration branch; the feature ends merged, or the Failure.
    `one_commit`: `head` is one commit on the worktree's base (merge.FeatureChange)."""
    fid = feature.id
    ctx.journal.integrating(fid)
    change = FeatureChange(
        fid, feature.display_title, worktree.base_commit, head, one_commit=one_commit
    )
    verify = _merge_verifier(ctx, worktree, task) if _verify_after_merge(ctx) else None
    async with ctx.merge_lock:  # owned: an agent's move of the branch is put back, never built on
        result = await ctx.coordinator.integrate(change, verify, owned=True)
    match result:
        case Conflicted(report=report):
            ctx.journal.emit(
                Conflict(
                    run_id=ctx.journal.run_id,
                    feature_id=fid,
                    paths=report.paths,
                    touched_by=report.touched_by,
                )
            )
            text = "\n".join([*report.messages, "", report.hunks])
            files.conflict.write_text(text, encoding="utf-8")
            return failures.conflicted(report)
        case VerifyFailed(detail=detail):
            # back onto the feature's branch, so the worktree shows the feature again
            args = ("checkout", "--quiet", "--force", worktree.branch)
            await asyncio.to_thread(ctx.repo.run, *args, cwd=worktree.path)
            return failures.merge_verify_failed(detail)
        case Merged(commit=merged) | AlreadyPresent(onto=merged):
            _merged(ctx, worktree, merged, files, head)
            return None
        case _:
            assert_never(result)


def _merged(
    ctx: RunContext, worktree: Worktree, merged: CommitSha, files: AttemptFiles, head: CommitSha
) -> None:
    """Record the merge at once (from here on nothing may make this feature run and merge
    again); then, off the critical path (tidy.py), the branch moves to the merged commit by
    compare-and-swap from `head`. The worktree is detached first, at the same commit (no
    file changes), and stays so: it shows the attempt's own work, and a checkout of the
    merged tree there would be one more step a kill could leave half-done."""
    ctx.journal.merged(worktree.feature_id, merged)
    path, branch = worktree.path, worktree.branch

    def move() -> None:
        try:
            ctx.repo.run("checkout", "--quiet", "--detach", cwd=path)
            ctx.repo.update_ref(HEADS + branch, merged, head)
        except GitError as exc:  # the merge stands; only the branch's tip is off
            note = f"[wta] merged, but {branch} could not be moved to {merged}: {exc}"
            append_log(files.log, note, ctx.loaded.plan.run.max_log_bytes)

    ctx.tidy.start(path, move)


def _verify_after_merge(ctx: RunContext) -> bool:
    verify = ctx.loaded.plan.verify
    return verify.after_merge and bool(verify.commands)


def _merge_verifier(
    ctx: RunContext, worktree: Worktree, task: AgentTask
) -> Callable[[CommitSha], Awaitable[str | None]]:
    """Check out the merged commit (detached) in the feature's worktree and verify it."""
    commands = list(ctx.loaded.plan.verify.commands)
    repo, path = ctx.repo, worktree.path

    async def verify(commit: CommitSha) -> str | None:
        # a pristine checkout: no build output left by the feature's own checks
        await asyncio.to_thread(
            repo.run, "checkout", "--quiet", "--force", "--detach", commit, cwd=path
        )
        await asyncio.to_thread(repo.run, "clean", "-ffdq", cwd=path)
        fid = worktree.feature_id
        report = await run_feature_checks(ctx, fid, commands, task, worktree, "merge")
        if report.failed is None:
            return None
        return "on the merged result: " + failures.check_detail(report.failed)

    return verify
