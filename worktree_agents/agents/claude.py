"""The claude backend: Claude Code through claude-agent-sdk, in the feature's worktree, with
wta's in-process tools, timeouts that kill the CLI's whole process tree, rate-limit backoff,
and every failure mapped to one reason and one line.

Defaults, chosen so that an unattended run works; the profile overrides each one:
- permission_mode "bypassPermissions": nobody is there to approve a tool call, and the agent
  must run commands (the checks), not only edit files. The worktree is its sandbox. As root
  the CLI refuses this mode unless IS_SANDBOX=1 is set, so wta sets it there.
- setting_sources ["project"]: the repository's CLAUDE.md and .claude/settings.json apply;
  the user's ~/.claude settings (hooks, permission rules, MCP servers) stay out of the run.
  Logins are not settings: `claude login` and ANTHROPIC_API_KEY keep working.
- allowed_tools: the profile's, plus mcp__wta__feature_done and mcp__wta__report_blocked.
- model, fallback_model, max_turns, max_budget_usd: the profile's; unset leaves the CLI's own.
- cli_path: the profile's (relative to the plan), else the CLI bundled with claude-agent-sdk,
  else `claude` on PATH and the usual install places: the SDK's own order.
- Rate limits: three tries, waiting about 15 s, then 60 s (times 1 to 1.5, as jitter). The
  CLI has already retried by itself before it reports one.
- Starts: at least 1 s apart across every claude agent of the process.

How the CLI is started in its own process group, so that its whole tree can be killed, is
in claude_launch.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import tempfile
import time
import traceback
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKError,
    CLIConnectionError,
    CLIJSONDecodeError,
    CLINotFoundError,
    McpSdkServerConfig,
    Message,
    ProcessError,
    RateLimitEvent,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
    create_sdk_mcp_server,
    query,
    tool,
)
from claude_agent_sdk._errors import MessageParseError

from worktree_agents.agents.base import (
    AgentBackend,
    AgentResult,
    AgentTask,
    Capabilities,
    TokenUsage,
    format_seconds,
)
from worktree_agents.agents.claude_launch import (
    PGID_FILE_VAR,
    START_GATE,
    claude_env,
    find_cli,
    kill_cli,
    write_launcher,
)
from worktree_agents.domain import FailureReason
from worktree_agents.plan import PermissionMode, SettingSource
from worktree_agents.process import NOTE_PREFIX, STDERR_PREFIX, KillReason, append_log, watch
from worktree_agents.redaction import Redactor
from worktree_agents.text import DETAIL_MAX, first_line, last_line, shorten

WTA_TOOLS = ("mcp__wta__feature_done", "mcp__wta__report_blocked")
DEFAULT_PERMISSION_MODE: PermissionMode = "bypassPermissions"
DEFAULT_SETTING_SOURCES: tuple[SettingSource, ...] = ("project",)
RATE_LIMIT_BACKOFF_S = (15.0, 60.0)
START_SPACING_S = 1.0
JITTER = 0.5  # a backoff waits its delay times 1 to 1 + JITTER
RATE_LIMIT_STATUSES = frozenset({429, 529})  # too many requests; overloaded
AUTH_STATUSES = frozenset({401, 403})
UNREACHABLE_SIGNS = ("connection error", "connection refused", "econnrefused", "enotfound")
CLOSE_S = 30.0  # the SDK's own transport close takes ~20 s at worst
TOOL_SUMMARY_CHARS = 160
TOOL_RESULT_CHARS = 300
SUMMARY_CHARS = 1000
NOT_LOGGED_IN = "Claude Code is not logged in: set ANTHROPIC_API_KEY or run `claude login`"
_SUMMARY_KEYS = (
    "command", "file_path", "path", "pattern", "url", "query", "summary", "reason", "description",
)  # fmt: skip


def tool_summary(tool_input: Mapping[str, Any]) -> str:
    """One line saying what a tool call does: its command, path or pattern (not shortened)."""
    text = next(
        (v for k in _SUMMARY_KEYS if isinstance(v := tool_input.get(k), str) and v.strip()),
        None,
    )
    if text is None:
        text = json.dumps(tool_input, ensure_ascii=False, separators=(",", ":"))
    return " ".join(text.split())


# The SDK logs a failed CLI at error level; wta reports it in the result and the transcript
# instead. A handler here keeps logging's last-resort handler from printing it to stderr.
logging.getLogger("claude_agent_sdk").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class _Verdict:
    reason: FailureReason | None
    detail: str | None
    rate_limited: bool = False


class _Attempt:
    """One attempt, over one or more tries of the CLI: the transcript, what wta's tools were
    told, and what the CLI reported (summed over tries)."""

    def __init__(self, task: AgentTask, env: Mapping[str, str], workdir: Path) -> None:
        self.task = task
        self.env = env
        self.redactor = Redactor(os.environ, env)
        self.workdir = workdir
        self.tries = 0
        self.summary: str | None = None
        self.blocked: str | None = None
        self.cost: float | None = None
        self.turns: int | None = None
        self.usage: TokenUsage | None = None
        self.session_id: str | None = None
        self.model: str | None = None
        self.init_model: str | None = None
        self.stderr_last: str | None = None
        self.last_message = time.monotonic()
        self.result: ResultMessage | None = None
        self.api_errors: set[str] = set()
        self.exception: Exception | None = None

    # the transcript

    def redact(self, text: str) -> str:
        """`text` without the secrets of wta's and the CLI's environment (before any cut)."""
        return self.redactor.redact(text)

    def log(self, line: str) -> None:
        append_log(self.task.log_path, self.redact(line))

    def on_stderr(self, line: str) -> None:
        self.log(STDERR_PREFIX + line)
        self.stderr_last = last_line(self.redact(line)) or self.stderr_last

    # one try

    @property
    def pgid_file(self) -> Path:
        return self.workdir / f"pgid.{self.tries}"

    def begin_try(self) -> None:
        self.tries += 1
        self.result = None
        self.api_errors = set()
        self.exception = None
        self.last_message = time.monotonic()

    def end_try(self) -> None:
        result = self.result
        if result is None:
            return
        if result.total_cost_usd is not None:
            self.cost = (self.cost or 0.0) + result.total_cost_usd
        self.turns = (self.turns or 0) + result.num_turns
        if result.usage:
            self.usage = (self.usage or TokenUsage()) + TokenUsage.from_api(result.usage)

    def options(self, launcher: Path) -> ClaudeAgentOptions:
        profile = self.task.profile
        allowed = list(profile.allowed_tools or ())
        allowed += [name for name in WTA_TOOLS if name not in allowed]
        sources = (
            DEFAULT_SETTING_SOURCES if profile.setting_sources is None else profile.setting_sources
        )
        append = self.task.system_append
        return ClaudeAgentOptions(
            cwd=self.task.worktree,
            system_prompt=(
                {"type": "preset", "preset": "claude_code", "append": append}
                if append
                else {"type": "preset", "preset": "claude_code"}
            ),
            model=profile.model,
            fallback_model=profile.fallback_model,
            max_turns=profile.max_turns,
            max_budget_usd=profile.max_budget_usd,
            permission_mode=profile.permission_mode or DEFAULT_PERMISSION_MODE,
            allowed_tools=allowed,
            disallowed_tools=list(profile.disallowed_tools or ()),
            setting_sources=list(sources),
            cli_path=launcher,
            env={**self.env, PGID_FILE_VAR: str(self.pgid_file)},
            mcp_servers={"wta": self._wta_server()},
            stderr=self.on_stderr,
            resume=self.task.resume_session,
        )

    def _wta_server(self) -> McpSdkServerConfig:
        @tool(
            "feature_done",
            "Call this once the feature is complete and its checks pass, with a one-line "
            "summary of what you changed. wta then commits, verifies and integrates the work.",
            {"summary": str},
        )
        async def feature_done(args: dict[str, Any]) -> dict[str, Any]:
            self.summary = shorten(str(args.get("summary", "")).strip(), SUMMARY_CHARS) or None
            text = "Recorded. wta will commit, verify and integrate your work. Stop here."
            return {"content": [{"type": "text", "text": text}]}

        @tool(
            "report_blocked",
            "Call this if the feature cannot be done, with the reason: what is missing or "
            "contradictory. The attempt then fails as blocked. Never fake a result instead.",
            {"reason": str},
        )
        async def report_blocked(args: dict[str, Any]) -> dict[str, Any]:
            self.blocked = str(args.get("reason", "")).strip() or "no reason given"
            text = "Recorded: the feature is reported blocked. Stop here."
            return {"content": [{"type": "text", "text": text}]}

        return create_sdk_mcp_server(
            name="wta", version="1.0.0", tools=[feature_done, report_blocked]
        )

    async def consume(self, options: ClaudeAgentOptions) -> None:
        """Run one query to its end, recording what it says; never raises an Exception."""
        try:
            messages = cast(
                AsyncGenerator[Message, None], query(prompt=self.task.prompt, options=options)
            )
            async with contextlib.aclosing(messages):
                try:
                    async for message in messages:
                        self.last_message = time.monotonic()
                        self.handle(message)
                except Exception as exc:
                    self.exception = exc
                    await self.kill()  # the CLI may still run; the SDK would wait 5 s for it
        except Exception as exc:
            self.exception = self.exception or exc
        if self.exception is not None and not isinstance(self.exception, ClaudeSDKError):
            self.log(NOTE_PREFIX + "".join(traceback.format_exception(self.exception)).rstrip())

    def handle(self, message: Message) -> None:
        if isinstance(message, AssistantMessage):
            main = message.parent_tool_use_id is None  # not a subagent's message
            if main and message.model and not message.model.startswith("<"):  # "<synthetic>"
                self.model = message.model
            if message.error:
                self.api_errors.add(message.error)
            self.session_id = message.session_id or self.session_id
            for block in message.content:
                if isinstance(block, TextBlock) and block.text.strip():
                    self.log(block.text.strip("\n"))
                elif isinstance(block, ToolUseBlock):
                    self.log(f"[tool] {block.name} {json.dumps(block.input, ensure_ascii=False)}")
                    if self.task.on_tool is not None:
                        summary = self.redact(tool_summary(block.input))
                        self.task.on_tool(block.name, shorten(summary, TOOL_SUMMARY_CHARS))
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    self._log_tool_result(block)
        elif isinstance(message, SystemMessage) and message.subtype == "init":
            model, session_id = message.data.get("model"), message.data.get("session_id")
            self.init_model = model if isinstance(model, str) else self.init_model
            self.session_id = session_id if isinstance(session_id, str) else self.session_id
        elif isinstance(message, RateLimitEvent):
            info = message.rate_limit_info
            if info.status != "allowed":
                resets = f", resets at {info.resets_at}" if info.resets_at else ""
                self.log(f"{NOTE_PREFIX}rate limit: {info.status}{resets}")
        elif isinstance(message, ResultMessage):
            self.result = message
            self.session_id = message.session_id or self.session_id
            cost = "" if message.total_cost_usd is None else f", ${message.total_cost_usd:.4f}"
            error = f": {self._error_text()}" if message.is_error else ""
            self.log(
                f"[result] {message.subtype}, {message.num_turns} turns{cost}, "
                f"session {message.session_id}{error}"
            )

    def _log_tool_result(self, block: ToolResultBlock) -> None:
        content = block.content
        if isinstance(content, list):
            content = " ".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
        text = shorten(self.redact(" ".join(str(content or "").split())), TOOL_RESULT_CHARS)
        self.log(f"[tool {'error' if block.is_error else 'result'}] {text}")

    async def kill(self) -> None:
        """Kill the CLI's process group, if it was started, and confirm it is gone."""
        await kill_cli(self.pgid_file, self.task.log_path)

    async def stop(self, consumer: asyncio.Task[None]) -> None:
        """Kill the CLI's tree, then let the SDK close its side."""
        await self.kill()
        consumer.cancel()
        await asyncio.wait({consumer}, timeout=CLOSE_S)
        await self.kill()  # a CLI that was only starting at the first look

    # the outcome

    def _error_text(self) -> str:
        result = self.result
        if result is not None:
            text = "; ".join(e for e in result.errors or [] if e.strip()) or result.result or ""
            if not text.strip() and result.api_error_status is not None:
                text = f"HTTP {result.api_error_status}"
            return first_line(self.redact(text)) or result.subtype
        return self.stderr_last or "no output on stderr"

    def verdict(self) -> _Verdict:
        """How this try ended: ok, a failure reason with one line, or rate limited."""
        result, profile = self.result, self.task.profile
        if self.blocked is not None:
            return _Verdict(FailureReason.BLOCKED, first_line(self.blocked))
        if result is not None and result.subtype == "error_max_turns":
            limit = f" (max_turns = {profile.max_turns})" if profile.max_turns else ""
            turns = f"{result.num_turns} turns{limit}"
            return _Verdict(FailureReason.MAX_TURNS, f"stopped at the turn limit after {turns}")
        if result is not None and result.subtype == "error_max_budget_usd":
            spent = f"${result.total_cost_usd:.4f}" if result.total_cost_usd is not None else "?"
            limit = (
                f" (max_budget_usd = {profile.max_budget_usd:g})" if profile.max_budget_usd else ""
            )
            return _Verdict(
                FailureReason.BUDGET, f"stopped at the budget after spending {spent}{limit}"
            )
        if result is not None and not result.is_error:
            return _Verdict(None, None)
        return _Verdict(FailureReason.AGENT_ERROR, *self._error_detail())

    def _error_detail(self) -> tuple[str, bool]:
        """One line saying what went wrong and what to do, and whether it was a rate limit."""
        result, errors, exc = self.result, self.api_errors, self.exception
        status = result.api_error_status if result is not None else None
        text = self._error_text()
        if "rate_limit" in errors or status in RATE_LIMIT_STATUSES:
            return f"rate limited by the Anthropic API: {text}", True
        if "authentication_failed" in errors or status in AUTH_STATUSES:
            return NOT_LOGGED_IN, False
        if "billing_error" in errors:
            return f"the Anthropic API refused to bill the account ({text}): add credit", False
        if "invalid_request" in errors:
            return f"the Anthropic API rejected the request ({text}): check the model", False
        if result is not None and any(sign in text.lower() for sign in UNREACHABLE_SIGNS):
            return (
                f"cannot reach the Anthropic API ({text}): check the network, the proxy or "
                "ANTHROPIC_BASE_URL",
                False,
            )
        if "server_error" in errors or (status is not None and status >= 500):
            return f"the Anthropic API failed ({text}): try again later", False
        if result is not None:
            return f"Claude Code reported an error: {text}", False
        if isinstance(exc, CLINotFoundError):
            return str(exc), False
        if isinstance(exc, CLIJSONDecodeError):
            return (
                f"Claude Code wrote a line that is not stream-json ({exc.line[:60]!r}): check "
                "that cli_path runs Claude Code",
                False,
            )
        if isinstance(exc, MessageParseError):
            return f"Claude Code sent a message wta cannot read: {first_line(str(exc))}", False
        if isinstance(exc, CLIConnectionError):
            return f"cannot talk to Claude Code: {first_line(str(exc))}", False
        if isinstance(exc, ProcessError):
            return f"Claude Code exited {exc.exit_code}: {text}", False
        if exc is not None:
            return f"Claude Code failed: {first_line(str(exc)) or type(exc).__name__}", False
        return f"Claude Code ended without a result: {text}", False

    def agent_result(self, verdict: _Verdict, duration_s: float) -> AgentResult:
        ok = verdict.reason is None
        summary = None
        if ok:
            final_text = self.result.result if self.result is not None else None
            summary = self.summary or last_line(self.redact(final_text or ""))
        return AgentResult(
            ok=ok,
            reason=verdict.reason,
            detail=None if ok else shorten(verdict.detail or "", DETAIL_MAX),
            duration_s=duration_s,
            cost_usd=self.cost,
            turns=self.turns,
            summary=summary,
            session_id=self.session_id,
            model=self.model or self.init_model,
            usage=self.usage,
        )


