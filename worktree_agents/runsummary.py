"""`wta report` without --html: the critical path as the run went, the slowest features, and
the time spent waiting for slots against the time spent working."""

from __future__ import annotations

from dataclasses import dataclass

from worktree_agents.dag import FeatureGraph
from worktree_agents.domain import FeatureId
from worktree_agents.runtimeline import FeatureSpan, Span, Timeline
from worktree_agents.statusview import duration_text
from worktree_agents.text import plural

SLOWEST = 5


def ran_critical_path(timeline: Timeline, graph: FeatureGraph) -> list[FeatureSpan]:
    """The chain that set the run's length: the feature that ended last, then, back from
    each, the dependency whose end made it ready (the last of its dependencies to end)."""
    spans = {f.feature_id: f for f in timeline.features if f.end is not None}
    if not spans:
        return []
    current = max(spans.values(), key=lambda f: (f.end or 0.0, f.feature_id))
    chain = [current]
    while True:
        deps = [spans[d] for d in graph.deps.get(FeatureId(current.feature_id), ()) if d in spans]
        if not deps:
            return chain[::-1]
        current = max(deps, key=lambda f: (f.end or 0.0, f.feature_id))
        chain.append(current)


def _length(span: Span | None) -> float:
    return (span.end - span.start) if span is not None and span.end is not None else 0.0


@dataclass(frozen=True)
class Busy:
    """Time summed over attempts: in slots (and how it was spent) and waiting for one."""

    working: float
    agents: float
    checks: float
    merging: float
    waiting: float

    @classmethod
    def of(cls, timeline: Timeline) -> Busy:
        attempts = [a for a in timeline.attempts if a.end is not None]
        return cls(
            working=sum((a.end or 0.0) - a.start for a in attempts),
            agents=sum(_length(a.agent) for a in attempts),
            checks=sum(_length(a.verify) for a in attempts),
            merging=sum(_length(a.merge) for a in attempts),
            waiting=sum(f.waited for f in timeline.features),
        )


def _at(seconds: float) -> str:
    return "+" + duration_text(seconds)


def _outcome(feature: FeatureSpan) -> str:
    last = feature.attempts[-1]
    why = f" ({last.reason})" if last.reason and last.outcome != "retried" else ""
    tries = f", {len(feature.attempts)} attempts" if len(feature.attempts) > 1 else ""
    return f"{last.outcome}{why}{tries}"


def render_summary(timeline: Timeline, graph: FeatureGraph, status: str) -> str:
    """The whole text summary; times are from the run's start."""
    ran = [f for f in timeline.features if f.end is not None]
    lines = [
        f"run {timeline.run_id}: {status}, {duration_text(timeline.duration)},"
        f" {plural(len(timeline.features), 'feature')} started,"
        f" {plural(len(timeline.attempts), 'attempt')}, {plural(timeline.slots, 'slot')}"
    ]
    chain = ran_critical_path(timeline, graph)
    if chain:
        first_ready = chain[0].ready if chain[0].ready is not None else chain[0].start
        span = (chain[-1].end or 0.0) - first_ready
        lines.append(f"critical path as it ran ({duration_text(span)}, {_at(first_ready)} to"
                     f" {_at(chain[-1].end or 0.0)}):")  # fmt: skip
        width = max(len(f.feature_id) for f in chain)
        for feature in chain:
            waited = duration_text(feature.waited)
            wait = f", waited {waited} for a slot" if waited != duration_text(0.0) else ""
            took = duration_text((feature.end or 0.0) - feature.start)
            lines.append(
                f"  {feature.feature_id.ljust(width)}  {_at(feature.start)} to"
                f" {_at(feature.end or 0.0)}  ({took}{wait}), {_outcome(feature)}"
            )
    slowest = sorted(ran, key=lambda f: (-((f.end or 0.0) - f.start), f.feature_id))[:SLOWEST]
    if slowest:
        lines.append("slowest features:")
        width = max(len(f.feature_id) for f in slowest)
        for feature in slowest:
            took = duration_text((feature.end or 0.0) - feature.start)
            lines.append(
                f"  {feature.feature_id.ljust(width)}  {took.rjust(7)}  {_outcome(feature)}"
            )
    busy = Busy.of(timeline)
    lines.append(
        f"waiting for a slot {duration_text(busy.waiting)}, working"
        f" {duration_text(busy.working)} (agents {duration_text(busy.agents)}, checks"
        f" {duration_text(busy.checks)}, merging {duration_text(busy.merging)}), summed over"
        " features"
    )
    return "\n".join(lines)
