"""The claude backend: Claude Code through claude-agent-sdk, in the feature's worktree, with
wta's in-process tools, timeouts that kill the CLI's whole process tree, rate-limit backoff,
and every failure mapped to one reason and one line.

- Rate limits: three tries, waiting about 15 s, then 60 s (times 1 to 1.5, as jitter). The
  CLI has already retried by itself before it reports one.
- Starts: at least 1 s apart across every claude agent of the process.

The options the CLI is started with, and their defaults, are in claude_options.py; how a
try's outcome becomes a failure reason and one line, in claude_errors.py; how the CLI is
started in its own process group, so that its whole tree can be killed, in claude_launch.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import tempfile
import time
import traceback
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, cast

from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKError, CLINotFoundError, Message, query

from worktree_agents.agents.base import (
    AgentBackend,
    AgentResult,
    AgentTask,
    Capabilities,
    format_seconds,
)
from worktree_agents.agents.claude_errors import Verdict, killed
from worktree_agents.agents.claude_launch import (
    START_GATE,
    claude_env,
    find_cli,
    kill_cli,
    write_launcher,
)
from worktree_agents.agents.claude_options import (
    build_options,
    fence_hooks,
    permission_mode,
    wta_server,
)
from worktree_agents.agents.claude_transcript import Transcript
from worktree_agents.domain import FailureReason
from worktree_agents.process import NOTE_PREFIX, KillReason, watch
from worktree_agents.redaction import Redactor

RATE_LIMIT_BACKOFF_S = (15.0, 60.0)
START_SPACING_S = 1.0
JITTER = 0.5  # a backoff waits its delay times 1 to 1 + JITTER
CLOSE_S = 30.0  # the SDK's own transport close takes ~20 s at worst

# The SDK logs a failed CLI at error level; wta reports it in the result and the transcript
# instead. A handler here keeps logging's last-resort handler from printing it to stderr.
logging.getLogger("claude_agent_sdk").addHandler(logging.NullHandler())


class _Attempt:
    """One attempt: the tries of the CLI, each watched for its deadline and idle timeout and
    its process group killed at the end."""

    def __init__(
        self,
        task: AgentTask,
        env: Mapping[str, str],
        transcript: Transcript,
        workdir: Path,
        launcher: Path,
    ) -> None:
        self.task = task
        self.env = env
        self.transcript = transcript
        self.workdir = workdir
        self.launcher = launcher
        self.tries = 0

    @property
    def pgid_file(self) -> Path:
        return self.workdir / f"pgid.{self.tries}"

    def options(self) -> ClaudeAgentOptions:
        transcript = self.transcript

        def on_done(summary: str | None) -> None:
            transcript.summary = summary

        def on_blocked(reason: str) -> None:
            transcript.blocked = reason

        return build_options(
            self.task,
            launcher=self.launcher,
            env=self.env,
            pgid_file=self.pgid_file,
            server=wta_server(on_done, on_blocked),
            hooks=fence_hooks(self.task.worktree, transcript.denied),
            stderr=transcript.on_stderr,
        )

    async def run_try(self, deadline: float) -> KillReason | None:
        """One try of the CLI, to its end or until it is killed (the reason is returned)."""
        self.tries += 1
        self.transcript.begin_try()
        consumer = asyncio.create_task(self._consume(self.options()))
        try:
            killed_for = await watch(
                consumer,
                deadline=deadline,
                idle_timeout_s=self.task.profile.idle_timeout_s,
                last_activity=lambda: self.transcript.last_message,
            )
        except asyncio.CancelledError:
            self.transcript.log(NOTE_PREFIX + "cancelled; killing Claude Code's process group")
            await self._stop(consumer)
            self.transcript.end_try()  # what it spent, estimated if it had not said
            raise
        if killed_for is not None:
            self.transcript.log(f"{NOTE_PREFIX}{killed_for}: killing Claude Code's process group")
            await self._stop(consumer)
        else:
            await self._kill()  # whatever the CLI left behind, such as background shells
        self.transcript.end_try()
        return killed_for

    async def _consume(self, options: ClaudeAgentOptions) -> None:
        """Run one query to its end, recording what it says; never raises an Exception."""
        transcript = self.transcript
        try:
            messages = cast(
                AsyncGenerator[Message, None], query(prompt=self.task.prompt, options=options)
            )
            async with contextlib.aclosing(messages):
                try:
                    async for message in messages:
                        transcript.handle(message)
                except Exception as exc:
                    transcript.exception = exc
                    await self._kill()  # the CLI may still run; the SDK would wait 5 s for it
        except Exception as exc:
            transcript.exception = transcript.exception or exc
        error = transcript.exception
        if error is not None and not isinstance(error, ClaudeSDKError):
            transcript.log(NOTE_PREFIX + "".join(traceback.format_exception(error)).rstrip())

    async def _kill(self) -> None:
        """Kill the CLI's process group, if it was started, and confirm it is gone."""
        await kill_cli(self.pgid_file, self.task.log_path)

    async def _stop(self, consumer: asyncio.Task[None]) -> None:
        """Kill the CLI's tree, then let the SDK close its side."""
        await self._kill()
        consumer.cancel()
        await asyncio.wait({consumer}, timeout=CLOSE_S)
        await self._kill()  # a CLI that was only starting at the first look


