"""Typed ids, feature states and failure reasons, shared by every module."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

FeatureId = NewType("FeatureId", str)
CommitSha = NewType("CommitSha", str)
BranchName = NewType("BranchName", str)
RunId = NewType("RunId", str)


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
    CRASHED = "crashed"
