"""`wta ci ...`: the continuous-integration commands, a typer group of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worktree_agents.cli_options import PlanOption, plan_path

ci_app = typer.Typer(
    name="ci",
    help="Continuous integration: a workflow whose job graph is the feature DAG.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@ci_app.command("github")
def ci_github(
    plan: PlanOption = None,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="Print the workflow instead of writing it.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a different .github/workflows/wta.yml.")
    ] = False,
    open_prs: Annotated[
        bool,
        typer.Option("--open-prs", help="Also open or update one pull request per feature."),
    ] = False,
    package: Annotated[
        str | None,
        typer.Option(
            "--package",
            metavar="SPEC",
            help="What the jobs pip install (default: this version of worktree-agents).",
        ),
    ] = None,
) -> int:
    """Write .github/workflows/wta.yml: one GitHub Actions job per feature, then a merge."""
    from worktree_agents.commands.ci import run_ci_github

    return run_ci_github(Path.cwd(), plan_path(plan), stdout, force, open_prs, package)
