"""How one try of Claude Code ended, as a verdict: success, or a failure reason with one line
saying what went wrong and what to do, and whether it was a rate limit (worth another try).

Pure: `classify` reads plain facts that the transcript recorded, already redacted, and
returns the verdict. It starts nothing and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from claude_agent_sdk import (
    CLIConnectionError,
    CLIJSONDecodeError,
    CLINotFoundError,
    ProcessError,
    ResultMessage,
)
from claude_agent_sdk._errors import MessageParseError

from worktree_agents.agents.base import format_seconds
from worktree_agents.agents.quota_text import reset_time
from worktree_agents.domain import FailureReason
from worktree_agents.process import KillReason
from worktree_agents.text import first_line

RATE_LIMIT_STATUSES = frozenset({429, 529})  # too many requests; overloaded
AUTH_STATUSES = frozenset({401, 403})
UNREACHABLE_SIGNS = ("connection error", "connection refused", "econnrefused", "enotfound")
NOT_LOGGED_IN = (
    "Claude Code is not logged in: set ANTHROPIC_API_KEY or log in with `claude auth login`"
)


@dataclass(frozen=True)
class ResultFacts:
    """What the CLI's result message said; its texts are already redacted."""

    subtype: str
    is_error: bool
    num_turns: int = 0
    total_cost_usd: float | None = None
    errors: tuple[str, ...] = ()
    api_error_status: int | None = None
    text: str | None = None  # the result's final text

    @classmethod
    def of(cls, message: ResultMessage, redact: Callable[[str], str]) -> ResultFacts:
        return cls(
            subtype=message.subtype,
            is_error=message.is_error,
            num_turns=message.num_turns,
            total_cost_usd=message.total_cost_usd,
            errors=tuple(redact(e) for e in message.errors or ()),
            api_error_status=message.api_error_status,
            text=None if message.result is None else redact(message.result),
        )


@dataclass(frozen=True)
class TryFacts:
    """What decides how one try ended."""

    result: ResultFacts | None = None  # None: the CLI ended without a result message
    api_errors: frozenset[str] = frozenset()  # the AssistantMessage.error values seen
    exception: Exception | None = None  # what the SDK raised, if anything
    stderr_last: str | None = None  # the CLI's last line on stderr, redacted
    blocked: str | None = None  # the reason the agent gave to report_blocked
    max_turns: int | None = None  # the profile's limits
    max_budget_usd: float | None = None
    resets_at: float | None = None  # a rejected rate_limit_event's reset time (Unix time)
    now: float = field(default_factory=time.time)  # what a reset "at 14:05" is after


@dataclass(frozen=True)
class Verdict:
    """How a try ended: `reason` None is success; `rate_limited` says another try may work,
    and `resets_at`, when the quota it hit resets (a Unix time), when that is known."""

    reason: FailureReason | None
    detail: str | None
    rate_limited: bool = False
    resets_at: float | None = None


def error_text(result: ResultFacts | None, stderr_last: str | None) -> str:
    """One line of what the CLI said went wrong: the result's errors or text, else stderr."""
    if result is None:
        return stderr_last or "no output on stderr"
    text = "; ".join(e for e in result.errors if e.strip()) or result.text or ""
    if not text.strip() and result.api_error_status is not None:
        text = f"HTTP {result.api_error_status}"
    return first_line(text) or result.subtype


def classify(facts: TryFacts) -> Verdict:
    """The verdict on one try that ran to its end (was not killed)."""
    result = facts.result
    if facts.blocked is not None:
        return Verdict(FailureReason.BLOCKED, first_line(facts.blocked))
    if result is not None and result.subtype == "error_max_turns":
        limit = f" (max_turns = {facts.max_turns})" if facts.max_turns else ""
        turns = f"{result.num_turns} turns{limit}"
        return Verdict(FailureReason.MAX_TURNS, f"stopped at the turn limit after {turns}")
    if result is not None and result.subtype == "error_max_budget_usd":
        cost = result.total_cost_usd
        spent = "?" if cost is None else f"${cost:.4f}"
        budget = facts.max_budget_usd
        limit = f" (max_budget_usd = {budget:g})" if budget else ""
        return Verdict(FailureReason.BUDGET, f"stopped at the budget after spending {spent}{limit}")
    if result is not None and not result.is_error:
        return Verdict(None, None)
    text = error_text(result, facts.stderr_last)
    resets_at = facts.resets_at or (reset_time(text, facts.now) if result is not None else None)
    if resets_at is not None:
        until = time.strftime("%H:%M", time.localtime(resets_at))
        detail = f"quota spent until {until} ({text})"
        return Verdict(FailureReason.AGENT_ERROR, detail, rate_limited=True, resets_at=resets_at)
    detail, rate_limited = _error_detail(facts, text)
    return Verdict(FailureReason.AGENT_ERROR, detail, rate_limited)


def _error_detail(facts: TryFacts, text: str) -> tuple[str, bool]:
    """One line saying what went wrong and what to do, and whether it was a rate limit."""
    result, errors = facts.result, facts.api_errors
    status = result.api_error_status if result is not None else None
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
    return _exception_detail(facts.exception, text), False


def _exception_detail(exc: Exception | None, text: str) -> str:
    """What the SDK's exception (or its absence) says, for a try without a result."""
    if isinstance(exc, CLINotFoundError):
        return str(exc)
    if isinstance(exc, CLIJSONDecodeError):
        return (
            f"Claude Code wrote a line that is not stream-json ({exc.line[:60]!r}): check "
            "that cli_path runs Claude Code"
        )
    if isinstance(exc, MessageParseError):
        return f"Claude Code sent a message wta cannot read: {first_line(str(exc))}"
    if isinstance(exc, CLIConnectionError):
        return f"cannot talk to Claude Code: {first_line(str(exc))}"
    if isinstance(exc, ProcessError):
        return f"Claude Code exited {exc.exit_code}: {text}"
    if exc is not None:
        return f"Claude Code failed: {first_line(str(exc)) or type(exc).__name__}"
    return f"Claude Code ended without a result: {text}"


def killed(reason: KillReason, timeout_s: float, idle_timeout_s: float) -> Verdict:
    """The verdict on a try that wta killed."""
    if reason == KillReason.TIMEOUT:
        return Verdict(FailureReason.TIMEOUT, f"timed out after {format_seconds(timeout_s)}")
    if reason == KillReason.IDLE:
        idle = format_seconds(idle_timeout_s)
        return Verdict(FailureReason.IDLE, f"no message from Claude Code for {idle}")
    return Verdict(FailureReason.AGENT_ERROR, "cancelled")
