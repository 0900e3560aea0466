"""The report's two pictures as inline SVG: the DAG coloured by state, and the timeline
(a Gantt chart of every attempt, with the slots in use above it)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from html import escape

from worktree_agents.dag import FeatureGraph
from worktree_agents.dag_layout import Layout
from worktree_agents.runtimeline import AttemptSpan, FeatureSpan, Span, Timeline
from worktree_agents.statusview import duration_text
from worktree_agents.text import shorten

# state -> (fill, text colour); the page's legend and table use the same
STATE_COLOURS = {
    "merged": ("#2f9e5b", "#fff"),
    "done": ("#1d8a8a", "#fff"),
    "failed": ("#d64545", "#fff"),
    "skipped": ("#b9bec5", "#1f2328"),
    "pending": ("#eef0f3", "#1f2328"),
    "ready": ("#cfe0fb", "#1f2328"),
    "running": ("#3b7ddd", "#fff"),
    "verifying": ("#8a5cd6", "#fff"),
    "integrating": ("#e39a1c", "#1f2328"),
}
PART_COLOURS = {"setup": "#d5dae1", "agent": "#3b7ddd", "verify": "#8a5cd6", "merge": "#e39a1c"}
OUTCOME_MARKS = {
    "merged": ("✓", "#2f9e5b"),
    "done": ("✓", "#1d8a8a"),
    "failed": ("✕", "#d64545"),
    "retried": ("↻", "#d64545"),
    "interrupted": ("■", "#6b7280"),
    "running": ("…", "#3b7ddd"),
}
NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 184, 44, 76, 16, 12


def _node_xy(layout: Layout) -> dict[str, tuple[float, float]]:
    """Each node's top-left corner; shorter columns are centred vertically."""
    out: dict[str, tuple[float, float]] = {}
    for c, column in enumerate(layout.columns):
        shift = (layout.rows - len(column)) * (NODE_H + ROW_GAP) / 2
        for r, feature in enumerate(column):
            out[feature] = (PAD + c * (NODE_W + COL_GAP), PAD + shift + r * (NODE_H + ROW_GAP))
    return out


def dag_svg(
    graph: FeatureGraph,
    layout: Layout,
    states: Mapping[str, tuple[str, str | None]],
    critical: Collection[str],
) -> str:
    """`states`: each feature's state and reason (or what skipped it)."""
    xy = _node_xy(layout)
    width = PAD * 2 + len(layout.columns) * (NODE_W + COL_GAP) - COL_GAP
    height = PAD * 2 + layout.rows * (NODE_H + ROW_GAP) - ROW_GAP
    edges, nodes = [], []
    for feature in graph.order:
        for dep in graph.deps[feature]:
            (x1, y1), (x2, y2) = xy[dep], xy[feature]
            x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
            bend = max((x2 - x1) / 2, 30)
            hot = dep in critical and feature in critical
            edges.append(
                f'<path class="edge{" critical" if hot else ""}" d="M{x1:.0f},{y1:.0f}'
                f' C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2 - 6:.0f},{y2:.0f}"'
                f' marker-end="url(#{"arrow-hot" if hot else "arrow"})"/>'
            )
    for feature in graph.order:
        x, y = xy[feature]
        state, why = states.get(feature, ("pending", None))
        fill, ink = STATE_COLOURS.get(state, STATE_COLOURS["pending"])
        hot = feature in critical
        sub = f"{state} · {why}" if why else state
        nodes.append(
            f'<g class="node{" critical" if hot else ""}" data-feature="{escape(feature)}"'
            f' data-state="{escape(state)}"><title>{escape(feature)}: {escape(sub)}'
            f"{' (critical path)' if hot else ''}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="7"'
            f' fill="{fill}"/>'
            f'<text x="{x + 10:.0f}" y="{y + 18:.0f}" fill="{ink}" class="name">'
            f"{escape(shorten(feature, 24))}</text>"
            f'<text x="{x + 10:.0f}" y="{y + 34:.0f}" fill="{ink}" class="sub">'
            f"{escape(shorten(sub, 28))}</text></g>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
        ' aria-label="the feature DAG">'
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="4" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8c939d"/></marker>'
        '<marker id="arrow-hot" viewBox="0 0 10 10" refX="4" refY="5" markerWidth="5"'
        ' markerHeight="5" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#1f2328"/></marker>'
        "</defs>" + "".join(edges) + "".join(nodes) + "</svg>"
    )


TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
LABEL_W, CHART_W, ROW_H, BAR_H, AXIS_H, SLOTS_H = 210, 1080, 26, 16, 28, 46


def tick_step(duration: float, most: int = 10) -> float:
    """The smallest round step that puts at most `most` ticks on the axis."""
    return next((s for s in TICK_STEPS if duration / s <= most), TICK_STEPS[-1])


def clock(seconds: float, step: float) -> str:
    """An axis label: `0.5s`, `40s`, `2m`, `2m30s`, `1h15m`."""
    if step < 1:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours}h{minutes:02d}m"


class _Scale:
    def __init__(self, duration: float) -> None:
        self.duration = max(duration, 0.001)

    def x(self, t: float) -> float:
        return LABEL_W + CHART_W * min(max(t, 0.0), self.duration) / self.duration


def _axis(scale: _Scale, top: float, bottom: float) -> str:
    step = tick_step(scale.duration)
    parts = []
    for i in range(int(scale.duration / step + 1e-9) + 1):
        x = scale.x(i * step)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{top:.0f}" x2="{x:.1f}" y2="{bottom:.0f}"/>'
            f'<text class="tick" x="{x:.1f}" y="{top - 8:.0f}">{clock(i * step, step)}</text>'
        )
    return "".join(parts)


