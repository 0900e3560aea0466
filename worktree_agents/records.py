"""The typed rows of the state store: features, attempts, runs, and feature updates."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, TypeVar

from worktree_agents.domain import (
    CommitSha,
    FailureReason,
    FeatureId,
    FeatureState,
    RunId,
    RunStatus,
)

_R = TypeVar("_R", "FeatureRecord", "AttemptRecord", "RunRecord")


class AttemptOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class FeatureRecord:
    id: FeatureId
    plan_index: int | None  # None: the feature has left the plan; its history is kept
    state: FeatureState
    reason: FailureReason | None
    detail: str | None
    branch: str | None
    base_commit: CommitSha | None
    commit_sha: CommitSha | None
    attempts: int
    profile: str | None
    model: str | None  # the model that answered, from an agent's result; never the request
    cost_usd: float
    turns: int | None
    duration_s: float | None
    files_changed: int | None
    insertions: int | None
    deletions: int | None
    conflict_paths: tuple[str, ...]
    skipped_because: FeatureId | None
    summary: str | None
    claimed_by: RunId | None
    updated_at: float
    done_in_plan: bool  # merged because the plan says `done = true`, not by a run
    interrupted: int  # attempts cut short by an interruption: `attempts` minus the real tries
    cost_estimated: bool  # some of cost_usd is estimated from a killed agent's token usage


@dataclass(frozen=True)
class AttemptRecord:
    feature_id: FeatureId
    n: int
    run_id: RunId
    started_at: float
    finished_at: float | None
    profile: str | None
    model: str | None  # the model the attempt asked for: its profile's
    base_commit: CommitSha | None
    head_commit: CommitSha | None
    outcome: AttemptOutcome | None
    reason: FailureReason | None
    detail: str | None
    cost_usd: float | None
    turns: int | None
    session_id: str | None
    log_path: str | None
    cost_estimated: bool  # cost_usd is estimated from the usage of a killed agent's messages


@dataclass(frozen=True)
class CheckoutChange:
    """A change to the user's checkout seen while agents ran: reported, never undone."""

    at: float
    paths: tuple[str, ...]  # absolute paths, and `<worktree>: HEAD` when HEAD moved
    features: tuple[FeatureId, ...]  # the features whose agents ran meanwhile

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "paths": list(self.paths), "features": list(self.features)}

    def as_line(self) -> str:
        """One line of the run's `checkout_changes` column (JSON lines)."""
        return json.dumps(self.as_json()) + "\n"

    @classmethod
    def from_line(cls, line: str) -> CheckoutChange:
        data = json.loads(line)
        return cls(data["at"], tuple(data["paths"]), tuple(data["features"]))


@dataclass(frozen=True)
class RunRecord:
    id: RunId
    started_at: float
    finished_at: float | None
    pid: int
    host: str
    status: RunStatus
    plan_path: str
    options_json: str
    cost_usd: float  # what this run's agents spent
    checkout_changes: tuple[CheckoutChange, ...] = ()

    @property
    def options(self) -> dict[str, Any]:
        """The options the run was started with (runner.py records them), base included."""
        loaded: dict[str, Any] = json.loads(self.options_json or "{}")
        return loaded


@dataclass(frozen=True)
class FeatureUpdate:
    """Columns to change on a feature; a field left as None is left unchanged."""

    branch: str | None = None
    base_commit: CommitSha | None = None
    commit_sha: CommitSha | None = None
    profile: str | None = None
    model: str | None = None
    cost_usd: float | None = None
    turns: int | None = None
    duration_s: float | None = None
    files_changed: int | None = None
    insertions: int | None = None
    deletions: int | None = None
    conflict_paths: tuple[str, ...] | None = None
    skipped_because: FeatureId | None = None
    summary: str | None = None

    def columns(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "conflict_paths":
                out["conflict_paths_json"] = json.dumps(list(value))
            else:
                out[f.name] = value
        return out


def _record(cls: type[_R], row: sqlite3.Row, **convert: Callable[[Any], Any]) -> _R:
    """Build a record from a row: columns map to fields by name (NewTypes need no conversion)."""
    values = {f.name: row[f.name] for f in fields(cls) if f.name not in convert}
    for name, to_value in convert.items():
        values[name] = to_value(row)
    return cls(**values)


def _enum(kind: type[StrEnum], column: str) -> Callable[[sqlite3.Row], Any]:
    return lambda row: None if row[column] is None else kind(row[column])


def feature_from_row(row: sqlite3.Row) -> FeatureRecord:
    return _record(
        FeatureRecord,
        row,
        state=_enum(FeatureState, "state"),
        reason=_enum(FailureReason, "reason"),
        conflict_paths=lambda r: tuple(json.loads(r["conflict_paths_json"] or "[]")),
        done_in_plan=lambda r: bool(r["done_in_plan"]),
        cost_estimated=lambda r: bool(r["cost_estimated"]),
    )


def attempt_from_row(row: sqlite3.Row) -> AttemptRecord:
    return _record(
        AttemptRecord,
        row,
        outcome=_enum(AttemptOutcome, "outcome"),
        reason=_enum(FailureReason, "reason"),
        cost_estimated=lambda r: bool(r["cost_estimated"]),
    )


def run_from_row(row: sqlite3.Row) -> RunRecord:
    return _record(
        RunRecord,
        row,
        status=_enum(RunStatus, "status"),
        checkout_changes=lambda r: tuple(
            CheckoutChange.from_line(line) for line in r["checkout_changes"].splitlines()
        ),
    )
