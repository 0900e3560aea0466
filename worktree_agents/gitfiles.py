"""The files of a repository's git directory that every worktree shares and git acts on:
`config`, `config.worktree` (the main worktree's), `hooks/` and `info/`. A snapshot of
them, what changed since, and putting a snapshot back exactly (content, mode, and what
was added or removed).

Plain file operations, no git: these files are small, and git has no command that
restores them. A linked worktree's own `worktrees/<id>/config.worktree` is not among them:
it is that worktree's (its agent's) business, and git reads it only when the shared
`config` turns `extensions.worktreeConfig` on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SHARED = ("config", "config.worktree", "hooks", "info")

Kind = Literal["file", "dir", "link", "other"]


@dataclass(frozen=True)
class Entry:
    kind: Kind
    mode: int  # the permission bits
    digest: bytes  # sha256 of a file's bytes or a link's target; b"" for anything else


Snapshot = dict[str, Entry]  # by path relative to the git directory, with `/`


@dataclass(frozen=True)
class Baseline:
    """A snapshot that can be put back: with every file's bytes and every link's target."""

    entries: Snapshot
    contents: dict[str, bytes] = field(default_factory=dict)


def capture(git_dir: Path) -> Baseline:
    contents: dict[str, bytes] = {}
    return Baseline(scan(git_dir, contents), contents)


def scan(git_dir: Path, keep: dict[str, bytes] | None = None) -> Snapshot:
    """Every entry under the shared names; links are not followed. With `keep`, the bytes
    of files and the targets of links go there too."""
    found: Snapshot = {}
    pending = list(SHARED)
    while pending:
        rel = pending.pop()
        path = git_dir / rel
        try:
            entry, data = _entry(path, keep is not None)
            if entry.kind == "dir":
                pending += [f"{rel}/{child.name}" for child in path.iterdir()]
        except (FileNotFoundError, NotADirectoryError):  # gone while we looked
            continue
        found[rel] = entry
        if keep is not None and data is not None:
            keep[rel] = data
    return found


def _entry(path: Path, keep: bool) -> tuple[Entry, bytes | None]:
    st = path.lstat()
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        target = os.fsencode(path.readlink())
        return Entry("link", mode, hashlib.sha256(target).digest()), target
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", mode, b""), None
    if not stat.S_ISREG(st.st_mode):  # a fifo, say: never opened, it could block
        return Entry("other", mode, b""), None
    with path.open("rb") as f:
        if keep:
            data = f.read()
            return Entry("file", mode, hashlib.sha256(data).digest()), data
        return Entry("file", mode, hashlib.file_digest(f, "sha256").digest()), None


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    """The paths added, removed or different (content, mode or kind)."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


def with_relatives(paths: Collection[str], among: Iterable[str]) -> set[str]:
    """`paths`, with those of `among` inside one of them or holding one of them: a directory
    is put back together with what is in it."""
    out = set(paths)
    for other in among:
        if any(other.startswith(p + "/") or p.startswith(other + "/") for p in paths):
            out.add(other)
    return out


def put_back(git_dir: Path, baseline: Baseline, now: Snapshot, paths: Collection[str]) -> None:
    """Make `paths` as they are in `baseline`: added ones removed (deepest first), then
    removed or changed ones written back (outermost first), with their modes."""
    for rel in sorted((p for p in paths if p not in baseline.entries), reverse=True):
        _remove(git_dir / rel)
    for rel in sorted(p for p in paths if p in baseline.entries):
        entry, current = baseline.entries[rel], now.get(rel)
        _restore(git_dir / rel, entry, baseline.contents.get(rel), current)


def _restore(path: Path, entry: Entry, content: bytes | None, current: Entry | None) -> None:
    if current is not None and (current.kind != entry.kind or entry.kind == "link"):
        _remove(path)
        current = None
    if entry.kind == "dir":
        if current is None:
            path.mkdir()
        path.chmod(entry.mode)
    elif entry.kind == "link" and content is not None:
        path.symlink_to(os.fsdecode(content))
    elif entry.kind == "file" and content is not None:
        if current is not None and current.digest == entry.digest:
            path.chmod(entry.mode)
            return
        # a whole new file renamed over the old one: git never reads a half-written config
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as f:
            f.write(content)
        temp = Path(name)
        temp.chmod(entry.mode)
        temp.replace(path)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def names(before: Snapshot, after: Snapshot, paths: Collection[str]) -> list[str]:
    """The paths for people, sorted, each marked added, removed or mode changed (a content
    change is unmarked); what is inside an added or removed directory is not listed."""
    whole = {p for p in paths if _kind(before, p) != _kind(after, p)}
    out: list[str] = []
    for rel in sorted(paths):
        if any(rel.startswith(w + "/") for w in whole):
            continue
        old, new = before.get(rel), after.get(rel)
        if old is None:
            out.append(f"{rel} (added)")
        elif new is None:
            out.append(f"{rel} (removed)")
        elif (old.kind, old.digest) == (new.kind, new.digest):
            out.append(f"{rel} (mode changed)")
        else:
            out.append(rel)
    return out


def _kind(snapshot: Snapshot, rel: str) -> Kind | None:
    entry = snapshot.get(rel)
    return None if entry is None else entry.kind
