"""The event-driven scheduler: a feature starts as soon as its dependencies are done and
a slot is free. No waves, no barriers; the critical path goes first.

The decisions are the pure functions of `dag`; this module is the thin async loop around them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from worktree_agents.dag import (
    SATISFIED_MERGED,
    FeatureGraph,
    priority_order,
    propagate_skips,
    ready_set,
)
from worktree_agents.domain import FeatureId, FeatureState

MANY = 1 << 30  # no limit beyond the slots


@dataclass(frozen=True)
class SchedulerHooks:
    """What the loop needs from the outside world.

    `states` reads the current state of every feature; `start` runs one feature to a
    terminal state (it must record that state before returning); `skip` marks a feature
    skipped because of `dependency`; `ready` is told once when a feature becomes ready;
    `may_dispatch` is consulted before each start (the run budget and the circuit breaker
    say no through it); `admit` is asked for the feature about to start, and may reserve
    for it (the run budget's reservation: no means "not now"); `capacity` is how many may
    run at once now (at most `slots`; rate limits lower it); `hold` is how many seconds
    until anything new may start (a spent quota): the loop waits rather than ending.
    """

    states: Callable[[], Mapping[FeatureId, FeatureState]]
    start: Callable[[FeatureId], Coroutine[Any, Any, None]]
    skip: Callable[[FeatureId, FeatureId], None]
    may_dispatch: Callable[[], bool] = lambda: True
    ready: Callable[[FeatureId], None] = lambda _: None
    admit: Callable[[FeatureId], bool] = lambda _: True
    capacity: Callable[[], int] = lambda: MANY
    hold: Callable[[], float] = lambda: 0.0


async def run_schedule(
    graph: FeatureGraph,
    slots: int,
    hooks: SchedulerHooks,
    satisfied: Collection[FeatureState] = SATISFIED_MERGED,
) -> None:
    """Run every feature of `graph` that can run, at most `slots` at a time.

    Returns when nothing is running and nothing more can start. If a feature's task
    raises, the others are cancelled (and clean up after themselves) and the error
    propagates.
    """
    running: dict[FeatureId, asyncio.Task[None]] = {}
    announced: set[FeatureId] = set()
    try:
        while True:
            states = dict(hooks.states())
            for feature, dependency in propagate_skips(graph, states).items():
                hooks.skip(feature, dependency)
                states[feature] = FeatureState.SKIPPED
            waiting = [
                f for f in priority_order(graph, ready_set(graph, states, satisfied))
                if f not in running
            ]  # fmt: skip
            for feature in waiting:
                if feature not in announced:
                    announced.add(feature)
                    hooks.ready(feature)
            hold = hooks.hold() if waiting else 0.0
            if hold <= 0:
                _start(waiting, running, min(slots, hooks.capacity()), hooks)
            if not running and hold <= 0:
                return
            if not running:
                await asyncio.sleep(hold)
                continue
            finished, _ = await asyncio.wait(
                running.values(), timeout=hold or None, return_when=asyncio.FIRST_COMPLETED
            )
            for task in finished:
                del running[FeatureId(task.get_name())]
                task.result()  # re-raise a crash in a feature's pipeline
    finally:
        for task in running.values():
            task.cancel()
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)


def _start(
    waiting: list[FeatureId],
    running: dict[FeatureId, asyncio.Task[None]],
    limit: int,
    hooks: SchedulerHooks,
) -> None:
    """Start waiting features, most critical first, while a slot is free and the hooks allow."""
    for feature in waiting:
        if len(running) >= limit or not hooks.may_dispatch() or not hooks.admit(feature):
            break
        running[feature] = asyncio.create_task(hooks.start(feature), name=feature)
