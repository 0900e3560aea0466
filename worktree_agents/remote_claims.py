"""Claims on the remote: which worker runs a feature, decided by the remote alone.

A claim is `refs/wta/claims/<feature id>` on the remote: a commit with no parent whose tree
holds `claim.json` (feature id, holder, time), made by this machine and pushed with
`--force-with-lease=<ref>:` (expected: absent). The remote applies each push's expected
value under its own ref lock, so of several workers racing for a feature exactly one push
goes through; the others see the winner's claim and stand down.

Takeover. A claim in the way is replaced, by a push with a lease on its commit (so of two
takers only one wins), when
- its holder is ours: the same GITHUB_RUN_ID, i.e. a re-run of a job that died or failed;
- its feature has a failed or skipped result: its job has ended, and the feature may be
  done again (by a re-run of the job, or by a new workflow run);
- or it is older than `ttl_s` (by its recorded time, against this machine's clock) and the
  feature has no result record: its job died without a word. The ttl must exceed the
  longest job plus any clock skew between the machines.
Any other claim wins over ours. A feature whose result is done is never claimed again (see
remote_results); to run it again, delete its result and claim refs on the remote."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

from worktree_agents.domain import CommitSha
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
from worktree_agents.remote_results import (
    RESULT_FILE,
    RESULTS_NS,
    FeatureResult,
    parse_results,
)

CLAIMS_NS = "refs/wta/claims/"
CLAIM_FILE = "claim.json"
CLAIM_TRIES = 4  # a lost lease means the claim moved: read again and decide again
UNREADABLE = "(unreadable claim)"


@dataclass(frozen=True)
class Claim:
    feature_id: str
    holder: str  # e.g. "github-run-123456789" or "host:pid"
    commit: CommitSha  # the claim ref's commit on the remote
    created_at: float


@dataclass(frozen=True)
class ClaimOutcome:
    won: bool
    claim: Claim | None  # ours if won, else the one in the way (None: a result is)
    taken_over: Claim | None  # a stale or same-holder claim we replaced, if any
    result: FeatureResult | None = None  # the remote's result for the feature, if any


class _ClaimFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    schema_version: int = 1
    feature_id: str
    holder: str
    created_at: float


@dataclass(frozen=True)
class RemoteState:
    """The remote's claims and results, read together."""

    results: dict[str, FeatureResult]
    claims: dict[str, Claim]
    result_commits: dict[str, CommitSha]
    problems: tuple[str, ...]  # one warning per unreadable record


def claim_holder(env: Mapping[str, str]) -> str:
    """Who claims: the GitHub Actions run (a re-run of a job keeps its run id), else this
    process on this host."""
    run_id = env.get("GITHUB_RUN_ID", "").strip()
    return f"github-run-{run_id}" if run_id else f"{socket.gethostname()}:{os.getpid()}"


def fetch_state(repo: GitRepo, remote: str) -> RemoteState:
    """Claims and results with one fetch; warnings are left to the caller."""
    found = fetch_records(repo, remote, {CLAIMS_NS: CLAIM_FILE, RESULTS_NS: RESULT_FILE})
    results = parse_results(remote, found[RESULTS_NS])
    claims: dict[str, Claim] = {}
    problems = list(results.problems)
    for record in found[CLAIMS_NS]:
        claim, problem = _parse_claim(record)
        claims[claim.feature_id] = claim
        if problem is not None:
            problems.append(f"{record.ref} on {remote} {problem}; taken as a claim made then")
    return RemoteState(results.results, claims, results.commits, tuple(problems))


def _parse_claim(record: RemoteRecord) -> tuple[Claim, str | None]:
    """The claim, and what is wrong with its record: an unreadable claim still holds the
    feature, from its commit's date (so it can go stale)."""
    feature_id = record.ref.removeprefix(CLAIMS_NS)
    fallback = Claim(feature_id, UNREADABLE, record.commit, record.committed_at)
    if record.data is None:
        return fallback, f"holds no {CLAIM_FILE}"
    try:
        found = _ClaimFile.model_validate_json(record.data)
    except ValidationError as exc:
        return fallback, f"is not a claim wta can read ({exc.errors()[0]['msg']})"
    if found.feature_id != feature_id:
        return fallback, f"holds the claim of {found.feature_id!r}, not of {feature_id!r}"
    return Claim(feature_id, found.holder, record.commit, found.created_at), None


def read_remote(repo: GitRepo, remote: str) -> RemoteState:
    """Claims and results with one fetch, unreadable records named on stderr."""
    state = fetch_state(repo, remote)
    warn(state.problems)
    return state


def read_claims(repo: GitRepo, remote: str) -> dict[str, Claim]:
    """Every claim on the remote, by feature id. An unreadable remote raises RepoError."""
    found = fetch_records(repo, remote, {CLAIMS_NS: CLAIM_FILE})[CLAIMS_NS]
    claims = {}
    for record in found:
        claim, problem = _parse_claim(record)
        claims[claim.feature_id] = claim
        if problem is not None:
            warn([f"{record.ref} on {remote} {problem}; taken as a claim made then"])
    return claims


def may_take(
    existing: Claim, result: FeatureResult | None, holder: str, ttl_s: float, now: float
) -> bool:
    """Whether a claim in the way is replaced (see the module); `result` is not done."""
    if existing.holder == holder or result is not None:
        return True
    return now - existing.created_at > ttl_s


def blocked_by_result(result: FeatureResult | None) -> bool:
    """Whether the feature's result keeps it from being claimed: a done one is final."""
    return result is not None and result.state == "done"


def claim(
    repo: GitRepo,
    remote: str,
    feature_id: str,
    holder: str,
    *,
    ttl_s: float,
    now: float | None = None,
) -> ClaimOutcome:
    """Claim the feature on the remote for `holder` (see the module for who wins).
    An unreadable remote raises RepoError; a feature id that cannot name a ref, UsageError."""
    when = time.time() if now is None else float(now)
    ref = record_ref(CLAIMS_NS, feature_id)
    content = _ClaimFile(feature_id=feature_id, holder=holder, created_at=when)
    data = (json.dumps(content.model_dump(), sort_keys=True, indent=2) + "\n").encode()
    commit = make_record(repo, CLAIM_FILE, data, f"wta claim {feature_id} by {holder}\n", when)
    ours = Claim(feature_id, holder, commit, when)
    existing: Claim | None = None
    result: FeatureResult | None = None
    for attempt in range(CLAIM_TRIES):
        state = fetch_state(repo, remote)
        if attempt == 0:
            warn(state.problems)
        existing, result = state.claims.get(feature_id), state.results.get(feature_id)
        if blocked_by_result(result):
            return ClaimOutcome(False, existing, None, result)
        if existing is not None and not may_take(existing, result, holder, ttl_s, when):
            return ClaimOutcome(False, existing, None, result)
        expected = existing.commit if existing is not None else None
        if push_leased(repo, remote, [RefUpdate(ref, commit, expected)])[ref] is None:
            return ClaimOutcome(True, ours, existing, result)
    return ClaimOutcome(False, existing, None, result)
