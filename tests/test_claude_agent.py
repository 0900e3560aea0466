"""Tests for the claude backend, through the real SDK code path: query() starts a fake
`claude` executable (tests/fakeclaude.py) passed as cli_path, which speaks stream-json and
the control protocol, including wta's in-process MCP tools."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fakecli import fake_cli
from logutil import capped
from runutil import resolved_profile

from worktree_agents.agents import AgentResult, AgentTask, backend_for, claude_launch
from worktree_agents.agents.base import Spend, TokenUsage
from worktree_agents.agents.claude import ClaudeAgent
from worktree_agents.agents.claude_fence import denial_message
from worktree_agents.agents.claude_launch import StartGate
from worktree_agents.domain import CommitSha, FailureReason, FeatureId
from worktree_agents.plan import Feature
from worktree_agents.prompt import build_system_append

SECRET = "s3cret-token-value"
USAGE = TokenUsage(
    input_tokens=100, output_tokens=20, cache_creation_input_tokens=10, cache_read_input_tokens=50
)
MCP_CONFIG = json.dumps({"mcpServers": {"wta": {"type": "sdk", "name": "wta"}}})
FEATURE = Feature(
    id=FeatureId("feat"),
    title="User login",
    description="Sign-up and login with hashed passwords.",
    steps=["POST /signup stores a hash", "POST /login sets a session"],
    acceptance=["pytest tests/test_auth.py -q"],
)
APPEND = build_system_append(FEATURE, ["pytest -q", "pytest tests/test_auth.py -q"])

PROFILE = resolved_profile(backend="claude", model="sonnet")

# One message of the fake's usage (100 input, 20 output, 10 cache write, 50 cache read
# tokens) from its model claude-fake-1, which wta has no price for: at the most expensive
# price, $15, $75, $18.75 and $1.50 per million tokens. The CLI reports no cost when killed.
FAKE_MESSAGE_ESTIMATE = (100 * 15 + 20 * 75 + 10 * 18.75 + 50 * 1.5) / 1_000_000
FAKE_MESSAGE_NOTE = (
    "[wta] no cost reported: ~$0.0033 estimated from the token usage of 1 message"
    " (claude-fake-1, not in wta's price table, priced as claude-opus-4-1, the most expensive)"
)


class Setup:
    """A fake CLI, its state directory, a worktree and the task that points at them."""

    def __init__(self, tmp_path: Path, scenario: str, **changes: object) -> None:
        self.cli = fake_cli(tmp_path)
        self.state = tmp_path / "fake"
        self.state.mkdir()
        worktree = tmp_path / "worktree"
        worktree.mkdir()
        env = {
            "FAKE_CLAUDE_SCENARIO": scenario,
            "FAKE_CLAUDE_STATE": str(self.state),
            "FAKE_SECRET_TOKEN": SECRET,
        }
        extra_env = changes.pop("env", {})
        assert isinstance(extra_env, dict)
        profile = replace(PROFILE, cli_path=str(self.cli), env={**env, **extra_env})
        self.tools: list[tuple[str, str]] = []
        self.denied: list[tuple[str, str, str]] = []
        self.task = AgentTask(
            feature_id=FeatureId("feat"),
            title="User login",
            attempt=1,
            run_id="run-1",
            worktree=worktree,
            base_commit=CommitSha("0" * 40),
            prompt="Implement feature feat.\n",
            prompt_file=tmp_path / "state" / "prompt.md",
            log_path=tmp_path / "state" / "log.txt",
            port=43210,
            profile=replace(profile, **changes),  # type: ignore[arg-type]
            plan_dir=tmp_path,
            system_append=APPEND,
            on_tool=lambda tool, summary: self.tools.append((tool, summary)),
            on_tool_denied=lambda tool, path, reason: self.denied.append((tool, path, reason)),
        )

    def run(self, agent: ClaudeAgent | None = None) -> AgentResult:
        agent = agent or ClaudeAgent(rate_limit_backoff_s=(0.01, 0.01), start_spacing_s=0)
        return replace(asyncio.run(agent.run(self.task)), duration_s=0.0)

    def records(self) -> list[dict[str, object]]:
        paths = sorted(self.state.glob("record.*.json"))
        return [json.loads(path.read_text()) for path in paths]

    def log(self) -> str:
        return self.task.log_path.read_text()

    def header(self) -> str:
        return (
            f"[wta] feat attempt 1: Claude Code at {self.cli} "
            "(model sonnet, permission mode bypassPermissions)\n"
        )


def live_members(pgid: int) -> list[int]:
    """Processes (not zombies) in process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            state, _ppid, pgrp, *_ = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_backend_for_claude() -> None:
    assert isinstance(backend_for(PROFILE), ClaudeAgent)


