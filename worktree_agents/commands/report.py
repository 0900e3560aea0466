"""`wta report`: a run's text summary, or with --html one self-contained page."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.commands.status import NO_RUN, pick_run
from worktree_agents.dag import critical_path
from worktree_agents.errors import UsageError
from worktree_agents.events import EventLog
from worktree_agents.git import GitRepo
from worktree_agents.paths import AttemptFiles, StatePaths
from worktree_agents.plan import LoadedPlan
from worktree_agents.plan_load import load_plan
from worktree_agents.records import RunRecord
from worktree_agents.report_html import AttemptDetail, ReportData, render_page
from worktree_agents.runsummary import ran_critical_path, render_summary
from worktree_agents.runtimeline import build_timeline
from worktree_agents.statusview import status_data
from worktree_agents.store import DB_NAME, Store


def _attempts(store: Store, loaded: LoadedPlan, run: RunRecord) -> dict[str, list[AttemptDetail]]:
    """Each feature's attempts in `run`, with the conflict report of any that conflicted."""
    out: dict[str, list[AttemptDetail]] = {}
    for feature in loaded.plan.features:
        for attempt in store.attempts(feature.id):
            if attempt.run_id != run.id:
                continue
            conflict = AttemptFiles.of_log(attempt.log_path).conflict if attempt.log_path else None
            out.setdefault(feature.id, []).append(
                AttemptDetail(
                    n=attempt.n,
                    outcome=attempt.outcome.value if attempt.outcome else "running",
                    reason=attempt.reason.value if attempt.reason else None,
                    detail=attempt.detail,
                    conflict=conflict.read_text(encoding="utf-8", errors="replace")
                    if conflict is not None and conflict.is_file()
                    else None,
                )
            )
    return out


def gather(repo: GitRepo, loaded: LoadedPlan, run_id: str | None) -> ReportData:
    """Everything the summary and the page show, for `run_id` (default: the latest run)."""
    if not (repo.state_dir() / DB_NAME).exists():
        raise UsageError(NO_RUN)
    with Store.open(repo.state_dir()) as store:
        run = pick_run(store, run_id)
        status = status_data(loaded.plan, repo, store)
        attempts = _attempts(store, loaded, run)
    if status["run"] is None or status["run"]["id"] != run.id:  # an earlier run
        status["run"] = {"id": run.id, "status": run.status.value, "cost_usd": run.cost_usd}
    events = EventLog.read(StatePaths(repo.state_dir()).run_events(run.id))
    done = [f["id"] for f in status["features"] if f["state"] == "done"]
    timeline = build_timeline(events, done)
    graph = loaded.plan.graph
    return ReportData(
        title=f"wta report: {repo.toplevel.name}",
        run=status["run"],
        status=status,
        timeline=timeline,
        graph=graph,
        critical=critical_path(graph).features,
        summary=render_summary(timeline, graph, status["run"]["status"]),
        ran_critical=tuple(f.feature_id for f in ran_critical_path(timeline, graph)),
        attempts=attempts,
    )


def run_report(repo_dir: Path, plan_path: Path, html: Path | None, run_id: str | None) -> int:
    data = gather(GitRepo.open(repo_dir), load_plan(plan_path), run_id)
    if html is None:
        print(data.summary)
        return 0
    write_page(html, data)
    print(f"wrote {html}")
    return 0


def write_page(path: Path, data: ReportData) -> None:
    try:
        path.write_text(render_page(data), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
