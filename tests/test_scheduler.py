"""The scheduler loop driven directly: fake hooks, in-memory states, and gates the test
releases one at a time, so every run's log of hook calls is exact and deterministic."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from planutil import WAIT_LIMIT, FakeRun, graph, play

from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.scheduler import SchedulerHooks, run_schedule

M, D, F = FeatureState.MERGED, FeatureState.DONE, FeatureState.FAILED
P, R, S = FeatureState.PENDING, FeatureState.READY, FeatureState.SKIPPED
END = ("scheduler ended",)


def test_the_slots_are_all_used_and_never_exceeded() -> None:
    run = FakeRun(graph({"a": [], "b": [], "c": [], "d": [], "e": []}))

    asyncio.run(play(run, 2, [("a", M), ("b", M), ("c", M), ("d", M), ("e", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("ready", "c"), ("ready", "d"), ("ready", "e"),
        ("start", "a"), ("start", "b"),
        ("end", "a", "merged"), ("start", "c"),
        ("end", "b", "merged"), ("start", "d"),
        ("end", "c", "merged"), ("start", "e"),
        ("end", "d", "merged"),
        ("end", "e", "merged"),
        END,
    ]  # fmt: skip
    assert run.peak == 2


def test_one_slot_runs_one_feature_at_a_time() -> None:
    run = FakeRun(graph({"a": [], "b": [], "c": []}))

    asyncio.run(play(run, 1, [("a", M), ("b", M), ("c", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("ready", "c"),
        ("start", "a"), ("end", "a", "merged"),
        ("start", "b"), ("end", "b", "merged"),
        ("start", "c"), ("end", "c", "merged"),
        END,
    ]  # fmt: skip
    assert run.peak == 1


def test_more_slots_than_features() -> None:
    run = FakeRun(graph({"a": [], "b": []}))

    asyncio.run(play(run, 8, [("b", M), ("a", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("start", "a"), ("start", "b"),
        ("end", "b", "merged"), ("end", "a", "merged"),
        END,
    ]  # fmt: skip
    assert run.peak == 2


def test_the_critical_path_goes_first() -> None:
    # plan order says s, a, b; but a has 4 units of work behind it (a, then b with 3)
    run = FakeRun(graph({"s": [], "a": [], "b": ["a"]}, estimates={"b": 3}))

    asyncio.run(play(run, 1, [("a", M), ("b", M), ("s", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "s"),
        ("start", "a"), ("end", "a", "merged"),
        ("ready", "b"), ("start", "b"), ("end", "b", "merged"),
        ("start", "s"), ("end", "s", "merged"),
        END,
    ]  # fmt: skip


def test_the_slots_go_to_the_most_critical_features() -> None:
    run = FakeRun(graph({"x": [], "y": [], "z": []}, estimates={"y": 2, "z": 3}))

    asyncio.run(play(run, 2, [("z", M), ("y", M), ("x", M)]))

    assert run.log == [
        ("ready", "z"), ("ready", "y"), ("ready", "x"),
        ("start", "z"), ("start", "y"),
        ("end", "z", "merged"), ("start", "x"),
        ("end", "y", "merged"),
        ("end", "x", "merged"),
        END,
    ]  # fmt: skip


def test_priority_breaks_ties_then_plan_order() -> None:
    # u has more work behind it, which outweighs its priority; the rest tie on work
    g = graph(
        {"p": [], "q": [], "r": [], "t": [], "u": []},
        estimates={"u": 2},
        priorities={"p": 1, "t": -1, "u": 5},
    )
    run = FakeRun(g)

    asyncio.run(play(run, 1, [("u", M), ("t", M), ("q", M), ("r", M), ("p", M)]))

    assert [event for event in run.log if event[0] == "start"] == [
        ("start", "u"), ("start", "t"), ("start", "q"), ("start", "r"), ("start", "p"),
    ]  # fmt: skip


def test_a_dependent_starts_as_soon_as_its_own_dependencies_are_merged() -> None:
    # no waves: b starts while the slow, unrelated x is still running
    run = FakeRun(graph({"a": [], "x": [], "b": ["a"]}))

    asyncio.run(play(run, 2, [("a", M), ("b", M), ("x", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "x"), ("start", "a"), ("start", "x"),
        ("end", "a", "merged"), ("ready", "b"), ("start", "b"),
        ("end", "b", "merged"),
        ("end", "x", "merged"),
        END,
    ]  # fmt: skip


def test_may_dispatch_is_asked_before_each_start() -> None:
    run = FakeRun(graph({"a": [], "b": [], "c": [], "d": []}))
    run.allowed = 2

    asyncio.run(play(run, 3, [("a", M), ("b", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("ready", "c"), ("ready", "d"),
        ("start", "a"), ("start", "b"),
        ("end", "a", "merged"),
        ("end", "b", "merged"),
        END,
    ]  # fmt: skip
    assert run.states == {"a": M, "b": M, "c": R, "d": R}


def test_once_may_dispatch_says_no_nothing_new_starts_and_running_features_finish() -> None:
    run = FakeRun(graph({"a": [], "b": ["a"], "c": []}))

    async def scenario() -> None:
        schedule = asyncio.create_task(run_schedule(run.graph, 2, run.hooks()))
        await run.started("a")
        await run.started("c")
        run.allowed = 0
        run.finish("a")
        run.finish("c")
        async with asyncio.timeout(WAIT_LIMIT):
            await schedule
        run.log.append(END)

    asyncio.run(scenario())

    assert run.log == [
        ("ready", "a"), ("ready", "c"), ("start", "a"), ("start", "c"),
        ("end", "a", "merged"), ("end", "c", "merged"),
        ("ready", "b"),
        END,
    ]  # fmt: skip
    assert run.states == {"a": M, "b": R, "c": M}


def test_nothing_starts_when_may_dispatch_says_no_from_the_start() -> None:
    run = FakeRun(graph({"a": [], "b": ["a"]}))
    run.allowed = 0

    asyncio.run(play(run, 2, []))

    assert run.log == [("ready", "a"), END]
    assert run.states == {"a": R, "b": P}


def test_skips_spread_through_chains_and_diamonds_in_dependency_order() -> None:
    # plan order is not a dependency order, and top lists its dependencies out of plan order
    # and by name, so neither that list nor a sort by name gives the plan's order
    g = graph(
        {
            "top": ["east", "west"],
            "west": ["root"],
            "east": ["root"],
            "root": [],
            "tail": ["top"],
            "other": [],
        }
    )
    run = FakeRun(g)

    asyncio.run(play(run, 2, [("root", F), ("other", M)]))

    assert run.log == [
        ("ready", "root"), ("ready", "other"), ("start", "root"), ("start", "other"),
        ("end", "root", "failed"),
        ("skip", "west", "root"), ("skip", "east", "root"),
        ("skip", "top", "west"), ("skip", "tail", "top"),
        ("end", "other", "merged"),
        END,
    ]  # fmt: skip
    assert run.states == {
        "top": S, "west": S, "east": S, "root": F, "tail": S, "other": M,
    }  # fmt: skip


def test_skips_come_before_any_start() -> None:
    # states left by an earlier run: a failed, s skipped; their dependents never become ready
    g = graph({"a": [], "s": [], "b": ["a"], "c": ["s", "d"], "d": [], "e": ["d"]})
    run = FakeRun(g, {"a": F, "s": S})

    asyncio.run(play(run, 1, [("d", M), ("e", M)]))

    assert run.log == [
        ("skip", "b", "a"), ("skip", "c", "s"),
        ("ready", "d"), ("start", "d"), ("end", "d", "merged"),
        ("ready", "e"), ("start", "e"), ("end", "e", "merged"),
        END,
    ]  # fmt: skip


def test_a_feature_is_announced_ready_once() -> None:
    # b stays ready through three rounds while a single slot serves a's chain
    run = FakeRun(graph({"a": [], "a2": ["a"], "a3": ["a2"], "b": []}))

    asyncio.run(play(run, 1, [("a", M), ("a2", M), ("a3", M), ("b", M)]))

    assert [event for event in run.log if event[0] == "ready"] == [
        ("ready", "a"), ("ready", "b"), ("ready", "a2"), ("ready", "a3"),
    ]  # fmt: skip


def test_a_crash_in_one_feature_cancels_the_others_and_propagates() -> None:
    run = FakeRun(graph({"a": [], "b": [], "c": []}))

    with pytest.raises(RuntimeError) as caught:
        asyncio.run(play(run, 2, [("a", RuntimeError("boom"))]))

    assert str(caught.value) == "boom"
    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("ready", "c"), ("start", "a"), ("start", "b"),
        ("crash", "a"), ("cancelled", "b"), ("cleaned up", "b"),
        END,
    ]  # fmt: skip
    assert run.running == set()


def test_cancelling_the_run_cancels_every_feature_and_waits_for_their_cleanup() -> None:
    run = FakeRun(graph({"a": [], "b": [], "c": []}))

    async def scenario() -> None:
        schedule = asyncio.create_task(run_schedule(run.graph, 2, run.hooks()))
        await run.started("b")
        schedule.cancel()
        with pytest.raises(asyncio.CancelledError):
            await schedule
        run.log.append(END)

    asyncio.run(scenario())

    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("ready", "c"), ("start", "a"), ("start", "b"),
        ("cancelled", "a"), ("cancelled", "b"), ("cleaned up", "a"), ("cleaned up", "b"),
        END,
    ]  # fmt: skip
    assert run.running == set()


def test_by_default_only_merged_dependencies_count() -> None:
    run = FakeRun(graph({"lib": [], "app": ["lib"]}))

    asyncio.run(play(run, 2, [("lib", D)]))

    assert run.log == [("ready", "lib"), ("start", "lib"), ("end", "lib", "done"), END]
    assert run.states == {"lib": D, "app": P}


def test_with_no_merge_done_dependencies_count_too() -> None:
    run = FakeRun(graph({"lib": [], "app": ["lib"]}))

    asyncio.run(play(run, 2, [("lib", D), ("app", D)], satisfied={M, D}))

    assert run.log == [
        ("ready", "lib"), ("start", "lib"), ("end", "lib", "done"),
        ("ready", "app"), ("start", "app"), ("end", "app", "done"),
        END,
    ]  # fmt: skip


def test_features_merged_or_done_earlier_are_not_run_again() -> None:
    run = FakeRun(graph({"lib": [], "util": [], "app": ["lib", "util"]}), {"lib": M, "util": D})

    asyncio.run(play(run, 2, [("app", M)], satisfied={M, D}))

    assert run.log == [("ready", "app"), ("start", "app"), ("end", "app", "merged"), END]


def test_nothing_to_do_returns_at_once() -> None:
    run = FakeRun(graph({"a": [], "b": ["a"]}), {"a": M, "b": M})

    asyncio.run(play(run, 2, []))

    assert run.log == [END]


class Throttled(FakeRun):
    """FakeRun with the throttle's hooks: a hold (seconds, counted down per look), a
    capacity, and features that `admit` refuses while anything else runs."""

    def __init__(
        self, g: object, hold_looks: int = 0, capacity: int = 99, refuse: str = ""
    ) -> None:
        super().__init__(g)  # type: ignore[arg-type]
        self.hold_looks = hold_looks
        self.cap = capacity
        self.refuse = refuse
        self.admitted: list[FeatureId] = []

    def hooks(self) -> SchedulerHooks:
        return replace(super().hooks(), admit=self.admit, capacity=lambda: self.cap, hold=self.hold)

    def hold(self) -> float:
        if self.hold_looks == 0:
            return 0.0
        self.hold_looks -= 1
        self.log.append(("hold",))
        return 0.01

    def admit(self, feature: FeatureId) -> bool:
        # a started feature's state stays as it was until it ends (FakeRun)
        others = [f for f in self.admitted if self.states[f] in (P, R)]
        ok = feature != self.refuse or not others
        if ok:
            self.admitted.append(feature)
        else:
            self.log.append(("not admitted", feature))
        return ok


def test_a_hold_with_nothing_running_waits_instead_of_ending() -> None:
    run = Throttled(graph({"a": []}), hold_looks=2)

    asyncio.run(play(run, 2, [("a", M)]))

    assert run.log == [
        ("ready", "a"), ("hold",), ("hold",), ("start", "a"), ("end", "a", "merged"), END,
    ]  # fmt: skip


def test_capacity_below_the_slots_limits_features_at_once() -> None:
    run = Throttled(graph({"a": [], "b": [], "c": []}), capacity=1)

    asyncio.run(play(run, 3, [("a", M), ("b", M), ("c", M)]))

    assert run.peak == 1
    assert [e for e in run.log if e[0] == "start"] == [
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
    ]


def test_a_feature_not_admitted_waits_for_the_others_to_end() -> None:
    run = Throttled(graph({"a": [], "b": [], "c": []}), refuse="b")

    asyncio.run(play(run, 3, [("a", M), ("b", M), ("c", M)]))

    assert run.log == [
        ("ready", "a"), ("ready", "b"), ("ready", "c"),
        ("not admitted", "b"),  # and c, behind it in priority order, waits too
        ("start", "a"),
        ("end", "a", "merged"), ("start", "b"), ("start", "c"),
        ("end", "b", "merged"), ("end", "c", "merged"),
        END,
    ]  # fmt: skip
