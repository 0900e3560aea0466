"""What `wta plan` shows: waves, the critical path, the widest wave, slots; and the graph
as text, JSON data, Mermaid or Graphviz dot."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from worktree_agents.dag import CriticalPath, FeatureGraph, critical_path, descendant_counts, waves
from worktree_agents.domain import FeatureId
from worktree_agents.plan import Plan
from worktree_agents.text import plural


@dataclass(frozen=True)
class PlanSummary:
    """The shape of the work still to do (features marked done are left out)."""

    total: int
    done: tuple[FeatureId, ...]
    waves: tuple[tuple[FeatureId, ...], ...]
    critical: CriticalPath
    total_work: float
    max_parallel: int
    graph: FeatureGraph

    @property
    def widest(self) -> tuple[int, int]:
        """(1-based wave number, size) of the widest wave; (0, 0) when nothing is left."""
        if not self.waves:
            return (0, 0)
        size = max(len(w) for w in self.waves)
        return (next(i for i, w in enumerate(self.waves, 1) if len(w) == size), size)

    @property
    def lower_bound(self) -> float:
        return max(self.critical.length, self.total_work / self.max_parallel)


def summarize(plan: Plan) -> PlanSummary:
    done = tuple(f.id for f in plan.features if f.done)
    todo = plan.graph.subgraph({f.id for f in plan.features if not f.done})
    return PlanSummary(
        total=len(plan.features),
        done=done,
        waves=tuple(tuple(w) for w in waves(todo)),
        critical=critical_path(todo),
        total_work=sum(todo.estimates.values()),
        max_parallel=plan.run.max_parallel,
        graph=todo,
    )


def _num(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _units(value: float) -> str:
    return f"{_num(value)} {'unit' if value == 1 else 'units'}"


def _all_slots(slots: int) -> str:
    return "its one slot" if slots == 1 else f"all {slots} slots"


def slots_advice(summary: PlanSummary) -> str:
    """What max_parallel means for this plan, in one sentence."""
    slots = summary.max_parallel
    wave, width = summary.widest
    if width == 0:
        return f"max_parallel = {slots}: nothing is left to run."
    if width > slots:
        use = (
            f"at most {plural(slots, 'agent')} run at once; the widest wave has {width} features, "
            f"so up to {width - slots} of them wait for a free slot"
        )
    elif width < slots:
        use = (
            f"no wave is wider than {width}, so {slots - width} of the {slots} slots "
            f"{'stays' if slots - width == 1 else 'stay'} idle; max_parallel = {width} is enough"
        )
    else:
        use = f"the widest wave (wave {wave}) fills {_all_slots(slots)}"
    bound = (
        f"no schedule finishes in under {_units(summary.lower_bound)} of work "
        f"(critical path {_num(summary.critical.length)}; total work "
        f"{_num(summary.total_work)} over {plural(slots, 'slot')} = "
        f"{_num(summary.total_work / slots)})"
    )
    return f"max_parallel = {slots}: {use}; {bound}."


def render_text(summary: PlanSummary, source: str) -> str:
    done = f", {len(summary.done)} already done" if summary.done else ""
    counts = f"{plural(summary.total, 'feature')}{done}, {plural(len(summary.waves), 'wave')}"
    lines = [f"{source}: {counts}"]
    for number, members in enumerate(summary.waves, 1):
        lines.append(f"  wave {number} ({len(members)}): {', '.join(members)}")
    if summary.critical.features:
        chain = " -> ".join(summary.critical.features)
        lines.append(f"critical path ({_units(summary.critical.length)}): {chain}")
        widest, width = summary.widest
        lines.append(f"widest wave: wave {widest}, {plural(width, 'feature')}")
    lines.append(slots_advice(summary))
    return "\n".join(lines)


def json_data(summary: PlanSummary, plan: Plan) -> dict[str, Any]:
    descendants = descendant_counts(summary.graph)  # of the work still to do, like the waves
    levels = summary.graph.bottom_levels
    wave_of = {f: i for i, w in enumerate(summary.waves, 1) for f in w}
    wave, width = summary.widest
    return {
        "features_total": summary.total,
        "done": list(summary.done),
        "waves": [list(w) for w in summary.waves],
        "critical_path": {
            "features": list(summary.critical.features),
            "length": summary.critical.length,
        },
        "widest_wave": {"wave": wave or None, "size": width},
        "max_parallel": summary.max_parallel,
        "total_work": summary.total_work,
        "lower_bound": summary.lower_bound,
        "features": [
            {
                "id": f.id,
                "title": f.display_title,
                "category": f.category,
                "depends_on": list(f.depends_on),
                "priority": f.priority,
                "estimate": f.estimate,
                "done": f.done,
                "wave": wave_of.get(f.id),
                "descendants": descendants.get(f.id),
                "critical_work": levels.get(f.id),
                "profile": plan.profile_for(f),
            }
            for f in plan.features
        ],
    }


def render_mermaid(plan: Plan) -> str:
    node = {f.id: f"f{i}" for i, f in enumerate(plan.features)}
    lines = ["graph TD"]
    for feature in plan.features:
        label = f"{feature.id}: {feature.display_title}".replace('"', "#quot;")
        shape = f'(["{label}"])' if feature.done else f'["{label}"]'
        lines.append(f"  {node[feature.id]}{shape}")
    for feature in plan.features:
        for dep in feature.depends_on:
            lines.append(f"  {node[dep]} --> {node[feature.id]}")
    return "\n".join(lines)


def render_dot(plan: Plan) -> str:
    def quote(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    lines = ["digraph wta {", "  rankdir=LR;", "  node [shape=box];"]
    for feature in plan.features:
        style = ", style=dashed" if feature.done else ""
        label = quote(f"{feature.id}\n{feature.display_title}")
        lines.append(f"  {quote(feature.id)} [label={label}{style}];")
    for feature in plan.features:
        for dep in feature.depends_on:
            lines.append(f"  {quote(dep)} -> {quote(feature.id)};")
    lines.append("}")
    return "\n".join(lines)
