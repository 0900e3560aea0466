"""`wta demo`: generate the sample repository and run the whole pipeline on it."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.commands.report import gather, write_page
from worktree_agents.commands.review import render_text
from worktree_agents.demo import (
    EXPECTED_FAILED,
    EXPECTED_SKIPPED,
    create_demo_repo,
    how_to_look,
    wta_command,
)
from worktree_agents.domain import FeatureState
from worktree_agents.git import GitRepo
from worktree_agents.output import envelope, print_json
from worktree_agents.plan_load import load_plan
from worktree_agents.progress import LinePrinter
from worktree_agents.reviewset import collect_reviews
from worktree_agents.runner import Orchestrator, RunOptions
from worktree_agents.statusview import render_table, status_data
from worktree_agents.store import Store


def run_demo(directory: Path | None, as_json: bool) -> int:
    """Exit 0 when the demo shows what it is meant to: every feature merged except the
    designed conflict and its skipped dependent."""
    repo_dir = create_demo_repo(directory)
    if not as_json:
        print(f"demo repository: {repo_dir}")
    loaded = load_plan(repo_dir / "wta.toml")
    repo = GitRepo.open(repo_dir)
    outcome = Orchestrator(repo, loaded, RunOptions(), on_event=LinePrinter()).run()
    if outcome.interrupted:
        if not as_json:
            print(f"interrupted: the state is saved; run `wta run` in {repo_dir} to finish")
        return int(outcome.exit_code)
    with Store.open(repo.state_dir()) as store:
        data = status_data(loaded.plan, repo, store)
    data["repository"] = str(repo_dir)
    report = repo.state_dir() / "report.html"
    write_page(report, gather(repo, loaded, None))
    data["report"] = str(report)
    by_id = {f["id"]: f for f in data["features"]}
    as_designed = all(
        (f["state"], f["reason"], f["skipped_because"])
        == (
            (FeatureState.FAILED.value, EXPECTED_FAILED[fid], None)
            if fid in EXPECTED_FAILED
            else (FeatureState.SKIPPED.value, None, EXPECTED_SKIPPED[fid])
            if fid in EXPECTED_SKIPPED
            else (FeatureState.MERGED.value, None, None)
        )
        for fid, f in by_id.items()
    )
    code = 0 if as_designed else 1
    if as_json:
        print_json(envelope("demo", code, data))
        return code
    print()
    print(render_table(data))
    print()
    if as_designed:
        print(
            "As designed: banner-fr lost the race to banner-en (same line of app/banner.py),"
            " so it failed with a conflict and banner-fr-docs was skipped; everything else"
            " merged onto wta/integration. Your own branches were not touched."
        )
    else:
        print("The demo did not end as designed; see the table above and `wta logs`.")
    print()
    print(how_to_look(repo_dir))
    print()
    print(f"$ {wta_command()} review")  # what comes next: one pull request per feature
    print(render_text(collect_reviews(repo, loaded), None, []))
    print(f"The run's report, with the DAG and a timeline (open it in a browser): {report}")
    return code
