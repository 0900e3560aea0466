"""The plan (`wta.toml`): pydantic models and profile resolution.

Reading and validating a file is plan_load.py; checks beyond field types are plan_checks.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from worktree_agents.domain import FeatureId
from worktree_agents.logcap import DEFAULT_MAX_LOG_BYTES, MIN_MAX_LOG_BYTES
from worktree_agents.text import show

if TYPE_CHECKING:
    from worktree_agents.dag import FeatureGraph

PLAN_VERSION = 1
DEFAULT_PROFILE = "default"

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
ID_MAX_LENGTH = 64
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_MAX_DURATION_S = 7 * 24 * 3600
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")

Backend = Literal["claude", "command", "patch"]
PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]
SettingSource = Literal["user", "project", "local"]


class FieldProblem(ValueError):
    """A field-level validation failure that already knows its fix."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix


def parse_duration(value: object) -> float:
    """Seconds from "90s", "30m", "2h", "1h30m", or a positive number of seconds."""
    fix = 'write a number with a unit, such as "90s", "30m", "2h" or "1h30m"'
    if isinstance(value, bool):
        raise FieldProblem(f"{value!r} is not a duration", fix)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if not value.strip() or match is None:
            raise FieldProblem(f"{show(value)} is not a duration", fix)
        hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
        seconds = float(hours * 3600 + minutes * 60 + secs)
    else:
        raise FieldProblem(f"{show(value)} is not a duration", fix)
    if not math.isfinite(seconds) or seconds <= 0 or seconds > _MAX_DURATION_S:
        raise FieldProblem(
            f"{show(value)} is out of range: a duration must be above 0 and at most 7 days", fix
        )
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def ref_component_problem(text: str) -> str | None:
    """Why `text` cannot be one component of a git ref name, or None if it can."""
    if not text:
        return "is empty"
    if text.startswith(".") or text.endswith("."):
        return "starts or ends with '.'"
    if text.endswith(".lock"):
        return "ends with '.lock'"
    if ".." in text:
        return "contains '..'"
    if "@{" in text or text == "@":
        return "contains '@{'"
    if _BAD_REF_CHARS.search(text):
        return "contains a space, a control character or one of ~ ^ : ? * [ \\"
    return None


def branch_name_problem(name: str) -> str | None:
    """Why `name` cannot be a branch name (the rules of git check-ref-format --branch)."""
    if not name:
        return "is empty"
    if name.startswith("-"):
        return "starts with '-'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "has an empty path component"
    for part in name.split("/"):
        problem = ref_component_problem(part)
        if problem is not None:
            return f"has a component that {problem}"
    return None


