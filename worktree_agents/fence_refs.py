"""The fence's check of refs: nothing but the attempt's own branch moves.

Prevention is refguard.py's hook, which refuses the agent's git any other ref update; this
check names what it refused. Behind it, a backstop for what gets past the hook (an agent
that writes ref files itself or runs git without wta's settings):
- the integration branch is put back where wta left it (nothing but wta moves it);
- a ref outside wta's namespaces that now points at a commit the attempt made (a branch or
  tag moved onto its work, a remote-tracking ref moved by a push that got through) is put
  back by compare-and-swap. Other changes to such refs are left alone: they may be the
  user's own (a commit or a fetch in their checkout while the run goes on).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path

from worktree_agents.domain import CommitSha, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.fence import in_own_thread, short
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.merge import MergeCoordinator
from worktree_agents.refguard import install_hooks, refused_updates
from worktree_agents.worktrees import Worktree

STASH_REF = "refs/stash"
WTA_REFS = "refs/wta/"
REMOTES = "refs/remotes/"
ADVICE = "Only commit on your own branch; never move, create or delete other refs or push."


def all_refs(repo: GitRepo) -> dict[str, CommitSha]:
    """Every ref, and its value."""
    listed = repo.run("for-each-ref", "--format=%(objectname) %(refname)").stdout
    return {
        ref: CommitSha(sha) for sha, _, ref in (line.partition(" ") for line in listed.splitlines())
    }


def other_refs(refs: dict[str, CommitSha], skip: Collection[str]) -> dict[str, CommitSha]:
    """The refs but those in `skip` and under `refs/wta/`."""
    return {r: sha for r, sha in refs.items() if r not in skip and not r.startswith(WTA_REFS)}


class RefCheck:
    """What the attempt's git tried to move, and what moved anyway (see the module)."""

    def __init__(
        self,
        repo: GitRepo,
        coordinator: MergeCoordinator,
        merge_lock: asyncio.Lock,
        log: Path,
        worktree: Worktree,
        skip: Collection[str],
    ) -> None:
        self.repo = repo
        self.coordinator = coordinator
        self.merge_lock = merge_lock
        self.log = log
        self.worktree = worktree
        # the attempt's own branch, the integration branch (put back by the coordinator)
        # and the stash (StashCheck's)
        self.skip = skip

    def _prepare(self) -> dict[str, CommitSha]:
        install_hooks(self.repo)
        self.log.unlink(missing_ok=True)
        return other_refs(all_refs(self.repo), self.skip)

    def _refused(self) -> tuple[list[str], bool]:
        """What the hook refused, named; and whether the agent tried to add to the stash.
        A refused deletion of refs/stash (a pop or drop of its last entry) is StashCheck's
        to name: git has dropped the entry from the reflog all the same, and it is put back."""
        named, stashed = [], False
        for update in refused_updates(self.log):
            current = self._value(update.ref)
            deleting = not update.new.strip("0")
            if update.ref == STASH_REF:
                stashed = stashed or not deleting
            elif deleting:
                named.append(f"delete {update.ref} (at {short(current)})")
            elif current is None:
                named.append(f"create {update.ref} at {short(update.new)}")
            else:
                named.append(f"move {update.ref} from {short(current)} to {short(update.new)}")
        return named, stashed

    def _value(self, ref: str) -> CommitSha | None:
        found = self.repo.run("rev-parse", "--verify", "--quiet", ref, ok_codes=(0, 1))
        return CommitSha(found.stdout.strip()) if found.stdout.strip() else None

    def _put_back(self, before: dict[str, CommitSha], listed: dict[str, CommitSha]) -> list[str]:
        """Other refs that moved onto the attempt's own commits (`listed` holds every ref
        now), put back: yours, and other features' branches (wta moves those only to their
        own work, never onto this attempt's commits)."""
        now = other_refs(listed, self.skip)
        named = []
        for ref in sorted(before.keys() | now.keys()):
            old, new = before.get(ref), now.get(ref)
            if old == new or new is None or not self._made_by_attempt(new):
                continue
            if old is None:
                self.repo.delete_ref(ref, new)
                named.append(f"created {ref} at {short(new)}")
            else:
                self.repo.update_ref(ref, old, new, message="wta: put back")
                pushed = " (a push reached the remote)" if ref.startswith(REMOTES) else ""
                named.append(f"moved {ref} from {short(old)} to {short(new)}{pushed}")
        return named

    def _made_by_attempt(self, commit: CommitSha) -> bool:
        """Whether `commit` is one the attempt made: on its branch (or its worktree's HEAD)
        and not below its base."""
        if self.repo.is_ancestor(commit, self.worktree.base_commit):
            return False
        tips = [self.repo.rev_parse(HEADS + self.worktree.branch)]
        if (self.worktree.path / ".git").exists():
            args = ("rev-parse", "-q", "--verify", "HEAD")
            head = self.repo.run(*args, cwd=self.worktree.path, ok_codes=(0, 1, 128))
            tips.append(CommitSha(head.stdout.strip()) if head.exit_code == 0 else None)
        return any(tip is not None and self.repo.is_ancestor(commit, tip) for tip in tips)

    def _findings(self, before: dict[str, CommitSha]) -> tuple[list[Finding], CommitSha | None]:
        """What the agent did to refs; and the integration tip in the same look at every
        ref, so that the coordinator need not read it again."""
        listed = all_refs(self.repo)
        found = []
        refused, stashed = self._refused()
        if refused:
            detail = f"the agent's git tried to {', '.join(refused)}; git refused"
            found.append(Finding(rule=GuardrailRule.REFS, detail=detail, advice=ADVICE))
        if stashed:
            detail = "the agent's git tried to add to the stash, which your checkout shares;"
            detail += " git refused"
            found.append(
                Finding(rule=GuardrailRule.STASH, detail=detail, advice="Never use git stash.")
            )
        put_back = self._put_back(before, listed)
        if put_back:
            detail = f"the agent {', '.join(put_back)}; wta put them back"
            found.append(Finding(rule=GuardrailRule.REFS, detail=detail, advice=ADVICE))
        return found, listed.get(self.coordinator.ref)

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        before = await asyncio.to_thread(self._prepare)
        try:
            yield
        finally:
            found, seen = await in_own_thread(lambda: self._findings(before))
            findings += found
            async with self.merge_lock:
                await in_own_thread(lambda: self.coordinator.reclaim(seen))
            for move in self.coordinator.take_reclaimed():
                detail = (
                    f"{move.ref} was moved from {short(move.old)} to {short(move.new)} while"
                    " the agent ran; wta put it back"
                )
                findings.append(Finding(rule=GuardrailRule.REFS, detail=detail, advice=ADVICE))
