"""Result records on the remote: what one feature's job did (state, reason, cost, diffstat,
the commit it pushed), for later jobs, `wta merge` and `wta status --remote` to read.

A record is a commit with no parent whose tree holds `result.json` (the FeatureResult, JSON
with sorted keys), at `refs/wta/results/<feature id>` on the remote. It is pushed with a
lease on what the ref held (normally nothing), so two jobs never both record a feature
over each other. A done result is final. A failed or skipped one is replaced by the next
result for the feature (a re-run of the failed job, or a new workflow run; the claim decides
who that is, see remote_claims). To run a done feature again, delete its result and claim
refs on the remote. A record wta cannot read is ignored with a warning, and may be
replaced."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from worktree_agents.domain import CommitSha
from worktree_agents.errors import RepoError
from worktree_agents.git import GitRepo
from worktree_agents.remote_refs import (
    RefUpdate,
    RemoteRecord,
    fetch_records,
    make_record,
    push_leased,
    record_ref,
    warn,
)

RESULTS_NS = "refs/wta/results/"
RESULT_FILE = "result.json"
PUBLISH_TRIES = 3  # a lost lease means someone wrote the ref meanwhile: read it and decide again
ATOMIC_FAILED = "atomic push failed"  # git's word for the refs held back by another's refusal


class FeatureResult(BaseModel):
    """What one job did with one feature (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_version: int = 1
    feature_id: str
    state: Literal["done", "failed", "skipped"]
    reason: str | None = None  # a FailureReason value, or None
    detail: str | None = None
    cost_usd: float = 0.0
    cost_estimated: bool = False
    turns: int | None = None
    model: str | None = None
    duration_s: float | None = None
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    base_commit: str | None = None  # what the feature started from
    commit: str | None = None  # the tip of the pushed feature branch (state "done")
    branch: str | None = None  # the feature branch pushed, holding `commit`
    summary: str | None = None  # the agent's summary of its work
    attempts: int = 0
    worker: str  # who ran it: the claim holder
    finished_at: float  # Unix time

    def to_json(self) -> bytes:
        return (json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2) + "\n").encode()


class ResultRefused(RepoError):
    """The remote holds a result for the feature that this one may not replace, or a ref
    pushed with the result was refused."""

    def __init__(self, message: str, existing: FeatureResult | None) -> None:
        super().__init__(message)
        self.existing = existing


@dataclass(frozen=True)
class ResultRecords:
    """The remote's result records, as read."""

    results: dict[str, FeatureResult]  # the readable ones, by feature id
    commits: dict[str, CommitSha]  # every result ref's commit, unreadable ones included
    problems: tuple[str, ...]  # one warning per unreadable record


def parse_results(remote: str, records: Sequence[RemoteRecord]) -> ResultRecords:
    results: dict[str, FeatureResult] = {}
    commits: dict[str, CommitSha] = {}
    problems: list[str] = []
    for record in records:
        feature_id = record.ref.removeprefix(RESULTS_NS)
        commits[feature_id] = record.commit
        parsed = _parse(record, feature_id)
        if isinstance(parsed, FeatureResult):
            results[feature_id] = parsed
        else:
            problems.append(f"{record.ref} on {remote} {parsed}; ignored")
    return ResultRecords(results, commits, tuple(problems))


def _parse(record: RemoteRecord, feature_id: str) -> FeatureResult | str:
    """The record's result, or what is wrong with it."""
    if record.data is None:
        return f"holds no {RESULT_FILE}"
    try:
        result = FeatureResult.model_validate_json(record.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return (
            f"is not a result record wta can read ({where + ': ' if where else ''}{first['msg']})"
        )
    if result.feature_id != feature_id:
        return f"holds the result of {result.feature_id!r}, not of {feature_id!r}"
    return result


def fetch_results(repo: GitRepo, remote: str) -> ResultRecords:
    records = fetch_records(repo, remote, {RESULTS_NS: RESULT_FILE})[RESULTS_NS]
    return parse_results(remote, records)


def read_results(repo: GitRepo, remote: str) -> dict[str, FeatureResult]:
    """Every readable result record on the remote, by feature id; the others are named in a
    warning on stderr. An unreadable remote raises RepoError."""
    found = fetch_results(repo, remote)
    warn(found.problems)
    return found.results


def replaceable(existing: FeatureResult) -> bool:
    """Whether a result on the remote may be replaced: it is not done (see the module)."""
    return existing.state != "done"


def publish_result(
    repo: GitRepo, remote: str, result: FeatureResult, *, with_refs: Sequence[RefUpdate] = ()
) -> None:
    """Record `result` on the remote (see the module for when it may replace one there),
    with the refs of `with_refs` in the same atomic push, each with its own lease (say, the
    feature branch): all of them are set, or none. Publishing the very record the remote
    holds already does nothing. Raises ResultRefused when the remote holds a result this one
    may not replace, or a ref of `with_refs` is refused; RepoError when the remote cannot be
    read or written."""
    ref = record_ref(RESULTS_NS, result.feature_id)
    message = f"wta result {result.feature_id}: {result.state} by {result.worker}\n"
    commit = make_record(repo, RESULT_FILE, result.to_json(), message, result.finished_at)
    for _ in range(PUBLISH_TRIES):
        found = fetch_results(repo, remote)
        existing = found.results.get(result.feature_id)
        if existing == result:
            return
        if existing is not None and not replaceable(existing):
            raise ResultRefused(
                f"{remote} already holds a result for {result.feature_id}:"
                f" {existing.state} by {existing.worker}",
                existing,
            )
        updates = [RefUpdate(ref, commit, found.commits.get(result.feature_id)), *with_refs]
        verdicts = push_leased(repo, remote, updates, atomic=bool(with_refs))
        if all(why is None for why in verdicts.values()):
            return
        refused = {r: why for r, why in verdicts.items() if why and ATOMIC_FAILED not in why}
        others = {r: why for r, why in refused.items() if r != ref}
        if others:
            named = "; ".join(f"{r}: {why}" for r, why in others.items())
            raise ResultRefused(f"{remote} refused the push of {result.feature_id}: {named}", None)
    raise ResultRefused(
        f"{remote} kept refusing the result of {result.feature_id}: its {ref} kept changing",
        None,
    )


def remote_cost(results: Mapping[str, FeatureResult]) -> float:
    """What the recorded jobs spent, together (failed and skipped ones included)."""
    return round(sum(r.cost_usd for r in results.values()), 6)
