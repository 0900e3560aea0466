"""Crash logs for unexpected exceptions: the traceback goes to a file, not the terminal."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

from worktree_agents import __version__


def write_crash_log(exc: BaseException, argv: list[str]) -> Path:
    """Write the traceback and context to a new file and return its path."""
    directory = Path(os.environ.get("WTA_CRASH_DIR") or tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fd, name = tempfile.mkstemp(prefix=f"wta-crash-{stamp}-", suffix=".log", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"wta {__version__} crashed at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")
        out.write(f"argv: {argv}\n")
        out.write(f"python: {sys.version.split()[0]} on {platform.platform()}\n\n")
        out.write("".join(traceback.format_exception(exc)))
    return Path(name)
