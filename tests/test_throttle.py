"""The pure parts of quotas and rate limits: the throttle (with a fake clock), the reset
times read from what Claude Code says, the verdict on a spent quota, and the run budget's
reservations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from worktree_agents.agents.claude_errors import ResultFacts, TryFacts, Verdict, classify
from worktree_agents.agents.quota_text import reset_time
from worktree_agents.domain import FailureReason, FeatureId, RunId
from worktree_agents.events import Event, QuotaWait, SlotsChanged
from worktree_agents.guardrails import RunGuard
from worktree_agents.plan import Guardrails
from worktree_agents.throttle import QuotaWaitTooLong, Throttle

RUN = RunId("r1")
A = FeatureId("a")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def throttle(slots: int = 3, max_wait_s: float = 600.0) -> tuple[Throttle, list[Event], Clock]:
    told: list[Event] = []
    clock = Clock()
    return Throttle(RUN, slots, max_wait_s, told.append, clock), told, clock


def test_a_quota_holds_new_starts_until_it_resets() -> None:
    t, told, clock = throttle()
    t.quota_spent(A, NOW + 120, "limit")
    t.quota_spent(A, NOW + 60, "an earlier reset changes nothing")
    assert t.hold() == 120.0
    clock.now += 100
    assert t.hold() == 20.0
    clock.now += 30
    assert t.hold() == 0.0
    assert told == [
        QuotaWait(run_id=RUN, ts=told[0].ts, feature_id=A, until=NOW + 120, detail="limit")
    ]


def test_a_quota_further_than_max_quota_wait_stops_the_run() -> None:
    t, told, _ = throttle(max_wait_s=60.0)
    with pytest.raises(QuotaWaitTooLong):
        t.quota_spent(A, NOW + 61, "limit")
    assert [(type(e), getattr(e, "gave_up", None)) for e in told] == [(QuotaWait, True)]
    assert t.hold() == 0.0


def test_rate_limits_lower_the_slots_to_one_and_clean_attempts_raise_them_again() -> None:
    t, told, _ = throttle(slots=3)
    for _ in range(3):
        t.rate_limited(A)
    assert t.capacity() == 1
    for _ in range(5):
        t.ran_clean()
    assert t.capacity() == 2
    t.ran_clean()
    assert t.capacity() == 3
    for _ in range(3):
        t.ran_clean()
    changes = [(e.slots, e.was, e.reason) for e in told if isinstance(e, SlotsChanged)]
    assert changes == [
        (2, 3, "rate_limit"), (1, 2, "rate_limit"), (2, 1, "recovered"), (3, 2, "recovered"),
    ]  # fmt: skip


def test_rate_limits_that_go_on_past_max_quota_wait_stop_the_run() -> None:
    t, _, clock = throttle(slots=1, max_wait_s=60.0)
    t.rate_limited(A)
    clock.now += 60
    t.rate_limited(A)
    clock.now += 1
    with pytest.raises(QuotaWaitTooLong) as info:
        t.rate_limited(A)
    assert info.value.detail == (
        "rate limited for more than max_quota_wait (1m); stopping, and `wta run` resumes the run"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Claude AI usage limit reached|1762952400", 1762952400.0),
        (
            "API Error: 400 You have reached your specified API usage limits. You will regain"
            " access on 2026-12-01 at 00:00 UTC.",
            datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
        ),
        ("You've hit your limit · resets 8pm (UTC)", NOW + 8 * 3600),
        ("You've hit your limit · resets 1:30am (Asia/Tokyo)", NOW + 3600 * 4.5),
        ("usage limit reached · resets at 11:00 (UTC)", NOW + 23 * 3600),
        ("API Error: Request rejected (429) · rate limited", None),
        ("the limit resets 25:00", None),
    ],
)
def test_reset_times_in_what_claude_code_says(text: str, expected: float | None) -> None:
    assert reset_time(text, NOW) == expected


def test_a_spent_quota_is_a_rate_limit_with_its_reset_time() -> None:
    result = ResultFacts(subtype="success", is_error=True, text="You've hit your limit")
    facts = TryFacts(result=result, api_errors=frozenset({"rate_limit"}), resets_at=NOW + 60)
    verdict = classify(facts)
    assert verdict == Verdict(
        FailureReason.AGENT_ERROR, verdict.detail, rate_limited=True, resets_at=NOW + 60
    )
    assert verdict.detail is not None and verdict.detail.endswith(" (You've hit your limit)")


def test_reservations_keep_attempts_at_once_within_the_run_budget() -> None:
    guard = RunGuard(Guardrails(run_budget_usd=2.0))
    assert [guard.reserve(k, 1.0) for k in ("a", "b", "c")] == [True, True, False]
    guard.settle("a", 0.25)
    assert guard.reserve("c", 1.0) is False  # 0.25 spent + 1.0 reserved + 1.0 > 2.0
    guard.settle("b", 0.25)
    assert guard.reserve("c", 1.0) is True
    assert guard.reserve("d", None) is True  # no max_budget_usd: nothing reserved
    assert guard.reserve("e", 1.0, wait=False) is True  # a retry keeps its place
    assert (guard.spent_usd, guard.reserved) == (0.5, {"c": 1.0, "e": 1.0})


def test_max_quota_wait_is_a_duration_of_30_minutes_by_default() -> None:
    assert (
        Guardrails().max_quota_wait,
        Guardrails.model_validate({"max_quota_wait": "2h"}).max_quota_wait,
    ) == (
        1800.0,
        7200.0,
    )
    with pytest.raises(ValidationError) as info:
        Guardrails.model_validate({"max_quota_wait": "soon"})
    assert [e["msg"] for e in info.value.errors()] == ["Value error, 'soon' is not a duration"]
