"""The options and arguments several `wta` commands share, declared once for typer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worktree_agents.domain import ColorMode
from worktree_agents.plan_load import default_plan_path

PlanOption = Annotated[
    Path | None,
    typer.Option(
        "--plan", metavar="PATH", help="The plan file (default: wta.toml at the repository root)."
    ),
]
FeatureArgument = Annotated[str, typer.Argument(metavar="ID", help="Feature id.")]


JsonOption = Annotated[bool, typer.Option("--json", help="Print the JSON envelope on stdout.")]
JunitOption = Annotated[
    Path | None,
    typer.Option("--junit", metavar="FILE", help="Write a JUnit XML report: a test per feature."),
]
NoLiveOption = Annotated[
    bool,
    typer.Option("--no-live", help="One line per event, even on a terminal (no live table)."),
]
ColorOption = Annotated[
    ColorMode,
    typer.Option(
        "--color",
        case_sensitive=False,
        help="Colour the live table: auto (unless NO_COLOR is set), always or never.",
    ),
]


def plan_path(option: Path | None) -> Path:
    """The plan `--plan` names, else wta.toml at the repository root."""
    return option if option is not None else default_plan_path(Path.cwd())
