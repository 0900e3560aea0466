"""The fence around each agent: checks entered before it starts and left after it ends, on
every way out (done, failed, timed out or cancelled). What a check finds fails the attempt.

A check is an async context manager factory: `watch(findings)` snapshots what it guards on
the way in, and on the way out puts back what can be put back and adds a Finding.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Protocol

from worktree_agents.domain import CommitSha, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.git import HEADS, GitRepo, restore_stash, stash_entries
from worktree_agents.merge import MergeCoordinator
from worktree_agents.refguard import install_hooks, refused_updates
from worktree_agents.worktrees import Worktree, WorktreeManager


class Check(Protocol):
    def watch(self, findings: list[Finding]) -> AbstractAsyncContextManager[None]: ...


@asynccontextmanager
async def fenced(checks: Sequence[Check]) -> AsyncIterator[list[Finding]]:
    """Run the body inside every check; the list holds their findings once the body is left."""
    findings: list[Finding] = []
    async with AsyncExitStack() as stack:
        for check in checks:
            await stack.enter_async_context(check.watch(findings))
        yield findings


STASH_REF = "refs/stash"


def short(sha: str | None) -> str:
    return "nothing" if sha is None or not sha.strip("0") else sha[:12]


class StashCheck:
    """The stash is shared with the user's checkout: entries an agent removes are put back,
    and entries it adds on its branch are dropped.

    The snapshot and the restore run under one lock shared by every attempt of the process,
    in worker threads that finish even when the attempt is cancelled (Ctrl-C), in the manner
    of pre-commit's staged_files_only.
    """

    def __init__(self, repo: GitRepo, lock: threading.Lock, branch: str | None = None) -> None:
        self.repo = repo
        self.lock = lock
        self.branch = branch

    def _snapshot(self) -> list[tuple[CommitSha, str]]:
        with self.lock:
            return stash_entries(self.repo)

    def _restore(self, before: list[tuple[CommitSha, str]]) -> tuple[int, int]:
        with self.lock:
            return restore_stash(self.repo, before, self.branch)

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        before = await asyncio.to_thread(self._snapshot)
        try:
            yield
        finally:
            # started at once in its thread: a second cancel cannot stop the restore
            restored, dropped = await asyncio.to_thread(self._restore, before)
            done = [
                *([f"put back {_entries(restored)} it had removed"] if restored else []),
                *([f"dropped {_entries(dropped)} it had added"] if dropped else []),
            ]
            if done:
                detail = "the agent changed the stash, which your checkout shares; wta " + (
                    " and ".join(done)
                )
                findings.append(
                    Finding(rule=GuardrailRule.STASH, detail=detail, advice="Never use git stash.")
                )


def _entries(n: int) -> str:
    return f"{n} entry" if n == 1 else f"{n} entries"


class RefCheck:
    """Refs outside the attempt's own branch: what its git tried to move (the hook refused
    it, see refguard.py), and the integration branch, put back if it moved anyway."""

    def __init__(
        self, repo: GitRepo, coordinator: MergeCoordinator, merge_lock: asyncio.Lock, log: Path
    ) -> None:
        self.repo = repo
        self.coordinator = coordinator
        self.merge_lock = merge_lock
        self.log = log

    def _prepare(self) -> None:
        install_hooks(self.repo)
        self.log.unlink(missing_ok=True)

    def _refused(self) -> tuple[list[str], bool]:
        """What the hook refused, named; and whether the agent tried to add to the stash.
        A refused deletion of refs/stash (a pop or drop of its last entry) is StashCheck's
        to name: git has dropped the entry from the reflog all the same, and it is put back."""
        named, stashed = [], False
        for update in refused_updates(self.log):
            now = self.repo.run("rev-parse", "--verify", "--quiet", update.ref, ok_codes=(0, 1))
            current = now.stdout.strip() or None
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

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        await asyncio.to_thread(self._prepare)
        try:
            yield
        finally:
            refused, stashed = await asyncio.to_thread(self._refused)
            if refused:
                detail = f"the agent's git tried to {', '.join(refused)}; git refused"
                advice = "Only commit on your own branch; never move other refs."
                findings.append(Finding(rule=GuardrailRule.REFS, detail=detail, advice=advice))
            if stashed:
                detail = "the agent's git tried to add to the stash, which your checkout shares;"
                detail += " git refused"
                findings.append(
                    Finding(rule=GuardrailRule.STASH, detail=detail, advice="Never use git stash.")
                )
            async with self.merge_lock:
                await asyncio.to_thread(self.coordinator.reclaim)
            for move in self.coordinator.take_reclaimed():
                detail = (
                    f"{move.ref} was moved from {short(move.old)} to {short(move.new)} while"
                    " the agent ran; wta put it back"
                )
                advice = "Never move the integration branch."
                findings.append(Finding(rule=GuardrailRule.REFS, detail=detail, advice=advice))


class WorktreeCheck:
    """The agent must leave its worktree in place and registered, on its feature branch,
    with history that still descends from its base."""

    def __init__(self, worktrees: WorktreeManager, worktree: Worktree) -> None:
        self.worktrees = worktrees
        self.worktree = worktree

    def _damage(self) -> Finding | None:
        worktrees, worktree = self.worktrees, self.worktree
        if not worktrees.registered(worktree):
            worktrees.discard(worktree.feature_id)
            detail = (
                f"the agent deleted or unregistered its worktree {worktree.path}; wta pruned it"
            )
            return Finding(
                rule=GuardrailRule.WORKTREE, detail=detail, advice="Never remove your worktree."
            )
        moved = worktrees.off_branch(worktree)
        if moved is not None:
            detail = f"the agent left the branch {worktree.branch} (the worktree is on {moved})"
            return Finding(rule=GuardrailRule.BRANCH, detail=detail, advice="Stay on your branch.")
        tip = worktrees.repo.rev_parse(HEADS + worktree.branch)
        if tip is None or not worktrees.repo.is_ancestor(worktree.base_commit, tip):
            detail = (
                f"the branch {worktree.branch} no longer descends from its base"
                f" {short(worktree.base_commit)} (it is at {short(tip)})"
            )
            advice = "Never reset or rewrite the history below your starting commit."
            return Finding(rule=GuardrailRule.HISTORY, detail=detail, advice=advice)
        return None

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            damage = await asyncio.to_thread(self._damage)
            if damage is not None:
                findings.append(damage)
