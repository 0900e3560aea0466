"""What Claude Code is started with: its options, built from the task and its profile, wta's
in-process tools (feature_done, report_blocked), and the fence's hook, which denies file writes
outside the worktree (claude_fence.py).

Defaults, chosen so that an unattended run works; the profile overrides each one:
- permission_mode "bypassPermissions": nobody is there to approve a tool call, and the agent
  must run commands (the checks), not only edit files. The worktree is its sandbox. As root
  the CLI refuses this mode unless IS_SANDBOX=1 is set, so wta sets it there.
- setting_sources ["project"]: the repository's CLAUDE.md and .claude/settings.json apply;
  the user's ~/.claude settings (hooks, permission rules, MCP servers) stay out of the run.
  Logins are not settings: `claude auth login` and ANTHROPIC_API_KEY keep working.
- allowed_tools: the profile's, plus mcp__wta__feature_done and mcp__wta__report_blocked.
- model, fallback_model, max_turns, max_budget_usd: the profile's; unset leaves the CLI's own.
- cli_path: the profile's (relative to the plan), else the CLI bundled with claude-agent-sdk,
  else `claude` on PATH and the usual install places: the SDK's own order (claude_launch.py).
- hooks: a PreToolUse hook, whatever the profile says: it is the only check the CLI asks in
  every permission mode. `can_use_tool` would not do: under bypassPermissions the CLI never
  asks it (checked with CLI 2.1.332).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from claude_agent_sdk import (
    ClaudeAgentOptions,
    HookContext,
    HookInput,
    HookJSONOutput,
    HookMatcher,
    McpSdkServerConfig,
    SdkMcpTool,
    create_sdk_mcp_server,
    tool,
)
from claude_agent_sdk.types import HookEvent

from worktree_agents.agents.base import AgentTask
from worktree_agents.agents.claude_fence import (
    WRITING_TOOLS,
    denial_message,
    outside_worktree,
    written_path,
)
from worktree_agents.agents.claude_launch import PGID_FILE_VAR
from worktree_agents.plan import PermissionMode, ResolvedProfile, SettingSource
from worktree_agents.text import shorten

WTA_TOOLS = ("mcp__wta__feature_done", "mcp__wta__report_blocked")
DEFAULT_PERMISSION_MODE: PermissionMode = "bypassPermissions"
DEFAULT_SETTING_SOURCES: tuple[SettingSource, ...] = ("project",)
SUMMARY_CHARS = 1000

Hooks = dict[HookEvent, list[HookMatcher]]
# Called with (tool_use_id, tool name, path, reason) for each tool call the fence denies.
OnDenied = Callable[[str | None, str, str, str], None]


def permission_mode(profile: ResolvedProfile) -> PermissionMode:
    return profile.permission_mode or DEFAULT_PERMISSION_MODE


def build_options(
    task: AgentTask,
    *,
    launcher: Path,
    env: Mapping[str, str],
    pgid_file: Path,
    server: McpSdkServerConfig,
    hooks: Hooks,
    stderr: Callable[[str], None],
) -> ClaudeAgentOptions:
    """The options for one try: the CLI is `launcher`, which records its process group in
    `pgid_file`; `server` is wta's tools and `hooks` the fence's; each line the CLI writes to
    stderr goes to `stderr`."""
    profile = task.profile
    allowed = list(profile.allowed_tools or ())
    allowed += [name for name in WTA_TOOLS if name not in allowed]
    sources = (
        DEFAULT_SETTING_SOURCES if profile.setting_sources is None else profile.setting_sources
    )
    append = task.system_append
    return ClaudeAgentOptions(
        cwd=task.worktree,
        system_prompt=(
            {"type": "preset", "preset": "claude_code", "append": append}
            if append
            else {"type": "preset", "preset": "claude_code"}
        ),
        model=profile.model,
        fallback_model=profile.fallback_model,
        max_turns=profile.max_turns,
        max_budget_usd=profile.max_budget_usd,
        permission_mode=permission_mode(profile),
        allowed_tools=allowed,
        disallowed_tools=list(profile.disallowed_tools or ()),
        setting_sources=list(sources),
        cli_path=launcher,
        env={**env, PGID_FILE_VAR: str(pgid_file)},
        mcp_servers={"wta": server},
        hooks=hooks,
        stderr=stderr,
        resume=task.resume_session,
    )


def fence_hooks(worktree: Path, on_denied: OnDenied) -> Hooks:
    """A PreToolUse hook that denies a file-writing tool whose path resolves outside
    `worktree`, telling the agent why, and tells `on_denied`. Bash is not covered (see
    claude_fence.py); the fence's checks after the agent are."""

    async def deny_outside(
        hook_input: HookInput, tool_use_id: str | None, context: HookContext
    ) -> HookJSONOutput:
        if hook_input["hook_event_name"] != "PreToolUse":
            return {}
        tool_name, tool_input = hook_input["tool_name"], hook_input["tool_input"]
        reason = outside_worktree(tool_name, tool_input, worktree)
        if reason is None:
            return {}
        # The denial stands even if recording it fails: a hook that raises lets the tool run.
        with contextlib.suppress(Exception):
            on_denied(tool_use_id, tool_name, written_path(tool_name, tool_input) or "", reason)
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": denial_message(tool_name, reason, worktree),
            }
        }

    return {"PreToolUse": [HookMatcher(matcher="|".join(WRITING_TOOLS), hooks=[deny_outside])]}


def wta_server(
    on_done: Callable[[str | None], None], on_blocked: Callable[[str], None]
) -> McpSdkServerConfig:
    """wta's tools as an in-process MCP server named "wta"."""
    return create_sdk_mcp_server(name="wta", version="1.0.0", tools=wta_tools(on_done, on_blocked))


def wta_tools(
    on_done: Callable[[str | None], None], on_blocked: Callable[[str], None]
) -> list[SdkMcpTool[Any]]:
    """feature_done, which gives `on_done` the agent's summary (None if it is empty), and
    report_blocked, which gives `on_blocked` its reason."""

    @tool(
        "feature_done",
        "Call this once the feature is complete and its checks pass, with a one-line "
        "summary of what you changed. wta then commits, verifies and integrates the work.",
        {"summary": str},
    )
    async def feature_done(args: dict[str, Any]) -> dict[str, Any]:
        on_done(shorten(str(args.get("summary", "")).strip(), SUMMARY_CHARS) or None)
        text = "Recorded. wta will commit, verify and integrate your work. Stop here."
        return {"content": [{"type": "text", "text": text}]}

    @tool(
        "report_blocked",
        "Call this if the feature cannot be done, with the reason: what is missing or "
        "contradictory. The attempt then fails as blocked. Never fake a result instead.",
        {"reason": str},
    )
    async def report_blocked(args: dict[str, Any]) -> dict[str, Any]:
        on_blocked(str(args.get("reason", "")).strip() or "no reason given")
        text = "Recorded: the feature is reported blocked. Stop here."
        return {"content": [{"type": "text", "text": text}]}

    return [feature_done, report_blocked]
