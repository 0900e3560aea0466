"""The `Wta-Feature:` trailers: how they are written into integration commits and read
back from them (which features a branch holds, which merged features touched a path)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from gitutil import git, make_repo
from mergeutil import INTEGRATION, coordinator, feature

from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.errors import GitError
from worktree_agents.git import GitRepo
from worktree_agents.merge import (
    Conflicted,
    ConflictReport,
    Merged,
    feature_trailers,
)


def empty_commit(repo: Path, message: str, *extra: str) -> CommitSha:
    """A commit with exactly `message` (no cleanup: `#` lines and blanks stay)."""
    git(repo, *extra, "commit", "--quiet", "--allow-empty", "--cleanup=verbatim", "-m", message)
    return CommitSha(git(repo, "rev-parse", "HEAD"))


def test_trailers_are_read_as_git_parses_them(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD")
    shas = [
        empty_commit(repo, message)
        for message in [
            "with others\n\nWta-Feature: a\nCo-authored-by: X <x@example.com>\n",
            "no trailer at all\n",
            # a commit naming several features: the last one wins
            "several\n\nWta-Feature: b1\nWta-Feature: b2\n",
            # a folded value is read unfolded
            "folded\n\nWta-Feature: c\n  continued\n",
            # looks like a trailer, but it is in the body: the last paragraph is not it
            "lookalike\n\nWta-Feature: d\nmore text\n\nSigned-off-by: S <s@example.com>\n",
            "Wta-Feature: subject-only\n",
            # a --- line does not end the message: trailers must be its last paragraph
            "divider\n\nWta-Feature: e\n\n---\nnotes\n",
            # git's keys are case-insensitive, but must be the whole key
            "case\n\nwta-feature: f\n",
            "near misses\n\nWta-Feature-Old: g1\nWta-Featurex: g2\nWta-Feature:\n",
            "# not a comment\n\nWta-Feature: h\n",
        ]
    ]

    found = feature_trailers(GitRepo.open(repo), f"{base}..main")

    assert found == [
        (shas[0], FeatureId("a")),
        (shas[2], FeatureId("b2")),
        (shas[3], FeatureId("c continued")),
        (shas[7], FeatureId("f")),
        (shas[9], FeatureId("h")),
    ]
    assert feature_trailers(GitRepo.open(repo), f"{shas[2]}..{shas[7]}") == found[2:4]


def test_a_range_with_no_trailers_reads_as_empty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    assert feature_trailers(GitRepo.open(repo), "main") == []
    assert feature_trailers(GitRepo.open(repo), "main..main") == []


def test_a_range_is_never_read_as_an_option(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(GitError) as caught:
        feature_trailers(GitRepo.open(repo), "--all")
    assert (caught.value.returncode, caught.value.stderr.strip()) == (
        128,
        "fatal: option '--all' must come before non-option arguments",
    )


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen to sign")
def test_log_show_signature_in_the_users_config_changes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD")
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    signing = ("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "-c", "commit.gpgSign=true")
    first = empty_commit(repo, "one\n\nWta-Feature: one\n", *signing)
    second = empty_commit(repo, "two\n\nWta-Feature: two\n", *signing)
    # verifying signatures prints lines into the log's output, between the records
    git(repo, "config", "log.showSignature", "true")

    found = feature_trailers(GitRepo.open(repo), f"{base}..main")

    assert found == [(first, FeatureId("one")), (second, FeatureId("two"))]


def test_a_dashes_line_in_the_body_does_not_hide_the_trailer(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "squash")
    change = feature(
        repo, "f", {"f.txt": "f\n"}, title="Add f", body="Why.\n---\nNotes after a dashes line."
    )

    result = asyncio.run(integration.integrate(change))

    assert isinstance(result, Merged)
    assert git(repo, "log", "-1", "--format=%B", INTEGRATION) == (
        "Add f\n\nWhy.\n---\nNotes after a dashes line.\n\nWta-Feature: f"
    )
    assert feature_trailers(GitRepo.open(repo), INTEGRATION) == [
        (integration.tip(), FeatureId("f"))
    ]


def test_a_replayed_commit_carrying_another_features_trailer_gets_this_one(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "rebase")
    change = feature(repo, "f", {"f.txt": "f\n"}, "f: work\n\nWta-Feature: other")

    asyncio.run(integration.integrate(change))

    assert git(repo, "log", "-1", "--format=%B", INTEGRATION) == "f: work\n\nWta-Feature: f"
    assert feature_trailers(GitRepo.open(repo), INTEGRATION) == [
        (integration.tip(), FeatureId("f"))
    ]


def test_a_conflict_names_the_features_that_touched_exactly_its_paths(tmp_path: Path) -> None:
    # "[ab].txt" is a file name, not a glob: a.txt's feature did not touch it
    repo = make_repo(tmp_path / "repo", {"[ab].txt": "base\n", "a.txt": "base\n"})
    integration = coordinator(repo, "squash")
    x = feature(repo, "x", {"a.txt": "x\n"})
    z = feature(repo, "z", {"[ab].txt": "z\n"})
    y = feature(repo, "y", {"[ab].txt": "y\n"})
    asyncio.run(integration.integrate(x))
    asyncio.run(integration.integrate(z))

    result = asyncio.run(integration.integrate(y))

    assert isinstance(result, Conflicted)
    assert result.report == ConflictReport(
        paths=("[ab].txt",),
        hunks="--- [ab].txt\n<<<<<<< wta/integration\nz\n=======\ny\n>>>>>>> y\n",
        touched_by=(FeatureId("z"),),
        messages=("Auto-merging [ab].txt", "CONFLICT (content): Merge conflict in [ab].txt"),
    )
