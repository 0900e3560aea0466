"""Tests for merge.py: integration with merge-tree and commit-tree, on real git repositories."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from gitutil import git, make_repo

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import RepoError
from worktree_agents.git import GitRepo
from worktree_agents.merge import (
    HUNKS_LIMIT,
    AlreadyPresent,
    Conflicted,
    ConflictReport,
    FeatureChange,
    MergeCoordinator,
    Merged,
    MergeMode,
    Prepared,
    StackConflict,
    StackedBase,
    VerifyFailed,
    feature_trailers,
    stack_bases,
    with_trailer,
)

INTEGRATION = BranchName("wta/integration")
APP = "".join(f"line {n}\n" for n in range(1, 11))
README = "".join(f"readme line {n}\n" for n in range(1, 9))
BASE_FILES = {"README.md": README, "src/app.py": APP, "old.txt": "old\n"}
STATE_FILES = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "REBASE_HEAD",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
)

Files = Mapping[str, str | None]  # None deletes the file


@dataclass
class Setup:
    dir: Path
    repo: GitRepo
    base: CommitSha

    def coordinator(self, mode: MergeMode) -> MergeCoordinator:
        coordinator = MergeCoordinator(self.repo, INTEGRATION, mode)
        coordinator.ensure_branch(self.base)
        return coordinator

    def feature(
        self, fid: str, start: str, steps: Sequence[Files], *, title: str = "", body: str = ""
    ) -> FeatureChange:
        """Build branch wta/<fid> from `start` in its own worktree, one commit per step."""
        path = self.dir.parent / "worktrees" / fid
        start_sha = git(self.dir, "rev-parse", f"{start}^{{commit}}")
        git(self.dir, "worktree", "add", "--quiet", "-b", f"wta/{fid}", str(path), start_sha)
        for number, files in enumerate(steps, 1):
            edit(path, files)
            git(path, "commit", "--quiet", "--no-verify", "-m", f"{fid}: step {number}")
        tip = git(path, "rev-parse", "HEAD")
        title = title or f"Feature {fid}"
        return FeatureChange(FeatureId(fid), title, CommitSha(start_sha), CommitSha(tip), body)


@pytest.fixture
def s(tmp_path: Path) -> Setup:
    repo_dir = make_repo(tmp_path / "repo", BASE_FILES)
    base = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    return Setup(repo_dir, GitRepo.open(repo_dir), base)


def edit(path: Path, files: Files) -> None:
    for name, text in files.items():
        target = path / name
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    git(path, "add", "--all")


def replace_line(text: str, number: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number - 1] = new + "\n"
    return "".join(lines)


def files_at(repo: Path, rev: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", "-z", rev).split("\0")
    return {name: git_raw(repo, "show", f"{rev}:{name}") for name in names if name}


def git_raw(repo: Path, *args: str, input: str | None = None) -> str:
    """Like gitutil.git, but keeps stdout byte-exact (patches need their last newline)."""
    proc = subprocess.run(
        ["git", *args], cwd=repo, input=input, capture_output=True, text=True, check=True
    )
    return proc.stdout


def expected_tree(s: Setup, scratch: Path, changes: Sequence[FeatureChange]) -> str:
    """`git ls-tree -r` of the base with each feature's diff applied, in order."""
    git(s.dir.parent, "clone", "--quiet", "--no-checkout", str(s.dir), str(scratch))
    git(scratch, "checkout", "--quiet", "--detach", s.base)
    for change in changes:
        diff = git_raw(s.dir, "diff", "--binary", "-M", change.base_commit, change.tip)
        git_raw(scratch, "apply", "--index", input=diff)
    return git(scratch, "ls-tree", "-r", git(scratch, "write-tree"))


def integrated(s: Setup, mode: MergeMode, change: FeatureChange) -> CommitSha:
    result = asyncio.run(MergeCoordinator(s.repo, INTEGRATION, mode).integrate(change))
    assert isinstance(result, Merged)
    assert result.tries == 1
    return result.commit