def keep_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a `keep_ignored` pattern: it must stay inside the worktree,
    keep something, and not be a negation (what is not kept is removed anyway)."""
    parts = pattern.strip("/").split("/")
    if not pattern.strip():
        return "is blank"
    if any(c in pattern for c in "\0\n\r"):
        return "holds a control character"
    if pattern.startswith("/") or pattern.startswith("~"):
        return "is an absolute path; patterns are relative to the worktree's root"
    if ".." in parts:
        return "leads out of the worktree ('..')"
    if pattern.startswith("!"):
        return "is a negation; list only what may stay"
    if all(p in ("", ".", "*", "**") for p in parts):
        return "would keep every ignored file, so no reused worktree would be clean"
    if ".git" in parts:
        return "names git's own files"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RunConfig(_Model):
    base: str | None = None
    integration_branch: str = "wta/integration"
    branch_prefix: str = "wta/"
    max_parallel: int = Field(default=3, ge=1, le=256)
    merge: Literal["squash", "rebase"] = "squash"
    worktree_root: str | None = None
    # Shell commands run in each new worktree before its agent, like [verify] commands.
    setup: list[Annotated[str, Field(min_length=1)]] = []
    setup_timeout: Duration = 600.0  # per command
    max_log_bytes: int = Field(default=DEFAULT_MAX_LOG_BYTES, ge=MIN_MAX_LOG_BYTES, le=2**40)
    # A merged feature's worktree is handed to the next feature (reuse.py).
    reuse_worktrees: bool = True
    # Ignored paths (.gitignore patterns) that may survive a reuse, such as `node_modules/`.
    keep_ignored: list[Annotated[str, Field(min_length=1)]] = []

    @field_validator("keep_ignored")
    @classmethod
    def _keep_ignored(cls, value: list[str]) -> list[str]:
        for pattern in value:
            problem = keep_pattern_problem(pattern)
            if problem is not None:
                raise FieldProblem(
                    f"{show(pattern)} {problem}",
                    'write a .gitignore pattern relative to the worktree, such as "node_modules/"'
                    ' or "build/cache/"',
                )
        return value

    @field_validator("base", "integration_branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        if value is not None:
            problem = branch_name_problem(value)
            if problem is not None:
                raise FieldProblem(
                    f"{show(value)} is not a valid branch name: it {problem}",
                    'use a name such as "main" or "wta/integration"',
                )
        return value

    @field_validator("branch_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value:
            raise FieldProblem(
                "is empty, so feature branches would be named like your own branches",
                'use a prefix such as "wta/"; wta moves only branches under it',
            )
        problem = branch_name_problem(value + "x")
        if problem is not None:
            raise FieldProblem(
                f"{show(value)} cannot start a branch name: it {problem}",
                'use a prefix such as "wta/"',
            )
        return value


class Profile(_Model):
    """An agent profile as written in the plan; unset fields are inherited."""

    backend: Backend | None = None
    model: str | None = None
    fallback_model: str | None = None
    max_turns: int | None = Field(default=None, ge=1, le=100_000)
    max_budget_usd: float | None = Field(default=None, gt=0, le=100_000)
    timeout: Duration | None = None
    idle_timeout: Duration | None = None
    escalate_to: str | None = None
    env: dict[str, str] | None = None
    command: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    dir: str | None = None
    cli_path: str | None = None
    permission_mode: PermissionMode | None = None
    allowed_tools: list[str] | None = None
    disallowed_tools: list[str] | None = None
    setting_sources: list[SettingSource] | None = None
    resume_on_retry: bool | None = None


BACKEND_FIELDS: dict[str, frozenset[str]] = {
    "command": frozenset({"command"}),
    "patch": frozenset({"dir"}),
    "claude": frozenset(
        {
            "cli_path",
            "permission_mode",
            "allowed_tools",
            "disallowed_tools",
            "setting_sources",
            "fallback_model",
            "resume_on_retry",
        }
    ),
}


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile with inheritance applied: every field has its final value."""

    name: str
    backend: Backend
    model: str | None
    fallback_model: str | None
    max_turns: int | None
    max_budget_usd: float | None
    timeout_s: float
    idle_timeout_s: float
    escalate_to: str | None
    env: dict[str, str]
    command: tuple[str, ...] | None
    dir: str
    cli_path: str | None
    permission_mode: PermissionMode | None
    allowed_tools: tuple[str, ...] | None
    disallowed_tools: tuple[str, ...] | None
    setting_sources: tuple[SettingSource, ...] | None
    resume_on_retry: bool = False


class VerifyConfig(_Model):
    commands: list[Annotated[str, Field(min_length=1)]] = []
    after_merge: bool = True
    timeout: Duration = 600.0


class Guardrails(_Model):
    run_budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    max_attempts: int = Field(default=2, ge=1, le=20)
    max_changed_files: int | None = Field(default=None, ge=1)
    max_changed_lines: int | None = Field(default=None, ge=1)
    protected_paths: list[Annotated[str, Field(min_length=1)]] = []
    stop_after_failures: int | None = Field(default=None, ge=1)
    retry_conflicts: bool = False
    # How long a run waits for a spent quota to reset before it stops, resumable.
    max_quota_wait: Duration = 1800.0


