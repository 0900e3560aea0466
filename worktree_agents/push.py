"""Pushing the integration branch to a remote with a lease: the push is a compare-and-swap
on the remote's branch, so it never overwrites what someone else pushed meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from worktree_agents.domain import BranchName, CommitSha
from worktree_agents.errors import RepoError, UsageError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.text import last_line


@dataclass(frozen=True)
class PushResult:
    remote: str
    ref: str
    old: CommitSha | None  # where the remote's branch was (the lease); None: absent
    new: CommitSha | None  # what was pushed; None when the push failed
    detail: str | None  # why the push failed; None when it went through

    def as_json(self) -> dict[str, str | None]:
        return {
            "remote": self.remote,
            "ref": self.ref,
            "old": self.old,
            "new": self.new,
            "error": self.detail,
        }

    def describe(self) -> str:
        if self.detail is not None:
            return f"push to {self.remote} failed: {self.detail}"
        if self.old == self.new:
            return f"{self.remote} already has {self.ref} at {(self.new or '')[:10]}"
        return f"pushed {self.ref} to {self.remote} at {(self.new or '')[:10]}"


def remote_heads(
    repo: GitRepo, remote: str, branches: Sequence[str]
) -> dict[BranchName, CommitSha]:
    """Where `remote` has each of `branches` (one `git ls-remote`); a branch it lacks is
    left out. An unreadable remote is a RepoError with git's reason."""
    wanted = {HEADS + b for b in branches}
    found = repo.run("ls-remote", "--heads", remote, *sorted(wanted), check=False)
    if found.exit_code != 0:
        why = last_line(found.stderr) or f"git ls-remote exited {found.exit_code}"
        raise RepoError(f"cannot read the remote {remote!r}: {why}")
    heads: dict[BranchName, CommitSha] = {}
    for line in found.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.strip() in wanted:
            heads[BranchName(ref.strip().removeprefix(HEADS))] = CommitSha(sha.strip())
    return heads


def remote_head(repo: GitRepo, remote: str, branch: str) -> CommitSha | None:
    """Where `remote` has the branch now (None: it has not)."""
    return remote_heads(repo, remote, [branch]).get(BranchName(branch))


def check_remote(remote: str) -> None:
    """A remote name or URL, not an option or nothing."""
    if not remote or remote.startswith("-"):
        raise UsageError(f"--push needs a remote name or URL, not {remote!r}")


def push_with_lease(
    repo: GitRepo, remote: str, branch: str, expected: CommitSha | None
) -> PushResult:
    """Push the local branch to `remote` only if the remote's is still at `expected`."""
    ref = HEADS + branch
    new = repo.rev_parse(ref)
    if new is None:
        return PushResult(remote, ref, expected, None, f"there is no local {branch} to push")
    lease = f"--force-with-lease={ref}:{expected or ''}"
    pushed = repo.run("push", "--quiet", lease, remote, f"{ref}:{ref}", check=False)
    if pushed.exit_code != 0:
        why = last_line(pushed.stderr) or f"git push exited {pushed.exit_code}"
        return PushResult(remote, ref, expected, None, why)
    return PushResult(remote, ref, expected, new, None)


def push_many(
    repo: GitRepo, remote: str, leases: Sequence[tuple[str, CommitSha | None]]
) -> list[PushResult]:
    """Push several local branches in one `git push` (one connection, one process), each
    only if the remote's is still at its expected commit (None: absent). Each branch gets
    its own result: one refused does not hold back the others."""
    if not leases:
        return []
    tips = {branch: repo.rev_parse(HEADS + branch) for branch, _ in leases}
    args = ["push", "--porcelain"]
    args += [f"--force-with-lease={HEADS}{b}:{old or ''}" for b, old in leases if tips[b]]
    args += [remote, *(f"{HEADS}{b}:{HEADS}{b}" for b, _ in leases if tips[b])]
    pushed = repo.run(*args, check=False) if any(tips.values()) else None
    verdicts = _porcelain(pushed.stdout) if pushed is not None else {}
    results = []
    for branch, old in leases:
        ref, new = HEADS + branch, tips[branch]
        if new is None:
            results.append(
                PushResult(remote, ref, old, None, f"there is no local {branch} to push")
            )
            continue
        flag, summary = verdicts.get(ref, ("!", ""))
        if flag == "!":
            assert pushed is not None
            why = summary or last_line(pushed.stderr) or f"git push exited {pushed.exit_code}"
            results.append(PushResult(remote, ref, old, None, why))
        else:
            results.append(PushResult(remote, ref, old, new, None))
    return results


def _porcelain(out: str) -> dict[str, tuple[str, str]]:
    """`git push --porcelain`'s verdict per remote ref: its flag (`!`: refused) and summary,
    from its `<flag>\t<from>:<to>\t<summary>` lines."""
    found = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and len(fields[0]) == 1:
            _, _, to = fields[1].partition(":")
            found[to] = (fields[0], fields[2])
    return found
