"""What `wta status --remote REMOTE` reports: every plan feature as the remote has it (its
result record, else its claim), and what the recorded jobs spent together; the `data.remote`
object of the JSON envelope, and the plain-text table made from it."""

from __future__ import annotations

from typing import Any

from worktree_agents.plan import Plan
from worktree_agents.progress import money
from worktree_agents.remote_claims import RemoteState
from worktree_agents.remote_results import remote_cost
from worktree_agents.statusview import duration_text
from worktree_agents.text import plural

CLAIMED = "claimed"  # the state of a feature claimed with no result yet: running elsewhere
RESULT_KEYS = (
    "reason",
    "detail",
    "worker",
    "cost_usd",
    "cost_estimated",
    "turns",
    "model",
    "duration_s",
    "files_changed",
    "insertions",
    "deletions",
    "base_commit",
    "commit",
    "branch",
    "attempts",
    "finished_at",
)
FEATURE_KEYS = ("id", "state", *RESULT_KEYS, "claimed_by", "claimed_at")


def remote_data(plan: Plan, remote: str, state: RemoteState) -> dict[str, Any]:
    """`data.remote`: the remote's name, one object per plan feature in plan order (state
    done, failed, skipped, claimed, or null when the remote has nothing of it), the summed
    cost of every result record, and the records that could not be read."""
    return {
        "name": remote,
        "features": [_feature(f.id, state) for f in plan.features],
        "cost_usd": remote_cost(state.results),
        "warnings": list(state.problems),
    }


def _feature(feature_id: str, state: RemoteState) -> dict[str, Any]:
    data: dict[str, Any] = {**dict.fromkeys(FEATURE_KEYS), "id": feature_id}
    data.update(cost_usd=0.0, cost_estimated=False, files_changed=0, insertions=0, deletions=0)
    data["attempts"] = 0
    claim = state.claims.get(feature_id)
    if claim is not None:
        data.update(state=CLAIMED, claimed_by=claim.holder, claimed_at=claim.created_at)
    result = state.results.get(feature_id)
    if result is not None:
        data["state"] = result.state
        data.update({key: getattr(result, key) for key in RESULT_KEYS})
    return data


def _state(feature: dict[str, Any]) -> str:
    if feature["state"] is None:
        return "-"
    if feature["state"] == CLAIMED:
        return f"claimed by {feature['claimed_by']}"
    return str(feature["state"])


def _changes(feature: dict[str, Any]) -> str:
    if feature["state"] in (None, CLAIMED, "skipped"):  # a skipped feature changed nothing
        return "-"
    files = plural(feature["files_changed"], "file")
    return f"{files}, +{feature['insertions']} -{feature['deletions']}"


def render_remote(remote: dict[str, Any]) -> str:
    """A fixed-width table, one row per plan feature, then a totals line."""
    header = ("FEATURE", "REMOTE", "REASON", "WORKER", "COST", "MODEL", "TIME", "CHANGES")
    rows = [header]
    for f in remote["features"]:
        ran = f["state"] not in (None, CLAIMED)
        rows.append(
            (
                f["id"],
                _state(f),
                f["reason"] or "-",
                f["worker"] or "-",
                money(f["cost_usd"], f["cost_estimated"], 2) if ran else "-",
                f["model"] or "-",
                duration_text(f["duration_s"]),
                _changes(f),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    states = [f["state"] for f in remote["features"]]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("done", "failed", "skipped", CLAIMED))
    estimated = any(f["cost_estimated"] for f in remote["features"])
    lines += [
        "",
        f"{remote['name']}: {counts}, {states.count(None)} not started of {len(states)};"
        f" cost {money(remote['cost_usd'], estimated, 2)}",
    ]
    return "\n".join(lines)