def _slots_strip(timeline: Timeline, scale: _Scale, top: float) -> str:
    """Slots in use over time, as a step area under a line at the slot count."""
    changes: list[tuple[float, int]] = []
    for feature in timeline.features:
        changes += [(feature.start, 1), (feature.end or timeline.duration, -1)]
    height, used, points = SLOTS_H - 10, 0, [f"{LABEL_W},{top + SLOTS_H - 6}"]
    unit = height / max(timeline.slots, 1)
    for t, delta in sorted(changes, key=lambda c: (c[0], c[1])):
        y = top + SLOTS_H - 6 - used * unit
        used += delta
        points += [
            f"{scale.x(t):.1f},{y:.1f}",
            f"{scale.x(t):.1f},{top + SLOTS_H - 6 - used * unit:.1f}",
        ]
    points.append(f"{scale.x(timeline.duration):.1f},{top + SLOTS_H - 6}")
    full = top + SLOTS_H - 6 - height
    return (
        f'<text class="label" x="8" y="{top + SLOTS_H / 2 + 4:.0f}">slots in use'
        f" (of {timeline.slots})</text>"
        f'<line class="full" x1="{LABEL_W}" y1="{full:.1f}" x2="{LABEL_W + CHART_W}"'
        f' y2="{full:.1f}"/>'
        f'<polygon class="slots" points="{" ".join(points)}"/>'
    )


def _segment(scale: _Scale, span: Span | None, end: float, y: float, part: str) -> str:
    if span is None:
        return ""
    x1, x2 = scale.x(span.start), scale.x(span.end if span.end is not None else end)
    return (
        f'<rect class="part {part}" x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1, 1.5):.1f}"'
        f' height="{BAR_H}" fill="{PART_COLOURS[part]}"/>'
    )


def _attempt(scale: _Scale, attempt: AttemptSpan, y: float, duration: float) -> str:
    end = attempt.end if attempt.end is not None else duration
    x1, x2 = scale.x(attempt.start), scale.x(end)
    mark, colour = OUTCOME_MARKS.get(attempt.outcome, ("", "#1f2328"))
    why = f" ({attempt.reason})" if attempt.reason else ""
    tip = (
        f"{attempt.feature_id} attempt {attempt.n}: {attempt.outcome}{why},"
        f" {duration_text(end - attempt.start)} from +{duration_text(attempt.start)}"
    )
    return (
        f'<g class="attempt {escape(attempt.outcome)}" data-feature="{escape(attempt.feature_id)}"'
        f' data-attempt="{attempt.n}"><title>{escape(tip)}</title>'
        f'<rect class="bar" x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1, 2):.1f}"'
        f' height="{BAR_H}" fill="{PART_COLOURS["setup"]}"/>'
        + _segment(scale, attempt.agent, end, y, "agent")
        + _segment(scale, attempt.verify, end, y, "verify")
        + _segment(scale, attempt.merge, end, y, "merge")
        + f'<text class="mark" x="{x2 + 3:.1f}" y="{y + BAR_H - 3:.1f}" fill="{colour}">'
        f"{mark}</text></g>"
    )


def _row(scale: _Scale, feature: FeatureSpan, y: float, duration: float, hot: bool) -> str:
    mid = y + ROW_H / 2
    parts = [
        f'<text class="label{" critical" if hot else ""}" x="8" y="{mid + 4:.0f}">'
        f"{escape(shorten(feature.feature_id, 24))}"
        f'</text><text class="slot" x="{LABEL_W - 8}" y="{mid + 4:.0f}">slot {feature.slot}</text>'
    ]
    if feature.ready is not None and feature.start - feature.ready > 0:
        x1, x2 = scale.x(feature.ready), scale.x(feature.start)
        parts.append(
            f'<g class="wait" data-wait="{escape(feature.feature_id)}"><title>waited'
            f" {duration_text(feature.waited)} for a slot</title>"
            f'<line x1="{x1:.1f}" y1="{mid:.1f}" x2="{x2:.1f}" y2="{mid:.1f}"/>'
            f'<line x1="{x1:.1f}" y1="{mid - 5:.1f}" x2="{x1:.1f}" y2="{mid + 5:.1f}"/></g>'
        )
    top = y + (ROW_H - BAR_H) / 2
    parts += [_attempt(scale, a, top, duration) for a in feature.attempts]
    return "".join(parts)


def timeline_svg(timeline: Timeline, critical: Collection[str] = ()) -> str:
    """`critical`: the features whose rows are marked (the critical path as it ran)."""
    scale = _Scale(timeline.duration)
    rows_top = AXIS_H + SLOTS_H + 8
    height = rows_top + len(timeline.features) * ROW_H + 8
    width = LABEL_W + CHART_W + 24
    rows = "".join(
        (f'<rect class="stripe" x="0" y="{rows_top + i * ROW_H}" width="{width}"'
         f' height="{ROW_H}"/>' if i % 2 else "")
        + _row(scale, feature, rows_top + i * ROW_H, timeline.duration,
               feature.feature_id in critical)
        for i, feature in enumerate(timeline.features)
    )  # fmt: skip
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="gantt" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
        ' aria-label="the attempts on a time axis">'
        + _axis(scale, AXIS_H, height - 4)
        + _slots_strip(timeline, scale, AXIS_H)
        + rows
        + "</svg>"
    )
