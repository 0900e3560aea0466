"""Work that follows a step but that nothing on the critical path waits for, such as putting
a merged feature's worktree back on its branch (a checkout of the whole tree): it runs in a
thread of its own while the next feature starts, and the run waits for all of it before it
ends.

Each piece of work names the worktree it touches; `settle(path)` waits for the work on one
worktree, for whoever takes that worktree next. A piece of work, once started, runs to its
end even when the run is cancelled (Ctrl-C): a checkout killed midway would leave a lock
file in the worktree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from worktree_agents.fence import in_own_thread


class Tidy:
    def __init__(self) -> None:
        self._work: dict[Path, asyncio.Future[None]] = {}
        self._later: dict[Path, Callable[[], None]] = {}

    def start(self, path: Path, work: Callable[[], None]) -> None:
        """Run `work` (which must not raise) in its own thread, after earlier work on `path`."""
        earlier = self._work.get(path)

        async def run() -> None:
            if earlier is not None:
                await asyncio.shield(earlier)
            await in_own_thread(work)

        self._work[path] = asyncio.ensure_future(run())

    def later(self, path: Path, work: Callable[[], None]) -> None:
        """Keep `work` for the run's end, unless the worktree is taken before: a worktree
        handed to the next feature is checked out again by it, so work that only tidies it
        up for a person would be wasted there."""
        self._later[path] = work

    async def take(self, path: Path) -> Callable[[], None] | None:
        """The worktree at `path` is taken: work that has started is waited for, and work
        kept for later is dropped and returned (to be kept again if the taking fails)."""
        dropped = self._later.pop(path, None)
        work = self._work.pop(path, None)
        if work is not None:
            await asyncio.shield(work)
        return dropped

    async def drain(self) -> None:
        """Run what was kept for later, and wait for all of it; a second Ctrl-C while
        waiting does not stop the threads."""
        later, self._later = self._later, {}
        for path, work in later.items():
            self.start(path, work)
        while self._work:
            await self.take(next(iter(self._work)))
