"""The DAG functions, on hand-made graphs and on random DAGs (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st
from planutil import graph

from worktree_agents.dag import (
    CriticalPath,
    FeatureGraph,
    critical_path,
    descendant_counts,
    lower_bound,
    priority_order,
    propagate_skips,
    ready_set,
    root_cause,
    waves,
)
from worktree_agents.domain import FeatureId, FeatureState

P, M, F, S = FeatureState.PENDING, FeatureState.MERGED, FeatureState.FAILED, FeatureState.SKIPPED
R, D, RUN = FeatureState.READY, FeatureState.DONE, FeatureState.RUNNING


def ids(*names: str) -> tuple[FeatureId, ...]:
    return tuple(FeatureId(name) for name in names)


def by_id(**states: FeatureState) -> dict[FeatureId, FeatureState]:
    return {FeatureId(name): state for name, state in states.items()}


DIAMOND = graph(
    {"base": [], "left": ["base"], "right": ["base"], "top": ["left", "right"], "solo": []}
)


def test_waves_of_a_diamond() -> None:
    assert waves(DIAMOND) == [["base", "solo"], ["left", "right"], ["top"]]


def test_critical_path_uses_estimates() -> None:
    g = graph(
        {"base": [], "left": ["base"], "right": ["base"], "top": ["left", "right"], "solo": []},
        {"right": 5, "solo": 6},
    )
    assert critical_path(g) == CriticalPath(ids("base", "right", "top"), 7.0)
    assert critical_path(DIAMOND) == CriticalPath(ids("base", "left", "top"), 3.0)
    assert lower_bound(g, 1) == 14.0
    assert lower_bound(g, 4) == 7.0


def test_descendants_and_priority() -> None:
    assert descendant_counts(DIAMOND) == {"base": 3, "left": 1, "right": 1, "top": 0, "solo": 0}
    # the critical path first: base (chain of 3) before solo (chain of 1)
    assert priority_order(DIAMOND, list(ids("solo", "base"))) == ["base", "solo"]


def test_priority_breaks_ties_then_plan_order() -> None:
    g = FeatureGraph.build(
        [FeatureId(x) for x in "abc"], {}, None, {FeatureId("c"): -1, FeatureId("b"): 0}
    )
    assert priority_order(g, [FeatureId(x) for x in "abc"]) == ["c", "a", "b"]


def test_ready_set_and_skips() -> None:
    states = by_id(base=M, left=F, right=P, top=P, solo=P)
    assert ready_set(DIAMOND, states) == {"right", "solo"}
    skipped = propagate_skips(DIAMOND, states)
    assert skipped == {"top": "left"}
    chain = graph({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]})
    because = propagate_skips(chain, by_id(a=F))
    assert because == {"b": "a", "c": "b", "d": "c"}
    assert root_cause(FeatureId("d"), because) == "a"


# plan order is not a dependency order, and top lists its dependencies out of plan order
# and by name, so neither that list nor a sort by name gives the plan's order
TANGLE = graph(
    {
        "top": ["east", "west"],
        "tail": ["top"],
        "west": ["root"],
        "east": ["root"],
        "root": [],
        "chain2": ["chain1"],
        "chain1": ["root"],
        "other": [],
    }
)


def test_skips_come_in_dependency_order_each_naming_its_first_blocked_dependency() -> None:
    because = propagate_skips(TANGLE, {FeatureId("root"): F})
    # the whole chain in one call, in graph.topological order (whenever there is a choice,
    # the feature first in the plan goes first)
    assert list(because.items()) == [
        ("west", "root"),
        ("east", "root"),
        ("top", "west"),  # both block it; west comes first in the plan
        ("tail", "top"),
        ("chain1", "root"),
        ("chain2", "chain1"),
    ]
    assert list(propagate_skips(TANGLE, {FeatureId("east"): F}).items()) == [
        ("top", "east"),
        ("tail", "top"),
    ]


def test_skips_spare_features_that_are_not_waiting() -> None:
    states = {"root": F, "west": RUN, "east": M, "chain1": S, "top": D, "other": F}
    because = propagate_skips(TANGLE, {FeatureId(f): s for f, s in states.items()})
    # chain1 was skipped earlier: its dependent is skipped because of it; the rest is not
    # waiting (running, merged, done, failed) or has no blocked dependency (tail: top is done)
    assert list(because.items()) == [("chain2", "chain1")]


def test_waiting_features_and_missing_states() -> None:
    g = graph({"b": ["a"], "a": [], "c": ["a"], "d": []})
    # a feature with no state is pending; a dependency with no state is not merged
    assert ready_set(g, {}) == {"a", "d"}
    assert ready_set(g, {FeatureId("a"): M, FeatureId("c"): R}) == {"b", "c", "d"}
    assert ready_set(g, {FeatureId("a"): D}) == {"d"}
    assert ready_set(g, {FeatureId("a"): D}, {M, D}) == {"b", "c", "d"}
    assert ready_set(g, {FeatureId("a"): M, FeatureId("d"): RUN, FeatureId("b"): F}) == {"c"}
    assert propagate_skips(g, {}) == {}


def test_waves_and_critical_path_keep_plan_order_not_names() -> None:
    g = graph({"z": [], "y": [], "x": ["z", "y"], "w": ["z"]})
    assert waves(g) == [["z", "y"], ["x", "w"]]
    assert critical_path(g) == CriticalPath((FeatureId("z"), FeatureId("x")), 2.0)
    assert critical_path(graph({})) == CriticalPath((), 0.0)
    assert lower_bound(graph({}), 3) == 0.0


def test_root_cause_stops_at_a_loop() -> None:
    loop = {FeatureId("a"): FeatureId("b"), FeatureId("b"): FeatureId("a")}
    assert root_cause(FeatureId("a"), loop) == "a"
    tail = {FeatureId("a"): FeatureId("b"), FeatureId("b"): FeatureId("c")}
    assert root_cause(FeatureId("a"), {**tail, FeatureId("c"): FeatureId("b")}) == "b"
    assert root_cause(FeatureId("x"), loop) == "x"


def test_subgraph_keeps_order_estimates_and_priorities_and_drops_outside_edges() -> None:
    g = graph(
        {"a": [], "b": ["a"], "c": ["b", "a"], "d": ["c"]},
        estimates={"a": 2, "c": 3},
        priorities={"b": -1, "d": 4},
    )
    kept = g.subgraph({FeatureId("d"), FeatureId("b"), FeatureId("c")})
    assert kept == FeatureGraph.build(
        [FeatureId("b"), FeatureId("c"), FeatureId("d")],
        {FeatureId("c"): [FeatureId("b")], FeatureId("d"): [FeatureId("c")]},
        {FeatureId("c"): 3},
        {FeatureId("b"): -1, FeatureId("d"): 4},
    )
    assert kept.deps == {"b": (), "c": ("b",), "d": ("c",)}
    assert kept.estimates == {"b": 1.0, "c": 3.0, "d": 1.0}
    assert kept.priorities == {"b": -1, "c": 0, "d": 4}


@dataclass(frozen=True)
class RandomPlan:
    graph: FeatureGraph
    fails: frozenset[FeatureId]


@st.composite
def random_plans(draw: st.DrawFn) -> RandomPlan:
    n = draw(st.integers(min_value=1, max_value=25))
    names = [FeatureId(f"f{i}") for i in range(n)]
    deps = {
        names[i]: draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3)) if i else []
        for i in range(n)
    }
    order = draw(st.permutations(names))
    estimates = {f: draw(st.sampled_from([0.5, 1.0, 2.0, 3.0])) for f in names}
    priorities = {f: draw(st.integers(-2, 2)) for f in names}
    fails = draw(st.sets(st.sampled_from(names)))
    return RandomPlan(FeatureGraph.build(order, deps, estimates, priorities), frozenset(fails))


@settings(max_examples=300, deadline=None)
@given(random_plans())
def test_structure_properties(plan: RandomPlan) -> None:
    g = plan.graph
    layered = waves(g)
    wave_of = {f: i for i, w in enumerate(layered) for f in w}
    assert sorted(wave_of) == sorted(g.order)
    for f in g.order:
        assert all(wave_of[d] < wave_of[f] for d in g.deps[f])
        if g.deps[f]:  # a generation: placed right after its latest dependency
            assert wave_of[f] == 1 + max(wave_of[d] for d in g.deps[f])
    # critical path: a real chain whose work equals the longest path, found another way
    path = critical_path(g)
    assert all(a in g.deps[b] for a, b in zip(path.features, path.features[1:], strict=False))
    assert path.length == sum(g.estimates[f] for f in path.features)
    finish: dict[FeatureId, float] = {}
    for f in nx.topological_sort(g.nx_graph):
        finish[f] = g.estimates[f] + max((finish[d] for d in g.deps[f]), default=0.0)
    assert path.length == max(finish.values())
    assert descendant_counts(g) == {f: len(nx.descendants(g.nx_graph, f)) for f in g.order}


@settings(max_examples=300, deadline=None)
@given(random_plans())
def test_simulated_run(plan: RandomPlan) -> None:
    """Dispatch one ready feature at a time, as the scheduler will, until nothing is left."""
    g = plan.graph
    states: dict[FeatureId, FeatureState] = {f: P for f in g.order}
    finished: list[FeatureId] = []
    while True:
        for feature in propagate_skips(g, states):
            states[feature] = S
        ready = priority_order(g, ready_set(g, states))
        if not ready:
            break
        first = ready[0]
        levels = g.bottom_levels
        assert levels[first] == max(levels[f] for f in ready)
        states[first] = F if first in plan.fails else M
        finished.append(first)
    # everything ended; merged features came in a topological order
    assert all(s in (M, F, S) for s in states.values())
    position = {f: i for i, f in enumerate(finished)}
    for f in finished:
        assert all(position[d] < position[f] for d in g.deps[f])
    # a feature is skipped exactly when some dependency, transitively, failed
    ancestors_failed = {
        f: any(a in plan.fails for a in nx.ancestors(g.nx_graph, f)) for f in g.order
    }
    assert {f for f in g.order if states[f] == S} == {f for f in g.order if ancestors_failed[f]}
    # and following the chain of causes leads to a failed feature
    because = propagate_skips(g, {f: (F if f in plan.fails else P) for f in g.order})
    for f in because:
        assert root_cause(f, because) in plan.fails
