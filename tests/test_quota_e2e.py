"""Quotas and rate limits with the real bundled Claude Code CLI and the fake Anthropic API of
tests/fakeapi.py: a stream of 429s lowers the slots, an API spend limit is waited for, and
neither fails anything (tests/test_quota_run.py does the same with the fake CLI).

What the CLI (2.1.x) does with them, as checked here:
- a 429 with `x-should-retry: false` is not retried: the CLI ends at once with an assistant
  message whose `error` is "rate_limit" and a result with `is_error`, `api_error_status` 429
  and the text "API Error: Request rejected (429) · <the API's message>";
- a 400 `invalid_request_error` is retried five times at once (six requests, whatever
  `x-should-retry` says), then the result's text is "API Error: 400 <the API's message>"
  (the assistant message's `error` is "unknown"). So the fake refuses every request until
  the reset time, as the real API does.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakeapi import (
    ApiError,
    FakeAnthropic,
    Script,
    ToolUse,
    Usage,
    bash,
    rate_limited,
    text,
    tools,
    write,
)
from runutil import Spec, features, plan_repo, wta
from test_claude_e2e import (
    MODEL,
    assert_no_claude_left,
    conversation,
    needs_cli,
    post,
    real_cli_profile,
)
from test_quota_run import events, outcomes

from worktree_agents.agents import claude
from worktree_agents.events import QuotaWait, SlotsChanged
from worktree_agents.store import AttemptOutcome

SPEND_LIMIT = "You have reached your specified API usage limits. You will regain access on {} UTC."


@pytest.fixture(autouse=True)
def quick_claude(monkeypatch: pytest.MonkeyPatch) -> None:
    """No backoff inside the backend (every 429 reaches the run) and no spacing of starts."""
    monkeypatch.setattr(claude, "RATE_LIMIT_BACKOFF_S", ())
    monkeypatch.setattr(claude, "START_SPACING_S", 0.0)


def script(fid: str, pause: str = "true") -> Script:
    """Run `pause`, write `<fid>.txt`, report the feature done, then say so."""
    done = ToolUse("mcp__wta__feature_done", {"summary": f"{fid}: wrote {fid}.txt"})
    return [
        bash(pause, Usage(100, 20)),
        write(f"{fid}.txt", f"{fid}\n", Usage(100, 20)),
        tools(done, usage=Usage(100, 20)),
        text(f"{fid} is done", Usage(100, 20)),
    ]


def real_cli_repo(tmp_path: Path, api: FakeAnthropic, ids: Sequence[str], settings: str) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    agent = real_cli_profile(api, home)
    specs = [Spec(i, {}, acceptance=[f"test -f {i}.txt"]) for i in ids]
    return plan_repo(tmp_path, specs, settings=settings, agent=agent)


def test_fake_api_errors_answer_conversations_in_order_and_one_with_until_until_then() -> None:
    spent = ApiError(400, "invalid_request_error", "spent", until=time.time() + 0.5)
    with FakeAnthropic({"w": [text("done")]}, errors=[rate_limited("slow down"), spent]) as api:
        side = {"model": MODEL, "max_tokens": 1, "messages": []}
        assert post(f"{api.url}/v1/messages", side)[0] == 200  # no tools: not the conversation
        status, _, raw = post(f"{api.url}/v1/messages", conversation("/x/w", 0, False))
        assert (status, json.loads(raw)) == (
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
        )
        assert [post(f"{api.url}/v1/messages", conversation("/x/w", 0))[0] for _ in "12"] == [
            400,
            400,
        ]
        time.sleep(0.6)
        assert post(f"{api.url}/v1/messages", conversation("/x/w", 0))[0] == 200
    assert [e.kind for e in api.log] == ["side", "error 429", "error 400", "error 400", "turn 1"]


@pytest.mark.e2e
@needs_cli
def test_a_stream_of_429s_lowers_the_slots_and_every_feature_merges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = ("a", "b", "c")
    # Each 429 ends the CLI it answers, so the two fall on the first request of two agents.
    # The pause lets both reach the run before the third agent ends clean, which would come
    # before them in the count of clean attempts that gives a slot back.
    scripts = {i: script(i, "sleep 2") for i in ids}
    with FakeAnthropic(scripts, errors=[rate_limited()] * 2) as api:
        repo = real_cli_repo(tmp_path, api, ids, "")
        started = time.monotonic()
        try:
            code = wta(repo, "run", "--parallel", "3")
        finally:
            assert_no_claude_left(tmp_path / "home")
    elapsed = time.monotonic() - started

    assert code == 0
    changes = [(e.slots, e.was, e.reason) for e in events(repo) if isinstance(e, SlotsChanged)]
    assert changes == [(2, 3, "rate_limit"), (1, 2, "rate_limit"), (2, 1, "recovered")]
    counted = sorted(o for run in outcomes(repo).values() for o in run if o is not None)
    assert counted == sorted([AttemptOutcome.INTERRUPTED] * 2 + [AttemptOutcome.OK] * 3)
    got = {i: (f["state"], f["attempts"], f["summary"]) for i, f in features(capsys, repo).items()}
    assert got == {i: ("merged", 1, f"{i}: wrote {i}.txt") for i in ids}
    assert sorted(e.kind for e in api.log if e.kind.startswith("error")) == ["error 429"] * 2
    assert elapsed < 60, f"took {elapsed:.1f}s"


@pytest.mark.e2e
@needs_cli
def test_an_api_spend_limit_is_waited_for_and_nothing_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The API words the reset in minutes; wta also reads seconds, which keeps this test short.
    resets = math.ceil(time.time()) + 6
    when = datetime.fromtimestamp(resets, UTC).strftime("%Y-%m-%d at %H:%M:%S")
    spent = ApiError(400, "invalid_request_error", SPEND_LIMIT.format(when), until=resets)
    settings = '[guardrails]\nmax_quota_wait = "1m"\n'
    with FakeAnthropic({"a": script("a")}, errors=[spent]) as api:
        repo = real_cli_repo(tmp_path, api, ("a",), settings)
        try:
            code = wta(repo, "run")
        finally:
            assert_no_claude_left(tmp_path / "home")
    finished = time.time()

    assert code == 0
    waits = [(e.feature_id, e.until, e.gave_up) for e in events(repo) if isinstance(e, QuotaWait)]
    assert waits == [("a", float(resets), False)]
    assert finished >= resets
    assert outcomes(repo) == {"a": [AttemptOutcome.INTERRUPTED, AttemptOutcome.OK]}
    got = {i: (f["state"], f["attempts"], f["reason"]) for i, f in features(capsys, repo).items()}
    assert got == {"a": ("merged", 1, None)}
    kinds = [e.kind for e in api.log if e.kind != "side"]
    assert kinds == ["error 400"] * 6 + ["turn 1", "turn 2", "turn 3", "turn 4"]