def test_starts_are_spaced_across_agents() -> None:
    async def three_starts() -> list[float]:
        gate, started, starts = StartGate(), time.monotonic(), []

        async def start() -> None:
            await gate.wait(0.1)
            starts.append(time.monotonic() - started)

        await asyncio.gather(start(), start(), start())
        return starts

    first, second, third = asyncio.run(three_starts())
    assert (first < 0.05, second - first >= 0.09, third - second >= 0.09) == (True, True, True)


def test_system_append() -> None:
    assert (
        APPEND
        == """\
# wta: your task

You were started by wta ("worktree agents") to implement one feature of a plan.

## Feature feat: User login

Sign-up and login with hashed passwords.

Steps:
1. POST /signup stores a hash
2. POST /login sets a session

Acceptance: these commands must succeed in your working directory when you are done:
    pytest -q
    pytest tests/test_auth.py -q

## Rules
- Work only inside your working directory, a git worktree made for this feature. Do not
  read or write files outside it. Other agents work on other features, in parallel, in
  other worktrees of the same repository.
- Never switch branches, rebase, merge, reset to another commit, or push. wta commits what
  you leave uncommitted and integrates the branch itself.
- Never use `git stash`: the stash is shared with the user's own checkout.
- Never create, move or delete other branches or tags, and never change git's config,
  hooks or `.git/info`: they are shared with the user's checkout and every other agent.
- Keep the change to what this feature needs.
- When the feature is complete and its checks pass, call the `mcp__wta__feature_done` tool
  with a one-line summary of what you changed, then stop.
- If the feature cannot be done (the task contradicts itself or the code, or it needs
  something you do not have), call the `mcp__wta__report_blocked` tool with the reason,
  then stop. Do not fake a result.

## Similar past features (from wta's knowledge base; may be empty)

<wta:knowledge-base>
</wta:knowledge-base>
"""
    )


def test_success_with_cost_and_feature_done(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "success")
    assert setup.run() == AgentResult(
        ok=True,
        reason=None,
        detail=None,
        duration_s=0.0,
        cost_usd=0.0123,
        turns=3,
        summary="Added login with hashed passwords",
        session_id="sess-1",
        model="claude-fake-1",
        usage=USAGE,
    )
    assert setup.tools == [
        ("Bash", "pytest -q"),
        ("mcp__wta__feature_done", "Added login with hashed passwords"),
    ]
    assert setup.log() == setup.header() + (
        "[stderr] fake-claude: a warning on stderr\n"
        "I will add login. Token: ***\n"
        '[tool] Bash {"command": "pytest -q", "description": "Test"}\n'
        "[tool result] 3 passed\n"
        '[tool] mcp__wta__feature_done {"summary": "Added login with hashed passwords"}\n'
        "[tool result] Recorded. wta will commit, verify and integrate your work. Stop here.\n"
        "[result] success, 3 turns, $0.0123, session sess-1\n"
    )
    [record] = setup.records()
    assert (record["prompt"], record["mcp_tools"]) == (
        "Implement feature feat.\n",
        ["feature_done", "report_blocked"],
    )


