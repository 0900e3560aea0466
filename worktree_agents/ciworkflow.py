"""`wta ci github`: the plan's feature DAG as a GitHub Actions workflow.

One job per feature, in topological order, each `needs:` the jobs of its dependencies and
runs `wta run-feature ID --push origin`; a last job, `merge`, needs them all and runs
`wta merge --push origin`. The git remote is the only state the jobs share.

GitHub's documented limits that shape the workflow (checked 2025, docs.github.com):
- https://docs.github.com/en/actions/reference/limits
  - "Job Matrix: 256 jobs / workflow run". It is the only number GitHub gives for jobs in
    one run (jobs written out are "unlimited ... within the workflow usage limits"), so a
    generated workflow keeps to it: at most 255 feature jobs and the merge job.
  - "Workflow file size: 500 KB per file": a larger workflow file starts no runs.
  - "Job execution time: 6 hours" on GitHub-hosted runners: `timeout-minutes` <= 360.
  - "Re-run: 50 re-runs" of a workflow run, full or of failed jobs.
- https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions
  #jobsjob_id: a job id "must start with a letter or _ and contain only alphanumeric
  characters, - or _" (and, says GitHub's error for a bad one, be under 100 characters).
  GitHub documents no limit on the length of `needs`.
A plan over a limit is an error (exit 2) that names the limit and says to split the plan:
splitting it here would need workflows that start one another, whose failures and re-runs
no longer follow the feature DAG.
"""

from __future__ import annotations

import hashlib
import math
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from worktree_agents import __version__
from worktree_agents.domain import FeatureId
from worktree_agents.errors import UsageError
from worktree_agents.plan import Feature, Plan
from worktree_agents.yamlemit import Comment, Node, Raw, emit

LIMITS_URL = "https://docs.github.com/en/actions/reference/limits"
MAX_JOBS = 256  # per workflow run
MAX_FILE_BYTES = 500 * 1000  # "500 KB"; read as the smaller of 500 000 and 512 000
MAX_TIMEOUT_MINUTES = 360  # a job on a GitHub-hosted runner
OVERHEAD_MINUTES = 15  # checkout, Python, pip install, fetches and pushes
MERGE_JOB = "merge"
JUNIT_FILE = "wta-junit.xml"
PYTHON = "3.12"
DEFAULT_PACKAGE = f"worktree-agents=={__version__}"

ALWAYS = Raw("${{ !cancelled() }}")  # run after failed needs (and steps), not when cancelled


@dataclass(frozen=True)
class WorkflowOptions:
    """What `wta ci github` was asked for; `plan_arg` is the plan relative to the repository
    root, or None for the default `wta.toml` there."""

    plan_arg: str | None = None
    open_prs: bool = False
    package: str = DEFAULT_PACKAGE


def job_ids(features: Iterable[FeatureId]) -> dict[FeatureId, str]:
    """A valid, unique GitHub job id per feature: `f-` and the id with `.` as `-`, so
    `2fa.login` is `f-2fa-login`. Ids that would then collide (`a.b` and `a-b`) are told
    apart by a hash of the feature id, not by plan order, so reordering the plan moves no
    job id; only the one dot-free id of a collision keeps the plain form."""
    ids = list(features)
    plain = {f: "f-" + f.replace(".", "-") for f in ids}
    counts = Counter(plain.values())
    out = {f: job for f, job in plain.items() if counts[job] == 1 or "." not in f}
    taken = set(out.values())
    for feature in sorted(f for f in ids if f not in out):
        digest = hashlib.sha256(feature.encode()).hexdigest()
        size = 6
        while f"{plain[feature]}-{digest[:size]}" in taken:
            size += 1
        out[feature] = f"{plain[feature]}-{digest[:size]}"
        taken.add(out[feature])
    return {f: out[f] for f in ids}


def job_name(feature: Feature) -> str:
    """What GitHub shows for the job: the id and the title, on one line. `${{` is broken up
    because GitHub would evaluate it as an expression in a job's name."""
    title = " ".join((feature.title or "").split())
    name = f"{feature.id}: {title}" if title else str(feature.id)
    return name.replace("${{", "$ {{")


