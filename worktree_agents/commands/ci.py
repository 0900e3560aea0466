"""`wta ci github [--stdout] [--force] [--open-prs] [--package SPEC]`: write the workflow
whose job graph is the plan's feature DAG (ciworkflow.py) to .github/workflows/wta.yml at
the repository root, or print it. It reads the plan and the repository; it changes no git
state, and no file but that one."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from worktree_agents.cireports import write_atomic
from worktree_agents.ciworkflow import DEFAULT_PACKAGE, WorkflowOptions, render_workflow
from worktree_agents.errors import UsageError
from worktree_agents.git import GitRepo
from worktree_agents.plan_load import DEFAULT_PLAN_FILE, load_plan

WORKFLOW_PATH = Path(".github/workflows/wta.yml")
# A plan path goes into `run:` lines: shell words and GitHub expressions must not appear
_SAFE_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")


def run_ci_github(
    repo_dir: Path,
    plan_path: Path,
    to_stdout: bool,
    force: bool,
    open_prs: bool,
    package: str | None,
) -> int:
    loaded = load_plan(plan_path)
    repo = GitRepo.open(repo_dir)
    plan_arg = _plan_arg(repo.toplevel, loaded.path)
    options = WorkflowOptions(plan_arg, open_prs, package or DEFAULT_PACKAGE)
    text = render_workflow(loaded.plan, plan_arg or DEFAULT_PLAN_FILE, options)
    if to_stdout:
        sys.stdout.write(text)
        return 0
    target = _target(repo.toplevel)
    shown = WORKFLOW_PATH.as_posix()
    if target.is_file() and target.read_bytes() == text.encode():
        print(f"{shown} is already the workflow for this plan; nothing written")
        return 0
    if target.exists() and not force:
        raise UsageError(
            f"{shown} exists and is not the workflow for this plan; pass --force to replace"
            " it, or --stdout to see the new one"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text.encode())
    jobs = len(loaded.plan.features)
    print(f"wrote {shown}: {jobs} feature job{'s' * (jobs != 1)} and the merge job")
    print("Next: add the ANTHROPIC_API_KEY secret, commit the plan and the workflow, push,")
    print("and start it: Actions, wta, Run workflow.")
    return 0


def _plan_arg(toplevel: Path, plan: Path) -> str | None:
    """The plan as the workflow's jobs name it, relative to the repository root; None for
    `wta.toml` at the root, which every wta command finds by itself."""
    try:
        relative = plan.resolve().relative_to(toplevel)
    except ValueError:
        raise UsageError(
            f"the plan {plan} is outside the repository {toplevel}; the workflow's jobs see"
            " only the repository: move the plan into it and commit it"
        ) from None
    arg = relative.as_posix()
    if arg == DEFAULT_PLAN_FILE:
        return None
    if _SAFE_PATH.fullmatch(arg) is None:
        raise UsageError(
            f"the plan path {arg!r} would go into the workflow's commands; use one of letters,"
            ' digits, ".", "_", "-" and "/", not starting with "." or "-"'
        )
    return arg


def _target(toplevel: Path) -> Path:
    """.github/workflows/wta.yml, refusing a path that leads out of the repository (a
    symbolic link) or is a directory."""
    target = toplevel / WORKFLOW_PATH
    shown = WORKFLOW_PATH.as_posix()
    if not target.resolve().is_relative_to(toplevel):
        raise UsageError(f"{shown} leads outside the repository (a symbolic link); remove it")
    if target.is_dir():
        raise UsageError(f"{shown} is a directory; remove it, or use --stdout")
    return target
