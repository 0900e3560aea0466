"""The merge coordinator's edges, on real repositories: stacking dependency branches,
conflict reports on awkward content, reflog messages, signing, giving up, odd commits."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from gitutil import git, make_repo
from mergeutil import INTEGRATION, coordinator, feature

from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.errors import GitError, RepoError, WtaError
from worktree_agents.git import GitRepo
from worktree_agents.merge import (
    HUNKS_LIMIT,
    Conflicted,
    ConflictReport,
    FeatureChange,
    MergeCoordinator,
    Merged,
    StackedBase,
    stack_bases,
)

IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
TRUNCATED = f"[conflict hunks truncated at {HUNKS_LIMIT} characters]\n"


def region(ours: str, theirs: str) -> str:
    """One conflict region as the report shows it: the integration side, then feature y's."""
    return f"<<<<<<< wta/integration\n{ours}=======\n{theirs}>>>>>>> y\n"


def part(path: str, regions: str) -> str:
    return f"--- {path}\n{regions}"


def test_stack_bases_needs_a_tip(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with pytest.raises(ValueError) as caught:
        stack_bases(GitRepo.open(repo), [])
    assert str(caught.value) == "stack_bases needs at least one tip"


@pytest.mark.parametrize("order", [("a", "a2", "b"), ("a2", "a", "b")])
def test_stack_bases_goes_on_past_a_tip_another_one_holds(
    tmp_path: Path, order: tuple[str, str, str]
) -> None:
    repo = make_repo(tmp_path / "repo")
    changes = {"a": feature(repo, "a", {"a.txt": "a\n"})}
    changes["a2"] = feature(repo, "a2", {"a2.txt": "a2\n"}, start="wta/a")
    changes["b"] = feature(repo, "b", {"b.txt": "b\n"})

    stacked = stack_bases(GitRepo.open(repo), [changes[name].tip for name in order])

    assert isinstance(stacked, StackedBase)
    assert git(repo, "log", "-1", "--format=%P%n%B", stacked.commit) == (
        f"{changes['a2'].tip} {changes['b'].tip}\nwta: stack dependency branches"
    )
    files = git(repo, "ls-tree", "-r", "--name-only", stacked.commit).split()
    assert files == ["README.md", "a.txt", "a2.txt", "b.txt", "src/app.py"]


def test_stack_bases_commits_with_the_fallback_identity_when_git_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_git: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    a = feature(repo, "a", {"a.txt": "a\n"})
    b = feature(repo, "b", {"b.txt": "b\n"})
    for name in IDENTITY:
        monkeypatch.delenv(name)
    (isolated_git / ".gitconfig").write_text("[user]\n\tuseConfigOnly = true\n")

    stacked = stack_bases(GitRepo.open(repo), [a.tip, b.tip])

    assert isinstance(stacked, StackedBase)
    assert git(repo, "log", "-1", "--format=%an <%ae> / %cn <%ce>", stacked.commit) == (
        "wta <wta@localhost> / wta <wta@localhost>"
    )


def test_a_conflict_report_keeps_awkward_paths_and_every_region(tmp_path: Path) -> None:
    lines = "".join(f"{n}\n" for n in range(1, 11))
    # a line of the file that looks like a marker: a region that never ends, kept as it is
    fake = "<<<<<<< not a marker\nthe line after it\n"

    def two(side: str) -> str:
        return lines.replace("2\n", f"{side}2\n").replace("8\n", f"{side}8\n") + fake

    names = ["tab\tname.txt", "endsX", "ends with a space "]
    repo = make_repo(tmp_path / "repo", {**dict.fromkeys(names, "base\n"), "two.txt": lines + fake})
    integration = coordinator(repo, "squash")
    x = feature(repo, "x", {**dict.fromkeys(names, "x\n"), "two.txt": two("x")})
    y = feature(repo, "y", {**dict.fromkeys(names, "y\n"), "two.txt": two("y")})
    asyncio.run(integration.integrate(x))

    result = asyncio.run(integration.integrate(y))

    paths = ("ends with a space ", "endsX", "tab\tname.txt", "two.txt")
    assert isinstance(result, Conflicted)
    assert result.report == ConflictReport(
        paths=paths,
        hunks="".join(part(p, region("x\n", "y\n")) for p in paths[:3])
        + part("two.txt", region("x2\n", "y2\n") + region("x8\n", "y8\n") + fake),
        touched_by=(FeatureId("x"),),
        messages=tuple(
            line
            for p in paths
            for line in (f"Auto-merging {p}", f"CONFLICT (content): Merge conflict in {p}")
        ),
    )


def test_a_conflict_on_something_that_is_not_a_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},sub")
    git(repo, "commit", "--quiet", "-m", "a submodule")
    integration = coordinator(repo, "squash")

    def gitlink(fid: str, sha: str) -> FeatureChange:
        base = CommitSha(git(repo, "rev-parse", "main"))
        git(repo, "switch", "--quiet", "-c", f"wta/{fid}")
        git(repo, "update-index", "--cacheinfo", f"160000,{sha},sub")
        git(repo, "commit", "--quiet", "-m", fid)
        tip = CommitSha(git(repo, "rev-parse", "HEAD"))
        git(repo, "switch", "--quiet", "main")
        return FeatureChange(FeatureId(fid), fid, base, tip)

    x, y = gitlink("x", "2" * 40), gitlink("y", "3" * 40)
    asyncio.run(integration.integrate(x))

    result = asyncio.run(integration.integrate(y))

    assert isinstance(result, Conflicted)
    assert result.report == ConflictReport(
        paths=("sub",),
        hunks="--- sub\n(no conflict markers; see the messages)\n",
        touched_by=(FeatureId("x"),),
        messages=(
            "Failed to merge submodule sub (not checked out)",
            "CONFLICT (submodule): Merge conflict in sub",
        ),
    )