@pytest.mark.parametrize("mode", ["squash", "rebase"])
def test_integrating_in_topological_order_equals_applying_each_diff(
    s: Setup, mode: MergeMode
) -> None:
    # a -> {b, c} -> d is a chain and a diamond; each starts from the integration tip once
    # its dependencies are merged. c finishes before b. e is independent: it starts from the
    # base and is integrated last. b renames README.md while c edits it; c deletes old.txt.
    app_a = replace_line(APP, 2, "a")
    app_ac = replace_line(app_a, 9, "c")
    readme_c = replace_line(README, 7, "c")
    readme_bc = replace_line(readme_c, 1, "# b")
    s.coordinator(mode)
    a_steps: list[Files] = [{"lib/a.txt": "a1\n", "src/app.py": app_a}, {"lib/a.txt": "a1\na2\n"}]
    a = s.feature("a", "main", a_steps)
    integrated(s, mode, a)
    b_steps: list[Files] = [
        {"README.md": None, "docs/README.md": README},
        {"docs/README.md": replace_line(README, 1, "# b"), "lib/a.txt": "a1\na2\nb\n"},
    ]
    b = s.feature("b", INTEGRATION, b_steps)
    c = s.feature(
        "c", INTEGRATION, [{"old.txt": None, "src/app.py": app_ac, "README.md": readme_c}]
    )
    integrated(s, mode, c)
    integrated(s, mode, b)
    d_steps: list[Files] = [
        {
            "docs/README.md": replace_line(readme_bc, 8, "d"),
            "src/app.py": replace_line(app_ac, 5, "d"),
        },
        {"d.txt": "d\n"},
    ]
    d = s.feature("d", INTEGRATION, d_steps)
    e = s.feature("e", "main", [{"e.txt": "e\n"}])
    integrated(s, mode, d)
    integrated(s, mode, e)

    expected = expected_tree(s, s.dir.parent / "scratch", [a, c, b, d, e])
    assert git(s.dir, "ls-tree", "-r", f"{INTEGRATION}^{{tree}}") == expected
    assert files_at(s.dir, INTEGRATION) == {
        "d.txt": "d\n",
        "docs/README.md": replace_line(readme_bc, 8, "d"),
        "e.txt": "e\n",
        "lib/a.txt": "a1\na2\nb\n",
        "src/app.py": replace_line(app_ac, 5, "d"),
    }


@pytest.mark.parametrize("mode", ["squash", "rebase"])
def test_stacked_branch_does_not_apply_its_dependency_twice(s: Setup, mode: MergeMode) -> None:
    coordinator = s.coordinator(mode)
    a = s.feature("a", "main", [{"lib.py": "v1\n"}])
    b = s.feature("b", "wta/a", [{"lib.py": "v1\nv2\n", "b.txt": "b\n"}])  # stacked on a
    integrated(s, mode, a)
    tip = coordinator.tip()
    assert tip is not None
    naive = ["git", "merge-tree", "--write-tree", "--name-only", tip, b.tip]
    assert (
        subprocess.run(naive, cwd=s.dir, capture_output=True, check=False).returncode == 1
    )  # without the temporary parent, a's change is applied twice

    result = asyncio.run(coordinator.integrate(b))

    assert result == Merged(
        onto=tip, commit=CommitSha(git(s.dir, "rev-parse", INTEGRATION)), tries=1
    )
    assert files_at(s.dir, INTEGRATION) == {
        **BASE_FILES,
        "lib.py": "v1\nv2\n",
        "b.txt": "b\n",
    }


def snapshot(s: Setup) -> tuple[str, str, list[str]]:
    refs = git(s.dir, "for-each-ref", "--format=%(refname) %(objectname)")
    status = git_raw(s.dir, "status", "--porcelain=v1", "--untracked-files=all")
    git_dirs = [s.repo.common_dir, *(s.repo.common_dir / "worktrees").iterdir()]
    state = [str(d / name) for d in git_dirs for name in STATE_FILES if (d / name).exists()]
    return refs, status, state


