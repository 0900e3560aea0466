"""The user's checkouts as git sees them: every worktree of the repository that is not one
of wta's, each with its HEAD and `git status` (staged, unstaged and untracked paths).
Compared before and after, they tell what changed there, by path.

One `git status --porcelain=v2 --branch` per worktree gives HEAD, the branch and, for
every path that differs, its index entry (v1 would need two more commands for HEAD and
the index); a path's size, mtime and mode (a stat, no content hashing) catch a second
change to a file that was already modified. Ignored files are not looked at. Optional
locks are off, so the user's own git never finds an index.lock of ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.git import GitRepo

STATUS = (
    "-c",
    "core.fsmonitor=false",  # a program named in the config: maybe an agent's, still live
    "--no-optional-locks",
    "status",
    "--porcelain=v2",
    "-z",
    "--branch",
    "--untracked-files=all",
    "--ignore-submodules=none",
)
FIELDS_BEFORE_PATH = {"1": 8, "2": 9, "u": 10, "?": 1, "!": 1}


@dataclass(frozen=True)
class TreeState:
    head: tuple[str, ...]  # the `# branch.oid` and `# branch.head` lines
    paths: dict[str, tuple[str, tuple[int, int, int] | None]]  # path -> (record, stat)


CheckoutState = dict[Path, TreeState | None]  # None: git status failed there


def user_worktrees(repo: GitRepo, wta_root: Path) -> list[Path]:
    """The worktrees that are not wta's: the main one and any the user added."""
    root = Path(os.path.realpath(wta_root))
    trees: list[Path] = []
    for entry in repo.worktree_heads():  # no bare one among them
        path = Path(os.path.realpath(entry.path))
        if entry.prunable or path == root or root in path.parents:
            continue
        trees.append(path)
    return trees


def checkout_state(repo: GitRepo, wta_root: Path) -> CheckoutState:
    return {tree: tree_state(repo, tree) for tree in user_worktrees(repo, wta_root)}


def tree_state(repo: GitRepo, tree: Path) -> TreeState | None:
    result = repo.run(*STATUS, cwd=tree, check=False)
    if result.exit_code != 0:
        return None
    head: list[str] = []
    paths: dict[str, tuple[str, tuple[int, int, int] | None]] = {}
    items = iter(result.stdout.split("\0"))
    for item in items:
        if item.startswith(("# branch.oid ", "# branch.head ")):
            head.append(item)
        elif item[:1] in FIELDS_BEFORE_PATH:
            named = [item.split(" ", FIELDS_BEFORE_PATH[item[0]])[-1]]
            if item[0] == "2":  # a rename or copy: its source path comes next
                named.append(next(items, ""))
            for path in named:
                paths[path] = ("\0".join([item, *named[1:]]), _stat(tree / path))
    return TreeState(tuple(head), paths)


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_mode)


def changed_paths(before: CheckoutState, after: CheckoutState) -> list[str]:
    """What changed in the worktrees both know: `<worktree>: HEAD` when HEAD moved or
    switched branch, and each path (absolute) whose status, index entry or stat changed."""
    out: list[str] = []
    for tree in sorted(before.keys() & after.keys()):
        old, new = before[tree], after[tree]
        if old is None or new is None:
            continue
        if old.head != new.head:
            out.append(f"{tree}: HEAD")
        for path in sorted(old.paths.keys() | new.paths.keys()):
            if old.paths.get(path) != new.paths.get(path):
                out.append(str(tree / path))
    return out
