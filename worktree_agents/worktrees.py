"""Feature worktrees: one per feature, at an exact base commit, outside the user's checkout.
Add, move, remove and prune are serialised per repository, across threads and processes.

The per-feature steps look at one worktree by its own files (worktree_files.py), so that
their cost does not grow with the number of worktrees; what the manager made or took over
is remembered in memory, under the worktree lock."""

from __future__ import annotations

import builtins
import os
import shutil
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from worktree_agents import worktree_files as files
from worktree_agents.checkout import check_out, make_full
from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import GitError, RepoError, WtaError
from worktree_agents.git import HEADS, GitRepo, WorktreeEntry
from worktree_agents.reuse import KeepIgnored, hand_over, handed_over, mid_hand_over, reusable

BASE_FILE = "wta-base"  # in the worktree's admin dir, so it lives and dies with the worktree


@dataclass(frozen=True)
class Worktree:
    feature_id: FeatureId
    path: Path
    branch: BranchName
    base_commit: CommitSha
    head: CommitSha | None
    notes: tuple[str, ...] = ()  # what its checkout could not do (a submodule left empty)


def default_worktree_root(repo: GitRepo) -> Path:
    """`<parent>/<name>.wta`, a sibling of the main working tree."""
    main = _main_worktree(repo)
    return main.parent / f"{main.name}.wta"


def resolve_worktree_root(repo: GitRepo, configured: str | None, plan_dir: Path) -> Path:
    """The configured root (relative to the plan's directory), or the default one."""
    default = default_worktree_root(repo)
    if configured is None:
        return default
    root = _real(Path(plan_dir) / Path(configured).expanduser())
    for tree in dict.fromkeys([repo.toplevel, _main_worktree(repo)]):
        if root == tree or tree in root.parents:
            raise RepoError(
                f"worktree root {root} is inside the repository's working tree {tree};"
                f" choose a directory outside it, such as {default}"
            )
    if root == repo.common_dir or repo.common_dir in root.parents:
        raise RepoError(
            f"worktree root {root} is inside the git directory {repo.common_dir};"
            f" choose a directory outside it, such as {default}"
        )
    return root