def feature_minutes(plan: Plan, feature: Feature) -> int:
    """The longest the feature's job can need by the plan: every attempt (escalating as the
    pipeline does) with its setup and verify commands, plus the job's own overhead."""
    run, verify = plan.run, plan.verify
    per_try = len(run.setup) * run.setup_timeout + len(verify.commands) * verify.timeout
    name, seconds = plan.profile_for(feature), 0.0
    for _ in range(plan.guardrails.max_attempts):
        profile = plan.resolve_profile(name)
        seconds += profile.timeout_s + per_try
        name = profile.escalate_to or name
    return OVERHEAD_MINUTES + math.ceil(seconds / 60)


def merge_minutes(plan: Plan) -> int:
    """`wta merge` verifies each feature after merging it, when the plan says so; a merge
    itself takes seconds (6 each is generous)."""
    verify = plan.verify
    per_feature = 6.0 + (len(verify.commands) * verify.timeout if verify.after_merge else 0.0)
    return OVERHEAD_MINUTES + math.ceil(len(plan.features) * per_feature / 60)


def _timeout(minutes: int) -> dict[str, Node]:
    if minutes <= MAX_TIMEOUT_MINUTES:
        return {"timeout-minutes": minutes}
    why = f"the plan allows {minutes} minutes; a GitHub-hosted job stops at {MAX_TIMEOUT_MINUTES}"
    return {Comment(why): None, "timeout-minutes": MAX_TIMEOUT_MINUTES}


def _setup_steps() -> list[Node]:
    return [
        {
            # wta reads the history: trailers on integration, the base, the dependencies
            "name": "Check out with full history",
            "uses": "actions/checkout@v4",
            "with": {"fetch-depth": 0},
        },
        {"uses": "actions/setup-python@v5", "with": {"python-version": PYTHON}},
        {"name": "Install wta", "run": 'python -m pip install "$WTA_PACKAGE"'},
    ]


def _wta(options: WorkflowOptions, *args: str) -> str:
    plan = ("--plan", options.plan_arg) if options.plan_arg is not None else ()
    return " ".join(("wta", *args, *plan))


def _feature_job(
    plan: Plan, feature: Feature, ids: Mapping[FeatureId, str], options: WorkflowOptions
) -> dict[str, Node]:
    job: dict[str, Node] = {"name": job_name(feature)}
    if feature.depends_on:
        job["needs"] = [ids[d] for d in feature.depends_on]
        job["if"] = ALWAYS  # the feature records itself skipped, with the reason
    job["runs-on"] = "ubuntu-latest"
    job.update(_timeout(feature_minutes(plan, feature)))
    run_step: dict[str, Node] = {
        "name": f"Run feature {feature.id}",
        "env": {"ANTHROPIC_API_KEY": Raw("${{ secrets.ANTHROPIC_API_KEY }}")},
        "run": _wta(options, "run-feature", feature.id, "--push", "origin"),
    }
    job["steps"] = [*_setup_steps(), run_step]
    return job


def _merge_job(plan: Plan, ids: Mapping[FeatureId, str], options: WorkflowOptions) -> Node:
    job: dict[str, Node] = {
        "name": f"Merge the results onto {plan.run.integration_branch}",
        "needs": [ids[f] for f in plan.graph.topological],
        "if": ALWAYS,
        "runs-on": "ubuntu-latest",
    }
    job.update(_timeout(merge_minutes(plan)))
    if options.open_prs:  # a job's permissions replace the workflow's: contents again
        job["permissions"] = {"contents": "write", "pull-requests": "write"}
    steps: list[Node] = [*_setup_steps()]
    merge = _wta(options, "merge", "--push", "origin", "--junit", JUNIT_FILE)
    steps.append({"name": "Merge every result, in dependency order", "run": merge})
    if options.open_prs:
        steps.append(
            {
                "name": "Open or update one pull request per feature",
                "if": ALWAYS,
                "env": {"GH_TOKEN": Raw("${{ secrets.GITHUB_TOKEN }}")},
                "run": _wta(options, "review", "--push", "origin", "--open-prs"),
            }
        )
    upload = {"name": "wta-junit", "path": JUNIT_FILE, "if-no-files-found": "ignore"}
    steps.append(
        {
            "name": "Publish the JUnit report",
            "if": ALWAYS,
            "uses": "actions/upload-artifact@v4",
            "with": upload,
        }
    )
    job["steps"] = steps
    return job


