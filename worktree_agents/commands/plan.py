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
    from worktree_agents.output import envelope, print_json
    from worktree_agents.plan_checks import check_files
    from worktree_agents.plan_load import load_plan
    from worktree_agents.planview import (
        json_data,
        render_dot,
        render_mermaid,
        render_text,
        summarize,
    )

    loaded = load_plan(path, _state_dir(Path.cwd()))
    plan = loaded.plan
    problems = check_files(plan, loaded.base_dir)
    if problems:
        raise PlanError(str(path), problems)
    if fmt is PlanFormat.JSON:
        data = {"plan": str(loaded.path), **json_data(summarize(plan), plan)}
        print_json(envelope("plan", 0, data))
    elif fmt is PlanFormat.MERMAID:
        print(render_mermaid(plan))
    elif fmt is PlanFormat.DOT:
        print(render_dot(plan))
    else:
        print(render_text(summarize(plan), str(path)))
    return 0


def _state_dir(cwd: Path) -> Path | None:
    """Where the plan cache is: the state directory of the repository wta runs in; none
    outside a repository (`wta plan` needs none)."""
    from worktree_agents.errors import RepoError
    from worktree_agents.git import GitRepo

    try:
        return GitRepo.open(cwd).state_dir()
    except RepoError:
        return None
