"""What one attempt of the claude backend records: the transcript (every message of the
CLI, redacted, in the attempt's log), what wta's tools were told, and what the CLI reported,
from which come the verdict (claude_errors.py) and the AgentResult."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from claude_agent_sdk import (
    AssistantMessage,
    Message,
    RateLimitEvent,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

from worktree_agents.agents.base import AgentResult, AgentTask, TokenUsage
from worktree_agents.agents.claude_errors import (
    ResultFacts,
    TryFacts,
    Verdict,
    classify,
    error_text,
)
from worktree_agents.agents.pricing import MOST_EXPENSIVE_NAME, estimate_usd, price_of
from worktree_agents.logcap import CappedLog
from worktree_agents.process import NOTE_PREFIX, STDERR_PREFIX
from worktree_agents.redaction import Redactor
from worktree_agents.text import DETAIL_MAX, last_line, shorten

CHARS_PER_TOKEN = 4  # about, for English and code
TOOL_SUMMARY_CHARS = 160
TOOL_RESULT_CHARS = 300
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


def _chars(block: object) -> int:
    if isinstance(block, TextBlock):
        return len(block.text)
    if isinstance(block, ToolUseBlock):
        return len(json.dumps(block.input, ensure_ascii=False))
    return len(block.thinking) if isinstance(block, ThinkingBlock) else 0


def _priced(model: str) -> str:
    if price_of(model) is not None:
        return model
    return f"{model}, not in wta's price table, priced as {MOST_EXPENSIVE_NAME}, the most expensive"


class Transcript:
    """What one attempt recorded, over its tries of the CLI: the transcript, what wta's tools
    were told, and what the CLI reported (costs summed over tries). Close it at the end."""

    def __init__(self, task: AgentTask, redactor: Redactor) -> None:
        self.task = task
        self._log = CappedLog(task.log_path, task.max_log_bytes)
        self.redact = redactor.redact  # secrets of wta's and the CLI's environment
        self.summary: str | None = None
        self.blocked: str | None = None
        self.cost: float | None = None
        self.turns: int | None = None
        self.usage: TokenUsage | None = None
        self.cost_estimated = False  # some of `cost` is estimated (a try ended with no result)
        self.session_id: str | None = None
        self.model: str | None = None  # the model that answered, never the one asked for
        self.stderr_last: str | None = None
        # Denials by the fence's hook whose tool result has not come yet, by tool_use_id:
        # (tool, path, reason).
        self.denials: dict[str, tuple[str, str, str]] = {}
        # What the current try reported, reset by begin_try.
        self.last_message = time.monotonic()
        self.result: ResultMessage | None = None
        self.api_errors: set[str] = set()
        self.exception: Exception | None = None
        # The usage of the current try's assistant messages, by message id (the CLI sends a
        # message once per content block, each with its usage so far): (model, usage).
        self.try_usage: dict[str, tuple[str, TokenUsage]] = {}
        self.resets_at: float | None = None  # a rejected rate_limit_event's reset time

    def log(self, line: str) -> None:
        self._log.write(self.redact(line).rstrip("\n") + "\n")

    def close(self) -> None:
        self._log.close()

    def on_stderr(self, line: str) -> None:
        self.log(STDERR_PREFIX + line)
        self.stderr_last = last_line(self.redact(line)) or self.stderr_last

    def begin_try(self) -> None:
        self.result = None
        self.api_errors = set()
        self.exception = None
        self.resets_at = None
        self.last_message = time.monotonic()
        self.try_usage = {}

    def end_try(self) -> None:
        self.flush_denials()
        result = self.result
        if result is None:  # killed, or the CLI died: what its messages used is all there is
            self._add_estimate()
            return
        if result.total_cost_usd is not None:
            self.cost = (self.cost or 0.0) + result.total_cost_usd
        self.turns = (self.turns or 0) + result.num_turns
        if result.usage:
            self.usage = (self.usage or TokenUsage()) + TokenUsage.from_api(result.usage)
        self._publish(0.0)

    def _try_estimate(self) -> float:
        return sum(estimate_usd(model, usage) for model, usage in self.try_usage.values())

    def _add_estimate(self) -> None:
        estimate = self._try_estimate()
        if estimate:
            self.cost = (self.cost or 0.0) + estimate
            self.cost_estimated = True
            count = len(self.try_usage)
            models = ", ".join(map(_priced, sorted({m for m, _ in self.try_usage.values()})))
            self.log(
                f"{NOTE_PREFIX}no cost reported: ~${estimate:.4f} estimated from the token usage"
                f" of {count} message{'' if count == 1 else 's'} ({models})"
            )
        self.try_usage = {}
        self._publish(0.0)

    def _publish(self, open_estimate: float) -> None:
        """Keep the task's Spend up to date: what is reported, plus what the open try's
        messages used so far (an attempt cancelled mid-try has nothing else)."""
        spend = self.task.spend
        cost = spend.cost_usd
        if self.cost is not None or open_estimate:
            cost = (self.cost or 0.0) + open_estimate
        spend.update(cost, self.cost_estimated or bool(open_estimate))

    def _count_usage(self, message: AssistantMessage) -> None:
        if not message.usage or message.model.startswith("<"):  # "<synthetic>": no API call
            return
        key = message.message_id or f"#{len(self.try_usage)}"
        usage = TokenUsage.from_api(message.usage)
        # The CLI sends a message before its final output count (the API's message_delta):
        # count at least a token per CHARS_PER_TOKEN characters of what it says.
        said = sum(map(_chars, message.content)) // CHARS_PER_TOKEN
        usage = replace(usage, output_tokens=max(usage.output_tokens, said))
        _, before = self.try_usage.get(key, (message.model, TokenUsage()))
        self.try_usage[key] = (message.model, usage.most(before))
        self._publish(self._try_estimate())

    def handle(self, message: Message) -> None:
        self.last_message = time.monotonic()
        if isinstance(message, AssistantMessage):
            self._assistant(message)
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    self._tool_result(block)
        elif isinstance(message, SystemMessage) and message.subtype == "init":
            session_id = message.data.get("session_id")  # its model has not answered yet
            self.session_id = session_id if isinstance(session_id, str) else self.session_id
        elif isinstance(message, RateLimitEvent):
            info = message.rate_limit_info
            if info.status != "allowed":
                resets = f", resets at {info.resets_at}" if info.resets_at else ""
                self.log(f"{NOTE_PREFIX}rate limit: {info.status}{resets}")
            if info.status == "rejected" and info.resets_at:
                self.resets_at = float(info.resets_at)
        elif isinstance(message, ResultMessage):
            self.result = message
            self.session_id = message.session_id or self.session_id
            cost = "" if message.total_cost_usd is None else f", ${message.total_cost_usd:.4f}"
            error = ""
            if message.is_error:
                error = f": {error_text(ResultFacts.of(message, self.redact), self.stderr_last)}"
            self.log(
                f"[result] {message.subtype}, {message.num_turns} turns{cost}, "
                f"session {message.session_id}{error}"
            )

    def _assistant(self, message: AssistantMessage) -> None:
        self._count_usage(message)
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

    def denied(self, tool_use_id: str | None, tool: str, path: str, reason: str) -> None:
        """The fence's hook denied a tool call. It is recorded with the call's tool result,
        which stands in for the result's line: the hook runs while the call's own message
        may still wait in the SDK's queue, and its line must come first."""
        if tool_use_id is None:
            self._denied(tool, path, reason)
        else:
            self.denials[tool_use_id] = (tool, path, reason)

    def flush_denials(self) -> None:
        """Record the denials whose tool results never came (the CLI ended or was killed)."""
        for denial in self.denials.values():
            self._denied(*denial)
        self.denials = {}

    def _denied(self, tool: str, path: str, reason: str) -> None:
        self.log(f"[tool denied] {tool}: {reason}")
        if self.task.on_tool_denied is not None:
            self.task.on_tool_denied(tool, self.redact(path), self.redact(reason))

    def _tool_result(self, block: ToolResultBlock) -> None:
        denial = self.denials.pop(block.tool_use_id, None)
        if denial is not None:
            self._denied(*denial)
            return
        content = block.content
        if isinstance(content, list):
            content = " ".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
        text = shorten(self.redact(" ".join(str(content or "").split())), TOOL_RESULT_CHARS)
        self.log(f"[tool {'error' if block.is_error else 'result'}] {text}")

    def verdict(self) -> Verdict:
        """How the current try ended, if it ran to its end."""
        profile = self.task.profile
        return classify(
            TryFacts(
                result=None if self.result is None else ResultFacts.of(self.result, self.redact),
                api_errors=frozenset(self.api_errors),
                exception=self.exception,
                stderr_last=self.stderr_last,
                blocked=self.blocked,
                max_turns=profile.max_turns,
                max_budget_usd=profile.max_budget_usd,
                resets_at=self.resets_at,
            )
        )

    def agent_result(self, verdict: Verdict, duration_s: float) -> AgentResult:
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
            model=self.model,
            usage=self.usage,
            cost_estimated=self.cost_estimated,
            rate_limited=verdict.rate_limited and not ok,
            resets_at=verdict.resets_at,
        )
