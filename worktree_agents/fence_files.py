"""Two fence checks on files an agent shares with the user, watched across a run's attempts.

- The repository's shared git files (`config`, `config.worktree`, `hooks/`, `info/` in the
  common git directory; gitfiles.py) are put back, and the attempt fails `git_files`. The
  baseline is their state when the first of the agents now running started; every change
  from it is put back, so nothing is put back twice, and never to a state an agent made.
  An attempt puts back what changed while its agent ran (what differs from what it saw at
  its start); a change already there when it started is left to the attempts that were
  running then. Who changed a file cannot be told: an attempt whose agent ran at the same
  time as others names them too.
- The user's checkouts (user_checkout.py) are never put back: a change there while agents ran
  is recorded on the run, with the features whose agents ran meanwhile. Each attempt's end
  compares them with the last look, so a change is reported once.

Snapshots and restores run in threads of their own, started at once and under one lock
per watch: cancelling an attempt (Ctrl-C) cannot stop a restore, and no queue of the
event loop's executor can hold one back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from worktree_agents import gitfiles
from worktree_agents.domain import FeatureId, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.fence import Check, in_own_thread
from worktree_agents.git import GitRepo
from worktree_agents.journal import Journal
from worktree_agents.records import CheckoutChange
from worktree_agents.user_checkout import CheckoutState, changed_paths, checkout_state

_T = TypeVar("_T")
ADVICE = (
    "Leave the repository's config, hooks and info files alone: the user's checkout and"
    " every other agent share them."
)


class Visit:
    """One attempt's agent inside the fence."""

    def __init__(self, feature: FeatureId) -> None:
        self.feature = feature
        self.entered = threading.Event()  # its entry is done (or failed)


@dataclass(frozen=True)
class Restored:
    names: tuple[str, ...]  # what was put back, for people
    others: tuple[FeatureId, ...]  # other features whose agents ran while it changed

    def finding(self) -> Finding:
        them = "it" if len(self.names) == 1 else "them"
        what = f"the repository's {_and(self.names)}"
        if not self.others:
            detail = f"the agent changed {what}; wta put {them} back"
        else:
            others = ", ".join(self.others)
            detail = (
                f"{what} changed while this agent and those of {others} ran; wta put {them} back"
            )
        return Finding(rule=GuardrailRule.GIT_FILES, detail=detail, advice=ADVICE)


def _and(items: tuple[str, ...]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class SharedGitFiles:
    """The repository's shared git files, across the agents running at once."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._lock = threading.Lock()
        self._baseline: gitfiles.Baseline | None = None
        self._visits: dict[Visit, gitfiles.Snapshot] = {}  # what each saw at its start

    def enter(self, visit: Visit) -> None:
        try:
            with self._lock:
                if self._baseline is None:
                    self._baseline = gitfiles.capture(self.git_dir)
                    self._visits[visit] = self._baseline.entries
                else:
                    self._visits[visit] = gitfiles.scan(self.git_dir)
        finally:
            visit.entered.set()

    def leave(self, visit: Visit) -> Restored | None:
        """Put back what changed while this agent ran; None if nothing did."""
        visit.entered.wait()
        with self._lock:
            start, baseline = self._visits.pop(visit, None), self._baseline
            if start is None or baseline is None:
                return None
            if not self._visits:
                self._baseline = None  # the next agent to start takes a new one
            now = gitfiles.scan(self.git_dir)
            changed = gitfiles.changed(baseline.entries, now)
            mine = {p for p in changed if now.get(p) != start.get(p)}
            if not mine:
                return None
            mine = gitfiles.with_relatives(mine, changed)
            gitfiles.put_back(self.git_dir, baseline, now, mine)
            others = {
                v.feature
                for v, seen in self._visits.items()
                if any(now.get(p) != seen.get(p) for p in mine)
            }
            names = gitfiles.names(baseline.entries, now, mine)
            return Restored(tuple(names), tuple(sorted(others)))


class GitFilesCheck:
    def __init__(self, files: SharedGitFiles, feature: FeatureId) -> None:
        self.files = files
        self.feature = feature

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        visit = Visit(self.feature)
        try:
            await in_own_thread(lambda: self.files.enter(visit))
            yield
        finally:
            restored = await in_own_thread(lambda: self.files.leave(visit))
            if restored is not None:
                findings.append(restored.finding())


class CheckoutWatch:
    """The user's checkouts, across the agents running at once: each change is reported
    once, with the features whose agents ran since the last look."""

    def __init__(
        self, repo: GitRepo, wta_root: Path, report: Callable[[CheckoutChange], None]
    ) -> None:
        self.repo = repo
        self.wta_root = wta_root
        self.report = report
        self._lock = threading.Lock()
        self._seen: CheckoutState = {}
        self._running: dict[Visit, None] = {}
        self._window: dict[FeatureId, None] = {}  # features that ran since the last look

    def enter(self, visit: Visit) -> None:
        try:
            with self._lock:
                if not self._running:  # changes made while no agent ran are not reported
                    self._seen = checkout_state(self.repo, self.wta_root)
                    self._window = {}
                self._running[visit] = None
                self._window[visit.feature] = None
        finally:
            visit.entered.set()

    def leave(self, visit: Visit) -> None:
        visit.entered.wait()
        with self._lock:
            if visit not in self._running:
                return
            del self._running[visit]
            now = checkout_state(self.repo, self.wta_root)
            paths = changed_paths(self._seen, now)
            if paths:
                self.report(CheckoutChange(time.time(), tuple(paths), tuple(sorted(self._window))))
            self._seen = now
            self._window = {v.feature: None for v in self._running}


class CheckoutCheck:
    """Reports; never fails the attempt."""

    def __init__(self, watch: CheckoutWatch, feature: FeatureId) -> None:
        self.checkout = watch
        self.feature = feature

    @asynccontextmanager
    async def watch(self, findings: list[Finding]) -> AsyncIterator[None]:
        visit = Visit(self.feature)
        try:
            await in_own_thread(lambda: self.checkout.enter(visit))
            yield
        finally:
            await in_own_thread(lambda: self.checkout.leave(visit))


class FilesFence:
    """A run's watches on the files its agents share with the user; `checks(feature)` are
    the fence checks of one attempt."""

    def __init__(self, repo: GitRepo, journal: Journal, wta_root: Path) -> None:
        self.git_files = SharedGitFiles(repo.common_dir)
        self.checkout = CheckoutWatch(repo, wta_root, journal.checkout_changed)

    def checks(self, feature: FeatureId) -> list[Check]:
        # the checkout is looked at last, once the shared files are put back: a config the
        # agent changed never steers wta's own `git status`
        return [CheckoutCheck(self.checkout, feature), GitFilesCheck(self.git_files, feature)]