def test_hunks_stop_at_the_limit_across_paths(tmp_path: Path) -> None:
    big = "".join(f"x{n}\n" for n in range(4000))  # over the limit on its own
    repo = make_repo(tmp_path / "repo", {"a.txt": "base\n", "b.txt": "base\n"})
    integration = coordinator(repo, "squash")
    asyncio.run(integration.integrate(feature(repo, "x", {"a.txt": big, "b.txt": "x\n"})))

    result = asyncio.run(
        integration.integrate(feature(repo, "y", {"a.txt": "y\n", "b.txt": "y\n"}))
    )

    assert isinstance(result, Conflicted)
    assert result.report.paths == ("a.txt", "b.txt")
    assert result.report.hunks == part("a.txt", region(big, "y\n"))[:HUNKS_LIMIT] + TRUNCATED


def test_hunks_of_exactly_the_limit_are_whole(tmp_path: Path) -> None:
    frame = part("a.txt", region("", "y\n"))
    ours = "x" * (HUNKS_LIMIT - len(frame) - 1) + "\n"
    repo = make_repo(tmp_path / "repo", {"a.txt": "base\n"})
    integration = coordinator(repo, "squash")
    asyncio.run(integration.integrate(feature(repo, "x", {"a.txt": ours})))

    result = asyncio.run(integration.integrate(feature(repo, "y", {"a.txt": "y\n"})))

    assert isinstance(result, Conflicted)
    assert result.report.hunks == part("a.txt", region(ours, "y\n"))
    assert len(result.report.hunks) == HUNKS_LIMIT


def test_the_reflog_says_what_moved_the_integration_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "squash")
    asyncio.run(integration.integrate(feature(repo, "f", {"f.txt": "f\n"})))
    reflog = git(repo, "reflog", "show", "--format=%gs", INTEGRATION)
    assert reflog.splitlines() == ["wta: integrate", "wta: start integration"]


