"""`.worktreeinclude`: ignored files of the user's checkout (a `.env`, a local config) that
each new worktree gets a copy of, as Claude Code does.

The file sits at the root of the checkout and has `.gitignore` syntax. A file is copied
when it matches a pattern and git ignores it: a tracked file never is. Only regular files
are copied, to the same relative path and with the same mode, and nothing is ever followed
through a symlink that leads out of the checkout, nor written through one in the worktree.
The checkout is only read. A copy the worktree does not ignore is removed again, since the
agent's commit would take it. Without the file, nothing is copied.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.git import GitRepo

INCLUDE_FILE = ".worktreeinclude"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Included:
    """What was copied into a worktree, and what was left out and why (relative paths)."""

    copied: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    def notes(self) -> list[str]:
        """Lines for the attempt's log: nothing when there was nothing to copy."""
        lines = [f"{INCLUDE_FILE}: copied {path}" for path in self.copied]
        return lines + [f"{INCLUDE_FILE}: not copied {path}: {why}" for path, why in self.skipped]


def copy_included(repo: GitRepo, checkout: Path, worktree: Path) -> Included:
    """Copy the files `.worktreeinclude` names from `checkout` into `worktree`."""
    patterns = checkout / INCLUDE_FILE
    if not patterns.is_file():
        return Included()
    listed = repo.run(
        "ls-files", "-z", "--others", "--ignored", f"--exclude-from={patterns}", cwd=checkout
    ).stdout
    wanted = _ignored(repo, checkout, [p for p in listed.split("\0") if p])
    copied: list[str] = []
    skipped: list[tuple[str, str]] = []
    for rel in wanted:
        why = _copy(checkout, worktree, rel)
        if why is None:
            copied.append(rel)
        else:
            skipped.append((rel, why))
    ignored_here = set(_ignored(repo, worktree, copied))
    for rel in [p for p in copied if p not in ignored_here]:
        (worktree / rel).unlink()
        copied.remove(rel)
        skipped.append((rel, "the worktree does not ignore it, so it would be committed"))
    return Included(tuple(copied), tuple(skipped))


def _ignored(repo: GitRepo, tree: Path, paths: list[str]) -> list[str]:
    """The `paths` that git ignores in `tree`, in their order."""
    if not paths:
        return []
    data = "".join(p + "\0" for p in paths)
    out = repo.run("check-ignore", "-z", "--stdin", input=data, ok_codes=(0, 1), cwd=tree).stdout
    ignored = set(out.split("\0"))
    return [p for p in paths if p in ignored]


def _copy(checkout: Path, worktree: Path, rel: str) -> str | None:
    """Copy one file; None if it was copied, else why not."""
    source = _inside(checkout, rel)
    if source is None:
        return "a symlink that leads out of your checkout"
    try:
        src = _open_below(checkout, source, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        return _why(exc, "your checkout")
    with os.fdopen(src, "rb") as reader:
        mode = os.fstat(src).st_mode
        if not stat.S_ISREG(mode):
            return "not a regular file"
        try:
            dst = _open_below(worktree, rel, os.O_WRONLY | os.O_CREAT | os.O_EXCL, parents=True)
        except FileExistsError:
            return "the worktree already has a file there"
        except OSError as exc:
            return _why(exc, "the worktree")
        with os.fdopen(dst, "wb") as writer:
            shutil.copyfileobj(reader, writer)
            os.fchmod(dst, stat.S_IMODE(mode))
    return None


def _why(exc: OSError, where: str) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return f"its path goes through a symlink or a file in {where}"
    return exc.strerror or type(exc).__name__


def _inside(root: Path, rel: str) -> str | None:
    """`rel` with symlinks resolved, relative to `root`; None if it leads out of `root`."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(root / rel))
    if real_root not in real.parents:
        return None
    return real.relative_to(real_root).as_posix()


def _open_below(root: Path, rel: str, flags: int, *, parents: bool = False) -> int:
    """Open `root/rel` one component at a time, refusing a symlink at any of them (ELOOP or
    ENOTDIR); with `parents`, missing directories are made."""
    *dirs, name = rel.split("/")
    fd = os.open(root, _DIR)
    try:
        for part in dirs:
            if parents:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            inner = os.open(part, _DIR, dir_fd=fd)
            os.close(fd)
            fd = inner
        # O_NOFOLLOW here too: the last component may have become a symlink since it was
        # resolved. A new file starts private (0o600) until its mode is copied.
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=fd)
    finally:
        os.close(fd)
