"""Work that follows a step but that nothing on the critical path waits for, such as moving
a merged feature's branch to its commit on the integration branch: it runs in a thread of
its own while the next feature starts, and the run waits for all of it before it ends.

Each piece of work names the worktree it touches; `take(path)` waits for the work on one
worktree, for whoever takes that worktree over next. A piece of work, once started, runs to
its end even when the run is cancelled (Ctrl-C): a git command killed midway would leave a
lock file behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from worktree_agents.fence import in_own_thread


class Tidy:
    def __init__(self) -> None:
        self._work: dict[Path, asyncio.Future[None]] = {}

    def start(self, path: Path, work: Callable[[], None]) -> None:
        """Run `work` (which must not raise) in its own thread, after earlier work on `path`."""
        earlier = self._work.get(path)

        async def run() -> None:
            if earlier is not None:
                await asyncio.shield(earlier)
            await in_own_thread(work)

        self._work[path] = asyncio.ensure_future(run())

    async def take(self, path: Path) -> None:
        """The worktree at `path` is taken: wait for the work on it, if any."""
        work = self._work.pop(path, None)
        if work is not None:
            await asyncio.shield(work)

    async def drain(self) -> None:
        """Wait for all of it; a second Ctrl-C while waiting does not stop the threads."""
        while self._work:
            await self.take(next(iter(self._work)))
