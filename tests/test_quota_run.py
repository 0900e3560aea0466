"""Quotas and rate limits slow a run down; they do not fail it. `wta run` on the claude
backend with the fake CLI (tests/fakeclaude.py): a spent quota that resets in a few seconds,
one that resets later than max_quota_wait, a stream of 429s, and budget reservations."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from fakecli import fake_cli
from runutil import Spec, features, plan_repo, wta

from worktree_agents.agents import claude
from worktree_agents.domain import FailureReason
from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    Event,
    EventLog,
    QuotaWait,
    SlotsChanged,
)
from worktree_agents.store import AttemptOutcome, Store

IDS = ("a", "b", "c")


@pytest.fixture(autouse=True)
def quick_claude(monkeypatch: pytest.MonkeyPatch) -> None:
    """No backoff inside the backend (every 429 reaches the run) and no spacing of starts."""
    monkeypatch.setattr(claude, "RATE_LIMIT_BACKOFF_S", ())
    monkeypatch.setattr(claude, "START_SPACING_S", 0.0)


def fake_repo(
    tmp_path: Path,
    scenario: str,
    env: Mapping[str, str],
    ids: tuple[str, ...],
    settings: str = "",
    extra: Mapping[str, object] | None = None,
) -> Path:
    cli = fake_cli(tmp_path)
    state = tmp_path / "fake"
    state.mkdir()
    agent = {
        "backend": "claude",
        "cli_path": str(cli),
        "env": {
            "FAKE_CLAUDE_SCENARIO": scenario,
            "FAKE_CLAUDE_STATE": str(state),
            "ANTHROPIC_API_KEY": "test-key",  # the pre-flight wants credentials
            **env,
        },
        **(extra or {}),
    }
    specs = [Spec(i, {}) for i in ids]
    return plan_repo(tmp_path, specs, settings=settings, agent=agent)


def events(repo: Path) -> list[Event]:
    """The events of every run, oldest run first."""
    runs = sorted((repo / ".git" / "wta" / "runs").glob("*.jsonl"))
    return [e for run in runs for e in EventLog.read(run)]


def outcomes(repo: Path) -> dict[str, list[AttemptOutcome | None]]:
    with Store.open(repo / ".git" / "wta") as store:
        return {r.id: [a.outcome for a in store.attempts(r.id)] for r in store.all_features()}


def peak_agents(log: list[Event]) -> int:
    running = peak = 0
    for event in log:
        if isinstance(event, AgentStarted):
            running += 1
            peak = max(peak, running)
        elif isinstance(event, AgentFinished):
            running -= 1
    return peak


def test_a_spent_quota_is_waited_for_and_nothing_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"FAKE_CLAUDE_RESET_S": "2", "FAKE_CLAUDE_SLEEP": "0.3"}
    repo = fake_repo(tmp_path, "quota_once", env, ("a", "b"), "[run]\nmax_parallel = 1\n")
    started = time.monotonic()

    assert wta(repo, "run") == 0

    waited = time.monotonic() - started
    err = capsys.readouterr().err
    log = events(repo)
    waits = [(e.kind, getattr(e, "feature_id", None), getattr(e, "gave_up", None)) for e in log]
    waits = [w for w in waits if w[0] == "quota_wait"]
    assert waits == [("quota_wait", "a", False)]
    assert waited >= 1.0  # resetsAt is whole seconds: at least one of the two was waited
    assert outcomes(repo) == {
        "a": [AttemptOutcome.INTERRUPTED, AttemptOutcome.OK],
        "b": [AttemptOutcome.OK],
    }
    assert {i: f["state"] for i, f in features(capsys, repo).items()} == {
        "a": "merged",
        "b": "merged",
    }
    until = next(e.until for e in log if isinstance(e, QuotaWait))
    said = [line[9:] for line in err.splitlines() if ": quota spent" in line]  # without the clock
    assert said == [
        f"a: quota spent until {time.strftime('%H:%M', time.localtime(until))}; waiting"
    ]


def test_a_quota_that_resets_too_late_stops_the_run_resumable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = '[guardrails]\nmax_quota_wait = "1m"\n'
    repo = fake_repo(tmp_path, "quota_once", {"FAKE_CLAUDE_RESET_S": "3600"}, ("a",), settings)

    assert wta(repo, "run") == 130

    told = [
        (e.kind, getattr(e, "gave_up", None), getattr(e, "status", None))
        for e in events(repo)
        if e.kind in ("quota_wait", "run_finished")
    ]
    assert told == [("quota_wait", True, None), ("run_finished", None, "interrupted")]
    assert {i: f["state"] for i, f in features(capsys, repo).items()} == {"a": "pending"}

    assert wta(repo, "run") == 0  # the quota has reset (the fake's next run succeeds)

    assert outcomes(repo) == {"a": [AttemptOutcome.INTERRUPTED, AttemptOutcome.OK]}
    assert {i: f["state"] for i, f in features(capsys, repo).items()} == {"a": "merged"}


def test_a_stream_of_429s_lowers_the_slots_and_the_run_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"FAKE_CLAUDE_LIMITED": "2", "FAKE_CLAUDE_SLEEP": "0.5"}
    repo = fake_repo(tmp_path, "rate_limited_first", env, IDS, "[run]\nmax_parallel = 3\n")

    assert wta(repo, "run") == 0

    changes = [(e.slots, e.was, e.reason) for e in events(repo) if isinstance(e, SlotsChanged)]
    assert changes == [(2, 3, "rate_limit"), (1, 2, "rate_limit"), (2, 1, "recovered")]
    finished = [
        (e.ok, e.reason, e.rate_limited) for e in events(repo) if isinstance(e, AgentFinished)
    ]
    assert sorted(finished, key=str) == sorted(
        [(False, FailureReason.AGENT_ERROR, True)] * 2 + [(True, None, False)] * 3, key=str
    )
    said = [line for line in capsys.readouterr().err.splitlines() if "agent stopped by" in line]
    assert len(said) == 2
    counted = sorted(o for run in outcomes(repo).values() for o in run if o is not None)
    assert counted == sorted([AttemptOutcome.INTERRUPTED] * 2 + [AttemptOutcome.OK] * 3)
    assert {i: f["state"] for i, f in features(capsys, repo).items()} == dict.fromkeys(
        IDS, "merged"
    )


def test_budget_reservations_keep_agents_at_once_within_the_run_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = "[run]\nmax_parallel = 3\n[guardrails]\nrun_budget_usd = 2.0\n"
    repo = fake_repo(
        tmp_path,
        "write_feature_file",
        {"FAKE_CLAUDE_SLEEP": "0.5"},
        IDS,
        settings,
        {"max_budget_usd": 1.0},
    )

    assert wta(repo, "run") == 0

    assert peak_agents(events(repo)) == 2
    assert {i: f["state"] for i, f in features(capsys, repo).items()} == dict.fromkeys(
        IDS, "merged"
    )
