"""`wta report --html`: one self-contained page (inline CSS and SVG, no script, nothing
from the network) with the summary, `#dag`, `#timeline`, `#features` and `#costs`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any

from worktree_agents.dag import FeatureGraph
from worktree_agents.dag_layout import layered_layout
from worktree_agents.progress import money
from worktree_agents.report_css import CSS
from worktree_agents.report_svg import PART_COLOURS, STATE_COLOURS, dag_svg, timeline_svg
from worktree_agents.runtimeline import AttemptSpan, Timeline
from worktree_agents.statusview import duration_text


@dataclass(frozen=True)
class AttemptDetail:
    """One attempt as the features table shows it (from the state store)."""

    n: int
    outcome: str
    reason: str | None
    detail: str | None
    conflict: str | None  # the attempt's conflict report, when its merge conflicted


@dataclass
class ReportData:
    title: str
    run: dict[str, Any]  # status_data's `run`
    status: dict[str, Any]  # status_data
    timeline: Timeline
    graph: FeatureGraph
    critical: tuple[str, ...]
    summary: str
    ran_critical: tuple[str, ...] = ()  # the chain that set the run's length
    attempts: dict[str, list[AttemptDetail]] = field(default_factory=dict)


def _legend(items: list[tuple[str, str]], cls: str = "") -> str:
    return (
        f'<ul class="legend {cls}">'
        + "".join(
            f'<li><span class="swatch" style="background:{colour}"></span>{escape(name)}</li>'
            for name, colour in items
        )
        + "</ul>"
    )


def _dag_section(data: ReportData) -> str:
    features = data.status["features"]
    states = {
        f["id"]: (f["state"], f["reason"] or (f"after {f['skipped_because']}"
                                             if f["skipped_because"] else None))
        for f in features
    }  # fmt: skip
    shown = sorted({s for s, _ in states.values()}, key=list(STATE_COLOURS).index)
    legend = _legend([(s, STATE_COLOURS[s][0]) for s in shown])
    critical = " → ".join(data.critical)
    return (
        '<section id="dag"><h2>The plan</h2>'
        f'{legend}<p class="note"><span class="crit-key"></span> the critical path as planned'
        f" (most work first): {escape(critical)}</p>"
        '<div class="scroll">'
        + dag_svg(data.graph, layered_layout(data.graph), states, data.critical)
        + "</div></section>"
    )


def _timeline_section(data: ReportData) -> str:
    legend = _legend(
        [("in its slot between steps (worktree, commit, guardrails)", PART_COLOURS["setup"]),
         ("agent", PART_COLOURS["agent"]),
         ("checks", PART_COLOURS["verify"]), ("merge (queue, merge, checks after it)",
                                              PART_COLOURS["merge"])]
    )  # fmt: skip
    return (
        '<section id="timeline"><h2>Timeline</h2>'
        f'{legend}<p class="note">One row per feature, one bar per attempt; a thin line before'
        " a bar is the time the feature was ready and waited for a free slot. ✓ merged or"
        " done, ✕ failed, ↻ retried. In bold: the critical path as it ran.</p>"
        f'<div class="scroll">{timeline_svg(data.timeline, data.ran_critical)}</div></section>'
    )


def _diffstat(f: dict[str, Any]) -> str:
    if f["files_changed"] is None:
        return "-"
    files = f"{f['files_changed']} file{'s' if f['files_changed'] != 1 else ''}"
    return (f'{files} <span class="ins">+{f["insertions"]}</span>'
            f' <span class="del">\N{MINUS SIGN}{f["deletions"]}</span>')  # fmt: skip


def _details(attempts: list[AttemptDetail]) -> str:
    """The failed attempts' reasons and the conflict reports, for the row below a feature."""
    out = []
    for a in attempts:
        if a.outcome == "ok" and a.conflict is None:
            continue
        why = f" ({escape(a.reason)})" if a.reason else ""
        text = f": {escape(a.detail)}" if a.detail else ""
        out.append(f"<p>attempt {a.n}: {escape(a.outcome)}{why}{text}</p>")
        if a.conflict:
            out.append(f'<pre class="conflict">{escape(a.conflict.rstrip())}</pre>')
    return "".join(out)


