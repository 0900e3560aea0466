"""Test helpers for plans without a repository: feature graphs from plain dicts, and a fake
run that drives the real scheduler with in-memory state and gates the test releases."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType

from worktree_agents.dag import FeatureGraph
from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.scheduler import SchedulerHooks, run_schedule

Event = tuple[str, ...]  # ("start", "a"), ("skip", "b", "a"), ...
WAIT_LIMIT = 10.0  # seconds; only a broken scheduler that never starts a feature hits it


def graph(
    deps: Mapping[str, list[str]],
    estimates: Mapping[str, float] | None = None,
    priorities: Mapping[str, int] | None = None,
) -> FeatureGraph:
    """A graph in the dict's order: {"b": ["a"]} is b depending on a."""
    return FeatureGraph.build(
        [FeatureId(f) for f in deps],
        {FeatureId(f): [FeatureId(d) for d in ds] for f, ds in deps.items()},
        {FeatureId(f): e for f, e in (estimates or {}).items()},
        {FeatureId(f): p for f, p in (priorities or {}).items()},
    )


class FakeRun:
    """The scheduler's outside world in memory.

    Every hook call is appended to `log`. A started feature waits until the test calls
    `finish` and only then records its terminal state, as the real pipeline does; its
    state is left as it was while it runs, so the scheduler must itself remember what it
    started. A feature finished with an exception raises it from its task. `allowed` (None:
    no limit) is how many more times may_dispatch says yes, like a budget of starts.
    """

    def __init__(self, g: FeatureGraph, states: Mapping[str, FeatureState] | None = None) -> None:
        self.graph = g
        self.states: dict[FeatureId, FeatureState] = {f: FeatureState.PENDING for f in g.order}
        self.states.update({FeatureId(f): s for f, s in (states or {}).items()})
        self.log: list[Event] = []
        self.running: set[FeatureId] = set()
        self.peak = 0  # most features running at once
        self.allowed: int | None = None
        self.looked = asyncio.Event()  # set each time the scheduler reads the states
        self._started = {f: asyncio.Event() for f in g.order}
        self._gates = {f: asyncio.Event() for f in g.order}
        self._ends: dict[FeatureId, FeatureState | Exception] = {}

    def hooks(self) -> SchedulerHooks:
        return SchedulerHooks(
            # read-only, like a snapshot: the scheduler must not write into the source
            states=self.snapshot,
            start=self.start,
            skip=self.skip,
            may_dispatch=self.may_dispatch,
            ready=self.ready,
        )

    def snapshot(self) -> Mapping[FeatureId, FeatureState]:
        self.looked.set()
        # read-only: the scheduler must keep its own copy to write into
        return MappingProxyType(self.states)

    async def start(self, feature: FeatureId) -> None:
        self.log.append(("start", feature))
        self.running.add(feature)
        self.peak = max(self.peak, len(self.running))
        self._started[feature].set()
        try:
            await self._gates[feature].wait()
        except asyncio.CancelledError:
            self.log.append(("cancelled", feature))
            await asyncio.sleep(0)  # cleanup that itself awaits, like killing an agent
            self.log.append(("cleaned up", feature))
            raise
        finally:
            self.running.discard(feature)
        end = self._ends[feature]
        if isinstance(end, Exception):
            self.log.append(("crash", feature))
            raise end
        self.states[feature] = end
        self.log.append(("end", feature, end.value))

    def may_dispatch(self) -> bool:
        if self.allowed is None:
            return True
        if self.allowed == 0:
            return False
        self.allowed -= 1
        return True

    def skip(self, feature: FeatureId, because: FeatureId) -> None:
        self.log.append(("skip", feature, because))
        self.states[feature] = FeatureState.SKIPPED

    def ready(self, feature: FeatureId) -> None:
        self.log.append(("ready", feature))
        self.states[feature] = FeatureState.READY

    async def started(self, feature: str) -> None:
        await self._started[FeatureId(feature)].wait()

    def finish(self, feature: str, end: FeatureState | Exception = FeatureState.MERGED) -> None:
        self._ends[FeatureId(feature)] = end
        self._gates[FeatureId(feature)].set()


async def play(
    run: FakeRun,
    slots: int,
    finishes: Sequence[tuple[str, FeatureState | Exception]],
    satisfied: Collection[FeatureState] | None = None,
) -> None:
    """Run the scheduler (with its default `satisfied` unless given), finishing features in
    the order given, each once it has started and one at a time: after each, wait until
    the scheduler has looked at the states again (or returned). Then wait for it to end,
    and log that it did."""
    extra = () if satisfied is None else (satisfied,)
    schedule = asyncio.create_task(run_schedule(run.graph, slots, run.hooks(), *extra))
    async with asyncio.timeout(WAIT_LIMIT):
        for feature, end in finishes:
            await run.started(feature)
            run.looked.clear()
            run.finish(feature, end)
            looked = asyncio.create_task(run.looked.wait())
            await asyncio.wait([looked, schedule], return_when=asyncio.FIRST_COMPLETED)
            looked.cancel()
        try:
            await schedule
        finally:
            run.log.append(("scheduler ended",))