def test_a_write_outside_the_worktree_is_denied(tmp_path: Path) -> None:
    """The CLI asks the fence's PreToolUse hook before each Write: the one outside the
    worktree is denied (the agent is told why, and carries on), the one inside goes ahead."""
    outside = tmp_path / "checkout" / "escaped.txt"
    outside.parent.mkdir()
    setup = Setup(tmp_path, "fenced", env={"FAKE_CLAUDE_OUTSIDE": str(outside)})
    assert setup.run() == AgentResult(
        ok=True,
        reason=None,
        detail=None,
        duration_s=0.0,
        cost_usd=0.01,
        turns=3,
        summary="Wrote inside.txt.",
        session_id="sess-1",
        model="claude-fake-1",
        usage=USAGE,
    )
    wt = setup.task.worktree
    assert (outside.exists(), (wt / "inside.txt").read_text()) == (False, "inside\n")
    reason = f"{outside} is outside the worktree {wt}"
    assert setup.denied == [("Write", str(outside), reason)]
    assert setup.tools == [("Write", str(outside)), ("Write", f"{wt}/inside.txt")]
    assert setup.log() == setup.header() + (
        f'[tool] Write {{"file_path": "{outside}", "content": "escaped\\n"}}\n'
        f"[tool denied] Write: {reason}\n"
        f'[tool] Write {{"file_path": "{wt}/inside.txt", "content": "inside\\n"}}\n'
        f"[tool result] File created successfully at: {wt}/inside.txt\n"
        "[result] success, 3 turns, $0.0100, session sess-1\n"
    )
    [record] = setup.records()
    assert (record["hooks"], record["denied"]) == (
        {"PreToolUse": ["Write|Edit|MultiEdit|NotebookEdit"]},
        [denial_message("Write", reason, wt)],
    )


def test_the_transcript_is_capped_like_every_log(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "chatty")
    setup.task = replace(setup.task, max_log_bytes=8192)

    assert setup.run().ok

    messages = "".join(f"Thinking aloud, message {n:04d}: {'la ' * 30}\n" for n in range(400))
    whole = setup.header() + messages + "[result] success, 400 turns, $0.0100, session sess-1\n"
    assert setup.log() == capped(whole.encode(), 8192).decode()


def test_report_blocked(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "blocked")
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.BLOCKED,
        detail="The spec names no database.",
        duration_s=0.0,
        cost_usd=0.002,
        turns=1,
        session_id="sess-1",
        model="claude-fake-1",
        usage=USAGE,
    )
    assert setup.tools == [
        ("mcp__wta__report_blocked", "The spec names no database. I cannot choose one.")
    ]
    assert setup.log() == setup.header() + (
        '[tool] mcp__wta__report_blocked {"reason": "The spec names no database.\\nI cannot '
        'choose one."}\n'
        "[tool result] Recorded: the feature is reported blocked. Stop here.\n"
        "[result] success, 1 turns, $0.0020, session sess-1\n"
        "[wta] failed (blocked): The spec names no database.\n"
    )


def test_max_turns(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "max_turns", max_turns=5)
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.MAX_TURNS,
        detail="stopped at the turn limit after 5 turns (max_turns = 5)",
        duration_s=0.0,
        cost_usd=0.5,
        turns=5,
        session_id="sess-1",
        model="claude-fake-1",
        usage=USAGE,
    )
    assert setup.log() == setup.header() + (
        "Working on it.\n"
        "[result] error_max_turns, 5 turns, $0.5000, session sess-1: Reached maximum number "
        "of turns (5)\n"
        "[wta] failed (max_turns): stopped at the turn limit after 5 turns (max_turns = 5)\n"
    )


def test_max_budget(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "budget", max_budget_usd=5.0)
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.BUDGET,
        detail="stopped at the budget after spending $5.1200 (max_budget_usd = 5)",
        duration_s=0.0,
        cost_usd=5.12,
        turns=7,
        session_id="sess-1",
        model="claude-fake-1",
        usage=USAGE,
    )


def test_not_logged_in(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "auth")
    detail = (
        "Claude Code is not logged in: set ANTHROPIC_API_KEY or log in with `claude auth login`"
    )
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail=detail,
        duration_s=0.0,
        cost_usd=0.0,
        turns=1,
        session_id="sess-1",
        model=None,  # the CLI named a model at init, but no model answered
        usage=USAGE,
    )
    assert setup.log() == setup.header() + (
        "Invalid API key · Please run /login\n"
        "[result] success, 1 turns, $0.0000, session sess-1: Invalid API key · Please run "
        "/login\n"
        f"[wta] failed (agent_error): {detail}\n"
    )


def test_api_unreachable(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "unreachable")
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail="cannot reach the Anthropic API (API Error: Connection refused (ECONNREFUSED)): "
        "check the network, the proxy or ANTHROPIC_BASE_URL",
        duration_s=0.0,
        cost_usd=0.0,
        turns=1,
        session_id="sess-1",
        model=None,
        usage=USAGE,
    )


