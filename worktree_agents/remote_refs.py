"""The plumbing under the remote's shared state (remote_claims, remote_results): small records
made with commit-tree, read from the remote with one fetch and one `cat-file --batch`, and
written with one `git push` whose lease on each ref makes it a compare-and-swap.

The remote's `refs/wta/<kind>/*` are fetched into `refs/wta/remotes/<remote>/<kind>/*`, a
local mirror that `--prune` keeps equal to the remote (refs/wta/attempts and refs/wta/saved
are wta's own and never in it). A remote given as a URL or path is mirrored under
`url-<hash of it>`, since a URL is no ref name."""

from __future__ import annotations

import fcntl
import hashlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from worktree_agents.domain import CommitSha
from worktree_agents.errors import RepoError, UsageError
from worktree_agents.git import GitRepo
from worktree_agents.plan import ref_component_problem
from worktree_agents.plumbing import commit_tree, plumb
from worktree_agents.text import show

MIRROR_NS = "refs/wta/remotes/"


@dataclass(frozen=True)
class RemoteRecord:
    """One record ref on the remote, as fetched: its commit and the file it holds."""

    ref: str  # the remote's name for it, e.g. refs/wta/results/auth
    commit: CommitSha
    committed_at: float
    data: bytes | None  # the record's file; None when the commit has no such file


@dataclass(frozen=True)
class RefUpdate:
    """A ref to set on the remote, only if it is still at `expected` (None: absent)."""

    ref: str
    new: CommitSha
    expected: CommitSha | None


def record_ref(namespace: str, feature_id: str) -> str:
    """The remote ref of one feature's record under `namespace`."""
    problem = ref_component_problem(feature_id) or ("contains '/'" if "/" in feature_id else None)
    if problem is not None:
        raise UsageError(f"feature id {show(feature_id)} cannot name a ref: it {problem}")
    return namespace + feature_id


def warn(problems: Sequence[str]) -> None:
    for problem in problems:
        sys.stderr.write(f"wta: warning: {problem}\n")


def git_reason(stderr: str) -> str | None:
    """git's own reason in `stderr`: its first fatal or error line (the lines after it are
    advice), else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        for mark in ("fatal: ", "error: "):
            if line.startswith(mark):
                return line.removeprefix(mark)
    return lines[-1] if lines else None


def check_remote(remote: str) -> None:
    """A remote name or URL, not an option or nothing."""
    if not remote or remote.startswith("-"):
        raise UsageError(f"a remote needs a name or URL, not {remote!r}")


def mirror_namespace(remote: str) -> str:
    """Where the remote's refs/wta/ is mirrored locally (see the module)."""
    named = "/" not in remote and ref_component_problem(remote) is None
    name = remote if named else "url-" + hashlib.sha256(remote.encode()).hexdigest()[:12]
    return f"{MIRROR_NS}{name}/"


def fetch_records(
    repo: GitRepo, remote: str, files: Mapping[str, str]
) -> dict[str, list[RemoteRecord]]:
    """Every record under each namespace of `files` (a remote namespace such as
    `refs/wta/results/`, and the file its records hold), by namespace: one fetch, one
    for-each-ref and one cat-file. An unreadable remote raises RepoError."""
    check_remote(remote)
    mirror = mirror_namespace(remote)
    local = {ns: mirror + ns.removeprefix("refs/wta/") for ns in files}
    with _mirror_lock(repo):
        specs = [f"+{ns}*:{local[ns]}*" for ns in files]
        fetched = repo.run(
            "fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head",
            "--no-auto-gc", "--recurse-submodules=no", remote, *specs, check=False,
        )  # fmt: skip
        if fetched.exit_code != 0:
            why = git_reason(fetched.stderr) or f"git fetch exited {fetched.exit_code}"
            raise RepoError(f"cannot read the remote {remote!r}: {why}")
        fmt = "%(objectname) %(committerdate:unix) %(refname)"
        listed = repo.run("for-each-ref", f"--format={fmt}", *local.values()).stdout
    found: dict[str, list[tuple[str, CommitSha, float]]] = {ns: [] for ns in files}
    for line in listed.splitlines():
        sha, stamp, ref = line.split(" ", 2)
        ns = next(ns for ns in files if ref.startswith(local[ns]))
        remote_ref = ns + ref.removeprefix(local[ns])
        found[ns].append((remote_ref, CommitSha(sha), float(stamp or 0)))
    wanted = [f"{sha}:{files[ns]}" for ns in files for _, sha, _ in found[ns]]
    blobs = _cat_files(repo, wanted)
    return {
        ns: [
            RemoteRecord(ref, sha, stamp, blobs[f"{sha}:{files[ns]}"])
            for ref, sha, stamp in found[ns]
        ]
        for ns in files
    }


def _cat_files(repo: GitRepo, wanted: Sequence[str]) -> dict[str, bytes | None]:
    """The content of each `<commit>:<path>` (None when missing), with one cat-file."""
    if not wanted:
        return {}
    out = plumb(repo, "cat-file", "--batch", input="".join(f"{w}\n" for w in wanted)).stdout
    data = out.encode("utf-8", "surrogateescape")  # sizes count bytes
    blobs: dict[str, bytes | None] = {}
    pos = 0
    for name in wanted:
        end = data.index(b"\n", pos)
        header = data[pos:end].split(b" ")
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":  # `<name> missing`, or not a file
            blobs[name] = None
            if len(header) == 3:
                pos += int(header[2]) + 1
            continue
        size = int(header[2])
        blobs[name] = data[pos : pos + size]
        pos += size + 1
    return blobs


def make_record(
    repo: GitRepo, filename: str, content: bytes, message: str, when: float
) -> CommitSha:
    """A commit with no parent whose tree holds `filename`, dated `when`, never signed."""
    blob = plumb(repo, "hash-object", "-w", "--stdin", input=content).stdout.strip()
    tree = plumb(repo, "mktree", input=f"100644 blob {blob}\t{filename}\n").stdout.strip()
    date = f"@{int(when)} +0000"
    env = {**repo.commit_env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return commit_tree(repo, tree, [], message, env, sign=False)


def push_leased(
    repo: GitRepo, remote: str, updates: Sequence[RefUpdate], *, atomic: bool = False
) -> dict[str, str | None]:
    """Push each update with a lease on its expected value, in one `git push` (all or none
    with `atomic`). Returns, per ref, None when it was set, else git's reason. An
    unreachable remote raises RepoError."""
    check_remote(remote)
    args = ["push", "--porcelain", *(["--atomic"] if atomic else [])]
    args += [f"--force-with-lease={u.ref}:{u.expected or ''}" for u in updates]
    args += [remote, *(f"{u.new}:{u.ref}" for u in updates)]
    pushed = repo.run(*args, check=False)
    verdicts: dict[str, tuple[str, str]] = {}
    for line in pushed.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and len(fields[0]) == 1:
            verdicts[fields[1].partition(":")[2]] = (fields[0], fields[2])
    if not verdicts and pushed.exit_code != 0:
        why = git_reason(pushed.stderr) or f"git push exited {pushed.exit_code}"
        raise RepoError(f"cannot push to the remote {remote!r}: {why}")
    results: dict[str, str | None] = {}
    for update in updates:
        flag, summary = verdicts.get(update.ref, ("!", "no verdict from git push"))
        results[update.ref] = summary if flag == "!" else None
    return results


@contextmanager
def _mirror_lock(repo: GitRepo) -> Iterator[None]:
    """Two wta processes of one clone fetching into the same mirror refs would fail on each
    other's ref locks: they take turns."""
    path = repo.state_dir() / "remote-mirror.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
