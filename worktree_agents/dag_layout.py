"""A layered layout of the feature DAG for the report, in pure Python.

Columns are the topological generations (what networkx gives as waves), left to right.
Within a column, nodes are ordered by the barycentre of their neighbours' positions, a
few sweeps forwards and back (the Sugiyama heuristic), which removes most crossings.
Graphviz `dot` lays out better still, but is a system package, not a Python one: the
report must come out the same wherever wta is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

from worktree_agents.dag import FeatureGraph, waves
from worktree_agents.domain import FeatureId

SWEEPS = 4


@dataclass(frozen=True)
class Layout:
    """Each feature's column and row (row 0 at the top of its column)."""

    columns: tuple[tuple[str, ...], ...]

    @property
    def position(self) -> dict[str, tuple[int, int]]:
        return {f: (c, r) for c, column in enumerate(self.columns) for r, f in enumerate(column)}

    @property
    def rows(self) -> int:
        return max((len(c) for c in self.columns), default=0)


def _barycentre(
    column: list[FeatureId],
    neighbours: Mapping[FeatureId, tuple[FeatureId, ...]],
    rank: dict[FeatureId, float],
) -> list[FeatureId]:
    """`column` sorted by the mean rank of each node's neighbours in the fixed column;
    a node with none keeps its place (its own rank)."""

    def key(node: FeatureId) -> tuple[float, float]:
        near = [rank[n] for n in neighbours[node] if n in rank]
        return (sum(near) / len(near) if near else rank[node], rank[node])

    return sorted(column, key=key)


def _crossings(columns: list[list[FeatureId]], graph: FeatureGraph) -> int:
    """Edge crossings between adjacent columns (edges that skip a column are not counted)."""
    total = 0
    for left, right in pairwise(columns):
        at_left = {f: i for i, f in enumerate(left)}
        edges = [
            (at_left[d], j) for j, f in enumerate(right) for d in graph.deps[f] if d in at_left
        ]
        total += sum(
            1 for a, b in edges for c, d in edges if a < c and b > d
        )  # quadratic, fine for the few hundred edges of a plan
    return total


def layered_layout(graph: FeatureGraph) -> Layout:
    """Columns by wave, ordered to reduce crossings; the best order seen is kept."""
    columns = [list(w) for w in waves(graph)]
    best = [list(c) for c in columns]
    best_crossings = _crossings(columns, graph)
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        neighbours = graph.deps if forward else graph.dependents
        indices = range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1)
        for i in indices:
            fixed = columns[i - 1] if forward else columns[i + 1]
            # the fixed column's nodes and the moving column's own places (disjoint sets)
            rank = {f: float(r) for column in (fixed, columns[i]) for r, f in enumerate(column)}
            columns[i] = _barycentre(columns[i], neighbours, rank)
        crossings = _crossings(columns, graph)
        if crossings < best_crossings:
            best, best_crossings = [list(c) for c in columns], crossings
    return Layout(tuple(tuple(c) for c in best))