def _header(plan_name: str, regenerate: str) -> list[str]:
    return [
        f"# Generated by `wta ci github` from {plan_name}: one job per feature, each needing the",
        "# jobs of the features it depends on, then one job that merges every result.",
        "# Edit the plan, not this file, and write it again after changing the features:",
        f"#   {regenerate}",
        f"# GitHub's limits it keeps to: {LIMITS_URL}",
    ]


def _top(plan: Plan, options: WorkflowOptions) -> dict[str, Node]:
    permissions = "GITHUB_TOKEN may push branches and refs: claims, results, integration."
    return {
        "name": "wta",
        Comment(
            "Started by hand (Actions, wta, Run workflow): every run spends money on agents."
        ): None,
        Raw("on"): {"workflow_dispatch": None},  # `on` as GitHub spells it
        Comment(permissions): None,
        "permissions": {"contents": "write"},
        Comment(
            "One run at a time, or two would race for the same claims and branches. A run in\n"
            "progress is never cancelled: its agents' work would be paid for and thrown away,\n"
            "and its claims left for a later run to wait out; a new run waits instead."
        ): None,
        "concurrency": {"group": f"wta-{plan.run.integration_branch}", "cancel-in-progress": False},
        Comment(
            "What pip installs: a version from your package index, or a git URL such as\n"
            "git+https://github.com/OWNER/REPO@TAG (`wta ci github --package SPEC`)."
        ): None,
        "env": {"WTA_PACKAGE": options.package},
    }


def render_workflow(plan: Plan, plan_name: str, options: WorkflowOptions) -> str:
    """The workflow's text; raises UsageError (exit 2) for a plan over GitHub's limits."""
    count = len(plan.features)
    if count + 1 > MAX_JOBS:
        raise UsageError(
            f"{plan_name} has {count} features, and a GitHub Actions workflow run holds at most"
            f" {MAX_JOBS} jobs ({LIMITS_URL}): {MAX_JOBS - 1} features and the merge job;"
            " split the plan into plans of at most"
            f" {MAX_JOBS - 1} features, and write a workflow for each with"
            " `wta ci github --plan PLAN --stdout > .github/workflows/NAME.yml`"
        )
    if "${{" in options.package:
        raise UsageError("--package: `${{` would be read by GitHub as an expression; remove it")
    ids = job_ids(plan.graph.topological)
    jobs: list[str] = []
    for feature_id in plan.graph.topological:
        job = _feature_job(plan, plan.by_id[feature_id], ids, options)
        jobs += ["", *emit({ids[feature_id]: job}, 2)]
    jobs += ["", *emit({MERGE_JOB: _merge_job(plan, ids, options)}, 2)]
    sections = [emit({key: value}) for key, value in _top(plan, options).items()]
    lines = _header(plan_name, regenerate_command(options))
    for section in sections:
        lines += section if section[0].startswith("#") else [*section, ""]
    text = "\n".join([*lines, "jobs:", *jobs[1:], ""])
    size = len(text.encode())
    if size > MAX_FILE_BYTES:
        raise UsageError(
            f"the workflow for {plan_name} is {size} bytes, and GitHub starts no runs from a"
            f" workflow file over 500 KB ({LIMITS_URL}); shorten the feature titles,"
            " or split the plan and write a workflow for each part"
        )
    return text


def regenerate_command(options: WorkflowOptions) -> str:
    args = ["wta", "ci", "github", "--force"]
    if options.plan_arg is not None:
        args += ["--plan", options.plan_arg]
    if options.open_prs:
        args.append("--open-prs")
    if options.package != DEFAULT_PACKAGE:
        args += ["--package", options.package]
    return shlex.join(args)
