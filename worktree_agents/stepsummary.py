"""The Markdown summary `wta run` and `wta merge` append to `$GITHUB_STEP_SUMMARY` in GitHub
Actions: a heading, the totals, a table of the features, and the DAG as a mermaid graph with
its nodes coloured by state."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from worktree_agents.progress import money
from worktree_agents.statusview import duration_text
from worktree_agents.text import plural, shorten

TITLE_MAX = 40
# fill, stroke and text colour per state; GitHub renders mermaid's classDef as given
STATE_STYLES = {
    "merged": "fill:#dafbe1,stroke:#1a7f37,color:#1a7f37",
    "done": "fill:#ddf4ff,stroke:#0969da,color:#0969da",
    "failed": "fill:#ffebe9,stroke:#cf222e,color:#cf222e",
    "skipped": "fill:#eaeef2,stroke:#6e7781,color:#57606a,stroke-dasharray:4 3",
    "pending": "fill:#ffffff,stroke:#8c959f,color:#57606a",
    "ready": "fill:#ffffff,stroke:#8c959f,color:#57606a",
    "running": "fill:#fff8c5,stroke:#9a6700,color:#9a6700",
    "verifying": "fill:#fff8c5,stroke:#9a6700,color:#9a6700",
    "integrating": "fill:#fff8c5,stroke:#9a6700,color:#9a6700",
}
# punctuation that Markdown or GitHub would read as markup inside a table cell; `$` starts
# math and `@` a mention on GitHub
_MARKDOWN = re.compile(r"([\\`*_\[\]<>&~|$@])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# a mermaid label is quoted: these would end it, or be read as markup or an entity
_MERMAID = {'"': "#quot;", "#": "#35;", "&": "#38;", "<": "#lt;", ">": "#gt;", "`": "#96;"}


def markdown_cell(text: str) -> str:
    """`text` shown as it is in one Markdown table cell (on one line)."""
    return _MARKDOWN.sub(r"\\\1", _CONTROL.sub(" ", text)).strip()


def mermaid_label(text: str) -> str:
    """`text` as the inside of a quoted mermaid node label."""
    flat = _CONTROL.sub(" ", text).strip()
    return "".join(_MERMAID.get(c, c) for c in flat)


def _diffstat(f: Mapping[str, Any]) -> str:
    if f["files_changed"] is None:
        return "-"
    return f"{plural(f['files_changed'], 'file')}, +{f['insertions']} -{f['deletions']}"


def _reason(f: Mapping[str, Any]) -> str:
    if f["reason"]:
        return str(f["reason"])
    return f"after {f['skipped_because']}" if f["skipped_because"] else ""


def _table(features: Sequence[Mapping[str, Any]]) -> list[str]:
    header = ("feature", "title", "state", "reason", "attempts", "cost", "duration",
              "diffstat", "branch")  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for f in features:
        cells = (
            f["id"],
            f["title"] if f["title"] != f["id"] else "",
            f["state"],
            _reason(f),
            str(f["attempts"]),
            money(f["cost_usd"], f["cost_estimated"], 2),
            duration_text(f["duration_s"]),
            _diffstat(f),
            f["branch"] or "-",
        )
        lines.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    return lines


def _node_label(f: Mapping[str, Any]) -> str:
    """The id, the title when there is one (shortened: the graph is a picture), the state."""
    title = [shorten(f["title"], TITLE_MAX)] if f["title"] != f["id"] else []
    return "<br/>".join(mermaid_label(part) for part in [f["id"], *title, f["state"]])


def _graph(features: Sequence[Mapping[str, Any]], deps: Mapping[str, Sequence[str]]) -> list[str]:
    """The DAG, dependencies pointing at their dependents. Node names are n1, n2..: a
    feature id may be a mermaid keyword (`end`) or hold characters mermaid reads."""
    node = {f["id"]: f"n{i}" for i, f in enumerate(features, 1)}
    lines = ["```mermaid", "flowchart LR"]
    lines += [f'  {node[f["id"]]}["{_node_label(f)}"]' for f in features]
    lines += [f"  {node[d]} --> {node[f['id']]}" for f in features for d in deps.get(f["id"], ())
              if d in node]  # fmt: skip
    states = list(dict.fromkeys(f["state"] for f in features))
    for state in states:
        members = ",".join(node[f["id"]] for f in features if f["state"] == state)
        lines += [f"  classDef {state} {STATE_STYLES.get(state, '')}".rstrip(),
                  f"  class {members} {state}"]  # fmt: skip
    return [*lines, "```"]


def step_summary(command: str, data: Mapping[str, Any], deps: Mapping[str, Sequence[str]]) -> str:
    """The Markdown for one `wta run` or `wta merge`, ending in a blank line so that
    summaries appended one after the other stay apart."""
    totals, integration = data["totals"], data["integration"]
    run_id = data.get("run_id")
    heading = f"## wta {command}" + (f" {run_id}" if run_id else "")
    estimated = any(f["cost_estimated"] for f in data["features"])
    head = (integration["head"] or "not created yet")[:12]
    counts = ", ".join(
        f"{totals[key]} {key}"
        for key in ("merged", "done", "failed", "skipped", "pending", "running")
        if totals[key] or key in ("merged", "failed", "skipped")
    )
    summary = (
        f"{counts} of {totals['features']}; cost {money(totals['cost_usd'], estimated, 2)};"
        f" duration {duration_text(totals['duration_s'])};"
        f" integration {markdown_cell(integration['branch'])} at {head}"
    )
    lines = [heading, "", summary, "", *_table(data["features"]), ""]
    lines += [*_graph(data["features"], deps), ""]
    return "\n".join(lines) + "\n"
