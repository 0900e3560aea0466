"""A feature's verify and acceptance commands, run in its worktree and told as events."""

from __future__ import annotations

from collections.abc import Sequence

from worktree_agents.agents.base import AgentTask, agent_env
from worktree_agents.context import RunContext
from worktree_agents.domain import FeatureId
from worktree_agents.events import Stage, VerifyFinished, VerifyStarted
from worktree_agents.verify import CheckReport, CheckRun, run_checks
from worktree_agents.worktrees import Worktree


async def run_feature_checks(
    ctx: RunContext,
    fid: FeatureId,
    commands: Sequence[str],
    task: AgentTask,
    worktree: Worktree,
    stage: Stage,
    timeout_s: float | None = None,
) -> CheckReport:
    """Run `commands` in the worktree, each told as a verify_started and _finished event,
    under `timeout_s` each (by default, `[verify] timeout`)."""
    journal = ctx.journal

    def started(command: str) -> None:
        journal.emit(
            VerifyStarted(run_id=journal.run_id, feature_id=fid, command=command, stage=stage)
        )

    def finished(run: CheckRun) -> None:
        duration_s = round(run.duration_s, 3)
        journal.emit(
            VerifyFinished(
                run_id=journal.run_id,
                feature_id=fid,
                command=run.command,
                stage=stage,
                ok=run.ok,
                exit_code=run.exit_code,
                duration_s=duration_s,
            )
        )

    return await run_checks(
        commands,
        cwd=worktree.path,
        env=agent_env(task),
        timeout_s=ctx.loaded.plan.verify.timeout if timeout_s is None else timeout_s,
        log_path=task.log_path,
        max_log_bytes=task.max_log_bytes,
        on_start=started,
        on_finish=finished,
    )
