"""Reused worktrees (`[run] reuse_worktrees`): a merged feature's worktree handed to the
next feature, since a fresh checkout of a big repository costs seconds and switching a
finished one costs milliseconds.

The next feature must not see that the directory was used before: its tree, index and
untracked files are those of a fresh checkout at its base. So the worktree is switched
with `--force` (the index and tracked files follow the base) and cleaned with `-x` (every
untracked and ignored file goes), except the ignored paths `[run] keep_ignored` names (a
dependency cache). Submodules are checked out as for a new worktree. The manager
(worktrees.py) moves it to the feature's path and puts it on the feature's branch.
"""

from __future__ import annotations

from pathlib import Path

from worktree_agents.checkout import populate_submodules, workers_setting
from worktree_agents.domain import CommitSha
from worktree_agents.git import GitRepo

KeepIgnored = tuple[str, ...]
# In the worktree's admin dir from the start of a handover until the worktree is the next
# feature's: one found there means a run was killed midway, and the worktree's files are
# whatever the killed checkout or clean left, no one's work (`wta clean` removes it).
HANDING_OVER = "wta-handing-over"


def reusable(path: Path, admin: Path) -> str | None:
    """Why the worktree at `path` (admin dir `admin`) cannot be handed on, or None. One
    with submodules checked out is not: `git worktree move` refuses it, and its submodules
    would keep the last feature's commits."""
    if (admin / "modules").is_dir():
        return "it has submodules checked out"
    if (admin / "locked").exists():
        return "it is locked (git worktree lock)"
    if not path.is_dir():
        return "its directory is gone"
    return None


def hand_over(
    repo: GitRepo, path: Path, admin: Path, commit: CommitSha, keep: KeepIgnored
) -> list[str]:
    """Make the worktree at `path` (admin dir `admin`) a fresh checkout of `commit`
    (detached): tracked files, index, untracked and ignored files (but `keep`), submodules.
    Returns a note for each submodule left empty, as a new worktree's checkout does. Marks
    the worktree as handed over until `handed_over`."""
    (admin / HANDING_OVER).write_text(commit + "\n", encoding="utf-8")
    repo.run(*workers_setting(), "checkout", "--quiet", "--force", "--detach", commit, cwd=path)
    clean(repo, path, keep)
    return [
        f"submodule {sub.relative_to(path)} is left empty: {why}"
        for sub, why in populate_submodules(repo, repo.toplevel, path)
    ]


def handed_over(admin: Path) -> None:
    (admin / HANDING_OVER).unlink(missing_ok=True)


def mid_hand_over(admin: Path | None) -> bool:
    """Whether a run was killed while it handed this worktree over (see HANDING_OVER)."""
    return admin is not None and (admin / HANDING_OVER).exists()


def clean(repo: GitRepo, path: Path, keep: KeepIgnored) -> None:
    """Remove every untracked and ignored file, but the ignored ones `keep` matches.

    `git clean -x -e <pattern>` spares whatever the pattern matches, ignored or not; an
    untracked file that git does not ignore would then stay, and the next agent's commit
    would take it. So without -x first (everything untracked that is not ignored goes),
    then with -x and the patterns (the ignored files they do not match go)."""
    if keep:
        repo.run("clean", "-ffdq", cwd=path)
    excludes = [f"--exclude={pattern}" for pattern in keep]
    repo.run("clean", "-ffdxq", *excludes, cwd=path)
