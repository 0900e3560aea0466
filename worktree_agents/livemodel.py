"""What the live table shows, kept up to date from the run's events.

Applying an event only changes a few fields under a lock: the drawing (livetable.py) reads
a copy at its own, bounded rate, so a run never waits for the terminal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    AttemptInterrupted,
    Conflict,
    Event,
    FeatureFailed,
    FeatureReady,
    Merged,
    MergeStarted,
    QuotaWait,
    Retry,
    RunFinished,
    RunStarted,
    Skipped,
    SlotsChanged,
    ToolUsed,
    VerifyFinished,
    VerifyStarted,
    WorktreeCreated,
)
from worktree_agents.plan import Plan

IN_FLIGHT = frozenset({FeatureState.RUNNING, FeatureState.VERIFYING, FeatureState.INTEGRATING})
ENDED = frozenset(
    {FeatureState.MERGED, FeatureState.DONE, FeatureState.FAILED, FeatureState.SKIPPED}
)


@dataclass(frozen=True)
class Row:
    """One feature as the table shows it."""

    id: FeatureId
    state: FeatureState
    reason: str | None = None  # why it failed, was skipped, waits or is tried again
    profile: str | None = None
    model: str | None = None
    attempt: int = 0
    started: float | None = None  # the clock time its first attempt of this run started
    ended: float | None = None
    cost_usd: float = 0.0
    cost_estimated: bool = False
    action: str | None = None  # the last tool its agent used, or the check that runs
    changed: float = 0.0  # when the row last changed (which rows to show when few fit)
    checks_passed: int = 0  # this attempt's feature checks that passed (--no-merge: done)

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return (self.ended if self.ended is not None else now) - self.started


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the model, for one drawing."""

    run_id: str | None
    rows: tuple[Row, ...]
    slots: int
    budget_usd: float | None
    max_attempts: int
    finished: bool

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.rows)

    @property
    def busy(self) -> int:
        return sum(1 for r in self.rows if r.state in IN_FLIGHT)

    def count(self, state: FeatureState) -> int:
        return sum(1 for r in self.rows if r.state is state)


