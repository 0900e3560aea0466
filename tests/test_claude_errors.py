"""The claude backend's verdicts, from plain facts: one row per branch of the classifier, each
with the whole verdict it must give."""

from __future__ import annotations

import pytest
from claude_agent_sdk import (
    CLIConnectionError,
    CLIJSONDecodeError,
    CLINotFoundError,
    ProcessError,
    ResultMessage,
)
from claude_agent_sdk._errors import MessageParseError

from worktree_agents.agents.claude_errors import (
    NOT_LOGGED_IN,
    ResultFacts,
    TryFacts,
    Verdict,
    classify,
    killed,
)
from worktree_agents.domain import FailureReason
from worktree_agents.process import KillReason

ERROR = FailureReason.AGENT_ERROR
SUCCESS = ResultFacts(subtype="success", is_error=False, num_turns=3, text="Done.\nAll good.")
API_ERROR = ResultFacts(subtype="success", is_error=True, text="API Error: boom\nmore")


def api_error(status: int | None = None, text: str | None = None) -> ResultFacts:
    return ResultFacts(subtype="success", is_error=True, api_error_status=status, text=text)


CASES: list[tuple[str, TryFacts, Verdict]] = [
    (
        "blocked wins over a successful result",
        TryFacts(result=SUCCESS, blocked="\n  the spec contradicts itself  \nsecond line"),
        Verdict(FailureReason.BLOCKED, "the spec contradicts itself"),
    ),
    (
        "max turns, with the profile's limit",
        TryFacts(
            result=ResultFacts(subtype="error_max_turns", is_error=True, num_turns=7), max_turns=7
        ),
        Verdict(FailureReason.MAX_TURNS, "stopped at the turn limit after 7 turns (max_turns = 7)"),
    ),
    (
        "max turns, without a limit in the profile",
        TryFacts(result=ResultFacts(subtype="error_max_turns", is_error=True, num_turns=4)),
        Verdict(FailureReason.MAX_TURNS, "stopped at the turn limit after 4 turns"),
    ),
    (
        "budget, with the cost and the profile's limit",
        TryFacts(
            result=ResultFacts(
                subtype="error_max_budget_usd", is_error=True, total_cost_usd=0.123456
            ),
            max_budget_usd=0.1,
        ),
        Verdict(
            FailureReason.BUDGET,
            "stopped at the budget after spending $0.1235 (max_budget_usd = 0.1)",
        ),
    ),
    (
        "budget, cost unknown and no limit",
        TryFacts(result=ResultFacts(subtype="error_max_budget_usd", is_error=True)),
        Verdict(FailureReason.BUDGET, "stopped at the budget after spending ?"),
    ),
    ("success", TryFacts(result=SUCCESS), Verdict(None, None)),
    (
        "rate limit, from an assistant message's error",
        TryFacts(result=API_ERROR, api_errors=frozenset({"rate_limit"})),
        Verdict(ERROR, "rate limited by the Anthropic API: API Error: boom", rate_limited=True),
    ),
    (
        "rate limit, by status 429 (no text: the status is the text)",
        TryFacts(result=api_error(429)),
        Verdict(ERROR, "rate limited by the Anthropic API: HTTP 429", rate_limited=True),
    ),
    (
        "overloaded, by status 529",
        TryFacts(result=api_error(529, "Overloaded")),
        Verdict(ERROR, "rate limited by the Anthropic API: Overloaded", rate_limited=True),
    ),
    (
        "authentication, from an assistant message's error",
        TryFacts(result=API_ERROR, api_errors=frozenset({"authentication_failed"})),
        Verdict(ERROR, NOT_LOGGED_IN),
    ),
    (
        "authentication, by status 401",
        TryFacts(result=api_error(401)),
        Verdict(ERROR, NOT_LOGGED_IN),
    ),
    (
        "authentication, by status 403",
        TryFacts(result=api_error(403)),
        Verdict(ERROR, NOT_LOGGED_IN),
    ),
    (
        "billing",
        TryFacts(result=API_ERROR, api_errors=frozenset({"billing_error"})),
        Verdict(
            ERROR, "the Anthropic API refused to bill the account (API Error: boom): add credit"
        ),
    ),
    (
        "invalid request",
        TryFacts(result=API_ERROR, api_errors=frozenset({"invalid_request"})),
        Verdict(ERROR, "the Anthropic API rejected the request (API Error: boom): check the model"),
    ),
    (
        "unreachable: the result's errors say so",
        TryFacts(
            result=ResultFacts(
                subtype="success",
                is_error=True,
                errors=("API Error: Connection error.", " ", "ECONNREFUSED"),
                text="ignored: the errors come first",
            )
        ),
        Verdict(
            ERROR,
            "cannot reach the Anthropic API (API Error: Connection error.; ECONNREFUSED): check "
            "the network, the proxy or ANTHROPIC_BASE_URL",
        ),
    ),
    (
        "server error, from an assistant message's error",
        TryFacts(result=API_ERROR, api_errors=frozenset({"server_error"})),
        Verdict(ERROR, "the Anthropic API failed (API Error: boom): try again later"),
    ),
    (
        "server error, by status 500 and above",
        TryFacts(result=api_error(503, "upstream gone")),
        Verdict(ERROR, "the Anthropic API failed (upstream gone): try again later"),
    ),
    (
        "a plain error result",
        TryFacts(result=API_ERROR),
        Verdict(ERROR, "Claude Code reported an error: API Error: boom"),
    ),
    (
        "an error result without any text: its subtype",
        TryFacts(result=ResultFacts(subtype="error_during_execution", is_error=True)),
        Verdict(ERROR, "Claude Code reported an error: error_during_execution"),
    ),
    (
        "the CLI is not found",
        TryFacts(exception=CLINotFoundError("the claude CLI was not found at /x")),
        Verdict(ERROR, "the claude CLI was not found at /x"),
    ),
    (
        "the CLI writes something that is not stream-json",
        TryFacts(exception=CLIJSONDecodeError("<html>" + "x" * 100, ValueError("no"))),
        Verdict(
            ERROR,
            "Claude Code wrote a line that is not stream-json ('<html>"
            + "x" * 54
            + "'): check that cli_path runs Claude Code",
        ),
    ),
    (
        "a message the SDK cannot parse",
        TryFacts(exception=MessageParseError("Unknown message type: weird\ndetails", {})),
        Verdict(ERROR, "Claude Code sent a message wta cannot read: Unknown message type: weird"),
    ),
    (
        "the connection to the CLI fails",
        TryFacts(exception=CLIConnectionError("\nProcess is not ready\n")),
        Verdict(ERROR, "cannot talk to Claude Code: Process is not ready"),
    ),
    (
        "the CLI exits: its last stderr line",
        TryFacts(
            exception=ProcessError("Command failed", exit_code=2, stderr="..."),
            stderr_last="fatal: bad flag",
        ),
        Verdict(ERROR, "Claude Code exited 2: fatal: bad flag"),
    ),
    (
        "the CLI exits with nothing on stderr",
        TryFacts(exception=ProcessError("Command failed", exit_code=1)),
        Verdict(ERROR, "Claude Code exited 1: no output on stderr"),
    ),
    (
        "another exception: its first line",
        TryFacts(exception=RuntimeError("\nsomething broke\ntraceback")),
        Verdict(ERROR, "Claude Code failed: something broke"),
    ),
    (
        "another exception without a message: its type",
        TryFacts(exception=KeyError()),
        Verdict(ERROR, "Claude Code failed: KeyError"),
    ),
    (
        "no result and no exception",
        TryFacts(stderr_last="Segmentation fault"),
        Verdict(ERROR, "Claude Code ended without a result: Segmentation fault"),
    ),
    (
        "a result wins over the exception that followed it",
        TryFacts(result=api_error(429), exception=ProcessError("Command failed", exit_code=1)),
        Verdict(ERROR, "rate limited by the Anthropic API: HTTP 429", rate_limited=True),
    ),
]


