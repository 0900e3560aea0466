"""The validated plan, cached in the state directory: a command that reads an unchanged plan
(`wta status`, `wta plan`, ...) does not validate it again, nor load what validation needs.

The cache is one file, `plan-cache.json`: a key line, then the Plan as JSON. The key is a
hash of everything the result depends on: the plan's bytes (validation reads nothing else),
wta's version and code (the size and mtime of each of its modules), and the Python and
pydantic versions. A cache whose key differs is not read; one that fails to load is
ignored; both are rewritten after the plan is validated. It is written to a temporary file
and renamed, so it is never half made.

JSON read back through the model, not a pickle: an agent can write in the state directory,
and the key is no secret, so a pickle would let it run code inside wta. The most a forged
cache can do is what a forged state database can: describe a plan that is not the file's.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from pathlib import Path

from worktree_agents import __version__
from worktree_agents.plan import Plan

CACHE_FILE = "plan-cache.json"
VIEWS_FILE = "plan-views.json"
_FORMAT = b"wta plan cache 2"
_PACKAGE = Path(__file__).resolve().parent


def cached_plan(state_dir: Path, data: bytes, validate: Callable[[], Plan]) -> Plan:
    """The plan `data` holds: from the cache when its key matches, else `validate()`'s
    result, then cached. `validate` raises for an invalid plan, which is not cached."""
    path = state_dir / CACHE_FILE
    key = cache_key(data)
    found = _read(path, key)
    if found is not None:
        return found
    plan = validate()
    _write(path, key, plan)
    return plan


def cached_view(state_dir: Path | None, data: bytes, name: str, render: Callable[[], str]) -> str:
    """What `render()` makes of the plan `data` holds (a view of `wta plan`: its text, JSON,
    graph), kept under the same key as the plan: an unchanged plan's view is not computed
    again, nor is networkx loaded for it. `name` tells the views apart (format and path)."""
    if state_dir is None:
        return render()
    path = state_dir / VIEWS_FILE
    key = cache_key(data).decode()
    views: dict[str, str] = {}
    with suppress(Exception):  # a corrupt file of any kind is a miss, never an error
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored["key"] == key and isinstance(stored["views"], dict):
            views = {k: v for k, v in stored["views"].items() if isinstance(v, str)}
    if name in views:
        return views[name]
    views[name] = text = render()
    _replace(path, json.dumps({"key": key, "views": views}).encode())
    return text


def cache_key(data: bytes) -> bytes:
    """The hex digest a cache entry for a plan of these bytes must carry."""
    from pydantic.version import VERSION as PYDANTIC

    digest = hashlib.sha256(_FORMAT)
    for part in (__version__, sys.version, PYDANTIC, _code_fingerprint()):
        digest.update(part.encode() + b"\0")
    digest.update(data)
    return digest.hexdigest().encode()


@cache
def _code_fingerprint() -> str:
    """wta's own modules as they are on disk: an edited module (an editable install keeps
    its version) makes a new key."""
    found = []
    for module in sorted(_PACKAGE.rglob("*.py")):
        stat = module.stat()
        found.append(f"{module}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(found)


def _read(path: Path, key: bytes) -> Plan | None:
    try:
        header, _, body = path.read_bytes().partition(b"\n")
        if header != key:  # stale (or not ours): not read
            return None
        return Plan.model_validate_json(body)
    except Exception:  # a corrupt cache of any kind is a miss, never an error
        return None


def _write(path: Path, key: bytes, plan: Plan) -> None:
    """Replace the cache atomically. Only a state directory that exists gets one (a command
    that reads the plan makes none in a repository wta never ran in); one that cannot be
    written (a read-only repository) leaves the plan uncached."""
    _replace(path, key + b"\n" + plan.model_dump_json(by_alias=True).encode())


def _replace(path: Path, data: bytes) -> None:
    """Write `path` atomically, only in a state directory that exists (see _write)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temp.write_bytes(data)
        temp.replace(path)
    except OSError:
        with suppress(OSError):
            temp.unlink(missing_ok=True)
