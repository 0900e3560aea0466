"""The run's event log: one typed, versioned pydantic model per kind, appended as JSON lines.

Secrets found in the environment are redacted from every string before it is written
(redaction.py).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from worktree_agents.domain import (
    CommitSha,
    FailureReason,
    FeatureId,
    GuardrailRule,
    RunId,
    RunStatus,
)
from worktree_agents.errors import StoreError
from worktree_agents.redaction import environ_redactor
from worktree_agents.text import shorten

EVENT_SCHEMA = 1
SUMMARY_MAX = 200

Stage: TypeAlias = Literal["setup", "feature", "merge"]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_version: int = Field(default=EVENT_SCHEMA, alias="v")
    ts: float = Field(default_factory=time.time)
    run_id: RunId
    kind: str


class RunStarted(Event):
    kind: Literal["run_started"] = "run_started"
    plan_path: str
    parallel: int
    features: tuple[FeatureId, ...]


class RunFinished(Event):
    kind: Literal["run_finished"] = "run_finished"
    status: RunStatus
    merged: int
    failed: int
    skipped: int
    cost_usd: float
    duration_s: float


class FeatureReady(Event):
    kind: Literal["feature_ready"] = "feature_ready"
    feature_id: FeatureId


class WorktreeCreated(Event):
    kind: Literal["worktree_created"] = "worktree_created"
    feature_id: FeatureId
    path: str
    branch: str
    base_commit: CommitSha


class AgentStarted(Event):
    kind: Literal["agent_started"] = "agent_started"
    feature_id: FeatureId
    attempt: int
    profile: str
    backend: str
    model: str | None


class ToolUsed(Event):
    kind: Literal["tool_used"] = "tool_used"
    feature_id: FeatureId
    attempt: int
    tool: str
    summary: str

    @field_validator("summary")
    @classmethod
    def _shorten(cls, summary: str) -> str:
        # Redacted before the cut, so that no prefix of a secret survives.
        return shorten(environ_redactor().redact(summary), SUMMARY_MAX)


class ToolDenied(Event):
    """The fence denied a tool call: a file write outside the worktree (claude backend)."""

    kind: Literal["tool_denied"] = "tool_denied"
    feature_id: FeatureId
    attempt: int
    tool: str
    path: str  # as the agent gave it
    reason: str


class AgentFinished(Event):
    kind: Literal["agent_finished"] = "agent_finished"
    feature_id: FeatureId
    attempt: int
    ok: bool
    reason: FailureReason | None
    cost_usd: float | None
    turns: int | None
    duration_s: float
    cost_estimated: bool = False  # cost_usd is estimated from the token usage (agent killed)
    rate_limited: bool = False  # it ended on a rate limit: the attempt is interrupted, not failed


class AttemptInterrupted(Event):
    """An attempt cut short by Ctrl-C or SIGTERM: not a try, and not a failure."""

    kind: Literal["attempt_interrupted"] = "attempt_interrupted"
    feature_id: FeatureId
    attempt: int
    cost_usd: float | None  # what its agent spent, as far as it is known
    cost_estimated: bool = False


class VerifyStarted(Event):
    kind: Literal["verify_started"] = "verify_started"
    feature_id: FeatureId
    command: str
    stage: Stage


class VerifyFinished(Event):
    kind: Literal["verify_finished"] = "verify_finished"
    feature_id: FeatureId
    command: str
    stage: Stage
    ok: bool
    exit_code: int | None  # None: killed on timeout
    duration_s: float


class MergeStarted(Event):
    kind: Literal["merge_started"] = "merge_started"
    feature_id: FeatureId


class Merged(Event):
    kind: Literal["merged"] = "merged"
    feature_id: FeatureId
    commit: CommitSha
    integration_head: CommitSha


class Conflict(Event):
    kind: Literal["conflict"] = "conflict"
    feature_id: FeatureId
    paths: tuple[str, ...]
    touched_by: tuple[FeatureId, ...]  # merged features that changed those paths


class Skipped(Event):
    kind: Literal["skipped"] = "skipped"
    feature_id: FeatureId
    because: FeatureId


class GuardrailTripped(Event):
    kind: Literal["guardrail_tripped"] = "guardrail_tripped"
    feature_id: FeatureId | None  # None: a run-wide rule (run budget, circuit breaker)
    rule: GuardrailRule
    detail: str


class Retry(Event):
    kind: Literal["retry"] = "retry"
    feature_id: FeatureId
    attempt: int  # the attempt about to start
    reason: FailureReason
    profile: str


class WorkSaved(Event):
    """Work found on a feature's branch that no attempt made, kept before a reset."""

    kind: Literal["work_saved"] = "work_saved"
    feature_id: FeatureId
    ref: str


