"""The last lines of `wta run` and `wta merge` in text: what waits, and what to do next."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def waiting_for_merge(data: dict[str, Any], selected: Collection[str]) -> list[str]:
    """A line naming the done features of the selection, which only `wta merge` moves on."""
    done = [f["id"] for f in data["features"] if f["state"] == "done" and f["id"] in selected]
    if not done:
        return []
    them = "it" if len(done) == 1 else "them"
    return [f"done, waiting for `wta merge` to integrate {them}: {', '.join(done)}"]


def next_steps(data: dict[str, Any], selected: Collection[str]) -> list[str]:
    """After a partial run: how to see why, and how to try again."""
    chosen = [f for f in data["features"] if f["id"] in selected]
    failed = [f["id"] for f in chosen if f["state"] == "failed"]
    skipped = [f["id"] for f in chosen if f["state"] == "skipped"]
    again = failed or skipped
    if not again:
        return []
    rows = [
        (f"wta show {again[0]}", "why it " + ("failed" if failed else "was skipped")),
        (f"wta retry {' '.join(again)}", "back to pending, with their skipped dependents"),
        ("wta run --retry-failed", "run every failed and skipped feature again"),
    ]
    width = max(len(command) for command, _ in rows)
    return ["next:"] + [f"  {command.ljust(width)}  {why}" for command, why in rows]