@pytest.mark.parametrize(("facts", "verdict"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify(facts: TryFacts, verdict: Verdict) -> None:
    assert classify(facts) == verdict


@pytest.mark.parametrize(
    ("reason", "verdict"),
    [
        (KillReason.TIMEOUT, Verdict(FailureReason.TIMEOUT, "timed out after 1m30s")),
        (KillReason.IDLE, Verdict(FailureReason.IDLE, "no message from Claude Code for 20s")),
        (KillReason.CANCELLED, Verdict(ERROR, "cancelled")),
    ],
)
def test_killed(reason: KillReason, verdict: Verdict) -> None:
    assert killed(reason, 90.0, 20.0) == verdict


def test_result_facts_are_redacted_from_a_result_message() -> None:
    message = ResultMessage(
        subtype="success",
        duration_ms=1,
        duration_api_ms=1,
        is_error=True,
        num_turns=2,
        session_id="s",
        total_cost_usd=0.5,
        result="key sk-123 leaked",
        errors=["bad sk-123"],
        api_error_status=500,
    )
    facts = ResultFacts.of(message, lambda text: text.replace("sk-123", "***"))
    assert facts == ResultFacts(
        subtype="success",
        is_error=True,
        num_turns=2,
        total_cost_usd=0.5,
        errors=("bad ***",),
        api_error_status=500,
        text="key *** leaked",
    )
