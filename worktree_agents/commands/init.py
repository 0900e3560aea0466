"""`wta init`: write a starter plan, or import a feature list."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from worktree_agents.errors import UsageError
from worktree_agents.plan_load import load_plan_text
from worktree_agents.starter import STARTER_PLAN
from worktree_agents.text import plural


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_init(target: Path, source: Path | None, force: bool) -> str:
    """Write the plan; returns the one-line report to print."""
    if target.exists() and not force:
        raise UsageError(f"{target} already exists; pass --force to overwrite it")
    if not target.parent.is_dir():
        raise UsageError(f"{target.parent} is not a directory")
    if source is None:
        text = STARTER_PLAN
        report = f"wrote a starter plan to {target}; check it with `wta plan`"
    else:
        from worktree_agents.importers import import_plan

        result = import_plan(source)
        text = result.toml_text
        report = (
            f"imported {plural(result.feature_count, 'feature')}"
            f" ({result.done_count} already passing) "
            f"from {source} ({result.source_format}) into {target}"
        )
    # never write a plan that wta itself would reject; an import's problems are its source's
    checked_as = str(target) if source is None else f"{source} (imported; {target} not written)"
    load_plan_text(text, checked_as)
    write_atomically(target, text)
    return report
