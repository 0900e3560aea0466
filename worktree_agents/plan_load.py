"""Loading the plan: reading `wta.toml`, parsing its TOML and validating it.

Loading never raises anything but `PlanError`, which carries every problem found.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from worktree_agents.errors import PlanError, PlanProblem, RepoError

if TYPE_CHECKING:  # pydantic and the checks load when a plan is validated, not before
    from worktree_agents.git import GitRepo
    from worktree_agents.plan import LoadedPlan, Plan

DEFAULT_PLAN_FILE = "wta.toml"


def load_plan(path: Path, state_dir: Path | None = None) -> LoadedPlan:
    """Read and validate the plan at `path`; given the repository's state directory, an
    unchanged plan comes from the cache there instead of being validated again."""
    from worktree_agents.plan import LoadedPlan

    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PlanError(
            source,
            [
                PlanProblem(
                    source,
                    None,
                    "the plan file does not exist",
                    "run `wta init` to write a starter plan, or pass --plan PATH",
                )
            ],
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PlanError(
            source,
            [PlanProblem(source, None, f"cannot read the plan ({reason})", "pass a readable file")],
        ) from None
    if state_dir is None:
        return LoadedPlan(load_plan_bytes(data, source), path.resolve())
    from worktree_agents.plan_cache import cached_plan

    plan = cached_plan(state_dir, data, lambda: load_plan_bytes(data, source))
    return LoadedPlan(plan, path.resolve())


def load_repo_and_plan(repo_dir: Path, plan_path: Path) -> tuple[GitRepo, LoadedPlan]:
    """The repository containing `repo_dir`, and the plan through the cache in its state
    directory. The plan's own errors still come before the repository's."""
    from worktree_agents.git import GitRepo

    try:
        repo = GitRepo.open(repo_dir)
    except RepoError:
        load_plan(plan_path)
        raise
    return repo, load_plan(plan_path, repo.state_dir())


def load_plan_bytes(data: bytes, source: str) -> Plan:
    """Validate a plan from raw bytes; raises PlanError only."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(
            source,
            [
                PlanProblem(
                    source,
                    None,
                    f"the file is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})",
                    "point --plan at a wta.toml saved as UTF-8 text",
                )
            ],
        ) from None
    if "\x00" in text:
        raise PlanError(
            source,
            [
                PlanProblem(
                    source,
                    None,
                    f"the file is not text (it has a NUL byte at offset {text.index(chr(0))})",
                    "point --plan at a wta.toml saved as UTF-8 text",
                )
            ],
        )
    return load_plan_text(text, source)


def load_plan_text(text: str, source: str) -> Plan:
    """Validate a plan from TOML text; raises PlanError only."""
    from pydantic import ValidationError

    from worktree_agents.plan import Plan
    from worktree_agents.plan_checks import check_semantics, toml_problem, translate

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(source, [toml_problem(exc, text, source)]) from None
    except RecursionError:
        raise PlanError(
            source,
            [
                PlanProblem(
                    source,
                    None,
                    "the TOML document is nested too deeply",
                    "flatten the nested arrays or inline tables",
                )
            ],
        ) from None
    problems: list[PlanProblem] = []
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as exc:
        problems.extend(translate(exc, raw))
    problems.extend(check_semantics(raw, plan))
    if problems or plan is None:
        raise PlanError(source, problems)
    return plan


def default_plan_path(start: Path) -> Path:
    """`wta.toml` at the root of the repository containing `start`, else in `start`."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory / DEFAULT_PLAN_FILE
    return start / DEFAULT_PLAN_FILE
