"""The only place that runs git: one subprocess function with a typed result, and a
repository handle whose methods wrap the plumbing wta needs."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

from worktree_agents.domain import HEADS as HEADS  # where everyone has found it
from worktree_agents.domain import BranchName, CommitSha
from worktree_agents.errors import GitError, RepoError
from worktree_agents.worktree_files import WorktreeHead, worktree_heads

# Inherited from a hook or a parent git process, these would point git at some other
# repository, index or object store than the one wta discovered.
SCRUBBED_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)
FIXED_VARS = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
    "GIT_PAGER": "cat",
}
# When set, wta appends a line per git command it runs to this file (benches and tests
# count the git calls of a feature with it).
TRACE_VAR = "WTA_GIT_TRACE"
# wta's own git runs no hooks: a hook in the repository (the user's, or one an agent
# planted) can neither break nor slow its plumbing (reference-transaction runs on every
# ref update, post-checkout on worktree add).
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")
# Nor do its checkouts and resets recurse into submodules, whatever submodule.recurse says:
# a submodule of a feature worktree may be empty (checkout.py sets them up, once), and a
# recursing checkout dies on an empty one.
NO_RECURSION = ("-c", "submodule.recurse=false")


@dataclass(frozen=True)
class GitResult:
    """One finished git command; `args` excludes the leading `git`."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class WorktreeEntry:
    """One record of `git worktree list --porcelain`."""

    path: Path
    head: CommitSha | None
    branch: BranchName | None  # None when detached or bare
    bare: bool = False
    locked: bool = False
    prunable: bool = False  # its directory is gone


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without repository-selecting variables, non-interactive, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_VARS}
    env.update(FIXED_VARS)
    if extra:
        env.update(extra)
    return env


def git_config_env(settings: Sequence[tuple[str, str]], env: Mapping[str, str]) -> dict[str, str]:
    """GIT_CONFIG_COUNT/KEY_n/VALUE_n for `settings`, after any that `env` already gives."""
    count = env.get("GIT_CONFIG_COUNT", "0")
    first = int(count) if count.isdigit() else 0
    out = {"GIT_CONFIG_COUNT": str(first + len(settings))}
    for n, (key, value) in enumerate(settings, start=first):
        out[f"GIT_CONFIG_KEY_{n}"] = key
        out[f"GIT_CONFIG_VALUE_{n}"] = value
    return out


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    ok_codes: Collection[int] = (0,),
    plain: bool = False,
) -> GitResult:
    """Run `git <args>` in `cwd`; raise GitError when `check` and the exit code is not ok.

    `plain` leaves out wta's own settings (NO_HOOKS, NO_RECURSION): for reading what the
    user's config says of them."""
    argv = ["git", *([] if plain else [*NO_HOOKS, *NO_RECURSION]), *args]
    if trace := os.environ.get(TRACE_VAR):
        _trace(Path(trace), cwd, args)
    data = input.encode() if isinstance(input, str) else input
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=git_env(env),
            input=data,
            stdin=subprocess.DEVNULL if data is None else None,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        if not Path(cwd).is_dir():
            raise RepoError(f"directory {cwd} does not exist; cannot run git there") from exc
        raise RepoError("git is not installed or not on PATH; install git 2.39 or newer") from exc
    result = GitResult(
        args=tuple(args),
        exit_code=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "surrogateescape"),
        stderr=proc.stderr.decode("utf-8", "replace"),
    )
    if check and result.exit_code not in ok_codes:
        raise GitError(result.args, result.exit_code, result.stderr)
    return result


def _trace(path: Path, cwd: Path, args: Sequence[str]) -> None:
    """One line per git command wta runs (cwd, then argv, tab-separated), appended in one
    write so that lines from several threads do not interleave."""
    line = "\t".join([str(cwd), *(a.replace("\t", " ").replace("\n", " ") for a in args)])
    with path.open("a", encoding="utf-8", errors="surrogateescape") as out:
        out.write(line + "\n")


