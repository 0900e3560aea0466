"""The run's journal: each change of a feature's state is recorded in the store and told as
its event in one call, so the two never disagree."""

from __future__ import annotations

from collections.abc import Callable

from worktree_agents.domain import CommitSha, FeatureId, FeatureState, RunId
from worktree_agents.events import (
    CheckoutChanged,
    Event,
    EventLog,
    FeatureFailed,
    FeatureReady,
    Merged,
    MergeStarted,
    Skipped,
)
from worktree_agents.failures import Failure
from worktree_agents.records import CheckoutChange
from worktree_agents.store import FeatureUpdate, Store


class Journal:
    """One run's record keeper: the store, the event log and whoever watches the events."""

    def __init__(
        self,
        store: Store,
        events: EventLog,
        run_id: RunId,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.run_id = run_id
        self.on_event = on_event

    def emit(self, event: Event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def update(self, feature_id: FeatureId, changes: FeatureUpdate) -> None:
        self.store.update_feature(feature_id, changes)

    def ready(self, feature_id: FeatureId) -> None:
        if self.store.get(feature_id) is not None:
            self.store.set_state(feature_id, FeatureState.READY)
        self.emit(FeatureReady(run_id=self.run_id, feature_id=feature_id))

    def skipped(self, feature_id: FeatureId, because: FeatureId) -> None:
        cause = self.store.get(because)
        what = cause.state.value if cause is not None else "not run"
        self.store.set_state(
            feature_id,
            FeatureState.SKIPPED,
            detail=f"dependency '{because}' {what}",
            changes=FeatureUpdate(skipped_because=because),
        )
        self.emit(Skipped(run_id=self.run_id, feature_id=feature_id, because=because))

    def verifying(self, feature_id: FeatureId) -> None:
        self.store.set_state(feature_id, FeatureState.VERIFYING)

    def integrating(self, feature_id: FeatureId) -> None:
        self.store.set_state(feature_id, FeatureState.INTEGRATING)
        self.emit(MergeStarted(run_id=self.run_id, feature_id=feature_id))

    def merged(self, feature_id: FeatureId, commit: CommitSha) -> None:
        changes = FeatureUpdate(commit_sha=commit)
        self.store.set_state(feature_id, FeatureState.MERGED, changes=changes)
        self.emit(
            Merged(
                run_id=self.run_id, feature_id=feature_id, commit=commit, integration_head=commit
            )
        )

    def done(self, feature_id: FeatureId, head: CommitSha) -> None:
        """Verified on its branch and left there (--no-merge)."""
        changes = FeatureUpdate(commit_sha=head)
        self.store.set_state(feature_id, FeatureState.DONE, changes=changes)

    def failed(self, feature_id: FeatureId, failure: Failure) -> None:
        self.store.set_state(
            feature_id,
            FeatureState.FAILED,
            reason=failure.reason,
            detail=failure.detail,
            changes=FeatureUpdate(conflict_paths=failure.conflict_paths or None),
        )
        event = FeatureFailed(
            run_id=self.run_id, feature_id=feature_id, reason=failure.reason, detail=failure.detail
        )
        self.emit(event)

    def checkout_changed(self, change: CheckoutChange) -> None:
        """The user's checkout changed while agents ran (a warning on the run)."""
        self.store.add_checkout_change(self.run_id, change)
        self.emit(CheckoutChanged(run_id=self.run_id, paths=change.paths, features=change.features))