class ClaudeAgent(AgentBackend):
    name: ClassVar[str] = "claude"
    capabilities: ClassVar[Capabilities] = Capabilities(records_model=True, supports_resume=True)

    def __init__(
        self,
        *,
        rate_limit_backoff_s: Sequence[float] | None = None,
        start_spacing_s: float | None = None,
    ) -> None:
        # the module's values are read here, not bound as defaults, so a test can shorten them
        backoff = RATE_LIMIT_BACKOFF_S if rate_limit_backoff_s is None else rate_limit_backoff_s
        self.rate_limit_backoff_s = tuple(backoff)
        self.start_spacing_s = START_SPACING_S if start_spacing_s is None else start_spacing_s

    async def run(self, task: AgentTask) -> AgentResult:
        started = time.monotonic()
        deadline = started + task.profile.timeout_s
        with contextlib.ExitStack() as stack:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="wta-claude-"))
            env = claude_env(task, permission_mode(task.profile))
            transcript = stack.enter_context(
                contextlib.closing(Transcript(task, Redactor(os.environ, env)))
            )
            try:
                cli = find_cli(task.profile.cli_path, task.plan_dir)
            except CLINotFoundError as exc:
                transcript.log(NOTE_PREFIX + str(exc))
                verdict = Verdict(FailureReason.AGENT_ERROR, str(exc))
                return transcript.agent_result(verdict, time.monotonic() - started)
            launcher = write_launcher(Path(workdir), cli)
            attempt = _Attempt(task, env, transcript, Path(workdir), launcher)
            verdict = await self._tries(attempt, cli, deadline)
            if verdict.reason is not None:
                transcript.log(f"{NOTE_PREFIX}failed ({verdict.reason}): {verdict.detail}")
            return transcript.agent_result(verdict, time.monotonic() - started)

    async def _tries(self, attempt: _Attempt, cli: Path, deadline: float) -> Verdict:
        """Run the query, again after a rate limit while the backoff schedule allows."""
        task, profile, transcript = attempt.task, attempt.task.profile, attempt.transcript
        transcript.log(
            f"{NOTE_PREFIX}{task.feature_id} attempt {task.attempt}: Claude Code at {cli} "
            f"(model {profile.model or 'default'}, permission mode {permission_mode(profile)})"
        )
        tries = 1 + len(self.rate_limit_backoff_s)
        while True:
            await START_GATE.wait(self.start_spacing_s)
            killed_for = await attempt.run_try(deadline)
            if killed_for is not None:
                return killed(killed_for, profile.timeout_s, profile.idle_timeout_s)
            verdict = transcript.verdict()
            if not verdict.rate_limited or verdict.resets_at is not None:
                return verdict  # a spent quota is waited for by the run (throttle.py)
            if attempt.tries >= tries:
                return replace(verdict, detail=f"{verdict.detail} ({tries} tries)")
            delay = self.rate_limit_backoff_s[attempt.tries - 1]
            wait = delay * (1 + random.random() * JITTER)
            if time.monotonic() + wait >= deadline:
                return replace(verdict, detail=f"{verdict.detail} (no time left to try again)")
            transcript.log(
                f"{NOTE_PREFIX}{verdict.detail}; trying again in about {format_seconds(delay)} "
                f"(try {attempt.tries + 1} of {tries})"
            )
            await asyncio.sleep(wait)
