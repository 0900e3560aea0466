"""Typed ids, and the vocabularies shared by every module: feature states, failure reasons,
guardrail rules and run statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

FeatureId = NewType("FeatureId", str)
CommitSha = NewType("CommitSha", str)
BranchName = NewType("BranchName", str)
RunId = NewType("RunId", str)

HEADS = "refs/heads/"  # where branches live


class ColorMode(StrEnum):
    """`--color`: whether the live table is coloured (here, so the parser loads no more)."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class FeatureState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    VERIFYING = "verifying"
    INTEGRATING = "integrating"
    MERGED = "merged"
    DONE = "done"  # verified on its branch, not integrated (--no-merge)
    FAILED = "failed"
    SKIPPED = "skipped"


class FailureReason(StrEnum):
    AGENT_ERROR = "agent_error"
    TIMEOUT = "timeout"
    IDLE = "idle"
    BUDGET = "budget"
    MAX_TURNS = "max_turns"
    NO_CHANGES = "no_changes"
    GUARDRAIL = "guardrail"
    VERIFY_FAILED = "verify_failed"
    CONFLICT = "conflict"
    MERGE_VERIFY_FAILED = "merge_verify_failed"
    BLOCKED = "blocked"
    SETUP_FAILED = "setup_failed"  # a [run] setup command failed, before the agent started
    CRASHED = "crashed"


class GuardrailRule(StrEnum):
    """Which guardrail tripped: a feature's diff limits, a fence check around its agent, or
    a run-wide rule (which stops new attempts)."""

    MAX_CHANGED_FILES = "max_changed_files"
    MAX_CHANGED_LINES = "max_changed_lines"
    PROTECTED_PATHS = "protected_paths"
    STASH = "stash"  # the agent changed the stash, which the user's checkout shares
    BRANCH = "branch"  # the agent left its feature branch
    REFS = "refs"  # the agent moved, or tried to move, refs that are not its own
    HISTORY = "history"  # its branch no longer descends from its base
    WORKTREE = "worktree"  # the agent deleted or broke its worktree
    GIT_FILES = "git_files"  # the agent changed the repository's shared config, hooks or info
    RUN_BUDGET = "run_budget_usd"
    STOP_AFTER_FAILURES = "stop_after_failures"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    PARTIAL = "partial"
    ERROR = "error"
    INTERRUPTED = "interrupted"


# Feature ids wta keeps for its review branches (`<prefix>review/<id>` and
# `<prefix>review-base/<id>`): a feature's branch of that name would clash with their refs.
RESERVED_IDS = ("review", "review-base")
