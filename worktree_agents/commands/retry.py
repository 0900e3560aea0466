"""`wta retry ID..`: failed and skipped features, with their skipped dependents, back to
pending, so that the next `wta run` starts them again."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.errors import UsageError
from worktree_agents.lock import RunLock
from worktree_agents.plan import Plan
from worktree_agents.plan_load import load_repo_and_plan
from worktree_agents.store import Store

RETRYABLE = frozenset({FeatureState.FAILED, FeatureState.SKIPPED})
INSTEAD = {
    FeatureState.MERGED: "it is merged already",
    FeatureState.DONE: "it is done; `wta merge` integrates it",
    FeatureState.PENDING: "it is pending already; `wta run` starts it",
    FeatureState.READY: "it is pending already; `wta run` starts it",
}


def run_retry(repo_dir: Path, plan_path: Path, ids: Sequence[str]) -> int:
    repo, loaded = load_repo_and_plan(repo_dir, plan_path)
    plan = loaded.plan
    unknown = [i for i in ids if i not in plan.by_id]
    if unknown:
        raise UsageError(
            f"the plan has no feature {', '.join(repr(u) for u in unknown)};"
            " see `wta status` for the ids"
        )
    with RunLock(repo.state_dir()), Store.open(repo.state_dir()) as store:
        store.sync_features([f.id for f in plan.features], {f.id for f in plan.features if f.done})
        states = store.states()
        wrong = [
            f"'{i}' ({INSTEAD.get(states[FeatureId(i)], 'it is ' + states[FeatureId(i)])})"
            for i in ids
            if states[FeatureId(i)] not in RETRYABLE
        ]
        if wrong:
            raise UsageError("only failed and skipped features can be retried: " + ", ".join(wrong))
        chosen = retry_set(plan, states, [FeatureId(i) for i in ids])
        store.reset(chosen)
    print(f"back to pending: {', '.join(chosen)}; `wta run` starts them")
    return 0


def retry_set(
    plan: Plan, states: dict[FeatureId, FeatureState], ids: Sequence[FeatureId]
) -> list[FeatureId]:
    """`ids` and their skipped dependents, transitively, in plan order."""
    dependents = plan.graph.dependents
    chosen = set(ids)
    stack = list(ids)
    while stack:
        for dependent in dependents[stack.pop()]:
            if dependent not in chosen and states.get(dependent) is FeatureState.SKIPPED:
                chosen.add(dependent)
                stack.append(dependent)
    return [f.id for f in plan.features if f.id in chosen]
