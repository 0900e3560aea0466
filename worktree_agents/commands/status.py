"""`wta status`, `wta show`, `wta diff` and `wta logs`: reading a run, never changing it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from worktree_agents.domain import FeatureId, RunStatus
from worktree_agents.errors import UsageError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.lock import RunLock
from worktree_agents.merge import feature_trailers
from worktree_agents.output import envelope, print_json
from worktree_agents.paths import AttemptFiles, StatePaths
from worktree_agents.plan import LoadedPlan
from worktree_agents.plan_load import load_repo_and_plan
from worktree_agents.records import RunRecord
from worktree_agents.statusview import render_table, status_data
from worktree_agents.store import (
    DB_NAME,
    DONE_IN_PLAN,
    AttemptOutcome,
    AttemptRecord,
    FeatureRecord,
    Store,
)
from worktree_agents.text import money, plural


def _open(repo_dir: Path, plan_path: Path) -> tuple[GitRepo, LoadedPlan, Store | None]:
    repo, loaded = load_repo_and_plan(repo_dir, plan_path)
    has_state = (repo.state_dir() / DB_NAME).exists()
    return repo, loaded, Store.open(repo.state_dir()) if has_state else None


def run_status(repo_dir: Path, plan_path: Path, as_json: bool, remote: str | None = None) -> int:
    if remote is not None:
        return run_remote_status(repo_dir, plan_path, remote, as_json)
    repo, loaded, store = _open(repo_dir, plan_path)
    try:
        data = status_data(loaded.plan, repo, store)
    finally:
        if store is not None:
            store.close()
    if as_json:
        print_json(envelope("status", 0, data))
    else:
        print(render_table(data))
        if data["run"] is not None and data["run"]["status"] == RunStatus.INTERRUPTED:
            print(f"run {data['run']['id']} was interrupted; `wta run` resumes it")
    return 0


def run_remote_status(repo_dir: Path, plan_path: Path, remote: str, as_json: bool) -> int:
    """`wta status --remote REMOTE`: the remote's claims and results for each plan feature;
    with --json, next to the usual local status data."""
    from worktree_agents.remote_claims import read_remote
    from worktree_agents.remoteview import remote_data, render_remote

    repo, loaded, store = _open(repo_dir, plan_path)
    try:
        found = remote_data(loaded.plan, remote, read_remote(repo, remote))
        if not as_json:
            print(render_remote(found))
            return 0
        data = status_data(loaded.plan, repo, store)
    finally:
        if store is not None:
            store.close()
    print_json(envelope("status", 0, {**data, "remote": found}))
    return 0


def _record(store: Store | None, loaded: LoadedPlan, feature_id: str) -> FeatureRecord | None:
    if feature_id not in loaded.plan.by_id:
        raise UsageError(f"the plan has no feature {feature_id!r}; see `wta status` for the ids")
    return store.get(FeatureId(feature_id)) if store else None


def run_show(repo_dir: Path, plan_path: Path, feature_id: str) -> int:
    _, loaded, store = _open(repo_dir, plan_path)
    try:
        record = _record(store, loaded, feature_id)
        attempts = store.attempts(record.id) if store and record else []
    finally:
        if store is not None:
            store.close()
    feature = loaded.plan.by_id[FeatureId(feature_id)]
    lines = [f"{feature.id}: {feature.display_title}"]
    if record is None and feature.done:
        lines += ["state: merged", f"detail: {DONE_IN_PLAN}"]
    elif record is None:
        lines.append("state: pending (not run yet)")
    else:
        reason = f" ({record.reason.value})" if record.reason else ""
        lines.append(f"state: {record.state.value}{reason}")
        for label, value in (
            ("detail", record.detail),
            ("branch", record.branch),
            ("base", record.base_commit),
            ("commit", record.commit_sha),
            ("profile", record.profile),
            ("model", record.model),
            ("summary", record.summary),
            ("skipped because", record.skipped_because),
        ):
            if value:
                lines.append(f"{label}: {value}")
        if record.files_changed is not None:
            lines.append(
                f"changes: {plural(record.files_changed, 'file')},"
                f" +{record.insertions} -{record.deletions}"
            )
        if record.conflict_paths:
            lines.append(f"conflict paths: {', '.join(record.conflict_paths)}")
        lines.append(f"cost: {money(record.cost_usd, record.cost_estimated)}")
    if feature.depends_on:
        lines.append(f"depends on: {', '.join(feature.depends_on)}")
    for attempt in attempts:
        lines += _attempt_lines(attempt)
    print("\n".join(lines))
    return 0


def _attempt_lines(attempt: AttemptRecord) -> list[str]:
    """An attempt in `wta show`: how it ended, what it cost, its log and conflict report."""
    outcome = attempt.outcome.value if attempt.outcome else "running"
    why = f" ({attempt.reason.value}): {attempt.detail}" if attempt.reason else ""
    if attempt.outcome is AttemptOutcome.INTERRUPTED:  # not a try: say why it stopped
        why = f" (not counted as a try): {attempt.detail}"
    if attempt.cost_usd:
        why += f"; cost {money(attempt.cost_usd, attempt.cost_estimated)}"
    lines = [f"attempt {attempt.n}: {outcome}{why}"]
    if attempt.model:
        lines.append(f"  model asked for: {attempt.model}")
    if attempt.log_path:
        lines.append(f"  log: {attempt.log_path}")
        conflict = AttemptFiles.of_log(attempt.log_path).conflict
        if conflict.exists():
            lines.append(f"  conflict report: {conflict}")
            lines += ["    " + line for line in conflict.read_text(encoding="utf-8").splitlines()]
    return lines


def run_diff(repo_dir: Path, plan_path: Path, feature_id: str) -> int:
    """The feature's change: as integrated if merged, else its branch against its base."""
    repo, loaded, store = _open(repo_dir, plan_path)
    try:
        record = _record(store, loaded, feature_id)
    finally:
        if store is not None:
            store.close()
    if loaded.plan.by_id[FeatureId(feature_id)].done:
        print(f"{feature_id} is marked done in the plan (done = true): wta made no change for it")
        return 0
    if record is None or record.base_commit is None:
        raise UsageError(f"feature {feature_id!r} has not run yet, so it has no diff")
    integration = HEADS + loaded.plan.run.integration_branch
    commits = [c for c, f in feature_trailers(repo, integration) if f == feature_id]
    if commits:
        start, end = f"{commits[0]}^", commits[-1]
        where = f"on {loaded.plan.run.integration_branch}"
    else:
        branch_tip = repo.rev_parse(HEADS + record.branch) if record.branch else None
        start, end = record.base_commit, branch_tip or record.base_commit
        where = f"on {record.branch or 'its branch'} since its base {record.base_commit[:12]}"
    diff = repo.run("diff", "--no-color", "--no-ext-diff", start, end).stdout
    sys.stdout.write(diff or f"feature {feature_id!r} has no changes {where}\n")
    return 0


