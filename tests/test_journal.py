"""The journal records a feature's state and tells its event in one call."""

from __future__ import annotations

from pathlib import Path

from worktree_agents.domain import CommitSha, FailureReason, FeatureId, FeatureState, RunId
from worktree_agents.events import Event, EventLog
from worktree_agents.failures import Failure
from worktree_agents.journal import Journal
from worktree_agents.paths import StatePaths
from worktree_agents.store import Store

RUN = RunId("20260101-000000-abcd")
A, B, C, D = FeatureId("a"), FeatureId("b"), FeatureId("c"), FeatureId("d")
SHA = CommitSha("1" * 40)


def test_each_call_records_the_state_and_emits_its_event(tmp_path: Path) -> None:
    heard: list[Event] = []
    path = StatePaths(tmp_path).run_events(RUN)
    with Store.open(tmp_path) as store:
        store.sync_features([A, B, C, D], done=())
        journal = Journal(store, EventLog(path), RUN, heard.append)
        journal.ready(A)
        journal.integrating(A)
        journal.merged(A, SHA)
        journal.verifying(B)
        journal.done(B, SHA)
        failure = Failure(
            reason=FailureReason.CONFLICT,
            detail="conflict in x",
            feedback="",
            conflict_paths=("x",),
        )
        journal.failed(C, failure)
        journal.skipped(D, C)
        rows = [
            (r.id, r.state, r.reason, r.detail, r.commit_sha, r.conflict_paths, r.skipped_because)
            for r in store.all_features()
        ]

    assert rows == [
        (A, FeatureState.MERGED, None, None, SHA, (), None),
        (B, FeatureState.DONE, None, None, SHA, (), None),
        (C, FeatureState.FAILED, FailureReason.CONFLICT, "conflict in x", None, ("x",), None),
        (D, FeatureState.SKIPPED, None, "dependency 'c' failed", None, (), C),
    ]
    told = [(e.kind, getattr(e, "feature_id", None)) for e in heard]
    assert told == [
        ("feature_ready", A),
        ("merge_started", A),
        ("merged", A),
        ("feature_failed", C),
        ("skipped", D),
    ]
    assert [(e.kind, e.run_id) for e in EventLog.read(path)] == [(k, RUN) for k, _ in told]
