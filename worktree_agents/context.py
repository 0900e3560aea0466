"""What one `wta run` is asked to do (RunOptions), and everything its feature pipelines
share (RunContext)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from worktree_agents.dag import SATISFIED_MERGED
from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.fence_files import FilesFence
from worktree_agents.git import GitRepo
from worktree_agents.guardrails import RunGuard
from worktree_agents.journal import Journal
from worktree_agents.merge import MergeCoordinator
from worktree_agents.paths import StatePaths
from worktree_agents.plan import LoadedPlan
from worktree_agents.throttle import Throttle
from worktree_agents.tidy import Tidy
from worktree_agents.worktrees import WorktreeManager

SATISFIED_NO_MERGE = frozenset({FeatureState.MERGED, FeatureState.DONE})


@dataclass(frozen=True)
class RunOptions:
    parallel: int | None = None
    only: tuple[FeatureId, ...] = ()
    profile: str | None = None
    no_merge: bool = False
    retry_failed: bool = False

    @property
    def satisfied(self) -> frozenset[FeatureState]:
        """The states in which a feature's dependents may start: merged, or with --no-merge
        also done (they stack on its branch)."""
        return SATISFIED_NO_MERGE if self.no_merge else SATISFIED_MERGED


@dataclass(frozen=True)
class RunContext:
    """Everything a feature's pipeline shares with the rest of the run."""

    repo: GitRepo
    loaded: LoadedPlan
    options: RunOptions
    journal: Journal
    paths: StatePaths
    worktrees: WorktreeManager
    coordinator: MergeCoordinator
    guard: RunGuard
    fence_files: FilesFence  # the repository's shared git files and the user's checkout
    throttle: Throttle  # quotas and rate limits (throttle.py)
    merge_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stash_lock: threading.Lock = field(default_factory=threading.Lock)
    tidy: Tidy = field(default_factory=Tidy)  # work after a step that nothing waits for
