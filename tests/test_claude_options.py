"""The options Claude Code is started with, built from a task and its profile: compared whole,
for a profile that sets everything and one that sets nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from claude_agent_sdk import ClaudeAgentOptions
from runutil import resolved_profile

from worktree_agents.agents import AgentTask
from worktree_agents.agents.claude_options import (
    build_options,
    fence_hooks,
    wta_server,
    wta_tools,
)
from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.plan import ResolvedProfile

NOTHING_SET = resolved_profile(backend="claude", timeout_s=60.0, idle_timeout_s=30.0)
EVERYTHING_SET = ResolvedProfile(
    name="strong",
    backend="claude",
    model="opus",
    fallback_model="sonnet",
    max_turns=7,
    max_budget_usd=2.5,
    timeout_s=60.0,
    idle_timeout_s=30.0,
    escalate_to=None,
    env={"EXTRA": "on"},
    command=None,
    dir="patches",
    cli_path="bin/claude",
    permission_mode="acceptEdits",
    # One of wta's own tools already listed: it is not added twice.
    allowed_tools=("Read", "mcp__wta__report_blocked", "Bash(pytest:*)"),
    disallowed_tools=("WebFetch", "WebSearch"),
    setting_sources=("project", "local"),
    resume_on_retry=True,
)


def task(tmp_path: Path, profile: ResolvedProfile, **extra: object) -> AgentTask:
    return AgentTask(
        feature_id=FeatureId("feat"),
        title="Feature",
        attempt=2,
        run_id="run-1",
        worktree=tmp_path / "worktree",
        base_commit=CommitSha("0" * 40),
        prompt="Implement feat.\n",
        prompt_file=tmp_path / "prompt.md",
        log_path=tmp_path / "log.txt",
        port=4321,
        profile=profile,
        plan_dir=tmp_path,
        **extra,  # type: ignore[arg-type]
    )


def ignore(*_: object) -> None:
    pass


def test_options_for_a_profile_that_sets_nothing(tmp_path: Path) -> None:
    server, hooks = wta_server(ignore, ignore), fence_hooks(tmp_path / "worktree", ignore)
    options = build_options(
        task(tmp_path, NOTHING_SET),
        launcher=tmp_path / "launcher",
        env={"WTA_ATTEMPT": "2"},
        pgid_file=tmp_path / "pgid.1",
        server=server,
        hooks=hooks,
        stderr=ignore,
    )
    assert options == ClaudeAgentOptions(
        cwd=tmp_path / "worktree",
        system_prompt={"type": "preset", "preset": "claude_code"},
        permission_mode="bypassPermissions",
        allowed_tools=["mcp__wta__feature_done", "mcp__wta__report_blocked"],
        disallowed_tools=[],
        setting_sources=["project"],
        cli_path=tmp_path / "launcher",
        env={"WTA_ATTEMPT": "2", "WTA_CLAUDE_PGID_FILE": str(tmp_path / "pgid.1")},
        mcp_servers={"wta": server},
        hooks=hooks,
        stderr=ignore,
    )


def test_options_for_a_profile_that_sets_everything(tmp_path: Path) -> None:
    server, hooks = wta_server(ignore, ignore), fence_hooks(tmp_path / "worktree", ignore)
    options = build_options(
        task(tmp_path, EVERYTHING_SET, system_append="Work carefully.", resume_session="s-1"),
        launcher=tmp_path / "launcher",
        env={"EXTRA": "on"},
        pgid_file=tmp_path / "pgid.2",
        server=server,
        hooks=hooks,
        stderr=ignore,
    )
    assert options == ClaudeAgentOptions(
        cwd=tmp_path / "worktree",
        system_prompt={"type": "preset", "preset": "claude_code", "append": "Work carefully."},
        model="opus",
        fallback_model="sonnet",
        max_turns=7,
        max_budget_usd=2.5,
        permission_mode="acceptEdits",
        allowed_tools=[
            "Read",
            "mcp__wta__report_blocked",
            "Bash(pytest:*)",
            "mcp__wta__feature_done",
        ],
        disallowed_tools=["WebFetch", "WebSearch"],
        setting_sources=["project", "local"],
        cli_path=tmp_path / "launcher",
        env={"EXTRA": "on", "WTA_CLAUDE_PGID_FILE": str(tmp_path / "pgid.2")},
        mcp_servers={"wta": server},
        hooks=hooks,
        stderr=ignore,
        resume="s-1",
    )


def test_wta_tools_report_to_their_callbacks() -> None:
    told: list[tuple[str, str | None]] = []
    tools = wta_tools(
        lambda summary: told.append(("done", summary)),
        lambda reason: told.append(("blocked", reason)),
    )
    handlers = {tool.name: tool.handler for tool in tools}
    assert list(handlers) == ["feature_done", "report_blocked"]

    async def call() -> list[object]:
        return [
            await handlers["feature_done"]({"summary": "  Added login.  "}),
            await handlers["feature_done"]({"summary": " "}),
            await handlers["report_blocked"]({"reason": ""}),
            await handlers["feature_done"]({"summary": "x" * 1200}),
        ]

    replies = asyncio.run(call())
    done = "Recorded. wta will commit, verify and integrate your work. Stop here."
    blocked = "Recorded: the feature is reported blocked. Stop here."
    assert replies == [
        {"content": [{"type": "text", "text": done}]},
        {"content": [{"type": "text", "text": done}]},
        {"content": [{"type": "text", "text": blocked}]},
        {"content": [{"type": "text", "text": done}]},
    ]
    assert told == [
        ("done", "Added login."),
        ("done", None),
        ("blocked", "no reason given"),
        ("done", "x" * 999 + "…"),
    ]
