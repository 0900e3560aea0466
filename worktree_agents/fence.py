"""The fence around each agent: checks entered before it starts and left after it ends, on
every way out (done, failed, timed out or cancelled). What a check finds fails the attempt.

A check is an async context manager factory: `watch(findings)` snapshots what it guards on
the way in, and on the way out puts back what can be put back and adds a Finding.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Protocol, TypeVar

from worktree_agents.domain import CommitSha, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.stash import StashStamp, restore_stash, stash_entries, stash_stamp
from worktree_agents.worktrees import Worktree, WorktreeManager

_T = TypeVar("_T")


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


async def in_own_thread(work: Callable[[], _T]) -> _T:
    """Run `work` in a thread started now; it runs to its end whatever befalls the caller."""
    future: concurrent.futures.Future[_T] = concurrent.futures.Future()
    future.set_running_or_notify_cancel()  # so that a cancelled caller cannot cancel it

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="wta-fence").start()
    return await asyncio.wrap_future(future)


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

    def _snapshot(self) -> tuple[StashStamp, list[tuple[CommitSha, str]]]:
        """The stash's files, and its entries (git is asked only when there are some)."""
        with self.lock:
            stamp = stash_stamp(self.repo)
            return stamp, stash_entries(self.repo) if stamp[0] else []

    def _restore(self, before: tuple[StashStamp, list[tuple[CommitSha, str]]]) -> tuple[int, int]:
        stamp, entries = before
        with self.lock:
            if stash_stamp(self.repo) == stamp:
                return 0, 0  # not a byte of it changed
            return restore_stash(self.repo, entries, self.branch)

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        before = await asyncio.to_thread(self._snapshot)
        try:
            yield
        finally:
            # started at once in its own thread: a second cancel cannot stop the restore,
            # and no queue of the loop's executor can hold it back
            restored, dropped = await in_own_thread(lambda: self._restore(before))
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


class WorktreeCheck:
    """The agent must leave its worktree in place and registered, on its feature branch,
    with history that still descends from its base."""

    def __init__(self, worktrees: WorktreeManager, worktree: Worktree) -> None:
        self.worktrees = worktrees
        self.worktree = worktree
        self.tip: CommitSha | None = None  # the branch's tip when the agent ended

    def _damage(self) -> Finding | None:
        worktrees, worktree = self.worktrees, self.worktree
        if not worktrees.registered(worktree):
            worktrees.discard(worktree.feature_id)
            detail = f"the agent deleted or broke its worktree {worktree.path}; wta pruned it"
            return Finding(
                rule=GuardrailRule.WORKTREE, detail=detail, advice="Never remove your worktree."
            )
        moved = worktrees.off_branch(worktree)
        if moved is not None:
            detail = f"the agent left the branch {worktree.branch} (the worktree is on {moved})"
            return Finding(rule=GuardrailRule.BRANCH, detail=detail, advice="Stay on your branch.")
        tip = self.tip = worktrees.repo.rev_parse(HEADS + worktree.branch)
        descends = tip == worktree.base_commit  # no commit of its own: nothing to ask git
        if tip is None or not (descends or worktrees.repo.is_ancestor(worktree.base_commit, tip)):
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
            damage = await in_own_thread(self._damage)
            if damage is not None:
                findings.append(damage)
