"""The patch backend: applies `<dir>/<id>.patch` with `git apply`, deterministically, with
no model. `<id>.attempt<N>.patch`, when present, is used for attempt N instead."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from worktree_agents.agents.base import (
    AgentBackend,
    AgentResult,
    AgentTask,
    Capabilities,
    agent_env,
    agent_result,
)
from worktree_agents.domain import FailureReason
from worktree_agents.process import NOTE_PREFIX, append_log, run_process


def patch_path(task: AgentTask) -> tuple[Path, Path]:
    """The patch this attempt applies if it exists, and the feature's default patch."""
    directory = task.plan_dir / task.profile.dir
    default = directory / f"{task.feature_id}.patch"
    for_attempt = directory / f"{task.feature_id}.attempt{task.attempt}.patch"
    return (for_attempt if for_attempt.is_file() else default), default


class PatchAgent(AgentBackend):
    name: ClassVar[str] = "patch"
    capabilities: ClassVar[Capabilities] = Capabilities(records_model=False, supports_resume=False)

    async def run(self, task: AgentTask) -> AgentResult:
        started = time.monotonic()
        patch, default = patch_path(task)
        if not patch.is_file():
            detail = f"no patch for feature '{task.feature_id}' at {default}"
            append_log(task.log_path, NOTE_PREFIX + detail, task.max_log_bytes)
            return AgentResult(
                ok=False,
                reason=FailureReason.AGENT_ERROR,
                detail=detail,
                duration_s=time.monotonic() - started,
                cost_usd=0.0,
            )
        argv = ["git", "apply", "--whitespace=nowarn", str(patch)]
        process = await run_process(
            argv,
            cwd=task.worktree,
            env=agent_env(task),
            log_path=task.log_path,
            timeout_s=task.profile.timeout_s,
            idle_timeout_s=task.profile.idle_timeout_s,
            header=f"{NOTE_PREFIX}{task.feature_id} attempt {task.attempt}: git apply {patch}",
            max_log_bytes=task.max_log_bytes,
        )
        if process.exit_code in (1, 128):  # git apply's "does not apply" and "corrupt patch"
            lines = [line for line in process.output_tail.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith(("error:", "fatal:"))]
            first = (errors or lines or [f"git apply exited {process.exit_code}"])[0]
            return AgentResult(
                ok=False,
                reason=FailureReason.AGENT_ERROR,
                detail=f"{patch.name} does not apply: {first}",
                duration_s=process.duration_s,
                cost_usd=0.0,
            )
        return agent_result(process, task.profile, summary=f"applied {patch.name}", cost_usd=0.0)