def _features_section(data: ReportData) -> str:
    rows = []
    for f in data.status["features"]:
        state = f["state"]
        fill, ink = STATE_COLOURS.get(state, STATE_COLOURS["pending"])
        reason = f["reason"] or (f"after {f['skipped_because']}" if f["skipped_because"] else "")
        tries = str(f["attempts"]) + (
            f" (+{f['interrupted']} interrupted)" if f["interrupted"] else ""
        )
        rows.append(
            f'<tr data-feature="{escape(f["id"])}"><td><b>{escape(f["id"])}</b>'
            f'<div class="title">{escape(f["title"])}</div></td>'
            f'<td><span class="pill" style="background:{fill};color:{ink}">{escape(state)}'
            f'</span></td><td>{escape(reason)}<div class="title">{escape(f["detail"] or "")}'
            f'</div></td><td class="num">{escape(str(tries))}</td>'
            f'<td class="num">{money(f["cost_usd"], f["cost_estimated"], 2)}</td>'
            f'<td class="num">{duration_text(f["duration_s"])}</td><td>{_diffstat(f)}</td>'
            f"<td><code>{escape(f['branch'] or '-')}</code></td></tr>"
        )
        details = _details(data.attempts.get(f["id"], []))
        if details:
            rows.append(f'<tr class="details"><td colspan="8">{details}</td></tr>')
    head = "".join(
        f"<th>{h}</th>"
        for h in ("feature", "state", "reason", "tries", "cost", "time", "changes", "branch")
    )
    return (
        '<section id="features"><h2>Features</h2><table class="features">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _model(attempt: AttemptSpan) -> str:
    if attempt.model:
        return attempt.model
    return f"{attempt.backend} (its default)" if attempt.backend else "unknown"


def _cost_table(title: str, costs: dict[str, float]) -> str:
    top = max(costs.values(), default=0.0) or 1.0
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{money(cost, False, 4)}</td>'
        f'<td class="barcell"><span class="costbar" style="width:{100 * cost / top:.0f}%">'
        "</span></td></tr>"
        for name, cost in sorted(costs.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return f'<table class="costs"><caption>{title}</caption><tbody>{rows}</tbody></table>'


def _costs_section(data: ReportData) -> str:
    by_feature: dict[str, float] = defaultdict(float)
    by_model: dict[str, float] = defaultdict(float)
    for attempt in data.timeline.attempts:
        by_feature[attempt.feature_id] += attempt.cost_usd
        by_model[_model(attempt)] += attempt.cost_usd
    total = sum(by_feature.values())
    return (
        f'<section id="costs"><h2>Cost of this run: {money(total, False, 4)}</h2>'
        f'<div class="pair">{_cost_table("by feature", by_feature)}'
        f"{_cost_table('by model', by_model)}</div></section>"
    )


def _header(data: ReportData) -> str:
    totals, run = data.status["totals"], data.run
    cells = [
        ("run", run["id"]),
        ("status", run["status"]),
        ("took", duration_text(data.timeline.duration)),
        ("merged", f"{totals['merged']} of {totals['features']}"),
        ("failed", str(totals["failed"])),
        ("skipped", str(totals["skipped"])),
        ("slots", str(data.timeline.slots)),
        ("cost", money(run["cost_usd"], False, 2)),
    ]
    figures = "".join(
        f'<div class="{"bad" if k == "failed" and v != "0" else ""}"><span>{k}</span>'
        f"<b>{escape(v)}</b></div>"
        for k, v in cells
    )
    return (
        f'<header><h1>{escape(data.title)}</h1><div class="figures">{figures}</div>'
        f'<pre class="summary">{escape(data.summary)}</pre></header>'
    )


def render_page(data: ReportData) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(data.title)}</title><style>{CSS}</style></head><body>"
        + _header(data)
        + _dag_section(data)
        + _timeline_section(data)
        + _features_section(data)
        + _costs_section(data)
        + "</body></html>\n"
    )
