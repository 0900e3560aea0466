"""The files a run depends on that have uncommitted changes. Agents work in worktrees made
from commits, so they see only what is committed: an edited agent script or check runs in
its committed version, and a new one does not exist for them. A run warns about these.

Looked at: the plan file, a command agent's program and arguments, and the words of the
setup, verify and acceptance commands, wherever they name a file of the repository.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path

from worktree_agents.agents.command import PLACEHOLDER
from worktree_agents.domain import FeatureId
from worktree_agents.git import GitRepo
from worktree_agents.plan import LoadedPlan, ResolvedProfile

WARNING = "agents see only committed files, and these have uncommitted changes"


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:  # an unbalanced quote: the shell will say so
        return command.split()


def _named(
    loaded: LoadedPlan, features: Iterable[FeatureId], profiles: Iterable[ResolvedProfile]
) -> Iterator[str | Path]:
    plan = loaded.plan
    yield loaded.path
    for profile in profiles:
        if profile.backend == "command" and profile.command:
            yield from (a for a in profile.command if not PLACEHOLDER.search(a))
    yield from (w for c in plan.run.setup for w in _words(c))
    yield from (w for c in plan.verify.commands for w in _words(c))
    for fid in features:
        yield from (w for c in plan.by_id[fid].acceptance for w in _words(c))


def _repo_files(repo: GitRepo, names: Iterable[str | Path]) -> Iterator[str]:
    """The names that are files inside the repository, relative to its root (checks and
    agents run at the root of their worktree)."""
    for name in names:
        path = Path(name).expanduser()
        path = path if path.is_absolute() else repo.toplevel / path
        if not path.is_file():
            continue
        try:
            yield path.resolve().relative_to(repo.toplevel).as_posix()
        except ValueError:
            continue  # outside the repository


def uncommitted_files(
    repo: GitRepo,
    loaded: LoadedPlan,
    features: Iterable[FeatureId],
    profiles: Iterable[ResolvedProfile],
) -> tuple[str, ...]:
    """The files the run names that differ from HEAD or are untracked, in `git status`
    order, relative to the repository's root."""
    paths = sorted(set(_repo_files(repo, _named(loaded, features, profiles))))
    if not paths:
        return ()
    status = repo.run(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames",
        "--ignored=no", "--", *(f":(literal){p}" for p in paths),
    ).stdout  # fmt: skip
    return tuple(entry[3:] for entry in status.split("\0") if entry)
