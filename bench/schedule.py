"""Schedule quality: wta's event-driven scheduler against the lower bound and against waves.

Usage: python bench/schedule.py [--features 40] [--slots 4] [--seeds 3]
                                [--shapes wide deep random] [--scale 1.0] [--repeat 1]

What it measures. Seeded random DAGs of several shapes, each feature with a known
duration (uniform in [--min, --max] seconds, times --scale):
- `wide`: many independent features plus a few short chains;
- `deep`: a few long chains, with an occasional edge across chains;
- `random`: each feature depends, with probability p, on up to 3 earlier ones.

How. The REAL `worktree_agents.scheduler.run_schedule` runs each DAG on S slots with
hooks whose `start` is `asyncio.sleep(duration)` that then records the feature as merged
in an in-memory dict (no git, no store); its makespan is the wall clock of the whole
call. Baselines, in the same run on the same durations:
- the lower bound, `max(critical path, total work / S)` (`dag.lower_bound`, with the
  durations as estimates): no schedule on S slots can beat it;
- waves: level-by-level with barriers, the way the orchestrators we studied do it: each
  wave of `dag.waves` runs on a semaphore of S slots (in plan order), and the next wave
  starts only when the whole wave is done; also wall clock;
- ideal (for diagnosis): the same greedy policy as wta (critical path first, `dag`'s
  own `ready_set` and `priority_order`) simulated in virtual time with zero overhead. It
  separates the policy's gap to the bound (ideal / bound) from the runtime's own
  overhead (wta / ideal).

Note: the lower bound is not always achievable. On `random` DAGs (and sometimes on the
others) greedy list scheduling, or even the optimal schedule, can exceed it; the ideal
column shows how much of a miss is that, not overhead.

The issue's goals: wta at most 1.15x the lower bound (checked on every DAG, reported per
shape), and clearly better than waves on wide DAGs (taken here as: total waves makespan
at least 1.10x the total wta makespan over the wide DAGs).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worktree_agents.dag import (
    FeatureGraph,
    lower_bound,
    priority_order,
    ready_set,
    waves,
)
from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.scheduler import SchedulerHooks, run_schedule

WTA_GOAL = 1.15
WAVES_GOAL = 1.10


def wide(n: int, rng: random.Random, p: float) -> dict[int, list[int]]:
    """Mostly independent; a few chains of 3 or 4."""
    deps: dict[int, list[int]] = {i: [] for i in range(n)}
    i, chains = 0, max(1, n // 12)
    for _ in range(chains):
        length = rng.choice([3, 4])
        for j in range(1, length):
            if i + j < n:
                deps[i + j] = [i + j - 1]
        i += length
    return deps


def deep(n: int, rng: random.Random, p: float) -> dict[int, list[int]]:
    """Three long chains (features dealt round-robin), 1 in 5 with an edge across chains."""
    deps: dict[int, list[int]] = {}
    for i in range(n):
        deps[i] = [i - 3] if i >= 3 else []
        if i >= 3 and rng.random() < 0.2:
            other = rng.choice([j for j in range(i) if j % 3 != i % 3])
            deps[i].append(other)
    return deps


def random_dag(n: int, rng: random.Random, p: float) -> dict[int, list[int]]:
    """Each feature depends, with probability p, on 1 to 3 earlier ones."""
    deps: dict[int, list[int]] = {}
    for i in range(n):
        if i and rng.random() < p:
            deps[i] = sorted(rng.sample(range(i), min(i, rng.randint(1, 3))))
        else:
            deps[i] = []
    return deps


SHAPES: dict[str, Callable[[int, random.Random, float], dict[int, list[int]]]] = {
    "wide": wide,
    "deep": deep,
    "random": random_dag,
}


def make_graph(
    shape: str, n: int, seed: int, p: float, low: float, high: float
) -> tuple[FeatureGraph, dict[FeatureId, float]]:
    rng = random.Random(f"{shape}-{seed}")
    deps = SHAPES[shape](n, rng, p)
    ids = [FeatureId(f"f{i}") for i in range(n)]
    durations = {ids[i]: round(rng.uniform(low, high), 4) for i in range(n)}
    graph = FeatureGraph.build(
        ids, {ids[i]: [ids[d] for d in deps[i]] for i in range(n)}, estimates=durations
    )
    return graph, durations


async def wta_makespan(graph: FeatureGraph, durations: dict[FeatureId, float], slots: int) -> float:
    """The real scheduler, with sleeping agents; checks the schedule it produced."""
    states = {f: FeatureState.PENDING for f in graph.order}
    spans: dict[FeatureId, tuple[float, float]] = {}

    async def start(feature: FeatureId) -> None:
        states[feature] = FeatureState.RUNNING
        began = time.perf_counter()
        await asyncio.sleep(durations[feature])
        states[feature] = FeatureState.MERGED
        spans[feature] = (began, time.perf_counter())

    def skip(feature: FeatureId, dependency: FeatureId) -> None:
        raise AssertionError(f"{feature} skipped because of {dependency}: nothing fails here")

    hooks = SchedulerHooks(states=lambda: states, start=start, skip=skip)
    began = time.perf_counter()
    await run_schedule(graph, slots, hooks)
    makespan = time.perf_counter() - began
    check(graph, spans, slots)
    return makespan


def check(graph: FeatureGraph, spans: dict[FeatureId, tuple[float, float]], slots: int) -> None:
    if set(spans) != set(graph.order):
        sys.exit(
            f"the scheduler did not run every feature: missing {set(graph.order) - set(spans)}"
        )
    for feature in graph.order:
        for dep in graph.deps[feature]:
            if spans[feature][0] < spans[dep][1]:
                sys.exit(f"{feature} started before its dependency {dep} finished")
    edges = sorted(
        [(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()],
        key=lambda x: (x[0], x[1]),
    )
    busy = peak = 0
    for _, delta in edges:
        busy += delta
        peak = max(peak, busy)
    if peak > slots:
        sys.exit(f"{peak} features ran at once on {slots} slots")


async def waves_makespan(
    graph: FeatureGraph, durations: dict[FeatureId, float], slots: int
) -> float:
    """Level by level: a semaphore of `slots` per wave, and a barrier between waves."""
    gate = asyncio.Semaphore(slots)

    async def one(feature: FeatureId) -> None:
        async with gate:
            await asyncio.sleep(durations[feature])

    began = time.perf_counter()
    for wave in waves(graph):
        await asyncio.gather(*(one(f) for f in wave))
    return time.perf_counter() - began


def ideal_makespan(graph: FeatureGraph, durations: dict[FeatureId, float], slots: int) -> float:
    """wta's policy in virtual time, with no overhead at all."""
    states = {f: FeatureState.PENDING for f in graph.order}
    running: dict[FeatureId, float] = {}
    now = 0.0
    while True:
        for feature in priority_order(graph, ready_set(graph, states)):
            if len(running) >= slots:
                break
            states[feature] = FeatureState.RUNNING
            running[feature] = now + durations[feature]
        if not running:
            return now
        now = min(running.values())
        for feature in [f for f, end in running.items() if end <= now]:
            del running[feature]
            states[feature] = FeatureState.MERGED