class ClaudeAgent(AgentBackend):
    name: ClassVar[str] = "claude"
    capabilities: ClassVar[Capabilities] = Capabilities(records_model=True, supports_resume=True)

    def __init__(
        self,
        *,
        rate_limit_backoff_s: Sequence[float] = RATE_LIMIT_BACKOFF_S,
        start_spacing_s: float = START_SPACING_S,
    ) -> None:
        self.rate_limit_backoff_s = tuple(rate_limit_backoff_s)
        self.start_spacing_s = start_spacing_s

    async def run(self, task: AgentTask) -> AgentResult:
        started = time.monotonic()
        deadline = started + task.profile.timeout_s
        with tempfile.TemporaryDirectory(prefix="wta-claude-") as workdir:
            mode = task.profile.permission_mode or DEFAULT_PERMISSION_MODE
            attempt = _Attempt(task, claude_env(task, mode), Path(workdir))
            try:
                cli = find_cli(task.profile.cli_path, task.plan_dir)
            except CLINotFoundError as exc:
                attempt.log(NOTE_PREFIX + str(exc))
                verdict = _Verdict(FailureReason.AGENT_ERROR, str(exc))
                return attempt.agent_result(verdict, time.monotonic() - started)
            launcher = write_launcher(Path(workdir), cli)
            verdict = await self._tries(attempt, launcher, cli, deadline)
            if verdict.reason is not None:
                attempt.log(f"{NOTE_PREFIX}failed ({verdict.reason}): {verdict.detail}")
            return attempt.agent_result(verdict, time.monotonic() - started)

    async def _tries(
        self, attempt: _Attempt, launcher: Path, cli: Path, deadline: float
    ) -> _Verdict:
        """Run the query, again after a rate limit while the backoff schedule allows."""
        task, profile = attempt.task, attempt.task.profile
        mode = profile.permission_mode or DEFAULT_PERMISSION_MODE
        attempt.log(
            f"{NOTE_PREFIX}{task.feature_id} attempt {task.attempt}: Claude Code at {cli} "
            f"(model {profile.model or 'default'}, permission mode {mode})"
        )
        tries = 1 + len(self.rate_limit_backoff_s)
        while True:
            await START_GATE.wait(self.start_spacing_s)
            attempt.begin_try()
            killed_for = await self._try(attempt, attempt.options(launcher), deadline)
            if killed_for == KillReason.TIMEOUT:
                return _Verdict(
                    FailureReason.TIMEOUT, f"timed out after {format_seconds(profile.timeout_s)}"
                )
            if killed_for == KillReason.IDLE:
                idle = format_seconds(profile.idle_timeout_s)
                return _Verdict(FailureReason.IDLE, f"no message from Claude Code for {idle}")
            verdict = attempt.verdict()
            if not verdict.rate_limited:
                return verdict
            if attempt.tries >= tries:
                return _Verdict(verdict.reason, f"{verdict.detail} ({tries} tries)")
            delay = self.rate_limit_backoff_s[attempt.tries - 1]
            wait = delay * (1 + random.random() * JITTER)
            if time.monotonic() + wait >= deadline:
                return _Verdict(verdict.reason, f"{verdict.detail} (no time left to try again)")
            attempt.log(
                f"{NOTE_PREFIX}{verdict.detail}; trying again in about {format_seconds(delay)} "
                f"(try {attempt.tries + 1} of {tries})"
            )
            await asyncio.sleep(wait)

    async def _try(
        self, attempt: _Attempt, options: ClaudeAgentOptions, deadline: float
    ) -> KillReason | None:
        consumer = asyncio.create_task(attempt.consume(options))
        try:
            killed_for = await watch(
                consumer,
                deadline=deadline,
                idle_timeout_s=attempt.task.profile.idle_timeout_s,
                last_activity=lambda: attempt.last_message,
            )
        except asyncio.CancelledError:
            attempt.log(NOTE_PREFIX + "cancelled; killing Claude Code's process group")
            await attempt.stop(consumer)
            raise
        if killed_for is not None:
            attempt.log(f"{NOTE_PREFIX}{killed_for}: killing Claude Code's process group")
            await attempt.stop(consumer)
        else:
            await attempt.kill()  # whatever the CLI left behind, such as background shells
        attempt.end_try()
        return killed_for
