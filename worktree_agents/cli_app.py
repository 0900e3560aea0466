"""The `wta` commands as typer declares them: each parses its arguments, then imports and
calls its module in commands/ (so a command loads only what it uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worktree_agents import __version__
from worktree_agents.cli_ci import ci_app
from worktree_agents.cli_options import (
    ColorOption,
    FeatureArgument,
    JsonOption,
    JunitOption,
    NoLiveOption,
    PlanOption,
    plan_path,
)
from worktree_agents.commands.plan import PlanFormat
from worktree_agents.domain import ColorMode
from worktree_agents.errors import UsageError
from worktree_agents.output import JsonMode

app = typer.Typer(
    name="wta",
    help="Run coding agents in parallel git worktrees, driven by a feature DAG.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: a flag shows as `--json`, not `--json <bool>`
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"wta {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Run coding agents in parallel git worktrees, driven by a feature DAG."""


@app.command()
def init(
    plan: PlanOption = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Import an Autocoder/AutoForge features.db or a quickstart feature_list.json.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing plan.")] = False,
) -> int:
    """Write a commented starter wta.toml, or import a feature list."""
    from worktree_agents.commands.init import run_init

    print(run_init(plan_path(plan), source, force))
    return 0


@app.command("plan")
def plan_command(
    plan: PlanOption = None,
    fmt: Annotated[
        PlanFormat | None,
        typer.Option("--format", help="Output format (default: text).", case_sensitive=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> int:
    """Validate the plan, then show waves, the critical path, and what would run."""
    from worktree_agents.commands.plan import run_plan

    if as_json and fmt not in (None, PlanFormat.JSON):
        raise UsageError(f"--json and --format {fmt.value} contradict each other; give one")
    chosen = PlanFormat.JSON if as_json else fmt or PlanFormat.TEXT
    if chosen is PlanFormat.JSON:
        JsonMode.command = "plan"
    return run_plan(plan_path(plan), chosen)


def _feature_ids(values: list[str] | None) -> tuple[str, ...]:
    """`--only a,b --only c` as ("a", "b", "c"), each once, in the order given."""
    ids: list[str] = []
    for value in values or ():
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            raise UsageError(f"--only {value!r} has an empty feature id; write --only a,b")
        ids += parts
    return tuple(dict.fromkeys(ids))


@app.command()
def run(
    plan: PlanOption = None,
    parallel: Annotated[
        int | None, typer.Option("--parallel", min=1, metavar="N", help="Slots: agents at once.")
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="ID[,ID..]",
            help="Run only these features (comma-separated, or repeated).",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", metavar="P", help="Run every feature on this profile."),
    ] = None,
    no_merge: Annotated[
        bool, typer.Option("--no-merge", help="Verify on branches; integrate nothing.")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run failed and skipped features again.")
    ] = False,
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="REMOTE",
            help="Push integration and the review branches as features land, with a lease.",
        ),
    ] = None,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    no_live: NoLiveOption = False,
    color: ColorOption = ColorMode.AUTO,
) -> int:
    """Run the plan: agents in parallel worktrees, then merge onto the integration branch."""
    from worktree_agents.commands.run import run_run
    from worktree_agents.domain import FeatureId
    from worktree_agents.runner import RunOptions

    if as_json:
        JsonMode.command = "run"
    options = RunOptions(
        parallel=parallel,
        only=tuple(FeatureId(o) for o in _feature_ids(only)),
        profile=profile,
        no_merge=no_merge,
        retry_failed=retry_failed,
    )
    return run_run(Path.cwd(), plan_path(plan), options, as_json, junit, push, not no_live, color)


@app.command()
def status(
    plan: PlanOption = None,
    as_json: JsonOption = False,
    remote: Annotated[
        str | None,
        typer.Option(
            "--remote",
            metavar="REMOTE",
            help="What the remote holds: each feature's result record or claim, and the cost.",
        ),
    ] = None,
) -> int:
    """Every feature: state, reason, branch, attempts, cost, time."""
    from worktree_agents.commands.status import run_status

    if as_json:
        JsonMode.command = "status"
    return run_status(Path.cwd(), plan_path(plan), as_json, remote)


@app.command()
def show(feature: FeatureArgument, plan: PlanOption = None) -> int:
    """One feature in full: state, attempts, logs, conflict report."""
    from worktree_agents.commands.status import run_show

    return run_show(Path.cwd(), plan_path(plan), feature)


@app.command()
def diff(feature: FeatureArgument, plan: PlanOption = None) -> int:
    """A feature's diff: as integrated if merged, else its branch against its base."""
    from worktree_agents.commands.status import run_diff

    return run_diff(Path.cwd(), plan_path(plan), feature)


@app.command()
def logs(
    feature: Annotated[
        str | None, typer.Argument(metavar="ID", help="Feature id (default: the run's events).")
    ] = None,
    plan: PlanOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing while a run is going.")
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="RUN", help="This run's events.")
    ] = None,
    list_runs: Annotated[
        bool, typer.Option("--runs", help="List the recorded runs: id, start, status, features.")
    ] = False,
) -> int:
    """The latest run's events, or one feature's latest attempt log."""
    from worktree_agents.commands.status import run_list_runs, run_logs

    if list_runs:
        if feature is not None or run_id is not None or follow:
            raise UsageError("--runs lists the runs; give it alone, without an ID, --run or -f")
        return run_list_runs(Path.cwd(), plan_path(plan))
    if feature is not None and run_id is not None:
        raise UsageError("give a feature ID or --run RUN, not both")
    return run_logs(Path.cwd(), plan_path(plan), feature, follow, run_id)