class WorktreeManager:
    """Creates feature worktrees at `<root>/<id>` on branches `<prefix><id>`."""

    def __init__(
        self, repo: GitRepo, root: Path, branch_prefix: str, keep_ignored: KeepIgnored = ()
    ) -> None:
        self.repo = repo
        self.root = _real(root)
        self.branch_prefix = branch_prefix
        self.keep_ignored = keep_ignored
        # Worktree path -> admin dir, for the worktrees git has a record of: read once, then
        # kept up to date by this manager's adds, moves and removes (under the lock).
        self._admins: dict[Path, Path] | None = None
        # Worktrees of merged features, free for the next feature to take over (reuse.py).
        self._free: builtins.list[Worktree] = []

    def path_for(self, feature_id: FeatureId) -> Path:
        if (
            not feature_id
            or feature_id in (".", "..")
            or feature_id.startswith("-")
            or "/" in feature_id
            or "\0" in feature_id
        ):
            raise ValueError(f"feature id {feature_id!r} cannot name a worktree directory")
        return self.root / feature_id

    def branch_for(self, feature_id: FeatureId) -> BranchName:
        return BranchName(self.branch_prefix + feature_id)

    def create(
        self, feature_id: FeatureId, base_commit: CommitSha, *, reset: bool = False
    ) -> Worktree:
        """Check out a new branch at exactly `base_commit` in a new worktree.

        With `reset`, an existing worktree at the path is removed (even if dirty) and an
        existing branch is moved to `base_commit`. On failure nothing is left behind.

        Only the worktree's records are made under the worktree lock (`--no-checkout`,
        milliseconds); its files are written after the lock is released, so other adds,
        and every reader of worktree metadata (a merge among them), need not wait for a
        checkout of the whole tree. It is a full checkout, with the submodules the user's
        checkout has (checkout.py).
        """
        path = self.path_for(feature_id)
        branch = self.branch_for(feature_id)
        ref = HEADS + branch
        with self.repo.worktree_lock():
            commit, old_tip = self._make_room(path, branch, base_commit, reset=reset)
            path_existed = path.exists()
            flag = "-b" if old_tip is None else "-B"
            try:
                args = ("worktree", "add", "--quiet", "--no-checkout", flag, branch, str(path))
                self.repo.run(*args, commit)
                admin = files.admin_of(path)
                if admin is None:
                    raise RepoError(f"git made no worktree at {path}")
                self._known()[path] = admin
                (admin / BASE_FILE).write_text(commit + "\n", encoding="utf-8")
                make_full(self.repo, path, admin)
            except BaseException:
                self._undo_add(path, path_existed, ref, commit, old_tip)
                raise
        try:
            notes = check_out(self.repo, path)
        except BaseException:
            with self.repo.worktree_lock():
                self._undo_add(path, path_existed, ref, commit, old_tip)
            raise
        return Worktree(feature_id, path, branch, commit, head=commit, notes=tuple(notes))

    def _make_room(
        self, path: Path, branch: BranchName, base_commit: CommitSha, *, reset: bool
    ) -> tuple[CommitSha, CommitSha | None]:
        """Check that the worktree can be made (with `reset`, remove the old one); return the
        base commit, and the branch's tip if it exists. Called under the worktree lock."""
        commit, old_tip = self._resolve(base_commit, branch)
        at_path = self._entry(path)
        if old_tip is not None:
            self._refuse_if_held(branch, path)
        if not reset:
            if at_path is not None or path.exists():
                raise RepoError(
                    f"worktree {path} already exists; remove it first (wta clean)"
                    " or recreate it with a reset"
                )
            if old_tip is not None:
                raise RepoError(
                    f"branch '{branch}' already exists; delete it first"
                    " or recreate the worktree with a reset"
                )
        elif at_path is not None:
            self._remove_unlocked(path, at_path, force=True)
        if path.exists() and any(path.iterdir()):
            raise RepoError(
                f"{path} exists and is not a worktree of {self.repo.toplevel};"
                " move it away, then retry"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        return commit, old_tip

    def list(self) -> builtins.list[Worktree]:
        """The feature worktrees under the root: on their feature's branch, or detached
        (as an interrupted step can leave one) when wta's record shows it made them."""
        with self.repo.worktree_lock():  # the admin dirs and the list, read as one
            bases = self._recorded_bases()
            entries = self.repo.worktrees()
        found: builtins.list[Worktree] = []
        for entry in entries:
            path = _real(entry.path)
            feature_id = FeatureId(path.name)
            branch = self.branch_for(feature_id)
            on_branch = entry.branch == branch
            detached_but_ours = entry.branch is None and path in bases
            if path.parent != self.root or not (on_branch or detached_but_ours):
                continue
            # Only a create() killed between `worktree add` and writing the record leaves no
            # record, and then nothing has committed on the branch yet: head is the base.
            base = bases.get(path) or entry.head
            if base is not None:
                found.append(Worktree(feature_id, path, branch, base, entry.head))
        return found

    def remove(self, feature_id: FeatureId, *, force: bool = False) -> None:
        """Remove the feature's worktree (not its branch). A missing one is not an error."""
        path = self.path_for(feature_id)
        with self.repo.worktree_lock():
            entry = self._entry(path)
            if entry is not None:
                self._remove_unlocked(path, entry, force=force)
            elif path.exists():
                raise RepoError(
                    f"{path} is not a worktree of {self.repo.toplevel}; remove it by hand if"
                    " it is yours"
                )

    def commit_all(self, worktree: Worktree, message: str, *, untracked: bool = True) -> CommitSha:
        """Commit everything uncommitted in the worktree (if anything; without `untracked`,
        what `uncommitted_edits` counts); return its HEAD."""
        path = worktree.path
        self.repo.run("add", "--all" if untracked else "--update", cwd=path)
        # `git commit` exits 1 when nothing is staged; as that is also how it reports a
        # commit it could not write, the index is asked then (never when it committed)
        args = ("commit", "--quiet", "--no-verify", "-m", message)
        made = self.repo.run(*args, cwd=path, env=self.repo.commit_env, ok_codes=(0, 1))
        if made.exit_code == 1:
            staged = self.repo.run("diff", "--cached", "--quiet", cwd=path, ok_codes=(0, 1))
            if staged.exit_code == 1:
                raise GitError(made.args, made.exit_code, made.stderr or made.stdout)
        return CommitSha(self.repo.run("rev-parse", "HEAD", cwd=path).stdout.strip())

    def off_branch(self, worktree: Worktree) -> str | None:
        """Where the worktree is when it is no longer on its feature branch (another branch,
        or "a detached HEAD"), or None when it is on it."""
        admin = files.admin_of(worktree.path)
        if admin is not None:
            where = files.head_text(admin)
        else:
            args = ("symbolic-ref", "-q", "HEAD")
            where = self.repo.run(*args, cwd=worktree.path, ok_codes=(0, 1)).stdout.strip()
        if where == HEADS + worktree.branch:
            return None
        return where.removeprefix(HEADS) if where else "a detached HEAD"

    def registered(self, worktree: Worktree) -> bool:
        """Whether the worktree is still there: its directory exists and git lists it as a
        worktree whose directory it can find."""
        # read from its files: its `.git` file and its admin dir must name each other, and
        # lead to this repository (what `git worktree list` would say of this one)
        return files.registered_at(self.repo.common_dir, worktree.path) is not None

    def clear_stale_locks(self, worktree: Worktree) -> builtins.list[str]:
        """Remove the lock files a killed git leaves behind (`index.lock`, `HEAD.lock`, and
        the branch's) once nothing runs in the worktree any more; returns what was removed."""
        admin = files.admin_of(worktree.path)
        if admin is None:
            args = ("rev-parse", "--path-format=absolute", "--git-dir")
            admin = Path(self.repo.run(*args, cwd=worktree.path).stdout.strip())
        candidates = [
            admin / "index.lock",
            admin / "HEAD.lock",
            self.repo.common_dir / f"{HEADS}{worktree.branch}.lock",
        ]
        removed = []
        for lock in candidates:
            if lock.is_file():
                lock.unlink()
                removed.append(str(lock))
        return removed

    def discard(self, feature_id: FeatureId) -> None:
        """Forget a worktree an agent deleted or unregistered: prune git's records of it, and
        remove what is left of its directory (in wta's worktree root), so that a retry, a
        later run and `wta clean` find the place free."""
        path = self.path_for(feature_id)
        with self.repo.worktree_lock():
            entry = _entry_at(self.repo.worktrees(), path)
            if entry is not None:
                with suppress(WtaError):  # a broken `.git` file is mended first
                    self.repo.run("worktree", "repair", str(path))
                with suppress(WtaError):
                    self._remove_unlocked(path, entry, force=True)
            self.repo.run("worktree", "prune")
            self._admins = None  # read again: the prune may have dropped other records
            if path.exists() and _entry_at(self.repo.worktrees(), path) is None:
                shutil.rmtree(path, ignore_errors=True)

    def save_unrecorded_work(
        self, feature_id: FeatureId, save_as: str, known: Sequence[str]
    ) -> str | None:
        """Before the feature's branch and worktree are reset: commit what is uncommitted in
        the worktree, and keep the branch's tip as `save_as` unless a ref under `known`
        already holds it. Returns the ref made, if any: nothing on wta's branches is lost."""
        existing = self._own(feature_id)
        if existing is None or mid_hand_over(files.admin_of(existing.path)):
            existing = None  # a handover a killed run left midway: its files are no one's
        if existing is not None and uncommitted_edits(self.repo, existing.path):
            message = "Saved by wta before a new attempt: uncommitted work."
            self.commit_all(existing, message, untracked=False)
        tip = self.repo.rev_parse(HEADS + self.branch_for(feature_id))
        if tip is None:
            return None
        args = ("for-each-ref", "--contains", tip, "--format=%(refname)", *known)
        if self.repo.run(*args).stdout.strip():
            return None
        self.repo.run("update-ref", save_as, tip)
        return save_as

    def prune(self) -> None:
        """Forget worktrees whose directories were deleted."""
        with self.repo.worktree_lock():
            self.repo.run("worktree", "prune")
            self._admins = None

    def release(self, worktree: Worktree) -> None:
        """Offer a merged feature's worktree to the next feature (`take_over`). Unless one
        takes it, it stays as it is, for `wta clean`."""
        with self.repo.worktree_lock():
            self._free.append(worktree)

    def claim(self, feature_id: FeatureId) -> Worktree | None:
        """A released worktree for `feature_id` to take over; None when there is none, or
        when the feature has a worktree already (a retry: create() resets it)."""
        path = self.path_for(feature_id)
        with self.repo.worktree_lock():
            if not self._free or path.exists() or self._entry(path) is not None:
                return None
            return self._free.pop()

    def take_over(
        self, feature_id: FeatureId, base_commit: CommitSha, old: Worktree
    ) -> Worktree | None:
        """Hand the `claim`ed worktree `old` to `feature_id`, as a fresh checkout at
        `base_commit` on its branch (reuse.py says how); None when it cannot be (then make a
        new one; `old` stays where it is, for `wta clean`). Not when the feature's branch is
        checked out somewhere: create() refuses that, saying where."""
        path, branch = self.path_for(feature_id), self.branch_for(feature_id)
        with self.repo.worktree_lock():
            commit, old_tip = self._resolve(base_commit, branch)
            if old_tip is not None and branch in self.repo.checked_out_branches():
                return None  # create() refuses it, saying where
        admin = files.registered_at(self.repo.common_dir, old.path)
        if admin is None or reusable(old.path, admin) is not None:
            return None
        if uncommitted_edits(self.repo, old.path):
            return None  # someone's work (wta leaves none after a merge): not for reuse
        notes = hand_over(self.repo, old.path, admin, commit, self.keep_ignored)
        with self.repo.worktree_lock():
            # recorded first: a run killed from here on leaves a worktree wta knows as its
            # own, detached at this base (list() finds it; `wta clean` removes it)
            record = admin / BASE_FILE
            was = record.read_text(encoding="utf-8")
            record.write_text(commit + "\n", encoding="utf-8")
            try:
                self.repo.run("worktree", "move", str(old.path), str(path))
            except GitError:  # it stays where it is, for `wta clean`; the feature gets a new one
                record.write_text(was, encoding="utf-8")
                handed_over(admin)
                return None
            known = self._known()
            known.pop(old.path, None)
            known[path] = admin
            self.repo.update_ref(HEADS + branch, commit, old_tip)
            self.repo.run("symbolic-ref", "HEAD", HEADS + branch, cwd=path)
            handed_over(admin)
        note = f"took over the worktree of {old.feature_id} (reuse_worktrees)"
        return Worktree(feature_id, path, branch, commit, head=commit, notes=(note, *notes))

    def mend(self) -> builtins.list[Path]:
        """Repair the worktrees in the root whose admin dir does not name them back: `git
        worktree move` renames the directory before it writes the new path into the admin
        dir, so a run killed in between leaves such a one. Returns what was repaired."""
        with self.repo.worktree_lock():
            broken = [
                child
                for child in (sorted(self.root.iterdir()) if self.root.is_dir() else [])
                if (admin := files.admin_of(child)) is not None
                and admin.parent == self.repo.common_dir / "worktrees"
                and admin.is_dir()
                and files.path_of(admin) != child
            ]
            if broken:
                self.repo.run("worktree", "repair", *map(str, broken))
                self._admins = None
        return broken

    def _known(self) -> dict[Path, Path]:
        """Worktree path -> admin dir, read from the admin dirs the first time (under the
        worktree lock)."""
        if self._admins is None:
            common = self.repo.common_dir
            self._admins = {p: a for a, p in files.admin_dirs(common)}
        return self._admins

    def _entry(self, path: Path) -> WorktreeEntry | None:
        """What git records of a worktree at `path`, from its files: its `.git` file, or
        the admin dir remembered for it (whose directory may be gone)."""
        admin = files.registered_at(self.repo.common_dir, path)
        if admin is None:
            remembered = self._known().get(path)
            if remembered is None or files.path_of(remembered) != path:
                return None
            admin = remembered
        prunable = not (path / ".git").exists()
        branch = files.head_branch(admin)
        locked = (admin / "locked").exists()
        return WorktreeEntry(path, None, branch, locked=locked, prunable=prunable)

    def _own(self, feature_id: FeatureId) -> Worktree | None:
        """The feature's worktree, as list() would find it, from its files."""
        path = self.path_for(feature_id)
        admin = files.registered_at(self.repo.common_dir, path)
        if admin is None:
            return None
        on = files.head_branch(admin)
        base = files.read(admin / BASE_FILE)
        branch = self.branch_for(feature_id)
        if on != branch and not (on is None and base):
            return None
        return Worktree(feature_id, path, branch, CommitSha(base or ""), None)

    def _resolve(
        self, base_commit: CommitSha, branch: BranchName
    ) -> tuple[CommitSha, CommitSha | None]:
        """The base commit, and the branch's tip if it exists, in one git call."""
        asked = f"{base_commit}^{{commit}}\n{HEADS}{branch}^{{commit}}\n"
        found = self.repo.run("cat-file", "--batch-check=%(objectname)", input=asked)
        base, tip = (line.strip() for line in found.stdout.splitlines())
        if base.endswith(" missing") or base.endswith(" ambiguous"):
            raise RepoError(f"base commit {base_commit} does not exist in {self.repo.toplevel}")
        return CommitSha(base), None if tip.endswith(" missing") else CommitSha(tip)

    def _refuse_if_held(self, branch: BranchName, path: Path) -> None:
        where = self.repo.checked_out_branches().get(branch)
        if where is not None and _real(where) != path:
            raise RepoError(
                f"branch '{branch}' is checked out in {where}; wta will not move a branch"
                " checked out in another worktree; switch that worktree to another branch"
            )

    def _remove_unlocked(self, path: Path, entry: WorktreeEntry, *, force: bool) -> None:
        if entry.locked:
            self._unlock_killed_add(path)
        if entry.prunable or not path.exists():
            # `remove --force` on a vanished directory drops only this worktree's records;
            # prune is the fallback.
            gone = self.repo.run("worktree", "remove", "--force", str(path), check=False)
            if gone.exit_code != 0:
                self.repo.run("worktree", "prune")
                self._admins = None
            self._known().pop(path, None)
            return
        self.repo.run("worktree", "remove", *(["--force"] if force else []), str(path))
        self._known().pop(path, None)

    def _undo_add(
        self, path: Path, path_existed: bool, ref: str, commit: CommitSha, old_tip: CommitSha | None
    ) -> None:
        with suppress(WtaError, OSError):
            entry = self._entry(path)
            if entry is not None:
                self._remove_unlocked(path, entry, force=True)
        if not path_existed and path.exists():
            shutil.rmtree(path, ignore_errors=True)
        with suppress(WtaError):
            if self.repo.rev_parse(ref) == commit and old_tip != commit:
                if old_tip is None:
                    self.repo.delete_ref(ref, commit)
                else:
                    self.repo.update_ref(ref, old_tip, commit)

    def _unlock_killed_add(self, path: Path) -> None:
        """`git worktree add` keeps a new worktree locked ("initializing") until it is
        made, so one killed midway leaves it locked, and git will not remove it. Called
        under the worktree lock, where no add of wta's runs: such a lock is stale."""
        for admin, where in files.admin_dirs(self.repo.common_dir):
            lock = admin / "locked"
            with suppress(OSError):
                if where == path and lock.read_text(encoding="utf-8").strip() == "initializing":
                    lock.unlink()

    def _recorded_bases(self) -> dict[Path, CommitSha]:
        """Worktree path -> base commit, from the records create() leaves in admin dirs."""
        bases: dict[Path, CommitSha] = {}
        for admin, path in files.admin_dirs(self.repo.common_dir):
            with suppress(OSError):
                bases[path] = CommitSha((admin / BASE_FILE).read_text(encoding="utf-8").strip())
        return bases


def uncommitted_edits(repo: GitRepo, path: Path) -> str:
    """Someone's uncommitted work in a feature worktree, as `git status --porcelain` lists
    it: changes to tracked files, and new files staged with `git add`. Untracked files are
    not: wta commits all that an agent leaves, so untracked files found later are build
    output of the checks (`__pycache__/`). `wta clean` and a retry's save share this rule."""
    return repo.run("status", "--porcelain", "--untracked-files=no", cwd=path).stdout


def _main_worktree(repo: GitRepo) -> Path:
    """The main working tree, so the default root is the same from every linked worktree."""
    if repo.git_dir != repo.common_dir and repo.common_dir.name == ".git":
        return repo.common_dir.parent
    # In the main worktree, or a linked one of a repo whose git dir lives elsewhere (where
    # `git worktree list` names the git dir itself as the main worktree).
    return repo.toplevel


def _entry_at(entries: list[WorktreeEntry], path: Path) -> WorktreeEntry | None:
    return next((e for e in entries if _real(e.path) == path), None)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
