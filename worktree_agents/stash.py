"""The stash, which every worktree of a repository shares with the user's checkout: its
entries, a look at its files that tells whether it changed, and putting entries back."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.domain import CommitSha
from worktree_agents.git import GitRepo


def stash_entries(repo: GitRepo) -> list[tuple[CommitSha, str]]:
    """The stash, newest first: (commit, message) of each entry."""
    listed = repo.run("stash", "list", "--format=%H%x00%gs", ok_codes=(0, 128)).stdout
    entries = [line.split("\0", 1) for line in listed.splitlines() if "\0" in line]
    return [(CommitSha(sha), message) for sha, message in entries]


StashStamp = tuple[bytes | None, bytes | None, tuple[int, int, int] | None]


def stash_stamp(repo: GitRepo) -> StashStamp:
    """What would tell that the stash changed, read without a process: its reflog (the
    entries), its ref, and the packed refs (where the ref may live)."""

    def read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    try:
        st = (repo.common_dir / "packed-refs").stat()
        packed: tuple[int, int, int] | None = (st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        packed = None
    logs = read(repo.common_dir / "logs" / "refs" / "stash")
    return logs, read(repo.common_dir / "refs" / "stash"), packed


def restore_stash(
    repo: GitRepo, before: list[tuple[CommitSha, str]], made_on: str | None = None
) -> tuple[int, int]:
    """Put back stash entries that were in `before` and are gone now (an agent ran `git
    stash pop` or `drop`: refs/stash is shared by every worktree), and drop entries made
    since on the branch `made_on` (git names the branch in each entry's message). Returns
    how many were put back and how many dropped."""
    now = stash_entries(repo)
    present = {sha for sha, _ in now}
    missing = [(sha, message) for sha, message in before if sha not in present]
    stale = repo.rev_parse("refs/stash") if missing and not now else None
    if stale is not None:
        # refs/stash left without its reflog (wta's hook refused the deletion that drops
        # the last entry): `stash store` of the same commit would write no reflog entry.
        repo.delete_ref("refs/stash", stale)
    for sha, message in reversed(missing):  # oldest first, so the newest ends on top
        repo.run("stash", "store", "-m", message, sha)
    if made_on is None:
        return len(missing), 0
    known = {sha for sha, _ in before}
    marks = (f"WIP on {made_on}: ", f"On {made_on}: ")
    added = [sha for sha, message in now if sha not in known and message.startswith(marks)]
    for sha in added:
        index = next(i for i, (s, _) in enumerate(stash_entries(repo)) if s == sha)
        repo.run("stash", "drop", "--quiet", f"stash@{{{index}}}")
    return len(missing), len(added)
