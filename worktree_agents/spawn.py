"""Start a child with piped output and learn the moment it exits, without polling.

`asyncio.subprocess.Process.wait()` (Python 3.11), called before the exit, returns only once
the child has exited AND every pipe to it is closed, so a background grandchild holding
stdout open would hold the wait too. The protocol below resolves a future when asyncio's
child watcher reaps the child, whatever its pipes do: wta then kills what the child left
behind and drains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

STREAM_LIMIT = 64 * 1024  # asyncio's own default for a subprocess's stream buffers


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's protocol for a child with streams, which also tells when it exited."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=STREAM_LIMIT, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


async def spawn(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], stdin_piped: bool
) -> tuple[asyncio.subprocess.Process, asyncio.Future[None]]:
    """Start `argv` in its own session, stdout and stderr piped (stdin piped or /dev/null),
    like `asyncio.create_subprocess_exec`; also return a future done once the child exited
    (its returncode is set by then). Raises OSError when it cannot start."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _ExitProtocol(loop),
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin_piped else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    return asyncio.subprocess.Process(transport, protocol, loop), protocol.exited