@pytest.mark.parametrize("mode", ["squash", "rebase"])
def test_conflict_reports_paths_hunks_messages_and_moves_nothing(s: Setup, mode: MergeMode) -> None:
    coordinator = s.coordinator(mode)
    x = s.feature("x", "main", [{"src/app.py": replace_line(APP, 2, "x was here")}])
    y = s.feature("y", "main", [{"new.txt": "y\n"}, {"src/app.py": replace_line(APP, 2, "y")}])
    integrated(s, mode, x)
    (s.dir / "README.md").write_text("dirty\n", encoding="utf-8")
    (s.dir / "untracked.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(s)
    tip = coordinator.tip()
    assert tip is not None

    result = asyncio.run(coordinator.integrate(y))

    report = ConflictReport(
        paths=("src/app.py",),
        hunks="--- src/app.py\n<<<<<<< wta/integration\nx was here\n=======\ny\n>>>>>>> y\n",
        touched_by=(FeatureId("x"),),
        messages=("Auto-merging src/app.py", "CONFLICT (content): Merge conflict in src/app.py"),
    )
    assert result == Conflicted(onto=tip, report=report)
    assert snapshot(s) == before
    assert before[1] == " M README.md\n?? untracked.txt\n"
    assert before[2] == []


def test_conflict_hunks_are_capped(s: Setup) -> None:
    coordinator = s.coordinator("squash")
    big = "".join(f"x{n}\n" for n in range(5000))
    x = s.feature("x", "main", [{"src/app.py": replace_line(APP, 2, big.rstrip())}])
    y = s.feature("y", "main", [{"src/app.py": replace_line(APP, 2, "y")}])
    integrated(s, "squash", x)
    tip = coordinator.tip()
    assert tip is not None

    conflicted = coordinator.prepare(y, tip)

    full = f"--- src/app.py\n<<<<<<< wta/integration\n{big}=======\ny\n>>>>>>> y\n"
    note = f"[conflict hunks truncated at {HUNKS_LIMIT} characters]\n"
    assert isinstance(conflicted, Conflicted)
    assert conflicted.report.hunks == full[:HUNKS_LIMIT] + note


def test_publish_loses_a_race_and_integrate_recomputes(s: Setup) -> None:
    coordinator = s.coordinator("squash")
    p = s.feature("p", "main", [{"p.txt": "p\n"}])
    q = s.feature("q", "main", [{"q.txt": "q\n"}])
    r = s.feature("r", "main", [{"r.txt": "r\n"}])
    base_tip = coordinator.tip()
    assert base_tip is not None
    prepared = coordinator.prepare(p, base_tip)
    q_tip = integrated(s, "squash", q)  # behind the coordinator's back
    assert isinstance(prepared, Prepared)

    assert coordinator.publish(prepared) is False
    assert coordinator.tip() == q_tip

    seen: list[CommitSha] = []

    async def racing_verify(commit: CommitSha) -> str | None:
        seen.append(commit)
        if len(seen) == 1:  # another writer moves the ref while this merge is verified
            await asyncio.to_thread(integrated, s, "squash", r)
        return None

    result = asyncio.run(coordinator.integrate(p, verify=racing_verify))

    r_tip = git(s.dir, "rev-parse", f"{INTEGRATION}~1")
    assert result == Merged(onto=CommitSha(r_tip), commit=seen[1], tries=2)
    assert coordinator.tip() == seen[1]
    assert git(s.dir, "log", "--format=%s", f"{s.base}..{INTEGRATION}") == (
        "Feature p\nFeature r\nFeature q"
    )


def test_failed_verify_moves_nothing_and_sees_the_merged_tree(s: Setup) -> None:
    coordinator = s.coordinator("squash")
    f = s.feature("f", "main", [{"f.txt": "f\n", "old.txt": None}])
    tip = coordinator.tip()
    assert tip is not None
    seen: list[CommitSha] = []

    async def failing_verify(commit: CommitSha) -> str | None:
        seen.append(commit)
        return "pytest -q exited 1"

    result = asyncio.run(coordinator.integrate(f, verify=failing_verify))

    assert result == VerifyFailed(onto=tip, commit=seen[0], detail="pytest -q exited 1")
    assert coordinator.tip() == tip
    assert git(s.dir, "rev-parse", f"{seen[0]}^@") == tip
    assert files_at(s.dir, seen[0]) == {
        "README.md": README,
        "src/app.py": APP,
        "f.txt": "f\n",
    }


def test_squash_commits_carry_title_body_and_trailer(s: Setup) -> None:
    coordinator = s.coordinator("squash")
    a = s.feature("a", "main", [{"a.txt": "1\n"}, {"a.txt": "2\n"}], title="Add a", body="Why a.")
    b = s.feature("b", "main", [{"b.txt": "b\n"}], title="Add b")
    integrated(s, "squash", a)
    integrated(s, "squash", b)

    log = git(s.dir, "log", "--format=%s%n%(trailers:key=Wta-Feature,valueonly)", INTEGRATION)
    assert log == "Add b\nb\n\nAdd a\na\n\ninitial commit"
    first = git(s.dir, "rev-parse", f"{INTEGRATION}~1")
    assert git(s.dir, "log", "-1", "--format=%B", first) == "Add a\n\nWhy a.\n\nWta-Feature: a"
    identity = git(s.dir, "log", "-1", "--format=%an <%ae> %aI|%cn <%ce> %cI", first)
    pinned = "Wta Test <test@wta.invalid> 2026-01-01T00:00:00+00:00"
    assert identity == f"{pinned}|{pinned}"
    assert feature_trailers(s.repo, INTEGRATION) == [
        (CommitSha(first), FeatureId("a")),
        (coordinator.tip(), FeatureId("b")),
    ]


def test_rebase_keeps_authors_and_drops_commits_that_become_empty(s: Setup) -> None:
    coordinator = s.coordinator("rebase")
    p = s.feature("p", "main", [{"shared.txt": "x\n"}])
    q_dir = s.dir.parent / "worktrees" / "q"
    git(s.dir, "worktree", "add", "--quiet", "-b", "wta/q", str(q_dir), s.base)
    for files, author, message in [
        ({"shared.txt": "x\n"}, "Alice <alice@example.com>", "q: same as p"),
        ({"q.txt": "q\n"}, "Bob <bob@example.com>", "q: add\n\nWhy.\n\nCo-authored-by: C <c@x>"),
    ]:
        edit(q_dir, files)
        date = "2025-05-05T10:00:00+02:00"
        git(q_dir, "commit", "--quiet", f"--author={author}", f"--date={date}", "-m", message)
    q = FeatureChange(FeatureId("q"), "Q", s.base, CommitSha(git(q_dir, "rev-parse", "HEAD")))
    integrated(s, "rebase", p)

    integrated(s, "rebase", q)

    fmt = "%s|%an <%ae> %aI|%cn%n%(trailers:key=Wta-Feature,valueonly)"
    assert git(s.dir, "log", f"--format={fmt}", f"{s.base}..{INTEGRATION}") == (
        "q: add|Bob <bob@example.com> 2025-05-05T10:00:00+02:00|Wta Test\nq\n\n"
        "p: step 1|Wta Test <test@wta.invalid> 2026-01-01T00:00:00+00:00|Wta Test\np"
    )
    assert git(s.dir, "log", "-1", "--format=%B", INTEGRATION) == (
        "q: add\n\nWhy.\n\nCo-authored-by: C <c@x>\nWta-Feature: q"
    )
    assert feature_trailers(s.repo, f"{s.base}..{INTEGRATION}") == [
        (CommitSha(git(s.dir, "rev-parse", f"{INTEGRATION}~1")), FeatureId("p")),
        (coordinator.tip(), FeatureId("q")),
    ]


@pytest.mark.parametrize("mode", ["squash", "rebase"])
def test_changes_already_present_make_no_commit(s: Setup, mode: MergeMode) -> None:
    coordinator = s.coordinator(mode)
    p = s.feature("p", "main", [{"shared.txt": "x\n", "p.txt": "p\n"}])
    again = s.feature("again", "main", [{"shared.txt": "x\n"}, {"p.txt": "p\n"}])
    tip = integrated(s, mode, p)

    result = asyncio.run(coordinator.integrate(again))

    assert result == AlreadyPresent(onto=tip)
    assert coordinator.tip() == tip


def test_refuses_to_move_a_checked_out_integration_branch(s: Setup) -> None:
    coordinator = s.coordinator("squash")
    f = s.feature("f", "main", [{"f.txt": "f\n"}])
    where = s.dir.parent / "integration-checkout"
    git(s.dir, "worktree", "add", "--quiet", str(where), INTEGRATION)

    with pytest.raises(RepoError) as caught:
        asyncio.run(coordinator.integrate(f))

    assert str(caught.value) == (
        f"the integration branch 'wta/integration' is checked out in {os.path.realpath(where)};"
        " wta never moves a checked-out branch; switch that worktree to another branch,"
        " or set [run] integration_branch in wta.toml to another name"
    )
    assert coordinator.tip() == s.base


def test_ensure_branch_creates_once(s: Setup) -> None:
    coordinator = MergeCoordinator(s.repo, INTEGRATION, "squash")
    assert coordinator.tip() is None
    assert coordinator.ensure_branch(s.base) == s.base
    moved = integrated(s, "squash", s.feature("f", "main", [{"f.txt": "f\n"}]))
    assert coordinator.ensure_branch(s.base) == moved


def test_uncommitted_gitattributes_in_the_checkout_do_not_change_the_merge(s: Setup) -> None:
    s.coordinator("squash")
    m1 = s.feature("m1", "main", [{"src/app.py": replace_line(APP, 2, "m1")}])
    m2 = s.feature("m2", "main", [{"src/app.py": replace_line(APP, 9, "m2")}])
    integrated(s, "squash", m1)
    git(s.dir, "config", "merge.bogus.driver", "printf BOGUS > %A")
    (s.dir / ".gitattributes").write_text("* merge=bogus\n", encoding="utf-8")
    naive = git(s.dir, "merge-tree", "--write-tree", m1.tip, m2.tip)
    assert git(s.dir, "show", f"{naive}:src/app.py") == "BOGUS"  # the trap is armed

    integrated(s, "squash", m2)

    app = replace_line(replace_line(APP, 2, "m1"), 9, "m2")
    assert files_at(s.dir, INTEGRATION) == {**BASE_FILES, "src/app.py": app}


def test_stack_bases_merges_dependency_branches_or_names_the_conflicting_paths(s: Setup) -> None:
    a = s.feature("a", "main", [{"a.txt": "a\n"}])
    a2 = s.feature("a2", "wta/a", [{"a2.txt": "a2\n"}])  # a descendant of a
    b = s.feature("b", "main", [{"b.txt": "b\n"}])
    x = s.feature("x", "main", [{"src/app.py": "x\n"}])
    y = s.feature("y", "main", [{"src/app.py": "y\n", "old.txt": "y\n"}])

    assert stack_bases(s.repo, [a.tip]) == StackedBase(commit=a.tip)
    assert stack_bases(s.repo, [a.tip, a2.tip]) == StackedBase(commit=a2.tip)
    assert stack_bases(s.repo, [a2.tip, a.tip]) == StackedBase(commit=a2.tip)
    both = stack_bases(s.repo, [a.tip, b.tip])
    assert isinstance(both, StackedBase)
    assert git(s.dir, "rev-parse", f"{both.commit}^@").split() == [a.tip, b.tip]
    assert files_at(s.dir, both.commit) == {**BASE_FILES, "a.txt": "a\n", "b.txt": "b\n"}
    assert stack_bases(s.repo, [x.tip, a.tip, y.tip]) == StackConflict(paths=("src/app.py",))


@pytest.mark.parametrize(
    "message",
    [
        "Title\n",
        "Title",
        "fix: a colon in the subject\n",
        "Signed-off-by: someone\n",
        "# not a comment here\n",
        "---\n",
        "  leading spaces\n",
        "tab\tinside, unicode é\n",
        "Title\n\nA body.\n",
        "Title\n\nSigned-off-by: someone\n",
        "Title\n\nWta-Feature: old\n",
        "wta-feature: old\n",
        "Title\r\n",
    ],
)
def test_with_trailer_matches_git_interpret_trailers(s: Setup, message: str) -> None:
    args = ["interpret-trailers", "--no-divider", "--where", "end", "--if-exists", "replace"]
    args += ["--if-missing", "add", "--trailer", "Wta-Feature: f1"]
    by_git = subprocess.run(["git", *args], input=message.encode(), capture_output=True, check=True)
    assert with_trailer(s.repo, message, FeatureId("f1")) == by_git.stdout.decode()


def test_an_owned_branch_moved_by_someone_else_is_put_back_never_built_on(s: Setup) -> None:
    coordinator = s.coordinator("squash")
    change = s.feature("a", "HEAD", [{"new.txt": "new\n"}])
    foreign = git(s.dir, "commit-tree", "-p", s.base, "-m", "an agent's", f"{s.base}^{{tree}}")
    git(s.dir, "update-ref", f"refs/heads/{INTEGRATION}", foreign)

    result = asyncio.run(coordinator.integrate(change, owned=True))

    assert isinstance(result, Merged)
    assert (result.onto, result.tries) == (s.base, 2)
    assert git(s.dir, "rev-parse", f"{result.commit}^") == s.base
    assert [(m.old, m.new) for m in coordinator.take_reclaimed()] == [(s.base, foreign)]


def test_one_commit_on_a_base_the_run_set_merges_without_the_temporary_parent(
    s: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    coordinator = s.coordinator("squash")  # one coordinator, as in a run: it knows its tips
    readme_b = replace_line(README, 2, "b")
    b = s.feature("b", INTEGRATION, [{"README.md": readme_b, "b.txt": "b\n"}])
    c = s.feature("c", INTEGRATION, [{"src/app.py": replace_line(APP, 3, "c")}])
    a = s.feature("a", INTEGRATION, [{"a.txt": "a\n"}, {"a.txt": "a2\n"}])  # two commits
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("WTA_GIT_TRACE", str(trace))
    for change in (replace(b, one_commit=True), replace(c, one_commit=True), a):
        assert isinstance(asyncio.run(coordinator.integrate(change, owned=True)), Merged)

    expected = expected_tree(s, s.dir.parent / "scratch", [b, c, a])
    assert git(s.dir, "ls-tree", "-r", f"{INTEGRATION}^{{tree}}") == expected
    temporary = [line for line in trace.read_text().splitlines() if "--no-gpg-sign" in line]
    assert len(temporary) == 1  # only for a, whose tip is two commits on its base
