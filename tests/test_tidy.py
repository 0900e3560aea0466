"""tidy.py: work off the critical path, waited for by whoever takes the worktree next, and
by the run's end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from worktree_agents.tidy import Tidy


def test_taking_a_worktree_waits_for_the_work_on_it_in_order() -> None:
    done: list[str] = []
    gate = threading.Event()

    def slow() -> None:
        gate.wait(10)
        done.append("first")

    async def scenario() -> list[str]:
        tidy = Tidy()
        tidy.start(Path("/w/a"), slow)
        tidy.start(Path("/w/a"), lambda: done.append("second"))  # after the first
        await asyncio.sleep(0)
        assert done == []  # running in its own thread, held by the gate
        gate.set()
        await tidy.take(Path("/w/a"))
        return list(done)

    assert asyncio.run(scenario()) == ["first", "second"]


def test_the_runs_end_waits_for_all_of_it() -> None:
    done: list[str] = []

    def record(name: str) -> Callable[[], None]:
        return lambda: done.append(name)

    async def scenario() -> None:
        tidy = Tidy()
        for name in ("a", "b", "c"):
            tidy.start(Path(f"/w/{name}"), record(name))
        await tidy.drain()
        await tidy.take(Path("/w/a"))  # nothing left: returns at once

    asyncio.run(scenario())
    assert sorted(done) == ["a", "b", "c"]