class _WorktreeLock:
    """One repository's worktree lock: a thread lock and an flock, re-entrant in a thread.

    `git worktree add` writes `.git/worktrees/<id>/` file by file, and a `git worktree
    list` that reads the entry half-made dies ("failed to read .../commondir"). So adds,
    removes and prunes hold this lock, and so does every reader of that metadata.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._handle: IO[str] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                handle = self.path.open("a")
                fcntl.flock(handle, fcntl.LOCK_EX)
                self._handle = handle
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._handle is not None:
                    fcntl.flock(self._handle, fcntl.LOCK_UN)
                    self._handle.close()
                    self._handle = None


_locks_guard = threading.Lock()
_worktree_locks: dict[Path, _WorktreeLock] = {}


def parse_worktree_list(porcelain_z: str) -> list[WorktreeEntry]:
    """Parse `git worktree list --porcelain -z` output."""
    entries: list[WorktreeEntry] = []
    fields: dict[str, str] = {}
    for line in porcelain_z.split("\0"):
        if line:
            key, _, value = line.partition(" ")
            fields[key] = value
            continue
        if "worktree" in fields:
            branch = fields.get("branch")
            entries.append(
                WorktreeEntry(
                    path=Path(fields["worktree"]),
                    head=CommitSha(fields["HEAD"]) if "HEAD" in fields else None,
                    branch=BranchName(branch.removeprefix(HEADS)) if branch else None,
                    bare="bare" in fields,
                    locked="locked" in fields,
                    prunable="prunable" in fields,
                )
            )
        fields = {}
    return entries


@dataclass(frozen=True)
class GitRepo:
    """A non-bare repository with at least one commit. Immutable; safe to share across threads."""

    toplevel: Path
    git_dir: Path
    common_dir: Path
    zero_oid: CommitSha

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        """Find the repository containing `path`, or raise RepoError saying what to do."""
        path = Path(path).expanduser()
        if not path.exists():
            raise RepoError(f"{path} does not exist; pass a directory inside a git repository")
        if not path.is_dir():
            raise RepoError(f"{path} is not a directory; pass a directory inside a git repository")
        # one git call finds the repository and its first commit; gitpython is not loaded
        # (its import alone spawns `git version`)
        located = run_git(
            [
                "rev-parse",
                "--path-format=absolute",
                "--is-bare-repository",
                "--is-inside-git-dir",
                "--show-toplevel",
                "--absolute-git-dir",
                "--git-common-dir",
                "--verify",
                "--quiet",
                "HEAD^{commit}",
            ],
            cwd=path,
            check=False,
            env={"LC_ALL": "C"},  # git's error in English, to tell "not a repository" apart
        )
        lines = located.stdout.splitlines()
        if len(lines) < 5:  # git stopped before the paths: no working tree here
            raise RepoError(_locate_failure(path, located, lines))
        _, _, toplevel, git_dir, common_dir = lines[:5]
        top = Path(os.path.realpath(toplevel))
        if located.exit_code != 0 or len(lines) != 6:
            raise RepoError(_unborn_message(top))
        head = lines[5]
        return cls(
            toplevel=top,
            git_dir=Path(os.path.realpath(git_dir)),
            common_dir=Path(os.path.realpath(common_dir)),
            zero_oid=CommitSha("0" * len(head)),
        )

    @cached_property
    def commit_env(self) -> dict[str, str]:
        """What wta's own commits in this repository add to their environment: the identity
        of commit_identity, read once per GitRepo (see pin_identity)."""
        return commit_identity(self.toplevel)

    def pin_identity(self) -> dict[str, str]:
        """Read commit_env now. `wta run` calls it before any agent starts, so that an agent
        that sets user.email in the shared config cannot sign wta's commits with it."""
        return self.commit_env

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | bytes | None = None,
        ok_codes: Collection[int] = (0,),
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> GitResult:
        """Run `git <args>` in the working tree root (or `cwd`)."""
        return run_git(
            args,
            cwd=cwd or self.toplevel,
            check=check,
            input=input,
            env=env,
            ok_codes=ok_codes,
        )

    def user_config(self, *args: str) -> str | None:
        """`git config <args>` as the user's git sees it, without wta's own settings; None
        when the key is not set."""
        found = run_git(["config", *args], cwd=self.toplevel, ok_codes=(0, 1), plain=True)
        return found.stdout.strip() if found.exit_code == 0 else None

    def current_branch(self) -> BranchName | None:
        """The checked-out branch, or None when HEAD is detached."""
        result = self.run("symbolic-ref", "--quiet", "HEAD", ok_codes=(0, 1))
        ref = result.stdout.strip()
        if result.exit_code != 0 or not ref.startswith(HEADS):
            return None
        return BranchName(ref.removeprefix(HEADS))

    def head_commit(self) -> CommitSha:
        return CommitSha(self.run("rev-parse", "--verify", "HEAD^{commit}").stdout.strip())

    def rev_parse(self, ref: str) -> CommitSha | None:
        """The commit `ref` names, or None if it names none."""
        args = ("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        result = self.run(*args, ok_codes=(0, 1))
        return CommitSha(result.stdout.strip()) if result.exit_code == 0 else None

    def is_ancestor(self, ancestor: CommitSha, commit: CommitSha) -> bool:
        """Whether `commit` descends from `ancestor` (False too if either is missing)."""
        args = ("merge-base", "--is-ancestor", ancestor, commit)
        return self.run(*args, ok_codes=(0, 1, 128)).exit_code == 0

    def ref_exists(self, ref: str) -> bool:
        """Whether the full ref name (`refs/...` or `HEAD`) exists."""
        result = self.run("show-ref", "--verify", "--quiet", ref, ok_codes=(0, 1))
        return result.exit_code == 0

    def resolve_base(self, base: str | None) -> tuple[BranchName | None, CommitSha]:
        """The branch (None unless a local branch) and commit that `base` names.

        None means the current branch. Accepts a branch name, a remote-tracking name such
        as `origin/main`, or a full ref.
        """
        if base is None:
            branch = self.current_branch()
            if branch is None:
                raise RepoError(
                    "HEAD is detached and the plan sets no [run] base;"
                    ' set base = "<branch>" in wta.toml or check out a branch'
                )
            return branch, self.head_commit()
        candidates: list[tuple[BranchName | None, str]] = [(BranchName(base), HEADS + base)]
        if base.startswith("refs/"):
            short = base.removeprefix(HEADS)
            candidates = [(BranchName(short) if short != base else None, base)]
        else:
            candidates.append((None, f"refs/remotes/{base}"))
        for branch, ref in candidates:
            commit = self.rev_parse(ref)
            if commit is not None:
                return branch, commit
        raise RepoError(
            f"base branch '{base}' does not exist; create it, or set [run] base"
            " in wta.toml to an existing branch"
        )

    def update_ref(
        self, ref: str, new: CommitSha, old: CommitSha | None, *, message: str | None = None
    ) -> None:
        """Move `ref` to `new` only if it is at `old` (None: only if it does not exist yet)."""
        reason = ["-m", message] if message else []
        self.run("update-ref", *reason, ref, new, old or self.zero_oid)

    def delete_ref(self, ref: str, old: CommitSha) -> None:
        """Delete `ref` only if it still points at `old`."""
        self.run("update-ref", "-d", ref, old)

    @contextmanager
    def worktree_lock(self) -> Iterator[None]:
        """Hold the repository's worktree lock (across threads and processes; re-entrant)."""
        with _locks_guard:
            lock = _worktree_locks.get(self.common_dir)
            if lock is None:
                lock = _WorktreeLock(self.state_dir() / "worktrees.lock")
                _worktree_locks[self.common_dir] = lock
        with lock.held():
            yield

    def worktrees(self) -> list[WorktreeEntry]:
        """Every worktree of the repository: the main one first, the others in git's order.

        Read under the worktree lock, so never while wta is adding or removing one."""
        with self.worktree_lock():
            listed = self.run("worktree", "list", "--porcelain", "-z")
        return parse_worktree_list(listed.stdout)

    def checked_out_branches(self) -> dict[BranchName, Path]:
        """Each branch checked out in some worktree, and where (read from files: see
        worktree_heads)."""
        found: dict[BranchName, Path] = {}
        for entry in self.worktree_heads():
            if entry.branch is not None:
                found.setdefault(entry.branch, entry.path)
        return found

    def worktree_heads(self) -> list[WorktreeHead]:
        """Every worktree, the main one first, with the branch it has checked out: read from
        the files git keeps for each (worktree_files.py), with no process. It is asked
        around every agent and before every merge, and `git worktree list` costs more with
        every worktree (28.7 ms with 300, measured)."""
        if self.common_dir.name != ".git" and self.git_dir != self.common_dir:
            # a linked worktree of a repository whose git dir is elsewhere: the main entry
            # may be bare, which only git's own list tells
            listed = self.worktrees()
            return [WorktreeHead(e.path, e.branch, e.prunable) for e in listed if not e.bare]
        main = self.common_dir.parent if self.common_dir.name == ".git" else self.toplevel
        return worktree_heads(self.common_dir, main)

    def ref_value(self, ref: str) -> CommitSha | None:
        """What the full ref name `ref` points at (not peeled), or None if it does not exist:
        one process, where ref_exists then rev_parse take two."""
        listed = self.run("for-each-ref", "--format=%(objectname) %(refname)", ref).stdout
        for line in listed.splitlines():  # the pattern also matches refs below `ref`
            sha, _, name = line.partition(" ")
            if name == ref:
                return CommitSha(sha)
        return None

    def state_dir(self) -> Path:
        """Where wta keeps its state; callers create it."""
        return self.common_dir / "wta"


def _locate_failure(path: Path, result: GitResult, lines: Sequence[str]) -> str:
    """Why `rev-parse` found no working tree, from the answers it printed before stopping
    (`--is-bare-repository`, `--is-inside-git-dir`) and its error."""
    if lines[:1] == ["true"]:
        return (
            f"{path} is a bare repository; wta needs a working tree;"
            " run it inside a clone with a checkout"
        )
    if lines[1:2] == ["true"]:
        return (
            f"{path} is inside a .git directory; wta needs a working tree;"
            " run it inside a clone with a checkout"
        )
    if result.stderr.startswith("fatal: not a git repository"):
        return (
            f"{path} is not inside a git repository; run wta inside a clone,"
            " or create one with `git init`"
        )
    first_line = (result.stderr.strip().splitlines() or ["(no output)"])[0]
    return f"git cannot use the repository at {path} ({first_line}); fix that, then run wta again"


def _unborn_message(toplevel: Path) -> str:
    any_ref = run_git(["for-each-ref", "--count=1", "--format=%(refname)"], cwd=toplevel)
    if not any_ref.stdout.strip():
        return (
            f"the repository at {toplevel} has no commits yet;"
            " make a first commit, then run wta again"
        )
    branch = run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=toplevel, check=False)
    return (
        f"the current branch '{branch.stdout.strip()}' has no commits yet;"
        " commit something on it or check out another branch"
    )


FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "wta",
    "GIT_AUTHOR_EMAIL": "wta@localhost",
    "GIT_COMMITTER_NAME": "wta",
    "GIT_COMMITTER_EMAIL": "wta@localhost",
}


def fallback_identity(cwd: Path) -> dict[str, str]:
    """The environment wta's own commits need when git has no identity at `cwd`: a neutral
    one, for the variables the user has not set. Empty when git has an identity.

    Only wta's own commits get it: agents keep the user's environment as it is.
    """
    probe = run_git(["var", "GIT_COMMITTER_IDENT"], cwd=cwd, check=False)
    if probe.exit_code == 0:
        return {}
    return {name: value for name, value in FALLBACK_IDENTITY.items() if name not in os.environ}


IDENT = re.compile(r"(.*) <([^<>]*)> \S+ \S+")  # `git var GIT_AUTHOR_IDENT`: name, email, date


def commit_identity(cwd: Path) -> dict[str, str]:
    """The identity wta's own commits carry: the author and committer git gives at `cwd`
    now (from the environment or the config), as GIT_AUTHOR_* and GIT_COMMITTER_*, which
    win over any config changed later. Where git has none, the neutral fallback, for the
    variables the user has not set (as fallback_identity).

    Only wta's own commits get it: agents keep the user's environment as it is.
    """
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        probe = run_git(["var", f"GIT_{role}_IDENT"], cwd=cwd, check=False)
        found = IDENT.fullmatch(probe.stdout.strip()) if probe.exit_code == 0 else None
        if found is not None:
            env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = found[1], found[2]
            continue
        for name, value in FALLBACK_IDENTITY.items():
            if name.startswith(f"GIT_{role}_") and name not in os.environ:
                env[name] = value
    return env
