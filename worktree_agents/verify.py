"""Running the plan's verify and acceptance commands in a worktree, in order, stopping at
the first failure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.logcap import DEFAULT_MAX_LOG_BYTES
from worktree_agents.process import KillReason, run_process

SHELL = "/bin/sh"


@dataclass(frozen=True)
class CheckRun:
    """One verify command, finished: `killed_for` is "timeout", "idle" or "cancelled"."""

    command: str
    ok: bool
    exit_code: int | None
    killed_for: KillReason | None
    duration_s: float
    output_tail: str


@dataclass(frozen=True)
class CheckReport:
    """Every command that ran; `ok` only if all of them passed."""

    ok: bool
    runs: tuple[CheckRun, ...]

    @property
    def failed(self) -> CheckRun | None:
        """The command that failed (always the last one run), or None."""
        return next((run for run in self.runs if not run.ok), None)

    def feedback(self, what: str = "check") -> str:
        """The failure as feedback for the agent's retry prompt ("" when everything passed);
        `what` names the command's kind."""
        run = self.failed
        if run is None:
            return ""
        if run.killed_for == "timeout":
            how = "timed out and was killed"
        elif run.killed_for is not None:
            how = f"was stopped ({run.killed_for})"
        else:
            how = f"failed with exit code {run.exit_code}"
        tail = run.output_tail.rstrip("\n")
        shown = f"The end of its output:\n{tail}" if tail else "It printed nothing."
        return f"The {what} `{run.command}` {how}. {shown}"


async def run_checks(
    commands: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    log_path: Path,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
    on_start: Callable[[str], None] | None = None,
    on_finish: Callable[[CheckRun], None] | None = None,
) -> CheckReport:
    """Run each shell command in `cwd` under `timeout_s`, appending its output to `log_path`."""
    runs: list[CheckRun] = []
    for command in commands:
        if on_start is not None:
            on_start(command)
        result = await run_process(
            [SHELL, "-c", command],
            cwd=cwd,
            env=env,
            log_path=log_path,
            timeout_s=timeout_s,
            header=f"$ {command}",
            max_log_bytes=max_log_bytes,
        )
        run = CheckRun(
            command=command,
            ok=result.exit_code == 0 and result.killed_for is None,
            exit_code=result.exit_code,
            killed_for=result.killed_for,
            duration_s=result.duration_s,
            output_tail=result.output_tail,
        )
        runs.append(run)
        if on_finish is not None:
            on_finish(run)
        if not run.ok:
            break
    return CheckReport(ok=all(run.ok for run in runs), runs=tuple(runs))
