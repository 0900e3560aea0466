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
from typing import Protocol

from worktree_agents.domain import CommitSha, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.git import GitRepo, restore_stash, stash_entries
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


class StashCheck:
    """The stash is shared with the user's checkout: entries an agent removes are put back.

    The snapshot and the restore run under one lock shared by every attempt of the process,
    in worker threads that finish even when the attempt is cancelled (Ctrl-C), in the manner
    of pre-commit's staged_files_only.
    """

    def __init__(self, repo: GitRepo, lock: threading.Lock) -> None:
        self.repo = repo
        self.lock = lock

    def _snapshot(self) -> list[tuple[CommitSha, str]]:
        with self.lock:
            return stash_entries(self.repo)

    def _restore(self, before: list[tuple[CommitSha, str]]) -> int:
        with self.lock:
            return restore_stash(self.repo, before)

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        before = await asyncio.to_thread(self._snapshot)
        try:
            yield
        finally:
            # started at once in its thread: a second cancel cannot stop the restore
            restored = await asyncio.to_thread(self._restore, before)
            if restored:
                entries = "entry" if restored == 1 else "entries"
                detail = (
                    "the agent changed the stash, which your checkout shares; wta put back"
                    f" {restored} {entries} it had removed"
                )
                findings.append(
                    Finding(rule=GuardrailRule.STASH, detail=detail, advice="Never use git stash.")
                )


class BranchCheck:
    """The agent must end on its feature branch, in its own worktree."""

    def __init__(self, worktrees: WorktreeManager, worktree: Worktree) -> None:
        self.worktrees = worktrees
        self.worktree = worktree

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        yield
        moved = await asyncio.to_thread(self.worktrees.off_branch, self.worktree)
        if moved is not None:
            detail = (
                f"the agent left the branch {self.worktree.branch} (the worktree is on {moved})"
            )
            findings.append(
                Finding(rule=GuardrailRule.BRANCH, detail=detail, advice="Stay on your branch.")
            )
