"""tidy.py: work off the critical path, waited for by whoever takes the worktree next, and
by the run's end."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from worktree_agents.tidy import Tidy


def test_started_work_is_waited_for_and_later_work_dropped_when_the_worktree_is_taken() -> None:
    done: list[str] = []
    gate = threading.Event()

    def slow() -> None:
        gate.wait(10)
        done.append("started")

    async def scenario() -> list[str]:
        tidy = Tidy()
        tidy.start(Path("/w/a"), slow)
        tidy.later(Path("/w/a"), lambda: done.append("later"))
        await asyncio.sleep(0)
        assert done == []  # running in its own thread, held by the gate
        gate.set()
        dropped = await tidy.take(Path("/w/a"))
        assert dropped is not None
        await tidy.drain()
        return done

    assert asyncio.run(scenario()) == ["started"]


def test_the_runs_end_runs_what_was_kept_for_later_in_order_per_worktree() -> None:
    done: list[str] = []

    async def scenario() -> list[str]:
        tidy = Tidy()
        tidy.later(Path("/w/a"), lambda: done.append("a later"))
        tidy.start(Path("/w/b"), lambda: done.append("b first"))
        tidy.later(Path("/w/b"), lambda: done.append("b later"))
        await tidy.drain()
        assert await tidy.take(Path("/w/a")) is None  # nothing left
        return done

    result = asyncio.run(scenario())
    assert sorted(result) == ["a later", "b first", "b later"]
    assert result.index("b first") < result.index("b later")
