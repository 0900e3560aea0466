"""The command backend: any agent CLI, run as an argv list with per-argument placeholders,
never through a shell. Exit 0 means the agent finished."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import ClassVar

from worktree_agents.agents.base import (
    AgentBackend,
    AgentResult,
    AgentTask,
    Capabilities,
    agent_env,
    agent_result,
)
from worktree_agents.errors import AgentError
from worktree_agents.process import NOTE_PREFIX, run_process

PLACEHOLDER = re.compile(r"\{(prompt_file|feature_id|worktree)\}")


def command_argv(command: Sequence[str], task: AgentTask) -> list[str]:
    """Substitute the placeholders in each argument; any other brace stays as written.

    One pass per argument, so a substituted value is never substituted again.
    """
    values = {
        "prompt_file": str(task.prompt_file),
        "feature_id": str(task.feature_id),
        "worktree": str(task.worktree),
    }
    return [PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in command]


class CommandAgent(AgentBackend):
    name: ClassVar[str] = "command"
    capabilities: ClassVar[Capabilities] = Capabilities(records_model=False, supports_resume=False)

    async def run(self, task: AgentTask) -> AgentResult:
        profile = task.profile
        if not profile.command:
            raise AgentError(
                f"profile '{profile.name}' uses the command backend but has no command"
            )
        argv = command_argv(profile.command, task)
        process = await run_process(
            argv,
            cwd=task.worktree,
            env=agent_env(task),
            log_path=task.log_path,
            timeout_s=profile.timeout_s,
            idle_timeout_s=profile.idle_timeout_s,
            header=f"{NOTE_PREFIX}{task.feature_id} attempt {task.attempt}: {shlex.join(argv)}",
            max_log_bytes=task.max_log_bytes,
        )
        return agent_result(process, profile)
