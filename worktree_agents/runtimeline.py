"""A run's timeline, read from its event log: per attempt when it waited, set up, ran its
agent, was verified and merged, and how it ended; and the slot each feature held.

Times are seconds since the run started. Events that carry no attempt number (worktree,
checks, merge) belong to the feature's attempt in progress: a feature runs one attempt
at a time, and a `worktree_created` opens the next attempt before its agent starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    AnyEvent,
    AttemptInterrupted,
    Conflict,
    FeatureFailed,
    FeatureReady,
    Merged,
    MergeStarted,
    Retry,
    RunFinished,
    RunStarted,
    VerifyFinished,
    VerifyStarted,
    WorktreeCreated,
)


@dataclass
class Span:
    start: float
    end: float | None = None


@dataclass
class AttemptSpan:
    """One attempt of one feature; `end` None: it had not ended when the log stops."""

    feature_id: str
    n: int
    start: float
    end: float | None = None
    agent: Span | None = None
    verify: Span | None = None  # the checks on the feature's branch
    merge: Span | None = None  # from joining the merge queue to merged or conflicted
    outcome: str = "running"  # merged, done, retried, failed, interrupted, running
    reason: str | None = None
    model: str | None = None
    backend: str | None = None
    cost_usd: float = 0.0


@dataclass
class FeatureSpan:
    feature_id: str
    ready: float | None  # when it turned ready in this run (None: before it)
    attempts: list[AttemptSpan] = field(default_factory=list)
    slot: int = 0  # the lane it held, 1-based; 0 until assigned

    @property
    def start(self) -> float:
        return self.attempts[0].start

    @property
    def end(self) -> float | None:
        return self.attempts[-1].end

    @property
    def waited(self) -> float:
        return max(self.start - self.ready, 0.0) if self.ready is not None else 0.0


@dataclass
class Timeline:
    run_id: str
    started_at: float  # Unix time; every other time is relative to it
    duration: float
    slots: int
    features: list[FeatureSpan]

    @property
    def attempts(self) -> list[AttemptSpan]:
        return [a for f in self.features for a in f.attempts]


class _Reader:
    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.ready: dict[str, float] = {}
        self.opened: dict[str, float] = {}  # a worktree made for the next attempt
        self.features: dict[str, FeatureSpan] = {}
        self.current: dict[str, AttemptSpan] = {}

    def attempt(self, fid: str, at: float, n: int | None = None) -> AttemptSpan:
        """The feature's attempt in progress, or a new one starting at `at`."""
        if fid in self.current and n in (None, self.current[fid].n):
            return self.current[fid]
        span = self.features.setdefault(fid, FeatureSpan(fid, self.ready.get(fid)))
        number = n if n is not None else (span.attempts[-1].n + 1 if span.attempts else 1)
        attempt = AttemptSpan(fid, number, self.opened.pop(fid, at))
        span.attempts.append(attempt)
        self.current[fid] = attempt
        return attempt

    def close(self, fid: str, at: float, outcome: str, reason: str | None = None) -> None:
        attempt = self.current.pop(fid, None) or self.attempt(fid, at)
        self.current.pop(fid, None)
        attempt.end, attempt.outcome, attempt.reason = at, outcome, reason
        for part in (attempt.agent, attempt.verify, attempt.merge):
            if part is not None and part.end is None:
                part.end = at

    def read(self, event: AnyEvent) -> None:  # noqa: C901 - one branch per kind, flat
        at = event.ts - self.t0
        if isinstance(event, FeatureReady):
            self.ready.setdefault(event.feature_id, at)
        elif isinstance(event, WorktreeCreated):
            self.opened[event.feature_id] = at
        elif isinstance(event, AgentStarted):
            attempt = self.attempt(event.feature_id, at, event.attempt)
            attempt.agent, attempt.model, attempt.backend = Span(at), event.model, event.backend
        elif isinstance(event, AgentFinished):
            attempt = self.attempt(event.feature_id, at, event.attempt)
            attempt.cost_usd += event.cost_usd or 0.0
            if attempt.agent is not None:
                attempt.agent.end = at
        elif isinstance(event, VerifyStarted | VerifyFinished) and event.stage == "feature":
            attempt = self.attempt(event.feature_id, at)
            if attempt.verify is None:
                attempt.verify = Span(at)
            attempt.verify.end = at if isinstance(event, VerifyFinished) else None
        elif isinstance(event, MergeStarted):
            self.attempt(event.feature_id, at).merge = Span(at)
        elif isinstance(event, Merged):
            self.close(event.feature_id, at, "merged")
        elif isinstance(event, Conflict):
            self.close(event.feature_id, at, "failed", "conflict")
        elif isinstance(event, Retry):
            self.close(event.feature_id, at, "retried", event.reason.value)
        elif isinstance(event, FeatureFailed) and event.feature_id in self.current:
            self.close(event.feature_id, at, "failed", event.reason.value)
        elif isinstance(event, FeatureFailed):  # after a conflict, or before any attempt
            span = self.features.get(event.feature_id)
            if span is None or span.attempts[-1].end is None:
                self.close(event.feature_id, at, "failed", event.reason.value)
            else:
                span.attempts[-1].reason = event.reason.value
        elif isinstance(event, AttemptInterrupted):
            attempt = self.attempt(event.feature_id, at, event.attempt)
            attempt.cost_usd += event.cost_usd or 0.0
            self.close(event.feature_id, at, "interrupted")


def build_timeline(events: Sequence[AnyEvent], verified_done: Sequence[str] = ()) -> Timeline:
    """The timeline of one run's events. `verified_done`: features left `done` (a
    --no-merge run), whose last attempt ended with its checks rather than a merge."""
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    t0 = started.ts if started else (events[0].ts if events else 0.0)
    reader = _Reader(t0)
    for event in events:
        reader.read(event)
    finished = next((e for e in events if isinstance(e, RunFinished)), None)
    last = (events[-1].ts - t0) if events else 0.0
    duration = (finished.ts - t0) if finished else last
    for fid in list(reader.current):
        attempt = reader.current[fid]
        if fid in verified_done and attempt.verify is not None and attempt.verify.end:
            reader.close(fid, attempt.verify.end, "done")
    features = sorted(reader.features.values(), key=lambda f: (f.start, f.feature_id))
    slots = assign_slots(features, duration)
    return Timeline(
        run_id=started.run_id if started else "",
        started_at=t0,
        duration=duration,
        slots=max(slots, started.parallel if started else 0),
        features=features,
    )


def assign_slots(features: Sequence[FeatureSpan], until: float) -> int:
    """Give each feature the lowest slot free when its first attempt started (a feature
    holds its slot through its retries until it ends); returns the slots used."""
    free_at: list[float] = []
    for feature in features:
        slot = next((i for i, t in enumerate(free_at) if t <= feature.start + 1e-6), None)
        if slot is None:
            free_at.append(0.0)
            slot = len(free_at) - 1
        free_at[slot] = feature.end if feature.end is not None else until
        feature.slot = slot + 1
    return len(free_at)
