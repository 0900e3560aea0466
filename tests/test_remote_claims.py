"""Claims on a bare remote: one winner, takeover by the same holder or of a stale claim,
never of a fresh foreign one, and races between processes on different clones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from remoteutil import hold_pushes, remote_refs, remote_with_clones, result, start_claimer

from worktree_agents.domain import CommitSha
from worktree_agents.errors import RepoError, UsageError
from worktree_agents.git import GitRepo
from worktree_agents.remote_refs import make_record, push_leased
from worktree_agents.remote_state import (
    Claim,
    ClaimOutcome,
    RefUpdate,
    claim,
    claim_holder,
    publish_result,
    read_claims,
)

TTL = 60.0


def machines(tmp_path: Path, count: int = 2) -> tuple[Path, list[GitRepo]]:
    remote, clones = remote_with_clones(tmp_path, count)
    return remote, [GitRepo.open(c) for c in clones]


def test_the_first_claim_wins_and_the_next_holder_loses(tmp_path: Path) -> None:
    remote, (one, two) = machines(tmp_path)

    first = claim(one, "origin", "auth", "github-run-1", ttl_s=TTL, now=1000.0)
    second = claim(two, "origin", "auth", "github-run-2", ttl_s=TTL, now=1010.0)

    commit = remote_refs(remote)["refs/wta/claims/auth"]
    ours = Claim("auth", "github-run-1", CommitSha(commit), 1000.0)
    assert first == ClaimOutcome(True, ours, None)
    assert second == ClaimOutcome(False, ours, None)
    assert read_claims(two, "origin") == {"auth": ours}
    # the claim commit: no parent, claim.json, dated at the claim
    assert git(remote, "cat-file", "-p", commit).splitlines()[1:] == [
        "author Wta Test <test@wta.invalid> 1000 +0000",
        "committer Wta Test <test@wta.invalid> 1000 +0000",
        "",
        "wta claim auth by github-run-1",
    ]
    assert json.loads(git(remote, "show", f"{commit}:claim.json")) == {
        "schema_version": 1,
        "feature_id": "auth",
        "holder": "github-run-1",
        "created_at": 1000.0,
    }


def test_the_same_holder_takes_its_claim_over(tmp_path: Path) -> None:
    remote, (one, two) = machines(tmp_path)
    first = claim(one, "origin", "auth", "github-run-1", ttl_s=TTL, now=1000.0)

    again = claim(two, "origin", "auth", "github-run-1", ttl_s=TTL, now=1001.0)

    commit = CommitSha(remote_refs(remote)["refs/wta/claims/auth"])
    assert again == ClaimOutcome(True, Claim("auth", "github-run-1", commit, 1001.0), first.claim)


def test_a_stale_claim_is_taken_over_and_a_fresh_one_is_not(tmp_path: Path) -> None:
    remote, (one, two) = machines(tmp_path)
    first = claim(one, "origin", "auth", "host:1", ttl_s=TTL, now=1000.0)

    fresh = claim(two, "origin", "auth", "host:2", ttl_s=TTL, now=1000.0 + TTL)
    stale = claim(two, "origin", "auth", "host:2", ttl_s=TTL, now=1000.5 + TTL)

    assert fresh == ClaimOutcome(False, first.claim, None)
    commit = CommitSha(remote_refs(remote)["refs/wta/claims/auth"])
    assert stale == ClaimOutcome(True, Claim("auth", "host:2", commit, 1060.5), first.claim)


def test_a_failed_result_may_be_redone_and_a_done_one_is_final(tmp_path: Path) -> None:
    remote, (one, two) = machines(tmp_path)
    first = claim(one, "origin", "auth", "github-run-1", ttl_s=TTL, now=1000.0)
    failed = result("auth", "github-run-1", state="failed", reason="timeout")
    publish_result(one, "origin", failed)

    # its job has ended: a new workflow run takes the claim over, however fresh
    redo = claim(two, "origin", "auth", "github-run-2", ttl_s=TTL, now=1001.0)
    done = result("auth", "github-run-2")
    publish_result(two, "origin", done)
    # a done result is final, even for its own worker
    again = claim(one, "origin", "auth", "github-run-2", ttl_s=TTL, now=9000.0)

    commit = CommitSha(remote_refs(remote)["refs/wta/claims/auth"])
    ours = Claim("auth", "github-run-2", commit, 1001.0)
    assert redo == ClaimOutcome(True, ours, first.claim, failed)
    assert again == ClaimOutcome(False, ours, None, done)


def test_a_stale_claim_with_no_result_only_is_taken_over(tmp_path: Path) -> None:
    _, (one, two) = machines(tmp_path)
    first = claim(one, "origin", "auth", "host:1", ttl_s=TTL, now=1000.0)
    publish_result(one, "origin", result("auth", "host:1"))

    late = claim(two, "origin", "auth", "host:2", ttl_s=TTL, now=9000.0)

    assert late == ClaimOutcome(False, first.claim, None, result("auth", "host:1"))


def test_a_claim_with_no_readable_record_still_holds_until_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote, (one, two) = machines(tmp_path)
    tree = git(remote, "hash-object", "-t", "tree", "-w", "/dev/null")
    junk = git(remote, "commit-tree", tree, "-m", "not a claim")  # dated 2026-01-01
    git(remote, "update-ref", "refs/wta/claims/auth", junk)
    dated = 1767225600.0

    held = claim(one, "origin", "auth", "host:1", ttl_s=TTL, now=dated + TTL)
    taken = claim(two, "origin", "auth", "host:2", ttl_s=TTL, now=dated + TTL + 1)

    unreadable = Claim("auth", "(unreadable claim)", CommitSha(junk), dated)
    assert held == ClaimOutcome(False, unreadable, None)
    assert (taken.won, taken.taken_over) == (True, unreadable)
    warning = (
        "wta: warning: refs/wta/claims/auth on origin holds no claim.json;"
        " taken as a claim made then\n"
    )
    assert capsys.readouterr().err == warning * 2


def test_git_refuses_a_lease_that_the_remote_no_longer_matches(tmp_path: Path) -> None:
    """What claims rest on: the push with an empty lease is refused once the ref exists,
    and one with a lease on a commit is refused once the ref moved, even though this clone
    has never fetched the commit in the way."""
    remote, (one, two) = machines(tmp_path)
    first = make_record(one, "claim.json", b"{}", "one\n", 1000.0)
    second = make_record(two, "claim.json", b"{}", "two\n", 1001.0)
    third = make_record(two, "claim.json", b"{}", "three\n", 1002.0)
    ref = "refs/wta/claims/auth"

    created = push_leased(one, "origin", [RefUpdate(ref, first, None)])
    exists = push_leased(two, "origin", [RefUpdate(ref, second, None)])
    moved = push_leased(two, "origin", [RefUpdate(ref, second, first)])
    stale = push_leased(two, "origin", [RefUpdate(ref, third, first)])

    assert [created, exists, moved, stale] == [
        {ref: None},
        {ref: "[rejected] (stale info)"},
        {ref: None},
        {ref: "[rejected] (stale info)"},
    ]
    assert remote_refs(remote) == {ref: second}


def test_racing_processes_unheld_have_exactly_one_winner(tmp_path: Path) -> None:
    """Four processes at once with no hook: whatever order the machine gives them."""
    remote, clones = remote_with_clones(tmp_path, 4)

    procs = [start_claimer(c, "auth", f"host:{n}", 1000.0) for n, c in enumerate(clones)]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]

    assert sum(1 for won, _, _ in outputs if won) == 1
    holder = read_claims(GitRepo.open(clones[0]), "origin")["auth"].holder
    assert sorted(outputs) == sorted([[True, holder, None]] + [[False, holder, None]] * 3)
    assert list(remote_refs(remote)) == ["refs/wta/claims/auth"]


@pytest.mark.parametrize("racers", [2, 4])
def test_racing_processes_on_different_clones_have_exactly_one_winner(
    tmp_path: Path, racers: int
) -> None:
    """Every racer has read an empty remote before any push lands (the hook holds the pushes
    until all have arrived), so the remote's own check of the expected value decides."""
    remote, clones = remote_with_clones(tmp_path, racers)
    hold_pushes(remote, racers)

    procs = [start_claimer(c, "auth", f"host:{n}", 1000.0) for n, c in enumerate(clones)]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]

    winners = [n for n, (won, _, _) in enumerate(outputs) if won]
    assert len(winners) == 1
    holder = f"host:{winners[0]}"
    assert sorted(outputs) == sorted(
        [[True, holder, None]] + [[False, holder, None]] * (racers - 1)
    )
    assert len(list((remote / "arrived").iterdir())) == racers  # they really raced
    assert read_claims(GitRepo.open(clones[0]), "origin")["auth"].holder == holder


