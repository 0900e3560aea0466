"""`wta plan`: validate the plan, then show the waves, critical path and slots."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class PlanFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MERMAID = "mermaid"
    DOT = "dot"


def run_plan(path: Path, fmt: PlanFormat) -> int:
    # here, not at the top: the parser imports PlanFormat for every command
    from worktree_agents.errors import PlanError
    from worktree_agents.plan_cache import cached_view
    from worktree_agents.plan_checks import check_files
    from worktree_agents.plan_load import load_plan

    state_dir = _state_dir(Path.cwd())
    data = _read(path)
    loaded = load_plan(path, state_dir)
    plan = loaded.plan
    problems = check_files(plan, loaded.base_dir)
    if problems:
        raise PlanError(str(path), problems)
    if data is None or _read(path) != data:  # changed while it was read: nothing is kept
        state_dir = None

    def render() -> str:
        # here: only a view not kept yet needs the graph algorithms (networkx)
        from worktree_agents.output import envelope, json_text
        from worktree_agents.planview import (
            json_data,
            render_dot,
            render_mermaid,
            render_text,
            summarize,
        )

        if fmt is PlanFormat.JSON:
            document = {"plan": str(loaded.path), **json_data(summarize(plan), plan)}
            return json_text(envelope("plan", 0, document))
        if fmt is PlanFormat.MERMAID:
            return render_mermaid(plan)
        if fmt is PlanFormat.DOT:
            return render_dot(plan)
        return render_text(summarize(plan), str(path))

    name = f"{fmt.value} {loaded.path} {path}"
    print(cached_view(state_dir, data or b"", name, render))
    return 0


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _state_dir(cwd: Path) -> Path | None:
    """Where the plan cache is: the state directory of the repository wta runs in; none
    outside a repository (`wta plan` needs none)."""
    from worktree_agents.errors import RepoError
    from worktree_agents.git import GitRepo

    try:
        return GitRepo.open(cwd).state_dir()
    except RepoError:
        return None
