"""`wta run-feature ID --push REMOTE`: one feature as one CI job (runfeature.py)."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.output import envelope, print_json
from worktree_agents.runfeature import DEFAULT_CLAIM_TTL_S, run_feature


def run_feature_command(
    repo_dir: Path, plan_path: Path, feature_id: str, remote: str, as_json: bool
) -> int:
    job = run_feature(repo_dir, plan_path, feature_id, remote, DEFAULT_CLAIM_TTL_S)
    if as_json:
        data = {
            "feature": job.feature_id,
            "outcome": job.outcome,
            "message": job.message,
            "result": job.result.model_dump() if job.result is not None else None,
        }
        print_json(envelope("run-feature", job.exit_code, data))
    else:
        print(job.message)
    return int(job.exit_code)
