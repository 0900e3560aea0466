"""`wta run --push REMOTE`: the integration branch and the review branches pushed as
features land, and once more when the run ends.

Pushes never sit on the critical path: a landing only wakes a background thread, which
waits a second, then pushes whatever has landed by then: the landings of that second make
one round of pushes, not one each, so that pushing takes little of the machine while
agents run. Those pushes are best effort; the one at the end is the one that counts.
There, a remote whose integration branch holds commits this repository lacks (someone
else pushed meanwhile, and the lease refused us) is fetched and merged into integration,
with plumbing and by compare-and-swap as when integration follows its base, and the push
is tried again, a bounded number of times. Review branches are rebuilt from integration
(reviewset.py) before each push, and pushed by the rules of `wta review --push`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from worktree_agents.basesync import follow_base
from worktree_agents.domain import BranchName
from worktree_agents.errors import WtaError
from worktree_agents.events import Event
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.merge import MergeCoordinator
from worktree_agents.plan import LoadedPlan
from worktree_agents.push import PushResult, push_with_lease, remote_head
from worktree_agents.remote_adopt import fetch_known, fetched_tip
from worktree_agents.review import ReplayMemo
from worktree_agents.reviewpush import push_reviews
from worktree_agents.reviewset import refresh_reviews

ROUND_INTERVAL_S = 1.0  # a landing is pushed within about this, with the others meanwhile
FINAL_TRIES = 3  # pushes of integration at the end, each after fetching what beat it


class RemotePublisher:
    """Pushes for one run; `landed()` after each merge, `finish()` when the run ends."""

    def __init__(self, repo: GitRepo, loaded: LoadedPlan, remote: str) -> None:
        self.repo = repo
        self.loaded = loaded
        self.remote = remote
        self.branch = BranchName(loaded.plan.run.integration_branch)
        self.notes: list[str] = []  # best-effort pushes that failed (the final one retries)
        self._memo: ReplayMemo = {}  # replays already made, for the next round
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wta-push", daemon=True)

    def start(self) -> None:
        remote_head(self.repo, self.remote, self.branch)  # unreadable: exit 2, before anything
        self._thread.start()

    def watch(self, on_event: Callable[[Event], None]) -> Callable[[Event], None]:
        """`on_event`, also waking the pushes when a feature merges."""

        def watched(event: Event) -> None:
            on_event(event)
            if event.kind == "merged":
                self._wake.set()

        return watched

    def stop(self) -> None:
        """End the background pushes (the one under way finishes first)."""
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self) -> list[PushResult]:
        """Stop the background pushes, then push integration (fetching and merging what
        someone else pushed, if need be) and every review branch."""
        self.stop()
        try:
            results = [self._push_integration()]
        except WtaError as exc:  # say, the remote's integration conflicts with ours
            ref = HEADS + self.branch
            results = [PushResult(self.remote, ref, None, None, exc.message.splitlines()[0])]
        return results + self._push_reviews()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._stopped.wait(ROUND_INTERVAL_S):  # landings meanwhile join this round
                return
            self._wake.clear()
            try:
                self._push_landed()
            except WtaError as exc:
                self.notes.append(exc.message)

    def _push_landed(self) -> None:
        """One best-effort round: integration, if the remote holds nothing we lack, then
        the review branches."""
        old = remote_head(self.repo, self.remote, self.branch)
        tip = self.repo.rev_parse(HEADS + self.branch)
        if tip is not None and (old is None or self.repo.is_ancestor(old, tip)):
            pushed = push_with_lease(self.repo, self.remote, self.branch, old)
            if pushed.detail is not None:
                self.notes.append(pushed.describe())
        self.notes += [p.describe() for p in self._push_reviews() if p.detail is not None]

    def _push_integration(self) -> PushResult:
        pushed: PushResult | None = None
        for _ in range(FINAL_TRIES):
            old = remote_head(self.repo, self.remote, self.branch)
            tip = self.repo.rev_parse(HEADS + self.branch)
            if old is not None and tip is not None and not self.repo.is_ancestor(old, tip):
                self._merge_remote()
            pushed = push_with_lease(self.repo, self.remote, self.branch, old)
            if pushed.detail is None:
                return pushed
        assert pushed is not None
        return pushed

    def _merge_remote(self) -> None:
        """Someone else pushed integration: fetch it and merge it into ours (RepoError,
        naming the paths, on a conflict; nothing moves then)."""
        fetch_known(self.repo, self.remote, [self.branch])
        got = fetched_tip(self.repo, self.branch)
        assert got is not None, "a fetch that went through leaves its ref"
        coordinator = MergeCoordinator(self.repo, self.branch, self.loaded.plan.run.merge)
        coordinator.ensure_branch(got)
        follow_base(coordinator, f"{self.remote}/{self.branch}", got)

    def _push_reviews(self) -> list[PushResult]:
        reviews = refresh_reviews(self.repo, self.loaded, self._memo)
        return push_reviews(self.repo, self.remote, reviews)