class LiveModel:
    """The run as the table shows it. `apply` is safe to call from any thread.

    `start_state` is the state of a feature before the run touches it: pending for `wta
    run`, done for `wta merge` (which integrates done features). With `no_merge`, a feature
    is done once its last feature check passes: no event says so. `profile` is the one
    `--profile` puts every feature on."""

    def __init__(
        self,
        plan: Plan,
        *,
        start_state: FeatureState = FeatureState.PENDING,
        no_merge: bool = False,
        profile: str | None = None,
    ) -> None:
        self._plan = plan
        self._profile = profile  # `wta run --profile`
        self._start_state = start_state
        self._no_merge = no_merge
        self._lock = threading.Lock()
        self._run_id: str | None = None
        self._rows: dict[FeatureId, Row] = {}
        self._slots = 0
        self._finished = False

    def snapshot(self) -> Snapshot:
        with self._lock:
            rows = tuple(self._rows.values())
            run_id, slots, finished = self._run_id, self._slots, self._finished
        guardrails = self._plan.guardrails
        return Snapshot(
            run_id, rows, slots, guardrails.run_budget_usd, guardrails.max_attempts, finished
        )

    def settle(self, features: Sequence[Mapping[str, Any]]) -> None:
        """The features as the store holds them once the run is over (`status_data`'s
        "features"): the final table agrees with the summary printed after it, whatever
        the events left unsaid (an interrupted attempt put back to pending, say)."""
        with self._lock:
            for feature in features:
                row = self._rows.get(feature["id"])
                if row is not None and feature["state"] != row.state.value:
                    state, reason = FeatureState(feature["state"]), feature.get("reason")
                    self._rows[row.id] = replace(row, state=state, reason=reason)

    def apply(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, RunStarted):
                self._start(event)
            elif isinstance(event, SlotsChanged):
                self._slots = event.slots
            elif isinstance(event, RunFinished):
                self._finished = True
            else:
                fid: FeatureId | None = getattr(event, "feature_id", None)
                row = self._rows.get(fid) if fid is not None else None
                if row is not None:
                    changed = self._changed(row, event)
                    if changed is not row:
                        self._rows[row.id] = replace(changed, changed=event.ts)

    def _start(self, event: RunStarted) -> None:
        self._run_id, self._slots, self._finished = event.run_id, event.parallel, False
        self._rows = {fid: self._fresh(fid) for fid in event.features}

    def _fresh(self, fid: FeatureId) -> Row:
        feature = self._plan.by_id.get(fid)
        if feature is None:
            return Row(fid, self._start_state)
        profile = self._plan.resolve_profile(self._plan.profile_for(feature, self._profile))
        return Row(fid, self._start_state, profile=profile.name, model=profile.model)

    def _changed(self, row: Row, event: Event) -> Row:
        """The row after one of its feature's events (the same row when it does not show)."""
        match event:
            case FeatureReady():
                return replace(row, state=FeatureState.READY, reason=None)
            case WorktreeCreated():
                return replace(row, action="worktree created")
            case AgentStarted():
                started = row.started if row.started is not None else event.ts
                return replace(
                    row,
                    state=FeatureState.RUNNING,
                    reason=None,
                    attempt=event.attempt,
                    profile=event.profile,
                    model=event.model,
                    started=started,
                    action="agent started",
                    checks_passed=0,
                )
            case ToolUsed():
                return replace(row, action=f"{event.tool}: {event.summary}".rstrip(": "))
            case AgentFinished():
                return self._agent_finished(row, event)
            case AttemptInterrupted():
                cost = row.cost_usd + (event.cost_usd or 0.0)
                estimated = row.cost_estimated or event.cost_estimated
                return replace(row, cost_usd=cost, cost_estimated=estimated, action="interrupted")
            case VerifyStarted():
                what = "setup" if event.stage == "setup" else "check"
                state = FeatureState.INTEGRATING if event.stage == "merge" else row.state
                if event.stage == "feature":
                    state = FeatureState.VERIFYING
                return replace(row, state=state, action=f"{what} `{event.command}`")
            case VerifyFinished():
                return self._verified(row, event)
            case MergeStarted():
                return replace(row, state=FeatureState.INTEGRATING, action="merging")
            case _:
                return self._outcome(row, event)

    def _agent_finished(self, row: Row, event: AgentFinished) -> Row:
        cost = row.cost_usd + (event.cost_usd or 0.0)
        estimated = row.cost_estimated or event.cost_estimated
        row = replace(row, cost_usd=cost, cost_estimated=estimated)
        if event.rate_limited:
            return replace(row, state=FeatureState.PENDING, reason="rate limited")
        if not event.ok:
            return replace(row, action=f"agent failed ({event.reason})")
        checks = self._checks(row.id)
        done = self._no_merge and checks == 0
        state = FeatureState.DONE if done else FeatureState.VERIFYING
        return replace(row, state=state, ended=event.ts if done else None, action="agent finished")

    def _verified(self, row: Row, event: VerifyFinished) -> Row:
        verdict = "passed" if event.ok else "FAILED"
        what = "setup" if event.stage == "setup" else "check"
        row = replace(row, action=f"{what} `{event.command}` {verdict}")
        if event.stage != "feature" or not event.ok:
            return row
        passed = row.checks_passed + 1
        if self._no_merge and passed >= self._checks(row.id):
            return replace(row, state=FeatureState.DONE, checks_passed=passed, ended=event.ts)
        return replace(row, checks_passed=passed)

    def _outcome(self, row: Row, event: Event) -> Row:
        match event:
            case Merged():
                return replace(
                    row,
                    state=FeatureState.MERGED,
                    reason=None,
                    ended=event.ts,
                    action=f"merged as {event.commit[:10]}",
                )
            case Conflict():
                return replace(row, action=f"conflict in {', '.join(event.paths)}")
            case FeatureFailed():
                reason = event.reason.value
                return replace(row, state=FeatureState.FAILED, reason=reason, ended=event.ts)
            case Skipped():
                reason = f"after {event.because}"
                return replace(row, state=FeatureState.SKIPPED, reason=reason, ended=event.ts)
            case Retry():
                reason = f"retry after {event.reason.value}"
                return replace(row, reason=reason, profile=event.profile)
            case QuotaWait():
                until = time.strftime("%H:%M", time.localtime(event.until))
                return replace(row, state=FeatureState.PENDING, reason=f"quota until {until}")
        return row

    def _checks(self, fid: FeatureId) -> int:
        """How many feature checks its attempts run: the plan's verify commands and its
        acceptance commands (as attempt.py lists them)."""
        feature = self._plan.by_id.get(fid)
        extra = len(feature.acceptance) if feature is not None else 0
        return len(self._plan.verify.commands) + extra