def test_ensure_branch_only_reads_a_branch_that_exists(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "squash")
    tip = integration.tip()
    git(repo, "worktree", "add", "--quiet", str(tmp_path / "elsewhere"), INTEGRATION)
    assert integration.ensure_branch(CommitSha(git(repo, "rev-parse", "HEAD"))) == tip


def test_ensure_branch_reports_a_branch_it_could_not_create(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock = repo / ".git" / "refs" / "heads" / "wta" / "integration.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")  # another git holds the ref
    integration = MergeCoordinator(GitRepo.open(repo), INTEGRATION, "squash")
    with pytest.raises(GitError):
        integration.ensure_branch(CommitSha(git(repo, "rev-parse", "HEAD")))
    assert integration.tip() is None


def test_integrate_gives_up_when_the_branch_keeps_moving(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "squash")
    change = feature(repo, "f", {"f.txt": "f\n"})
    verified: list[CommitSha] = []

    async def someone_else_moves_it(commit: CommitSha) -> str | None:
        verified.append(commit)
        moved = git(repo, "commit-tree", "-p", INTEGRATION, "-m", "elsewhere", "main^{tree}")
        git(repo, "update-ref", f"refs/heads/{INTEGRATION}", moved)
        return None

    with pytest.raises(WtaError) as caught:
        asyncio.run(integration.integrate(change, verify=someone_else_moves_it))

    assert str(caught.value) == (
        "the integration branch 'wta/integration' kept moving while 'f' was being integrated"
        " (6 attempts); is another wta running?"
    )
    assert len(verified) == 6


def test_integrate_needs_the_integration_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = MergeCoordinator(GitRepo.open(repo), INTEGRATION, "squash")
    with pytest.raises(RepoError) as caught:
        asyncio.run(integration.integrate(feature(repo, "f", {"f.txt": "f\n"})))
    assert str(caught.value) == (
        "the integration branch 'wta/integration' does not exist; create it from the base first"
    )


def test_rebase_refuses_a_commit_with_no_parent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "rebase")
    git(repo, "switch", "--quiet", "--orphan", "wta/f")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "from nothing")
    root = CommitSha(git(repo, "rev-parse", "HEAD"))
    git(repo, "switch", "--quiet", "main")
    base = CommitSha(git(repo, "rev-parse", "main"))

    with pytest.raises(WtaError) as caught:
        asyncio.run(integration.integrate(FeatureChange(FeatureId("f"), "F", base, root)))

    assert str(caught.value) == f"commit {root} of 'f' has no parent to replay"


def test_rebase_replays_a_non_utf8_message_and_an_early_date(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    integration = coordinator(repo, "rebase")
    base = CommitSha(git(repo, "rev-parse", "main"))
    made_by_git = feature(repo, "scratch", {"f.txt": "f\n"})
    tree = git(repo, "rev-parse", f"{made_by_git.tip}^{{tree}}")
    # not UTF-8: git commit would have re-encoded it, but other tools may not
    raw = (
        f"tree {tree}\nparent {base}\n"
        "author A U Thor <a@example.com> 86400 +0000\n"
        "committer A U Thor <a@example.com> 86400 +0000\n\n"
    ).encode() + b"caf\xe9 in Latin-1\n"
    tip = CommitSha(
        subprocess.run(
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
            cwd=repo, input=raw, capture_output=True, check=True,
        ).stdout.decode().strip()
    )  # fmt: skip

    result = asyncio.run(integration.integrate(FeatureChange(FeatureId("f"), "F", base, tip)))

    assert isinstance(result, Merged)
    made = subprocess.run(
        ["git", "cat-file", "commit", result.commit], cwd=repo, capture_output=True, check=True
    ).stdout
    # wta hands git the bytes as they are; commit-tree, like commit, re-encodes them as UTF-8
    assert made.split(b"\n\n", 1)[1] == b"caf\xc3\xa9 in Latin-1\n\nWta-Feature: f\n"
    assert git(repo, "log", "-1", "--format=%an %aI", result.commit) == (
        "A U Thor 1970-01-02T00:00:00+00:00"
    )
