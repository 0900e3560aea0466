"""Pure functions on the feature DAG: waves, critical path, ready set, skips, priority.

No I/O and no git here. Edges point from a dependency to its dependent.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from worktree_agents.domain import FeatureId, FeatureState

SATISFIED_MERGED = frozenset({FeatureState.MERGED})
BLOCKING = frozenset({FeatureState.FAILED, FeatureState.SKIPPED})
WAITING = frozenset({FeatureState.PENDING, FeatureState.READY})


@dataclass(frozen=True)
class CriticalPath:
    features: tuple[FeatureId, ...]
    length: float


@dataclass(frozen=True)
class FeatureGraph:
    """The plan's features as a DAG, with plan order, estimates and priorities."""

    order: tuple[FeatureId, ...]
    deps: Mapping[FeatureId, tuple[FeatureId, ...]]
    estimates: Mapping[FeatureId, float]
    priorities: Mapping[FeatureId, int]

    @classmethod
    def build(
        cls,
        order: Sequence[FeatureId],
        deps: Mapping[FeatureId, Sequence[FeatureId]],
        estimates: Mapping[FeatureId, float] | None = None,
        priorities: Mapping[FeatureId, int] | None = None,
    ) -> FeatureGraph:
        return cls(
            order=tuple(order),
            deps={f: tuple(deps.get(f, ())) for f in order},
            estimates={f: (estimates or {}).get(f, 1.0) for f in order},
            priorities={f: (priorities or {}).get(f, 0) for f in order},
        )

    @cached_property
    def index(self) -> dict[FeatureId, int]:
        return {f: i for i, f in enumerate(self.order)}

    @cached_property
    def dependents(self) -> dict[FeatureId, tuple[FeatureId, ...]]:
        out: dict[FeatureId, list[FeatureId]] = {f: [] for f in self.order}
        for feature in self.order:
            for dep in self.deps[feature]:
                out[dep].append(feature)
        return {f: tuple(v) for f, v in out.items()}

    @cached_property
    def nx_graph(self) -> nx.DiGraph:
        graph: nx.DiGraph = nx.DiGraph()
        graph.add_nodes_from(self.order)
        graph.add_edges_from((dep, f) for f in self.order for dep in self.deps[f])
        return graph

    @cached_property
    def topological(self) -> tuple[FeatureId, ...]:
        """A topological order; ties keep plan order."""
        return tuple(nx.lexicographical_topological_sort(self.nx_graph, key=self.index.__getitem__))

    @cached_property
    def bottom_levels(self) -> dict[FeatureId, float]:
        """The work on the longest chain that starts at each feature, itself included."""
        level: dict[FeatureId, float] = {}
        for feature in reversed(self.topological):
            after = max((level[d] for d in self.dependents[feature]), default=0.0)
            level[feature] = self.estimates[feature] + after
        return level

    def subgraph(self, keep: Collection[FeatureId]) -> FeatureGraph:
        """The graph restricted to `keep`; dependencies outside it are dropped."""
        kept = [f for f in self.order if f in keep]
        return FeatureGraph.build(
            kept,
            {f: [d for d in self.deps[f] if d in keep] for f in kept},
            self.estimates,
            self.priorities,
        )


def waves(graph: FeatureGraph) -> list[list[FeatureId]]:
    """Topological generations; each wave in plan order."""
    return [
        sorted(generation, key=graph.index.__getitem__)
        for generation in nx.topological_generations(graph.nx_graph)
    ]


def critical_path(graph: FeatureGraph) -> CriticalPath:
    """The chain with the most work (estimates, 1 each by default); ties go to plan order."""
    if not graph.order:
        return CriticalPath((), 0.0)
    levels = graph.bottom_levels
    roots = [f for f in graph.order if not graph.deps[f]]
    current = min(roots, key=lambda f: (-levels[f], graph.index[f]))
    path = [current]
    while graph.dependents[current]:
        current = min(graph.dependents[current], key=lambda f: (-levels[f], graph.index[f]))
        path.append(current)
    return CriticalPath(tuple(path), levels[path[0]])


def descendant_counts(graph: FeatureGraph) -> dict[FeatureId, int]:
    """How many features depend on each feature, directly or transitively."""
    bit = {f: 1 << i for i, f in enumerate(graph.order)}
    below: dict[FeatureId, int] = {}
    for feature in reversed(graph.topological):
        mask = 0
        for dependent in graph.dependents[feature]:
            mask |= bit[dependent] | below[dependent]
        below[feature] = mask
    return {f: below[f].bit_count() for f in graph.order}


def ready_set(
    graph: FeatureGraph,
    states: Mapping[FeatureId, FeatureState],
    satisfied: Collection[FeatureState] = SATISFIED_MERGED,
) -> set[FeatureId]:
    """Waiting features whose dependencies are all in a `satisfied` state."""
    return {
        f
        for f in graph.order
        if states.get(f, FeatureState.PENDING) in WAITING
        and all(states.get(d, FeatureState.PENDING) in satisfied for d in graph.deps[f])
    }


def propagate_skips(
    graph: FeatureGraph, states: Mapping[FeatureId, FeatureState]
) -> dict[FeatureId, FeatureId]:
    """Waiting features that can never run, each mapped to the dependency that blocks it.

    The blocking dependency is failed or skipped itself (possibly skipped by this
    same call), so following the chain leads to the failure at its root.
    """
    blocked: dict[FeatureId, FeatureId] = {}
    for feature in graph.topological:
        if states.get(feature, FeatureState.PENDING) not in WAITING:
            continue
        for dep in sorted(graph.deps[feature], key=graph.index.__getitem__):
            if dep in blocked or states.get(dep, FeatureState.PENDING) in BLOCKING:
                blocked[feature] = dep
                break
    return blocked


def root_cause(
    feature: FeatureId,
    because: Mapping[FeatureId, FeatureId],
) -> FeatureId:
    """Follow `skipped because` links to the feature whose failure started the chain."""
    seen = {feature}
    while feature in because:
        feature = because[feature]
        if feature in seen:
            break
        seen.add(feature)
    return feature


def priority_order(graph: FeatureGraph, ready: Iterable[FeatureId]) -> list[FeatureId]:
    """Ready features, most urgent first.

    The longest chain of work behind a feature first, then `priority` (lower first),
    then plan order.
    """
    levels = graph.bottom_levels
    return sorted(ready, key=lambda f: (-levels[f], graph.priorities[f], graph.index[f]))


def lower_bound(graph: FeatureGraph, slots: int) -> float:
    """No schedule on `slots` agents finishes sooner than this (in estimate units)."""
    total = sum(graph.estimates.values())
    return max(critical_path(graph).length, total / max(slots, 1))
