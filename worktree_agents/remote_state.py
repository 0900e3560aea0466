"""The remote as the only state workers on different machines share: claims (who runs a
feature) and result records (what its job did), both small commits under `refs/wta/` on the
remote, each written by a push with a lease. The rules are in remote_claims (claims and
takeover) and remote_results (result records); this module is the one to import."""

from __future__ import annotations

from worktree_agents.remote_claims import (
    CLAIMS_NS,
    Claim,
    ClaimOutcome,
    RemoteState,
    claim,
    claim_holder,
    read_claims,
    read_remote,
)
from worktree_agents.remote_refs import RefUpdate, mirror_namespace
from worktree_agents.remote_results import (
    RESULTS_NS,
    FeatureResult,
    ResultRefused,
    publish_result,
    read_results,
    remote_cost,
)

__all__ = [
    "CLAIMS_NS",
    "RESULTS_NS",
    "Claim",
    "ClaimOutcome",
    "FeatureResult",
    "RefUpdate",
    "RemoteState",
    "ResultRefused",
    "claim",
    "claim_holder",
    "mirror_namespace",
    "publish_result",
    "read_claims",
    "read_remote",
    "read_results",
    "remote_cost",
]