@dataclass
class Row:
    shape: str
    seed: int
    features: int
    edges: int
    bound: float
    ideal: float
    wta: float
    waves: float


def measure(args: argparse.Namespace, shape: str, seed: int) -> Row:
    low, high = args.min * args.scale, args.max * args.scale
    graph, durations = make_graph(shape, args.features, seed, args.p, low, high)
    wta_runs, wave_runs = [], []
    for r in range(args.repeat):  # alternate which goes first
        pair = [("wta", wta_makespan), ("waves", waves_makespan)]
        for name, fn in pair if r % 2 == 0 else pair[::-1]:
            spent = asyncio.run(fn(graph, durations, args.slots))
            (wta_runs if name == "wta" else wave_runs).append(spent)
    return Row(
        shape,
        seed,
        len(graph.order),
        sum(len(d) for d in graph.deps.values()),
        lower_bound(graph, args.slots),
        ideal_makespan(graph, durations, args.slots),
        statistics.median(wta_runs),
        statistics.median(wave_runs),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=40, help="features per DAG")
    parser.add_argument("--slots", type=int, default=4, help="S, agents at once")
    parser.add_argument("--seeds", type=int, default=3, help="DAGs per shape")
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--p", type=float, default=0.5, help="edge probability for `random`")
    parser.add_argument("--min", type=float, default=0.05, help="shortest duration, seconds")
    parser.add_argument("--max", type=float, default=0.4, help="longest duration, seconds")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every duration")
    parser.add_argument("--repeat", type=int, default=1, help="runs per DAG (median taken)")
    args = parser.parse_args()

    print(
        f"S = {args.slots} slots, durations {args.min * args.scale:.3f}-"
        f"{args.max * args.scale:.3f} s, {args.seeds} DAGs per shape, median of {args.repeat}"
    )
    header = (
        f"{'shape':<7} {'seed':>4} {'feat':>4} {'edges':>5} {'S':>2} {'bound s':>8} "
        f"{'ideal s':>8} {'wta s':>7} {'waves s':>8} {'wta/bound':>9} {'waves/wta':>9}"
    )
    print(header)
    rows: list[Row] = []
    for shape in args.shapes:
        for seed in range(args.seeds):
            row = measure(args, shape, seed)
            rows.append(row)
            print(
                f"{row.shape:<7} {row.seed:>4} {row.features:>4} {row.edges:>5} {args.slots:>2}"
                f" {row.bound:8.3f} {row.ideal:8.3f} {row.wta:7.3f} {row.waves:8.3f}"
                f" {row.wta / row.bound:9.3f} {row.waves / row.wta:9.3f}",
                flush=True,
            )

    print()
    print(
        f"{'shape':<7} {'bound s':>8} {'ideal s':>8} {'wta s':>8} {'waves s':>8} "
        f"{'wta/bound':>9} {'worst':>6} {'ideal/bound':>11} {'wta/ideal':>9} {'waves/wta':>9}"
    )
    verdicts: list[str] = []
    groups = {shape: [r for r in rows if r.shape == shape] for shape in args.shapes}
    groups["total"] = rows
    for name, group in groups.items():
        bound = sum(r.bound for r in group)
        ideal = sum(r.ideal for r in group)
        wta = sum(r.wta for r in group)
        wave = sum(r.waves for r in group)
        worst = max(r.wta / r.bound for r in group)
        print(
            f"{name:<7} {bound:8.3f} {ideal:8.3f} {wta:8.3f} {wave:8.3f} {wta / bound:9.3f}"
            f" {worst:6.3f} {ideal / bound:11.3f} {wta / ideal:9.3f} {wave / wta:9.3f}"
        )
        if name != "total" and worst > WTA_GOAL:
            inherent = max(r.ideal / r.bound for r in group)
            verdicts.append(
                f"  {name}: worst wta/bound {worst:.3f} > {WTA_GOAL}; the overhead-free greedy"
                f" schedule already reaches {inherent:.3f}x there (the bound is not always"
                " achievable)"
            )
    worst_all = max(r.wta / r.bound for r in rows)
    overhead = max(r.wta / r.ideal for r in rows)
    print(
        f"runtime overhead: wta/ideal worst {overhead:.3f}"
        f" ({max(r.wta - r.ideal for r in rows) * 1000:.0f} ms at most per DAG)"
    )
    print("\n".join(verdicts) if verdicts else f"every DAG within {WTA_GOAL}x its bound")
    print(
        f"goal: wta at most {WTA_GOAL}x the lower bound on every DAG: worst {worst_all:.3f}x"
        f" -> {'met' if worst_all <= WTA_GOAL else 'NOT met'}"
    )
    wide_rows = groups.get("wide", [])
    if wide_rows:
        gain = sum(r.waves for r in wide_rows) / sum(r.wta for r in wide_rows)
        least = min(r.waves / r.wta for r in wide_rows)
        print(
            f"goal: clearly better than waves on wide DAGs (total waves/wta >= {WAVES_GOAL}):"
            f" {gain:.3f}x (least {least:.3f}x) -> {'met' if gain >= WAVES_GOAL else 'NOT met'}"
        )
    else:
        print("goal: better than waves on wide DAGs -> not measured (no wide shape chosen)")


if __name__ == "__main__":
    main()