def test_two_takers_of_a_stale_claim_cannot_both_win(tmp_path: Path) -> None:
    remote, clones = remote_with_clones(tmp_path, 3)
    claim(GitRepo.open(clones[0]), "origin", "auth", "host:0", ttl_s=TTL, now=1000.0)
    hold_pushes(remote, 2)

    procs = [start_claimer(c, "auth", f"host:{n}", 5000.0) for n, c in enumerate(clones[1:], 1)]
    outputs = sorted(json.loads(p.communicate(timeout=60)[0]) for p in procs)

    holder = read_claims(GitRepo.open(clones[0]), "origin")["auth"].holder
    assert outputs == [[False, holder, None], [True, holder, "host:0"]]


def test_claim_holder_is_the_github_run_else_host_and_pid() -> None:
    assert claim_holder({"GITHUB_RUN_ID": "123456789"}) == "github-run-123456789"
    host = claim_holder({})
    assert host.rsplit(":", 1)[1].isdigit()
    assert claim_holder({"GITHUB_RUN_ID": " "}) == host


def test_an_unreadable_remote_and_a_bad_id_are_clear_errors(tmp_path: Path) -> None:
    _, (one,) = machines(tmp_path, 1)
    with pytest.raises(RepoError) as unknown:
        claim(one, "nowhere", "auth", "host:1", ttl_s=TTL)
    with pytest.raises(UsageError) as bad:
        claim(one, "origin", "a/b", "host:1", ttl_s=TTL)
    with pytest.raises(UsageError) as option:
        read_claims(one, "--upload-pack=evil")
    assert [unknown.value.message, bad.value.message, option.value.message] == [
        "cannot read the remote 'nowhere': 'nowhere' does not appear to be a git repository",
        "feature id 'a/b' cannot name a ref: it contains '/'",
        "a remote needs a name or URL, not '--upload-pack=evil'",
    ]
