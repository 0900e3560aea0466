"""Tests for the JSONL event log: round trips, schema version, validation, redaction."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from worktree_agents.domain import (
    CommitSha,
    FailureReason,
    FeatureId,
    GuardrailRule,
    RunId,
    RunStatus,
)
from worktree_agents.errors import StoreError
from worktree_agents.events import (
    EVENT_SCHEMA,
    AgentFinished,
    AgentStarted,
    AnyEvent,
    AttemptInterrupted,
    BaseFollowed,
    CheckoutChanged,
    Conflict,
    Event,
    EventLog,
    FeatureFailed,
    FeatureReady,
    GuardrailTripped,
    Merged,
    MergeStarted,
    QuotaWait,
    Retry,
    RunFinished,
    RunStarted,
    Skipped,
    SlotsChanged,
    ToolDenied,
    ToolUsed,
    Uncommitted,
    VerifyFinished,
    VerifyStarted,
    WorkSaved,
    WorktreeCreated,
)
from worktree_agents.paths import StatePaths
from worktree_agents.redaction import redact

RUN = RunId("20240101-120000-abcd")
F = FeatureId("auth")
SHA = CommitSha("a" * 40)
SECRET = "sk-ant-secret-123456"
TS = 1700000000.5


def one_of_each() -> list[Event]:
    return [
        RunStarted(
            run_id=RUN, ts=TS, plan_path="wta.toml", parallel=3, features=(F, FeatureId("profile"))
        ),
        RunFinished(
            run_id=RUN,
            ts=TS,
            status=RunStatus.PARTIAL,
            merged=1,
            failed=1,
            skipped=1,
            cost_usd=1.5,
            duration_s=60.0,
        ),
        FeatureReady(run_id=RUN, ts=TS, feature_id=F),
        WorktreeCreated(
            run_id=RUN, ts=TS, feature_id=F, path="/tmp/wt/auth", branch="wta/auth", base_commit=SHA
        ),
        AgentStarted(
            run_id=RUN,
            ts=TS,
            feature_id=F,
            attempt=1,
            profile="default",
            backend="claude",
            model="sonnet",
        ),
        ToolUsed(run_id=RUN, ts=TS, feature_id=F, attempt=1, tool="Edit", summary="edit auth.py"),
        ToolDenied(
            run_id=RUN,
            ts=TS,
            feature_id=F,
            attempt=1,
            tool="Write",
            path="/home/u/repo/app.py",
            reason="/home/u/repo/app.py is outside the worktree /home/u/repo.wta/auth",
        ),
        AgentFinished(
            run_id=RUN,
            ts=TS,
            feature_id=F,
            attempt=1,
            ok=False,
            reason=FailureReason.MAX_TURNS,
            cost_usd=0.42,
            turns=100,
            duration_s=12.25,
        ),
        AttemptInterrupted(
            run_id=RUN, ts=TS, feature_id=F, attempt=2, cost_usd=0.0123, cost_estimated=True
        ),
        VerifyStarted(run_id=RUN, ts=TS, feature_id=F, command="pytest -q", stage="feature"),
        VerifyFinished(
            run_id=RUN,
            ts=TS,
            feature_id=F,
            command="pytest -q",
            stage="merge",
            ok=True,
            exit_code=0,
            duration_s=3.5,
        ),
        MergeStarted(run_id=RUN, ts=TS, feature_id=F),
        Merged(run_id=RUN, ts=TS, feature_id=F, commit=SHA, integration_head=CommitSha("b" * 40)),
        Conflict(run_id=RUN, ts=TS, feature_id=F, paths=("app.py",), touched_by=(FeatureId("db"),)),
        Skipped(run_id=RUN, ts=TS, feature_id=FeatureId("profile"), because=F),
        GuardrailTripped(
            run_id=RUN, ts=TS, feature_id=None, rule=GuardrailRule.RUN_BUDGET, detail="spent $50.10"
        ),
        Retry(
            run_id=RUN,
            ts=TS,
            feature_id=F,
            attempt=2,
            reason=FailureReason.VERIFY_FAILED,
            profile="strong",
        ),
        FeatureFailed(
            run_id=RUN, ts=TS, feature_id=F, reason=FailureReason.CONFLICT, detail="app.py"
        ),
        WorkSaved(run_id=RUN, ts=TS, feature_id=F, ref="refs/wta/saved/f/2"),
        CheckoutChanged(
            run_id=RUN, ts=TS, paths=("/home/me/repo/notes.txt",), features=(F, FeatureId("db"))
        ),
        BaseFollowed(
            run_id=RUN,
            ts=TS,
            base="main",
            base_commit=SHA,
            how="merge",
            old_head=SHA,
            integration_head=SHA,
        ),
        Uncommitted(run_id=RUN, ts=TS, paths=("wta.toml", "scripts/agent.py")),
        QuotaWait(run_id=RUN, ts=TS, feature_id=F, until=TS + 60, detail="usage limit reached"),
        SlotsChanged(run_id=RUN, ts=TS, slots=2, was=3, reason="rate_limit"),
    ]


def test_one_of_each_covers_every_kind() -> None:
    (union, _field) = typing.get_args(AnyEvent)
    classes = set(typing.get_args(union))
    assert {type(e) for e in one_of_each()} == classes
    assert len(classes) == 24


def test_every_kind_round_trips(tmp_path: Path) -> None:
    path = StatePaths(tmp_path).run_events(RUN)
    assert path == tmp_path / "runs" / f"{RUN}.jsonl"
    log = EventLog(path)
    events = one_of_each()
    for event in events:
        log.append(event)
    assert EventLog.read(path) == events
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["v"] for line in lines] == [EVENT_SCHEMA] * len(events)
    assert [json.loads(line)["kind"] for line in lines] == [e.kind for e in events]


def test_event_json_shape(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.jsonl")
    log.append(Merged(run_id=RUN, ts=5.0, feature_id=F, commit=SHA, integration_head=SHA))
    assert json.loads((tmp_path / "e.jsonl").read_text(encoding="utf-8")) == {
        "v": 1,
        "ts": 5.0,
        "run_id": RUN,
        "kind": "merged",
        "feature_id": "auth",
        "commit": SHA,
        "integration_head": SHA,
    }


def write_lines(path: Path, *records: dict[str, object]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_unknown_kind_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write_lines(path, {"v": 1, "ts": 1.0, "run_id": RUN, "kind": "teleported", "feature_id": F})
    with pytest.raises(StoreError) as info:
        EventLog.read(path)
    assert info.value.message == (
        f"{path}:1: invalid event: event: Input tag 'teleported' found using 'kind' does not "
        "match any of the expected tags: 'run_started', 'run_finished', 'feature_ready', "
        "'worktree_created', 'agent_started', 'tool_used', 'tool_denied', 'agent_finished', "
        "'attempt_interrupted', "
        "'verify_started', 'verify_finished', 'merge_started', 'merged', 'conflict', 'skipped', "
        "'guardrail_tripped', 'retry', 'feature_failed', 'work_saved', 'checkout_changed', "
        "'base_followed', 'uncommitted', "
        "'quota_wait', 'slots_changed'"
    )


def test_extra_field_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write_lines(
        path, {"v": 1, "ts": 1.0, "run_id": RUN, "kind": "feature_ready", "feature_id": F, "x": 1}
    )
    with pytest.raises(StoreError) as info:
        EventLog.read(path)
    assert (
        info.value.message
        == f"{path}:1: invalid event: feature_ready.x: Extra inputs are not permitted"
    )
    with pytest.raises(ValueError):
        FeatureReady.model_validate({"run_id": RUN, "feature_id": F, "x": 1})


def test_unknown_schema_version_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write_lines(path, {"v": 2, "ts": 1.0, "run_id": RUN, "kind": "feature_ready", "feature_id": F})
    with pytest.raises(StoreError) as info:
        EventLog.read(path)
    assert info.value.message == (
        f"{path}:1: event schema version 2 is not 1, the one this wta reads; "
        "it was written by another wta version"
    )


def test_partial_trailing_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = EventLog(path)
    first = FeatureReady(run_id=RUN, ts=1.0, feature_id=F)
    log.append(first)
    whole = MergeStarted(run_id=RUN, ts=2.0, feature_id=F).model_dump_json(by_alias=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(whole[: len(whole) // 2])
    assert EventLog.read(path) == [first]
    assert EventLog.read(tmp_path / "missing.jsonl") == []


def test_secrets_never_reach_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Wta Test Author")  # AUTHOR is not AUTH
    monkeypatch.setenv("SOME_TOKEN", "short")  # too short to redact
    path = tmp_path / "e.jsonl"
    log = EventLog(path)
    log.append(
        ToolUsed(
            run_id=RUN,
            ts=1.0,
            feature_id=F,
            attempt=1,
            tool="Bash",
            summary=f"export KEY={SECRET} by Wta Test Author, short",
        )
    )
    log.append(
        FeatureFailed(
            run_id=RUN, ts=2.0, feature_id=F, reason=FailureReason.AGENT_ERROR, detail=SECRET
        )
    )
    log.append(
        VerifyStarted(
            run_id=RUN, ts=3.0, feature_id=F, command=f"curl -H {SECRET}", stage="feature"
        )
    )
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text
    summary, detail, command = (
        json.loads(line)[key]
        for line, key in zip(text.splitlines(), ("summary", "detail", "command"), strict=True)
    )
    assert (summary, detail, command) == (
        "export KEY=*** by Wta Test Author, short",
        "***",
        "curl -H ***",
    )


def test_redact_and_long_summaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    assert redact(f"a {SECRET} b", {"X_SECRET": SECRET, "PATH": "/usr/bin:/bin"}) == "a *** b"
    assert redact("/usr/bin:/bin", {"PATH": "/usr/bin:/bin"}) == "/usr/bin:/bin"
    # The secret straddles the cut at 200 characters: it is redacted before the cut.
    event = ToolUsed(run_id=RUN, feature_id=F, attempt=1, tool="Read", summary="x" * 195 + SECRET)
    assert event.summary == "x" * 195 + "***"
    long = ToolUsed(run_id=RUN, feature_id=F, attempt=1, tool="Read", summary="y" * 500)
    assert long.summary == "y" * 199 + "…"