def test_rate_limit_then_success_in_one_attempt(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "rate_limit_once")
    assert setup.run() == AgentResult(
        ok=True,
        reason=None,
        detail=None,
        duration_s=0.0,
        cost_usd=0.021,
        turns=3,
        summary="Done.",
        session_id="sess-1",
        model="claude-fake-1",
        usage=USAGE + USAGE,
    )
    limited = "API Error: Request rejected (429) · rate limited"
    assert setup.log() == setup.header() + (
        f"{limited}\n"
        f"[result] success, 1 turns, $0.0010, session sess-1: {limited}\n"
        f"[wta] rate limited by the Anthropic API: {limited}; trying again in about 0.01s "
        "(try 2 of 3)\n"
        "Done.\n"
        "[result] success, 2 turns, $0.0200, session sess-1\n"
    )
    first, second = setup.records()
    assert first["pid"] != second["pid"]


def test_rate_limited_on_every_try(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "rate_limited")
    result = setup.run(ClaudeAgent(rate_limit_backoff_s=(0.01,), start_spacing_s=0))
    limited = "API Error: Request rejected (429) · rate limited"
    assert result == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail=f"rate limited by the Anthropic API: {limited} (2 tries)",
        duration_s=0.0,
        cost_usd=0.002,
        turns=2,
        session_id="sess-1",
        model=None,
        usage=USAGE + USAGE,
        rate_limited=True,
    )
    assert len(setup.records()) == 2


def test_crash_without_a_result(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "crash")
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail="Claude Code exited 3: Error: the last line",
        duration_s=0.0,
        session_id="sess-1",
        model="claude-fake-1",
        cost_usd=FAKE_MESSAGE_ESTIMATE,
        cost_estimated=True,
    )
    assert setup.log() == setup.header() + (
        "[stderr] Error: something broke inside\n"
        "[stderr]     at main (cli.js:1:1)\n"
        "[stderr] Error: the last line\n"
        "Starting.\n"
        f"{FAKE_MESSAGE_NOTE}\n"
        "[wta] failed (agent_error): Claude Code exited 3: Error: the last line\n"
    )


def test_garbage_on_stdout(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "garbage")
    detail = (
        "Claude Code wrote a line that is not stream-json ('{this is not json'): check that "
        "cli_path runs Claude Code"
    )
    assert setup.run() == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail=detail,
        duration_s=0.0,
        session_id="sess-1",
        model=None,
    )
    assert setup.log() == setup.header() + f"[wta] failed (agent_error): {detail}\n"
    [record] = setup.records()
    assert live_members(int(str(record["pid"]))) == []


def test_cli_not_found(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "success", cli_path="missing/claude")
    detail = (
        f"the claude CLI was not found at {tmp_path / 'missing' / 'claude'}: fix cli_path in "
        "the profile, or remove it to use the CLI bundled with claude-agent-sdk"
    )
    assert setup.run() == AgentResult(
        ok=False, reason=FailureReason.AGENT_ERROR, detail=detail, duration_s=0.0
    )
    assert setup.log() == f"[wta] {detail}\n"


@pytest.mark.parametrize(
    ("limits", "reason", "detail"),
    [
        ({"idle_timeout_s": 0.5}, FailureReason.IDLE, "no message from Claude Code for 0.5s"),
        ({"timeout_s": 0.8}, FailureReason.TIMEOUT, "timed out after 0.8s"),
    ],
)
def test_a_hang_is_killed_with_its_whole_process_tree(
    tmp_path: Path, limits: dict[str, float], reason: FailureReason, detail: str
) -> None:
    setup = Setup(tmp_path, "hang", **limits)
    assert setup.run() == AgentResult(
        ok=False,
        reason=reason,
        detail=detail,
        duration_s=0.0,
        session_id="sess-1",
        model="claude-fake-1",
        cost_usd=FAKE_MESSAGE_ESTIMATE,
        cost_estimated=True,
    )
    [record] = setup.records()
    pgid = int(str(record["pid"]))
    assert (record["own_group"], live_members(pgid), alive(int(str(record["grandchild"])))) == (
        True,
        [],
        False,
    )
    assert setup.log() == setup.header() + (
        "Thinking.\n"
        f"[wta] {reason}: killing Claude Code's process group\n"
        f"{FAKE_MESSAGE_NOTE}\n"
        f"[wta] failed ({reason}): {detail}\n"
    )


