"""One orchestrator per repository: an flock on `<state dir>/run.lock` that names its holder.

The kernel drops the lock when the holder dies, even by SIGKILL, so a stale lock never
blocks the next run.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from worktree_agents.errors import LockError

LOCK_NAME = "run.lock"


class RunLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockError(self._held_message()) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def is_held(self) -> bool:
        """Whether a run holds the lock, judged without taking it (taking it, even briefly,
        could turn a run that starts at that moment away): the holder's record is there
        and, on this host, its process is alive."""
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8") or "null")
        except (OSError, ValueError):
            return False
        if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
            return False
        if holder.get("host") != socket.gethostname():
            return True
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return False  # killed without releasing: the kernel dropped its flock
        except PermissionError:
            return True
        return True

    def _held_message(self) -> str:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started_at"]))
            who = f"pid {holder['pid']} on {holder['host']}, started {started}"
        except (OSError, ValueError, KeyError, TypeError):
            who = "another process"
        return (
            f"another wta run holds this repository ({who}); wait for it to finish,"
            " or stop it; `wta status` works meanwhile"
        )

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