class CheckoutChanged(Event):
    """The user's checkout changed while agents ran: reported, never undone."""

    kind: Literal["checkout_changed"] = "checkout_changed"
    paths: tuple[str, ...]  # absolute paths, and `<worktree>: HEAD` when HEAD moved
    features: tuple[FeatureId, ...]  # the features whose agents ran meanwhile


class BaseFollowed(Event):
    """The integration branch was brought up to date with its base before anything started."""

    kind: Literal["base_followed"] = "base_followed"
    base: str
    base_commit: CommitSha
    how: Literal["fast_forward", "merge"]
    old_head: CommitSha
    integration_head: CommitSha


class Uncommitted(Event):
    """Files the run names (the plan, an agent's script, a check's file) that have
    uncommitted changes: agents see only committed files. A warning; the run goes on."""

    kind: Literal["uncommitted"] = "uncommitted"
    paths: tuple[str, ...]  # relative to the repository's root


class QuotaWait(Event):
    """The API said the quota is spent until `until` (a Unix time): no attempt starts before
    then. `gave_up`: that is further away than `max_quota_wait`, so the run stops, resumable."""

    kind: Literal["quota_wait"] = "quota_wait"
    feature_id: FeatureId  # the feature whose attempt was told
    until: float
    gave_up: bool = False
    detail: str


class SlotsChanged(Event):
    """How many agents may run at once changed: lowered after a rate limit, raised again after
    attempts that ran without one."""

    kind: Literal["slots_changed"] = "slots_changed"
    slots: int
    was: int
    reason: Literal["rate_limit", "recovered"]


class FeatureFailed(Event):
    kind: Literal["feature_failed"] = "feature_failed"
    feature_id: FeatureId
    reason: FailureReason
    detail: str | None


AnyEvent: TypeAlias = Annotated[
    RunStarted
    | RunFinished
    | FeatureReady
    | WorktreeCreated
    | AgentStarted
    | ToolUsed
    | ToolDenied
    | AgentFinished
    | AttemptInterrupted
    | VerifyStarted
    | VerifyFinished
    | MergeStarted
    | Merged
    | Conflict
    | Skipped
    | GuardrailTripped
    | Retry
    | FeatureFailed
    | WorkSaved
    | CheckoutChanged
    | BaseFollowed
    | Uncommitted
    | QuotaWait
    | SlotsChanged,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def _redacted(event: Event) -> Event:
    redact = environ_redactor().redact
    changes: dict[str, object] = {}
    for name, value in event:  # every plain string; enums and `kind` are fixed vocabulary
        if name != "kind" and type(value) is str:
            redacted: object = redact(value)
        elif isinstance(value, tuple) and all(type(v) is str for v in value):
            redacted = tuple(redact(v) for v in value)
        else:
            continue
        if redacted != value:
            changes[name] = redacted
    return event.model_copy(update=changes) if changes else event


class EventLog:
    """Appends events to one run's JSONL file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, event: Event) -> None:
        line = _redacted(event).model_dump_json(by_alias=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One write of one whole line, in append mode: readers never see a line cut short.
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()

    @staticmethod
    def read(path: Path) -> list[AnyEvent]:
        """Every complete event in the file ([] if there is none yet).

        A last line without its newline is still being written, and is left out.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read the event log {path}: {exc}") from exc
        lines = text.split("\n")[:-1]  # the last piece is "" or a partial line
        return [_parse(path, number, line) for number, line in enumerate(lines, 1) if line]


def _parse(path: Path, number: int, line: str) -> AnyEvent:
    where = f"{path}:{number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StoreError(f"{where}: not a JSON event: {exc}") from exc
    version = data.get("v") if isinstance(data, dict) else None
    if version != EVENT_SCHEMA:
        raise StoreError(
            f"{where}: event schema version {version!r} is not {EVENT_SCHEMA}, the one this wta "
            "reads; it was written by another wta version"
        )
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors()
        )
        raise StoreError(f"{where}: invalid event: {problems}") from exc