def test_cancel_kills_the_process_tree_and_reraises(tmp_path: Path) -> None:
    setup = Setup(tmp_path, "hang")

    async def cancel_when_thinking() -> None:
        agent = ClaudeAgent(start_spacing_s=0)
        running = asyncio.create_task(agent.run(setup.task))
        while not (setup.task.log_path.exists() and setup.log().endswith("Thinking.\n")):
            await asyncio.sleep(0.02)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    asyncio.run(cancel_when_thinking())
    [record] = setup.records()
    assert (live_members(int(str(record["pid"]))), alive(int(str(record["grandchild"])))) == (
        [],
        False,
    )
    assert setup.log() == setup.header() + (
        f"Thinking.\n[wta] cancelled; killing Claude Code's process group\n{FAKE_MESSAGE_NOTE}\n"
    )
    # what it spent is known to the attempt, though the agent never returned
    assert setup.task.spend == Spend(cost_usd=FAKE_MESSAGE_ESTIMATE, estimated=True)


@pytest.mark.parametrize("root", [True, False])
def test_argv_and_env_with_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: bool
) -> None:
    monkeypatch.setattr(claude_launch, "running_as_root", lambda: root)
    monkeypatch.setenv("CLAUDECODE", "1")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    setup = Setup(tmp_path, "success", model=None)
    assert setup.run().ok
    [record] = setup.records()
    del record["pid"]
    assert record == {
        "argv": [
            "--output-format",
            "stream-json",
            "--verbose",
            "--append-system-prompt",
            APPEND,
            "--allowedTools",
            "mcp__wta__feature_done,mcp__wta__report_blocked",
            "--permission-mode",
            "bypassPermissions",
            "--mcp-config",
            MCP_CONFIG,
            "--setting-sources=project",
            "--input-format",
            "stream-json",
        ],
        "env": {
            **({"IS_SANDBOX": "1"} if root else {}),
            "WTA_ATTEMPT": "1",
            "WTA_FEATURE_ID": "feat",
        },
        "cwd": os.path.realpath(setup.task.worktree),
        "own_group": True,
        "prompt": "Implement feature feat.\n",
        "mcp_tools": ["feature_done", "report_blocked"],
        "hooks": {"PreToolUse": ["Write|Edit|MultiEdit|NotebookEdit"]},  # the fence's
    }


def test_argv_and_env_carry_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claude_launch, "running_as_root", lambda: True)
    monkeypatch.setenv("CLAUDECODE", "1")
    monkeypatch.delenv("IS_SANDBOX", raising=False)
    setup = Setup(
        tmp_path,
        "success",
        model="opus",
        fallback_model="sonnet",
        max_turns=7,
        max_budget_usd=2.5,
        permission_mode="acceptEdits",
        allowed_tools=("Read", "Bash(pytest:*)"),
        disallowed_tools=("WebFetch", "WebSearch"),
        setting_sources=("project", "local"),
        env={"EXTRA_SETTING": "on"},
    )
    assert setup.run().ok
    [record] = setup.records()
    assert (record["argv"], record["env"]) == (
        [
            "--output-format",
            "stream-json",
            "--verbose",
            "--append-system-prompt",
            APPEND,
            "--allowedTools",
            "Read,Bash(pytest:*),mcp__wta__feature_done,mcp__wta__report_blocked",
            "--max-turns",
            "7",
            "--max-budget-usd",
            "2.5",
            "--disallowedTools",
            "WebFetch,WebSearch",
            "--model",
            "opus",
            "--fallback-model",
            "sonnet",
            "--permission-mode",
            "acceptEdits",
            "--mcp-config",
            MCP_CONFIG,
            "--setting-sources=project,local",
            "--input-format",
            "stream-json",
        ],
        {"EXTRA_SETTING": "on", "WTA_ATTEMPT": "1", "WTA_FEATURE_ID": "feat"},
    )
