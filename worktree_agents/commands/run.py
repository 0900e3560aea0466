"""`wta run`: the main job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from worktree_agents.cireports import check_report_path, write_ci_reports
from worktree_agents.errors import ExitCode
from worktree_agents.events import Event
from worktree_agents.git import GitRepo
from worktree_agents.nextsteps import next_steps, waiting_for_merge
from worktree_agents.output import envelope, print_json
from worktree_agents.plan import LoadedPlan
from worktree_agents.plan_load import load_plan
from worktree_agents.push import PushResult, check_remote
from worktree_agents.runner import Orchestrator, RunOptions, RunOutcome
from worktree_agents.runpush import RemotePublisher
from worktree_agents.statusview import render_table, status_data
from worktree_agents.store import Store
from worktree_agents.watch import ColorMode, Progress, watching


def run_run(
    repo_dir: Path,
    plan_path: Path,
    options: RunOptions,
    as_json: bool,
    junit: Path | None = None,
    push: str | None = None,
    live: bool = True,
    color: ColorMode = ColorMode.AUTO,
) -> int:
    if junit is not None:
        check_report_path(junit, "--junit")
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    watch = watching(
        loaded.plan, live=live, color=color, no_merge=options.no_merge, profile=options.profile
    )
    with watch as progress:
        outcome, code, data, pushed = _run(repo, loaded, options, push, progress)
    write_ci_reports("run", data, loaded.plan, repo, junit)
    if as_json:
        print_json(envelope("run", code, data))
    else:
        print(_text(data, outcome, options, pushed))
    return int(code)


def _run(
    repo: GitRepo, loaded: LoadedPlan, options: RunOptions, push: str | None, progress: Progress
) -> tuple[RunOutcome, ExitCode, dict[str, Any], list[PushResult]]:
    """The run, told to `progress`: its outcome, exit code, status data and pushes."""
    on_event: Callable[[Event], None] = progress
    publisher: RemotePublisher | None = None
    if push is not None:
        check_remote(push)
        publisher = RemotePublisher(repo, loaded, push)
        publisher.start()  # an unreadable remote: exit 2 before anything
        on_event = publisher.watch(on_event)
    try:
        outcome = Orchestrator(repo, loaded, options, on_event=on_event).run()
    finally:
        if publisher is not None:
            publisher.stop()
    code = outcome.exit_code
    pushed: list[PushResult] = []
    if publisher is not None and code != ExitCode.INTERRUPTED:
        pushed = publisher.finish()
        if any(p.detail is not None for p in pushed):
            code = max(code, ExitCode.PARTIAL)
    with Store.open(repo.state_dir()) as store:
        data = status_data(loaded.plan, repo, store)
    data["run_id"] = outcome.run_id
    data["selected"] = list(outcome.selected)
    data["not_started"] = list(outcome.not_started)
    data["stopped_by"] = outcome.stopped_by
    data["interrupted"] = list(outcome.cut_short)
    data["push"] = [p.as_json() for p in pushed] if publisher is not None else None
    progress.settle(data["features"])
    return outcome, code, data, pushed


def _pushes(pushed: list[PushResult]) -> list[str]:
    """Integration's push, then the review branches' in one line (`data.push` has each);
    a review branch that was not pushed gets a line of its own, saying why."""
    if not pushed:
        return []
    integration, reviews = pushed[0], pushed[1:]
    lines = [integration.describe()]
    moved = sum(1 for p in reviews if p.detail is None and p.old != p.new)
    there = sum(1 for p in reviews if p.detail is None and p.old == p.new)
    if moved or there:
        lines.append(
            f"review branches on {integration.remote}: {moved} pushed, {there} already there"
        )
    lines += [p.describe() for p in reviews if p.detail is not None]
    return lines


def _text(
    data: dict[str, Any], outcome: RunOutcome, options: RunOptions, pushed: list[PushResult]
) -> str:
    lines = [render_table(data), *_pushes(pushed)]
    if outcome.cut_short:
        lines.append(f"interrupted (restarted by the next run): {', '.join(outcome.cut_short)}")
    if not options.no_merge:
        lines += waiting_for_merge(data, outcome.selected)
    if outcome.not_started:
        why = f" ({outcome.stopped_by} stopped new attempts)" if outcome.stopped_by else ""
        lines.append(f"not started{why}: {', '.join(outcome.not_started)}")
    if outcome.exit_code == ExitCode.INTERRUPTED:
        lines.append("interrupted: the state is saved; run `wta run` again to finish the plan")
    else:
        lines += next_steps(data, outcome.selected)
    return "\n".join(lines)