@app.command()
def clean(
    plan: PlanOption = None,
    include_failed: Annotated[
        bool, typer.Option("--all", help="Also remove failed features' worktrees.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Remove worktrees with changes to tracked files too.")
    ] = False,
) -> int:
    """Remove the worktrees of merged, done and skipped features. Branches are kept."""
    from worktree_agents.commands.clean import run_clean

    return run_clean(Path.cwd(), plan_path(plan), include_failed, force)


@app.command()
def sync(plan: PlanOption = None, as_json: JsonOption = False) -> int:
    """Bring the integration branch up to date with the base branch, and nothing else."""
    from worktree_agents.commands.sync import run_sync

    if as_json:
        JsonMode.command = "sync"
    return run_sync(Path.cwd(), plan_path(plan), as_json)


@app.command()
def merge(
    plan: PlanOption = None,
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="REMOTE",
            help="Take the results the remote holds too, then push integration, with a lease.",
        ),
    ] = None,
    as_json: JsonOption = False,
    junit: JunitOption = None,
    no_live: NoLiveOption = False,
    color: ColorOption = ColorMode.AUTO,
) -> int:
    """Integrate the done features (from `wta run --no-merge`, or CI jobs), in dependency order."""
    from worktree_agents.commands.merge import run_merge

    if as_json:
        JsonMode.command = "merge"
    return run_merge(Path.cwd(), plan_path(plan), push, as_json, junit, not no_live, color)


@app.command("run-feature")
def run_feature(
    feature: Annotated[str, typer.Argument(metavar="ID", help="The feature to run.")],
    push: Annotated[
        str,
        typer.Option(
            "--push",
            metavar="REMOTE",
            help="The remote shared with the other jobs: claims, results and branches.",
        ),
    ],
    plan: PlanOption = None,
    as_json: JsonOption = False,
) -> int:
    """Run one feature as one CI job: claim it on the remote, run it, push its result."""
    from worktree_agents.commands.runfeature import run_feature_command

    if as_json:
        JsonMode.command = "run-feature"
    return run_feature_command(Path.cwd(), plan_path(plan), feature, push, as_json)


@app.command()
def review(
    plan: PlanOption = None,
    push: Annotated[
        str | None,
        typer.Option("--push", metavar="REMOTE", help="Push the review branches, with a lease."),
    ] = None,
    open_prs: Annotated[
        bool,
        typer.Option(
            "--open-prs",
            help="Open or update one pull request per review branch, through the gh CLI.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> int:
    """One PR-ready branch per merged or done feature, in review order."""
    from worktree_agents.commands.review import run_review

    if as_json:
        JsonMode.command = "review"
    return run_review(Path.cwd(), plan_path(plan), push, open_prs, as_json)


@app.command()
def retry(
    features: Annotated[
        list[str], typer.Argument(metavar="ID", help="Failed or skipped feature ids.")
    ],
    plan: PlanOption = None,
) -> int:
    """Put failed and skipped features, with their skipped dependents, back to pending."""
    from worktree_agents.commands.retry import run_retry

    return run_retry(Path.cwd(), plan_path(plan), features)


@app.command()
def report(
    plan: PlanOption = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="FILE", help="Write one self-contained HTML page here."),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", metavar="RUN", help="This run (default: the latest).")
    ] = None,
) -> int:
    """A run's critical path, slowest features and waiting; with --html, a page with the DAG,
    a timeline, every feature and the costs."""
    from worktree_agents.commands.report import run_report

    return run_report(Path.cwd(), plan_path(plan), html, run_id)


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", metavar="DIR", help="Create the sample repository here (new or empty)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> int:
    """The whole pipeline on a generated sample repository, with the patch agent (no API key)."""
    from worktree_agents.commands.demo import run_demo

    if as_json:
        JsonMode.command = "demo"
    return run_demo(directory, as_json)


app.add_typer(ci_app)  # listed after the other commands, as before
