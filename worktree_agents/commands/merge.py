"""`wta merge [--push REMOTE]`: integrate the done features, then push integration."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.cireports import check_report_path, write_ci_reports
from worktree_agents.context import RunOptions
from worktree_agents.domain import FeatureState
from worktree_agents.errors import ExitCode
from worktree_agents.git import GitRepo
from worktree_agents.mergedone import DoneMerger, merge_selection
from worktree_agents.nextsteps import next_steps
from worktree_agents.output import envelope, print_json
from worktree_agents.plan_load import load_plan
from worktree_agents.push import PushResult, check_remote
from worktree_agents.remotemerge import merge_from_remote
from worktree_agents.runner import RunOutcome
from worktree_agents.statusview import render_table, status_data
from worktree_agents.store import Store
from worktree_agents.watch import ColorMode, watching


def run_merge(
    repo_dir: Path,
    plan_path: Path,
    push: str | None,
    as_json: bool,
    junit: Path | None = None,
    live: bool = True,
    color: ColorMode = ColorMode.AUTO,
) -> int:
    if junit is not None:
        check_report_path(junit, "--junit")
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    plan = loaded.plan
    outcome: RunOutcome | None = None
    pushed: PushResult | None = None
    watch = watching(plan, live=live, color=color, start_state=FeatureState.DONE)
    with watch as progress:
        if push is not None:
            check_remote(push)
            outcome, pushed, done = merge_from_remote(repo, loaded, push, progress)
        else:
            done = merge_selection(repo, plan)
            if done:
                options = RunOptions(only=done)
                outcome = DoneMerger(repo, loaded, options, on_event=progress).run()
        code = outcome.exit_code if outcome is not None else ExitCode.OK
        if pushed is not None and pushed.detail is not None and code != ExitCode.INTERRUPTED:
            code = max(code, ExitCode.PARTIAL)
        with Store.open(repo.state_dir()) as store:
            data = status_data(plan, repo, store)
        data["run_id"] = outcome.run_id if outcome is not None else None
        data["selected"] = list(done)
        data["push"] = pushed.as_json() if pushed is not None else None
        progress.settle(data["features"])
    blocked = [f for f in data["features"] if f["state"] in ("failed", "skipped")]
    if push is not None and blocked and code == ExitCode.OK:
        code = ExitCode.PARTIAL  # the remote's results are the whole plan's: some failed
    write_ci_reports("merge", data, plan, repo, junit)
    if as_json:
        print_json(envelope("merge", code, data))
        return int(code)
    print(render_table(data))
    if not done:
        print("nothing to merge: no feature is done (`wta run --no-merge` leaves them done)")
    if pushed is not None:
        print(pushed.describe())
    if code == ExitCode.INTERRUPTED:
        print("interrupted: the state is saved; run `wta merge` again to finish")
    for line in next_steps(data, done):
        print(line)
    return int(code)