class Feature(_Model):
    id: FeatureId
    title: str | None = None
    description: str = ""
    category: str | None = None
    depends_on: list[FeatureId] = []
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    acceptance: list[Annotated[str, Field(min_length=1)]] = []
    steps: list[str] = []
    estimate: float = Field(default=1.0, gt=0, le=1_000_000)
    agent: str | None = None
    done: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        fix = 'use lowercase letters, digits, ".", "_" and "-", starting with a letter or digit'
        if len(value) > ID_MAX_LENGTH:
            raise FieldProblem(
                f"{show(value)} is longer than {ID_MAX_LENGTH} characters",
                "shorten the id; the title can hold the long name",
            )
        if ID_PATTERN.fullmatch(value) is None:
            raise FieldProblem(f"{show(value)} is not a valid id", fix)
        problem = ref_component_problem(value)
        if problem is not None:
            raise FieldProblem(f"{show(value)} cannot be part of a branch name: it {problem}", fix)
        return value

    @property
    def display_title(self) -> str:
        return self.title if self.title else self.id


class Plan(_Model):
    version: int = PLAN_VERSION
    run: RunConfig = RunConfig()
    agent: Profile = Profile()
    agents: dict[str, Profile] = {}
    routing: dict[str, str] = {}
    verify: VerifyConfig = VerifyConfig()
    guardrails: Guardrails = Guardrails()
    features: list[Feature] = Field(default=[], alias="feature")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        if value != PLAN_VERSION or isinstance(value, bool):
            raise FieldProblem(
                f"version {show(value)} is not supported; this wta reads version {PLAN_VERSION}",
                f"set version = {PLAN_VERSION}, or upgrade wta",
            )
        return value

    @cached_property
    def by_id(self) -> dict[FeatureId, Feature]:
        return {f.id: f for f in self.features}

    @cached_property
    def graph(self) -> FeatureGraph:
        from worktree_agents.dag import FeatureGraph

        return FeatureGraph.build(
            order=[f.id for f in self.features],
            deps={f.id: tuple(f.depends_on) for f in self.features},
            estimates={f.id: f.estimate for f in self.features},
            priorities={f.id: f.priority for f in self.features},
        )

    def profile_names(self) -> list[str]:
        return [DEFAULT_PROFILE, *self.agents]

    def profile_for(self, feature: Feature, override: str | None = None) -> str:
        """Which profile runs `feature`: --profile, then its own `agent`, then routing."""
        if override is not None:
            return override
        if feature.agent is not None:
            return feature.agent
        if feature.category is not None and feature.category in self.routing:
            return self.routing[feature.category]
        return DEFAULT_PROFILE

    def resolve_profile(self, name: str) -> ResolvedProfile:
        """Apply inheritance: a named profile takes unset fields from [agent].

        Backend-specific fields (e.g. `command`) are inherited only by a profile
        with the same backend as [agent].
        """
        base = self.agent
        own = base if name == DEFAULT_PROFILE else self.agents[name]
        backend: Backend = own.backend or base.backend or "claude"
        base_backend: Backend = base.backend or "claude"

        def pick(field: str) -> Any:
            value = getattr(own, field)
            if value is not None:
                return value
            specific = any(field in fields for fields in BACKEND_FIELDS.values())
            if specific and backend != base_backend:
                return None
            return getattr(base, field)

        def as_tuple(value: list[Any] | None) -> tuple[Any, ...] | None:
            return None if value is None else tuple(value)

        env = {**(base.env or {}), **(own.env or {})} if own is not base else dict(base.env or {})
        return ResolvedProfile(
            name=name,
            backend=backend,
            model=pick("model"),
            fallback_model=pick("fallback_model"),
            max_turns=pick("max_turns"),
            max_budget_usd=pick("max_budget_usd"),
            timeout_s=pick("timeout") or 1800.0,
            idle_timeout_s=pick("idle_timeout") or 600.0,
            escalate_to=own.escalate_to,
            env=env,
            command=as_tuple(pick("command")),
            dir=pick("dir") or "patches",
            cli_path=pick("cli_path"),
            permission_mode=pick("permission_mode"),
            allowed_tools=as_tuple(pick("allowed_tools")),
            disallowed_tools=as_tuple(pick("disallowed_tools")),
            setting_sources=as_tuple(pick("setting_sources")),
            resume_on_retry=bool(pick("resume_on_retry")),
        )


@dataclass(frozen=True)
class LoadedPlan:
    """A valid plan and where it came from (paths in it are relative to `path.parent`)."""

    plan: Plan
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent
