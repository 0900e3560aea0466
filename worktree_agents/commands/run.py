"""`wta run`: the main job."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.cireports import check_report_path, write_ci_reports
from worktree_agents.errors import ExitCode
from worktree_agents.git import GitRepo
from worktree_agents.nextsteps import next_steps, waiting_for_merge
from worktree_agents.output import envelope, print_json
from worktree_agents.plan_load import load_plan
from worktree_agents.progress import LinePrinter
from worktree_agents.runner import Orchestrator, RunOptions
from worktree_agents.statusview import render_table, status_data
from worktree_agents.store import Store


def run_run(
    repo_dir: Path, plan_path: Path, options: RunOptions, as_json: bool, junit: Path | None = None
) -> int:
    if junit is not None:
        check_report_path(junit, "--junit")
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    outcome = Orchestrator(repo, loaded, options, on_event=LinePrinter()).run()
    with Store.open(repo.state_dir()) as store:
        data = status_data(loaded.plan, repo, store)
    data["run_id"] = outcome.run_id
    data["selected"] = list(outcome.selected)
    data["not_started"] = list(outcome.not_started)
    data["stopped_by"] = outcome.stopped_by
    data["interrupted"] = list(outcome.cut_short)
    write_ci_reports("run", data, loaded.plan, repo, junit)
    if as_json:
        print_json(envelope("run", outcome.exit_code, data))
    else:
        print(render_table(data))
        if outcome.cut_short:
            print(f"interrupted (restarted by the next run): {', '.join(outcome.cut_short)}")
        if not options.no_merge:
            for line in waiting_for_merge(data, outcome.selected):
                print(line)
        if outcome.not_started:
            why = f" ({outcome.stopped_by} stopped new attempts)" if outcome.stopped_by else ""
            print(f"not started{why}: {', '.join(outcome.not_started)}")
        if outcome.exit_code == ExitCode.INTERRUPTED:
            print("interrupted: the state is saved; run `wta run` again to finish the plan")
        else:
            for line in next_steps(data, outcome.selected):
                print(line)
    return int(outcome.exit_code)
