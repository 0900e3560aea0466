"""The agent interface: what a backend is given (AgentTask), what it returns (AgentResult),
what it can do (Capabilities), the environment every agent runs with, and how a finished
process becomes a result. Which backend runs a profile is agents/registry.py."""

from __future__ import annotations

import json
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from worktree_agents.domain import CommitSha, FailureReason, FeatureId
from worktree_agents.git import SCRUBBED_VARS, git_config_env, git_env
from worktree_agents.logcap import DEFAULT_MAX_LOG_BYTES
from worktree_agents.plan import ResolvedProfile
from worktree_agents.process import ProcessResult
from worktree_agents.reaper import MARKER_VAR, attempt_marker
from worktree_agents.text import last_line

# CLAUDECODE makes a nested Claude Code refuse to start; the GIT_* ones would point the
# agent's git at some other repository than its worktree.
REMOVED_VARS = ("CLAUDECODE", *SCRUBBED_VARS)

# git settings every agent's git runs with, given through the environment
# (GIT_CONFIG_COUNT/KEY/VALUE: command-line scope, above every config file, and left alone
# by `git config`). Pushes fail before anything reaches a remote: an empty pushInsteadOf
# rewrites every push URL to a transport that does not exist, and a remote with its own
# pushurl (which pushInsteadOf does not rewrite) still needs a signed push, which a remote
# that does not accept them refuses. The fence's ref check is the backstop.
PUSH_BLOCKED_URL = "wta-push-blocked://"
AGENT_GIT_CONFIG: tuple[tuple[str, str], ...] = (
    (f"url.{PUSH_BLOCKED_URL}.pushInsteadOf", ""),
    ("push.gpgSign", "true"),
)


@dataclass
class Spend:
    """What an attempt's agent has spent so far, kept up to date while it runs, so that an
    attempt cancelled before its agent returns still knows (the claude backend keeps it).
    With a `record` file, each update is also written there, for a run killed outright:
    the next run's recovery reads what the attempt had spent (recovery.py)."""

    cost_usd: float | None = None
    estimated: bool = False  # some of cost_usd is estimated from token usage (pricing.py)
    record: Path | None = None

    def update(self, cost_usd: float | None, estimated: bool) -> None:
        if (cost_usd, estimated) == (self.cost_usd, self.estimated):
            return
        self.cost_usd, self.estimated = cost_usd, estimated
        if self.record is not None and cost_usd is not None:
            text = json.dumps({"cost_usd": cost_usd, "estimated": estimated})
            partial = self.record.with_name(self.record.name + ".part")
            partial.write_text(text + "\n", encoding="utf-8")
            partial.replace(self.record)  # never half a record

    @classmethod
    def recorded(cls, record: Path) -> Spend:
        """What a record file says was spent (nothing when it is missing or unreadable)."""
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            cost = float(data["cost_usd"])
            return cls(cost, bool(data["estimated"]), record)
        except (OSError, ValueError, KeyError, TypeError):
            return cls(record=record)


@dataclass(frozen=True)
class AgentTask:
    """One attempt at one feature, as handed to a backend."""

    feature_id: FeatureId
    title: str
    attempt: int
    run_id: str
    worktree: Path
    base_commit: CommitSha
    prompt: str
    prompt_file: Path
    log_path: Path
    port: int
    profile: ResolvedProfile
    plan_dir: Path
    # Appended to the agent's system prompt where the backend has one (claude); see prompt.py.
    system_append: str = ""
    # Called with (tool name, a short summary of its input) each time the agent uses a tool.
    on_tool: Callable[[str, str], None] | None = None
    # Called with (tool name, path, reason) each time the fence denies a tool call: a file
    # write outside the worktree (claude backend).
    on_tool_denied: Callable[[str, str, str], None] | None = None
    # A session to resume (a backend that supports_resume, with `resume_on_retry = true`):
    # the failed attempt's session.
    resume_session: str | None = None
    # The fence's additions to the agent's environment (refguard.py): variables, and git
    # settings given as GIT_CONFIG_COUNT/KEY/VALUE after AGENT_GIT_CONFIG.
    fence_env: Mapping[str, str] = field(default_factory=dict)
    fence_git_config: tuple[tuple[str, str], ...] = ()
    # The attempt's log is capped at this size (`[run] max_log_bytes`; logcap.py).
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    spend: Spend = field(default_factory=Spend)


