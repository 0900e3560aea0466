"""`wta plan`: validate the plan, then show the waves, critical path and slots."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

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


class PlanFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MERMAID = "mermaid"
    DOT = "dot"


def run_plan(path: Path, fmt: PlanFormat) -> int:
    loaded = load_plan(path)
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