def run_logs(
    repo_dir: Path,
    plan_path: Path,
    feature_id: str | None,
    follow: bool,
    run_id: str | None = None,
) -> int:
    """A run's events (the latest, or `run_id`'s), or a feature's latest attempt log."""
    repo, loaded, store = _open(repo_dir, plan_path)
    try:
        if feature_id is None:
            run = pick_run(store, run_id)
            path = StatePaths(repo.state_dir()).run_events(run.id)
        else:
            record = _record(store, loaded, feature_id)
            attempts = store.attempts(record.id) if store and record else []
            if not attempts or not attempts[-1].log_path:
                raise UsageError(f"feature {feature_id!r} has no attempt log yet")
            path = Path(attempts[-1].log_path)
    finally:
        if store is not None:
            store.close()
    _print_log(path, feature_id is None, follow, repo.state_dir(), loaded.plan.run.max_log_bytes)
    return 0


NO_RUN = "no run has been recorded in this repository yet; `wta run` makes one"


def pick_run(store: Store | None, run_id: str | None) -> RunRecord:
    """The run `run_id` names, or the latest; a UsageError when there is none."""
    runs = store.runs() if store else []
    if not runs:
        raise UsageError(NO_RUN)
    if run_id is None:
        return runs[-1]
    found = next((r for r in runs if r.id == run_id), None)
    if found is None:
        raise UsageError(f"no run {run_id!r} is recorded; see `wta logs --runs` for the run ids")
    return found


def run_list_runs(repo_dir: Path, plan_path: Path) -> int:
    """`wta logs --runs`: every recorded run, oldest first."""
    from worktree_agents.runsview import render_runs

    _, _, store = _open(repo_dir, plan_path)
    if store is None:
        raise UsageError(NO_RUN)
    with store:
        if not store.runs():
            raise UsageError(NO_RUN)
        print(render_runs(store))
    return 0


def _print_log(path: Path, events: bool, follow: bool, state_dir: Path, max_bytes: int) -> None:
    """Print the log; with `follow`, keep printing new lines while a run holds the lock.
    (`shown` counts an attempt log's output as written, so a cut in it is seen once.)"""
    from worktree_agents.events import EventLog  # pydantic's event models: for logs only
    from worktree_agents.logcap import read_from
    from worktree_agents.progress import describe

    shown = 0
    while True:
        if events:
            for event in EventLog.read(path)[shown:]:
                shown += 1
                line = describe(event)
                if line is not None:
                    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
                    sys.stdout.write(f"{stamp} {line}\n")
        else:
            data = path.read_bytes() if path.exists() else b""
            new, end = read_from(data, shown, max_bytes)
            complete = new[: new.rfind(b"\n") + 1] if follow else new
            shown = end - (len(new) - len(complete))
            sys.stdout.write(complete.decode("utf-8", errors="replace"))
        sys.stdout.flush()
        if not follow or not _run_active(state_dir):
            return
        time.sleep(0.2)


def _run_active(state_dir: Path) -> bool:
    return RunLock(state_dir).is_held()