@dataclass(frozen=True)
class TokenUsage:
    """Tokens an agent used, as the Anthropic API counts them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def from_api(cls, usage: Mapping[str, object]) -> TokenUsage:
        """From an API `usage` object; missing or non-integer counts are 0."""

        def count(name: str) -> int:
            value = usage.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        return cls(
            count("input_tokens"),
            count("output_tokens"),
            count("cache_creation_input_tokens"),
            count("cache_read_input_tokens"),
        )

    def most(self, other: TokenUsage) -> TokenUsage:
        """The larger of each count (one message's usage, seen twice as it grew)."""
        return TokenUsage(
            max(self.input_tokens, other.input_tokens),
            max(self.output_tokens, other.output_tokens),
            max(self.cache_creation_input_tokens, other.cache_creation_input_tokens),
            max(self.cache_read_input_tokens, other.cache_read_input_tokens),
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


@dataclass(frozen=True, kw_only=True)
class AgentResult:
    """How an attempt ended. `reason` and `detail` are set exactly when `ok` is False."""

    ok: bool
    reason: FailureReason | None
    detail: str | None
    duration_s: float
    cost_usd: float | None = None
    turns: int | None = None
    summary: str | None = None
    session_id: str | None = None
    model: str | None = None
    usage: TokenUsage | None = None
    cost_estimated: bool = False  # some of cost_usd is estimated from token usage
    # It failed on a rate limit or a spent quota (no failure of the feature: throttle.py);
    # `resets_at` is when the quota resets, as a Unix time, when the API said.
    rate_limited: bool = False
    resets_at: float | None = None


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What a backend can do beyond running an attempt, which the pipeline may rely on."""

    # It reports which model answered, so the profile's model is recorded when a feature is
    # claimed and shown in `agent_started`.
    records_model: bool
    # A retry can resume the previous attempt's session (with `resume_on_retry = true`).
    supports_resume: bool


class AgentBackend(ABC):
    """Runs an agent in `task.worktree` and reports how it went; never commits for it."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    @abstractmethod
    async def run(self, task: AgentTask) -> AgentResult: ...


def agent_env(task: AgentTask) -> dict[str, str]:
    """os.environ and the profile's env, plus the WTA_* variables, minus REMOVED_VARS.

    git stays non-interactive (no prompts, no editor), as for wta's own git calls. The
    attempt's marker (reaper.py) is inherited by every process the agent starts, so that
    each one can be found and killed when the attempt ends.
    """
    env = git_env(task.profile.env)
    env.update(
        {
            "WTA_FEATURE_ID": task.feature_id,
            "WTA_PROMPT_FILE": str(task.prompt_file),
            "WTA_WORKTREE": str(task.worktree),
            "WTA_BASE_COMMIT": task.base_commit,
            "WTA_ATTEMPT": str(task.attempt),
            "WTA_RUN_ID": task.run_id,
            "WTA_PORT": str(task.port),
            MARKER_VAR: attempt_marker(task.run_id, task.log_path.parent),
        }
    )
    env.update(task.fence_env)
    for name in REMOVED_VARS:
        env.pop(name, None)
    env.update(git_config_env(AGENT_GIT_CONFIG + task.fence_git_config, env))
    return env


def format_seconds(seconds: float) -> str:
    """90.0 -> "1m30s", 0.5 -> "0.5s": the style of the plan's durations."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{unit}" for v, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return "".join(parts) or "0s"


def agent_result(
    process: ProcessResult,
    profile: ResolvedProfile,
    *,
    summary: str | None = None,
    cost_usd: float | None = None,
) -> AgentResult:
    """Map a finished agent process to an AgentResult: exit 0 means the agent finished."""
    reason: FailureReason | None = FailureReason.AGENT_ERROR
    if process.killed_for == "timeout":
        reason = FailureReason.TIMEOUT
        detail = f"timed out after {format_seconds(profile.timeout_s)}"
    elif process.killed_for == "idle":
        reason = FailureReason.IDLE
        detail = f"no output for {format_seconds(profile.idle_timeout_s)}"
    elif process.killed_for == "cancelled":
        detail = "cancelled"
    elif process.exit_code == 0:
        return AgentResult(
            ok=True,
            reason=None,
            detail=None,
            duration_s=process.duration_s,
            cost_usd=cost_usd,
            summary=summary,
        )
    else:
        detail = _exit_detail(process.exit_code, process.output_tail)
    return AgentResult(
        ok=False, reason=reason, detail=detail, duration_s=process.duration_s, cost_usd=cost_usd
    )


def _exit_detail(exit_code: int | None, output: str) -> str:
    if exit_code is not None and exit_code < 0:
        try:
            how = f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            how = f"killed by signal {-exit_code}"
    else:
        how = f"exited {exit_code}"
    line = last_line(output)
    return f"{how}: {line}" if line else f"{how} with no output"
