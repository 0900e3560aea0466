"""One linked worktree read from its own files, without `git worktree list`.

A linked worktree is two sides that point at each other: the `.git` file in its directory
(`gitdir: <admin dir>`) and its admin dir under `<common dir>/worktrees/`, whose `gitdir`
file names that `.git` file back. `commondir` leads from the admin dir to the repository,
`HEAD` says where the worktree is, and `locked` keeps git from pruning it. Reading one
worktree this way costs the same however many worktrees the repository has, which is why
the per-feature steps use it; `wta clean`, status and recovery still ask git for the list.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.domain import HEADS, BranchName

GITDIR_PREFIX = "gitdir: "
REF_PREFIX = "ref: "


def real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def read(path: Path) -> str | None:
    """A small file's text, stripped; None when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def admin_of(worktree: Path) -> Path | None:
    """The admin dir the worktree's `.git` file names (relative names are relative to the
    worktree), or None when there is no such file."""
    text = read(worktree / ".git")
    if text is None or not text.startswith(GITDIR_PREFIX):
        return None
    return real(worktree / text.removeprefix(GITDIR_PREFIX))


def path_of(admin: Path) -> Path | None:
    """The worktree directory an admin dir's `gitdir` file names."""
    text = read(admin / "gitdir")
    return None if not text else real((admin / text).parent)


def registered_at(common_dir: Path, worktree: Path) -> Path | None:
    """The admin dir of the worktree at `worktree` when both sides point at each other and
    lead to this repository; None otherwise (deleted, unregistered, moved or broken)."""
    admin = admin_of(worktree)
    if admin is None or admin.parent != common_dir / "worktrees":
        return None
    if path_of(admin) != real(worktree) or not (worktree / ".git").is_file():
        return None
    common = read(admin / "commondir")
    if common is None or real(admin / common) != common_dir:
        return None
    return admin


def head_branch(admin: Path) -> BranchName | None:
    """The branch the worktree is on; None when detached (or HEAD is unreadable)."""
    head = read(admin / "HEAD") or ""
    ref = head.removeprefix(REF_PREFIX)
    if head.startswith(REF_PREFIX) and ref.startswith(HEADS):
        return BranchName(ref.removeprefix(HEADS))
    return None


def head_text(admin: Path) -> str:
    """What HEAD says: `refs/heads/<b>` for a branch, `` when detached."""
    head = read(admin / "HEAD") or ""
    return head.removeprefix(REF_PREFIX) if head.startswith(REF_PREFIX) else ""


def admin_dirs(common_dir: Path) -> Iterator[tuple[Path, Path]]:
    """(admin dir, worktree path) for every linked worktree git has a readable record of."""
    root = common_dir / "worktrees"
    for admin in sorted(root.iterdir()) if root.is_dir() else []:
        path = path_of(admin)
        if path is not None:
            yield admin, path


@dataclass(frozen=True)
class WorktreeHead:
    """A worktree as its files tell it."""

    path: Path
    branch: BranchName | None  # None when detached
    prunable: bool  # its directory is gone


def worktree_heads(common_dir: Path, main: Path) -> list[WorktreeHead]:
    """The main worktree at `main` (whose HEAD is the common dir's), then every linked one
    git has a readable record of, each with the branch it has checked out."""
    heads = [WorktreeHead(main, head_branch(common_dir), False)]
    for admin, path in admin_dirs(common_dir):
        heads.append(WorktreeHead(path, head_branch(admin), not (path / ".git").exists()))
    return heads
