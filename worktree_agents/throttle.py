"""Quotas and rate limits slow a run down; they do not fail it.

The Throttle is told how each attempt's agent ended, and answers the scheduler's two
questions: how long until anything new may start (`hold`: a spent quota), and how many
agents may run at once (`capacity`: lowered by rate limits).

- A spent quota with a reset time: nothing starts until then (a `quota_wait` event). A reset
  further away than `[guardrails] max_quota_wait` raises QuotaWaitTooLong: the run stops as
  interrupted, and `wta run` resumes it.
- A rate limit without a reset time (the agent's own backoff gave up): one slot fewer, down
  to one (a `slots_changed` event). Each RAISE_AFTER attempts in a row that end without a
  rate limit give one slot back, up to the run's `--parallel`. Rate limits with no attempt
  in between that ran clean, for longer than `max_quota_wait`, stop the run the same way.

Counting attempts rather than minutes keeps the scheduler free of timers: the loop looks
again each time a feature ends, which is when the count changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from worktree_agents.agents.base import format_seconds
from worktree_agents.domain import FeatureId, RunId
from worktree_agents.events import Event, QuotaWait, SlotsChanged

RAISE_AFTER = 3  # attempts in a row without a rate limit that give one slot back


class QuotaWaitTooLong(Exception):
    """The quota resets too late (or rate limits went on too long): stop, resumable."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def clock_time(when: float) -> str:
    return time.strftime("%H:%M", time.localtime(when))


class Throttle:
    def __init__(
        self,
        run_id: RunId,
        slots: int,
        max_wait_s: float,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.run_id = run_id
        self.slots = slots
        self.limit = slots
        self.max_wait_s = max_wait_s
        self.emit = emit
        self.clock = clock
        self.paused_until: float | None = None
        self.clean_in_a_row = 0
        self.limited_since: float | None = None

    # the scheduler's questions

    def hold(self) -> float:
        """Seconds until a new attempt may start (0: now)."""
        if self.paused_until is None:
            return 0.0
        return max(0.0, self.paused_until - self.clock())

    def capacity(self) -> int:
        return self.limit

    # what attempts report

    def quota_spent(self, feature_id: FeatureId, resets_at: float, detail: str) -> None:
        """The API said the quota is spent until `resets_at` (a Unix time)."""
        wait = resets_at - self.clock()
        if wait > self.max_wait_s:
            limit = format_seconds(self.max_wait_s)
            why = (
                f"more than max_quota_wait ({limit}) away; stopping, and `wta run` resumes the run"
            )
            self._tell(feature_id, resets_at, why, gave_up=True)
            raise QuotaWaitTooLong(f"quota spent until {clock_time(resets_at)}: {why}")
        if self.paused_until is None or resets_at > self.paused_until:
            self.paused_until = resets_at
            self._tell(feature_id, resets_at, detail, gave_up=False)

    def rate_limited(self, feature_id: FeatureId) -> None:
        """An attempt ended on a rate limit with no reset time: one agent fewer at once."""
        now = self.clock()
        self.clean_in_a_row = 0
        self.limited_since = self.limited_since or now
        if now - self.limited_since > self.max_wait_s:
            limit = format_seconds(self.max_wait_s)
            raise QuotaWaitTooLong(
                f"rate limited for more than max_quota_wait ({limit}); stopping, and"
                " `wta run` resumes the run"
            )
        if self.limit > 1:
            self._set_limit(self.limit - 1, "rate_limit")

    def ran_clean(self) -> None:
        """An attempt's agent ended without a rate limit."""
        self.limited_since = None
        self.clean_in_a_row += 1
        if self.limit < self.slots and self.clean_in_a_row >= RAISE_AFTER:
            self._set_limit(self.limit + 1, "recovered")

    def _set_limit(self, limit: int, reason: Literal["rate_limit", "recovered"]) -> None:
        was, self.limit, self.clean_in_a_row = self.limit, limit, 0
        changed = SlotsChanged(
            run_id=self.run_id,
            slots=limit,
            was=was,
            reason=reason,
        )
        self.emit(changed)

    def _tell(self, feature_id: FeatureId, until: float, detail: str, *, gave_up: bool) -> None:
        self.emit(
            QuotaWait(
                run_id=self.run_id,
                feature_id=feature_id,
                until=until,
                gave_up=gave_up,
                detail=detail,
            )
        )
