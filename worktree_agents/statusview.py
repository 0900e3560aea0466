"""What `wta status` and `wta run --json` report: the documented `data` object, and the
plain-text table made from it."""

from __future__ import annotations

from typing import Any

from worktree_agents.domain import FeatureState, RunStatus
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.lock import RunLock
from worktree_agents.plan import Plan
from worktree_agents.reconcile import status_overrides
from worktree_agents.store import FeatureRecord, Store
from worktree_agents.text import checkout_warning, money

FEATURE_KEYS = (
    "id",
    "title",
    "state",
    "reason",
    "detail",
    "branch",
    "base_commit",
    "commit",
    "attempts",
    "interrupted",
    "profile",
    "model",
    "cost_usd",
    "cost_estimated",
    "turns",
    "duration_s",
    "files_changed",
    "insertions",
    "deletions",
    "conflict_paths",
    "skipped_because",
    "summary",
)


def _feature(
    record: FeatureRecord | None,
    fid: str,
    title: str,
    profile: str,
    shown: tuple[FeatureState, str | None] | None,
) -> dict[str, Any]:
    data = _stored(record, fid, title, profile)
    if shown is not None:  # what reconciling with the refs makes of the stored state
        data["state"], data["detail"] = shown[0].value, shown[1]
    return data


def _stored(record: FeatureRecord | None, fid: str, title: str, profile: str) -> dict[str, Any]:
    if record is None:
        return {
            **dict.fromkeys(FEATURE_KEYS),
            "id": fid,
            "title": title,
            "state": FeatureState.PENDING.value,
            "attempts": 0,
            "interrupted": 0,
            "profile": profile,
            "cost_usd": 0.0,
            "cost_estimated": False,
            "conflict_paths": [],
        }
    return {
        "id": fid,
        "title": title,
        "state": record.state.value,
        "reason": record.reason.value if record.reason else None,
        "detail": record.detail,
        "branch": record.branch,
        "base_commit": record.base_commit,
        "commit": record.commit_sha,
        "attempts": record.attempts - record.interrupted,  # the tries: interrupted ones are not
        "interrupted": record.interrupted,
        "profile": record.profile or profile,
        "model": record.model,
        "cost_usd": round(record.cost_usd, 6),
        "cost_estimated": record.cost_estimated,
        "turns": record.turns,
        "duration_s": record.duration_s,
        "files_changed": record.files_changed,
        "insertions": record.insertions,
        "deletions": record.deletions,
        "conflict_paths": list(record.conflict_paths),
        "skipped_because": record.skipped_because,
        "summary": record.summary,
    }


def status_data(plan: Plan, repo: GitRepo, store: Store | None) -> dict[str, Any]:
    """The `data` of the status envelope: integration, totals, and one object per feature."""
    records = {r.id: r for r in store.all_features()} if store else {}
    run = store.latest_run() if store else None
    options: dict[str, Any] = run.options if run else {}
    alive = run is not None and RunLock(repo.state_dir()).is_held()
    shown = status_overrides(repo, plan, records, options.get("base_commit"), alive)
    features = [
        _feature(records.get(f.id), f.id, f.display_title, plan.profile_for(f), shown.get(f.id))
        for f in plan.features
    ]
    counts = {s: sum(1 for f in features if f["state"] == s.value) for s in FeatureState}
    durations = [f["duration_s"] for f in features if f["duration_s"] is not None]
    run_duration = (run.finished_at - run.started_at) if run and run.finished_at else None
    return {
        "integration": {
            "branch": plan.run.integration_branch,
            "base": options.get("base_branch") or plan.run.base,
            "base_commit": options.get("base_commit"),
            "head": repo.rev_parse(HEADS + plan.run.integration_branch),
        },
        "run": None
        if run is None
        else {
            "id": run.id,
            "status": (run.status if alive else _dead(run.status)).value,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "cost_usd": run.cost_usd,
            "checkout_changes": [c.as_json() for c in run.checkout_changes],
        },
        "totals": {
            "features": len(features),
            "merged": counts[FeatureState.MERGED],
            "done": counts[FeatureState.DONE],
            "failed": counts[FeatureState.FAILED],
            "skipped": counts[FeatureState.SKIPPED],
            "pending": counts[FeatureState.PENDING] + counts[FeatureState.READY],
            "running": counts[FeatureState.RUNNING]
            + counts[FeatureState.VERIFYING]
            + counts[FeatureState.INTEGRATING],
            "cost_usd": round(sum(f["cost_usd"] for f in features), 6),
            "duration_s": round(run_duration, 3)
            if run_duration is not None
            else (round(sum(durations), 3) if durations else None),
        },
        "features": features,
    }


def _tries(feature: dict[str, Any]) -> str:
    interrupted = f" (+{feature['interrupted']} interrupted)" if feature["interrupted"] else ""
    return f"{feature['attempts']}{interrupted}"


def _dead(status: RunStatus) -> RunStatus:
    """A run recorded as running whose lock holder is gone was killed: interrupted."""
    return RunStatus.INTERRUPTED if status is RunStatus.RUNNING else status


def duration_text(value: float | None) -> str:
    """A duration as the tables show it: `4.2s`, `12m05s`, or `-` when unknown."""
    if value is None:
        return "-"
    return f"{value:.1f}s" if value < 60 else f"{int(value // 60)}m{int(value % 60):02d}s"


def render_table(data: dict[str, Any]) -> str:
    """A fixed-width table, one row per feature, then a totals line."""
    header = ("FEATURE", "STATE", "REASON", "BRANCH", "TRIES", "COST", "TIME")
    rows = [
        (
            f["id"],
            f["state"],
            f["reason"] or (f"after {f['skipped_because']}" if f["skipped_because"] else "-"),
            f["branch"] or "-",
            _tries(f),
            money(f["cost_usd"], f["cost_estimated"], 2),
            duration_text(f["duration_s"]),
        )
        for f in data["features"]
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]  # fmt: skip
    totals = data["totals"]
    cost = money(totals["cost_usd"], any(f["cost_estimated"] for f in data["features"]), 2)
    integration = data["integration"]
    head = (integration["head"] or "not created yet")[:12]
    lines.append("")
    lines.append(
        f"{totals['merged']} merged, "
        + (f"{totals['done']} done, " if totals["done"] else "")
        + (f"{totals['running']} running, " if totals["running"] else "")
        + f"{totals['failed']} failed, {totals['skipped']} skipped,"
        f" {totals['pending']} pending of {totals['features']}; cost {cost};"
        f" integration {integration['branch']} at {head}"
    )
    changes = data["run"]["checkout_changes"] if data["run"] else []
    lines += [checkout_warning(c["paths"], c["features"]) for c in changes]
    return "\n".join(lines)
