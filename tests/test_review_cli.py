"""`wta review` on the command line: the JSON as a whole, the text, rebuilding, pushing to a
bare remote with a lease, and the plan names it reserves."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import commit, git
from reviewutil import check_property, review_refs, reviews
from runutil import BASE, Spec, plan_repo, write_patch, wta

from worktree_agents.domain import CommitSha, FeatureId
from worktree_agents.errors import PlanError
from worktree_agents.git import GitRepo
from worktree_agents.plan_load import load_plan, load_plan_text
from worktree_agents.push import push_with_lease
from worktree_agents.reviewbody import render_body
from worktree_agents.reviewset import collect_reviews

SPECS = [
    Spec(
        "a",
        {"a.txt": "a\n"},
        acceptance=["test -f a.txt"],
        extra='title = "Add a"\ndescription = "The letter a, in a file."',
    ),
    Spec("z", {}, extra="done = true"),
    Spec("b", {"a.txt": "a\nb\n", "b.txt": "b\n"}, depends_on=["a", "z"]),
]
VERIFY = '[verify]\ncommands = ["true"]\n'


def body(
    fid: str, intro: str, checks: list[str], change: list[str], stack: list[str], base: str
) -> str:
    return "\n".join(
        [
            intro,
            "",
            "## What the agent says",
            "",
            f"applied {fid}.patch",
            "",
            "## Checks",
            "",
            "Every check passed on its branch, and wta merged it:",
            "",
            *checks,
            "",
            "## Change",
            "",
            "```",
            *change,
            "```",
            "",
            "## Details",
            "",
            "- cost: $0.00",
            "- model: not recorded",
            "- attempts: 1",
            "",
            "## Stack",
            "",
            *stack,
            "",
            f"<sub>Made by wta from feature `{fid}`: `wta/review/{fid}` onto `{base}`.</sub>",
            "",
        ]
    )


def test_the_json_as_a_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE, VERIFY)
    assert wta(repo, "run") == 0

    envelope = reviews(capsys, repo)

    assert envelope == {
        "schema": 1,
        "command": "review",
        "status": "success",
        "exit_code": 0,
        "data": {
            "base": "main",
            "base_commit": git(repo, "rev-parse", "main"),
            "reviews": [
                {
                    "id": "a",
                    "branch": "wta/review/a",
                    "base": "main",
                    "title": "Add a",
                    "body": body(
                        "a",
                        "The letter a, in a file.",
                        ["- [x] `true` (verify)", "- [x] `test -f a.txt` (acceptance)"],
                        [" a.txt | 1 +", " 1 file changed, 1 insertion(+)"],
                        ["1 of 2 in review order: **a**", "- no dependencies"],
                        "main",
                    ),
                    "depends_on": [],
                    "files_changed": 1,
                    "insertions": 1,
                    "deletions": 0,
                    "pr": None,
                },
                {
                    "id": "b",
                    "branch": "wta/review/b",
                    "base": "wta/review/a",
                    "title": "b",
                    "body": body(
                        "b",
                        "Feature `b`.",
                        ["- [x] `true` (verify)"],
                        [" a.txt | 1 +", " b.txt | 1 +", " 2 files changed, 2 insertions(+)"],
                        [
                            "2 of 2 in review order: a → **b**",
                            "- depends on `a`: its pull request comes first",
                            "- depends on `z`: already in main",
                        ],
                        "wta/review/a",
                    ),
                    "depends_on": ["a", "z"],
                    "files_changed": 2,
                    "insertions": 2,
                    "deletions": 0,
                    "pr": None,
                },
            ],
            "push": None,
        },
        "errors": [],
    }


def test_dependencies_link_to_their_pull_requests(tmp_path: Path) -> None:

    repo = plan_repo(tmp_path, SPECS, BASE, VERIFY)
    assert wta(repo, "run") == 0
    found = collect_reviews(GitRepo.open(repo), load_plan(tmp_path / "plan" / "wta.toml"))
    text = render_body(found.entries[1], {FeatureId("a"): "https://example.invalid/pr/1"})
    stack = text.split("## Stack\n\n")[1].split("\n\n")[0]
    assert stack == (
        "2 of 2 in review order: a → **b**\n"
        "- depends on `a`: https://example.invalid/pr/1\n"
        "- depends on `z`: already in main"
    )


def test_a_second_review_moves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    assert wta(repo, "run") == 0
    first = reviews(capsys, repo)
    refs = review_refs(repo)
    reflog = git(repo, "reflog", "show", "--format=%H", "wta/review/b")
    # another clock: the commits take their dates from what they replay, not from now
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2027-06-01T12:00:00+00:00")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2027-06-01T12:00:00+00:00")

    assert reviews(capsys, repo) == first
    assert review_refs(repo) == refs
    assert git(repo, "reflog", "show", "--format=%H", "wta/review/b") == reflog


def test_the_branches_follow_the_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    assert wta(repo, "run") == 0
    reviews(capsys, repo)
    before = review_refs(repo)
    commit(repo, {"late.txt": "late\n"}, "a late commit on main")
    assert wta(repo, "sync") == 0

    found = reviews(capsys, repo)["data"]["reviews"]

    after = review_refs(repo)
    assert sorted(after) == sorted(before) == ["wta/review/a", "wta/review/b"]
    assert all(after[b] != before[b] for b in after)  # rebuilt on the new main
    git(repo, "merge-base", "--is-ancestor", "main", "wta/review/a")
    check_property(repo, SPECS, {**BASE, "late.txt": "late\n"}, found)


def test_nothing_to_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)

    assert wta(repo, "review") == 0

    assert capsys.readouterr().out == (
        "nothing to review: no feature is merged or done yet (`wta run` makes them)\n"
    )
    assert reviews(capsys, repo)["data"]["reviews"] == []
    assert review_refs(repo) == {}


def test_a_change_that_needs_an_unrelated_feature_gets_no_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # y, run after x, changes the line next to x's: it applies on integration, not on main
    # without x, so no branch based on main can hold only y's change
    base = {**BASE, "f.txt": "1\n2\n3\n"}
    specs = [Spec("x", {"f.txt": "one\n2\n3\n"}), Spec("y", {"f.txt": "one\ntwo\n3\n"})]
    repo = plan_repo(tmp_path, specs, base)
    after_x = {**base, "f.txt": "one\n2\n3\n"}
    write_patch(
        repo, after_x, {**base, "f.txt": "one\ntwo\n3\n"}, tmp_path / "plan/patches/y.patch"
    )
    assert wta(repo, "run", "--only", "x") == 0
    assert wta(repo, "run") == 0
    capsys.readouterr()

    assert wta(repo, "review") == 1

    assert capsys.readouterr().out.split("\n") == [
        "1 review branch, in review order (merge their pull requests in this order):",
        "",
        "1. x: x",
        "   branch wta/review/x",
        "   base   main",
        "   1 file changed, +1 -1",
        "   f.txt | 2 +-",
        "",
        "y: no review branch: its change conflicts with its review base main in f.txt",
        "",
        "next:",
        "  wta review --push origin      push these branches, with a lease",
        "  wta review --open-prs         open or update one pull request each",
        "",
    ]
    assert reviews(capsys, repo)["errors"] == [
        {
            "type": "ReviewConflict",
            "message": "its change conflicts with its review base main in f.txt",
            "where": "y",
            "field": None,
            "fix": None,
        }
    ]
    assert sorted(review_refs(repo)) == ["wta/review/x"]


def test_push_with_a_lease(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [
        Spec("a", {"a.txt": "a\n"}),
        Spec("b", {"b.txt": "b\n"}),
        Spec("c", {"c.txt": "c\n"}, depends_on=["a", "b"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    assert wta(repo, "run") == 0
    capsys.readouterr()

    assert wta(repo, "review", "--push", str(remote)) == 0

    out = capsys.readouterr().out
    local = review_refs(repo)
    assert sorted(local) == [
        "wta/review-base/c", "wta/review/a", "wta/review/b", "wta/review/c",
    ]  # fmt: skip
    assert remote_refs(remote) == local
    pushed = [line for line in out.split("\n") if line.startswith("pushed")]
    assert pushed == [
        f"pushed refs/heads/{b} to {remote} at {local[b][:10]}"
        for b in ["wta/review/a", "wta/review/b", "wta/review-base/c", "wta/review/c"]
    ]

    # main moves on: every branch is rebuilt, and pushed over wta's own older commits
    commit(repo, {"late.txt": "late\n"}, "a late commit on main")
    assert wta(repo, "sync") == 0
    envelope = reviews(capsys, repo, "--push", str(remote))
    assert envelope["exit_code"] == 0
    assert [(p["ref"], p["old"], p["error"]) for p in envelope["data"]["push"]] == [
        (f"refs/heads/{b}", local[b], None)
        for b in ["wta/review/a", "wta/review/b", "wta/review-base/c", "wta/review/c"]
    ]
    assert remote_refs(remote) == review_refs(repo) != local

    # someone else moves b on the remote: wta pushes nothing over it, and says so
    theirs = git(repo, "commit-tree", "-p", "wta/review/b", "-m", "a reviewer's fixup",
                 "wta/review/b^{tree}")  # fmt: skip
    git(repo, "push", "--quiet", str(remote), f"{theirs}:refs/heads/wta/review/b")
    commit(repo, {"later.txt": "later\n"}, "another commit on main")
    assert wta(repo, "sync") == 0
    capsys.readouterr()

    assert wta(repo, "review", "--push", str(remote)) == 1

    out = capsys.readouterr().out
    problem = [line for line in out.split("\n") if line.startswith("push to")]
    assert problem == [
        f"push to {remote} failed: {remote} has wta/review/b at {theirs[:10]}, which wta did"
        f" not make there: someone else moved it; look at it (git fetch {remote}"
        f" wta/review/b), and delete it on {remote} to let wta push it again"
    ]
    assert remote_refs(remote) == {**review_refs(repo), "wta/review/b": theirs}


def test_a_lease_the_remote_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the remote's branch moves between reading it and pushing: the remote refuses

    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    assert wta(repo, "run") == 0
    assert wta(repo, "review", "--push", str(remote)) == 0
    seen = remote_refs(remote)["wta/review/a"]
    git(repo, "push", "--quiet", str(remote), "main:refs/heads/wta/review/a", "--force")

    result = push_with_lease(GitRepo.open(repo), str(remote), "wta/review/a", CommitSha(seen))

    assert (result.new, remote_refs(remote)["wta/review/a"]) == (
        None,
        git(repo, "rev-parse", "main"),
    )
    assert result.detail == f"error: failed to push some refs to '{remote}'"


def remote_refs(remote: Path) -> dict[str, str]:
    listed = git(remote, "for-each-ref", "--format=%(refname:short) %(objectname)")
    return dict(line.split(" ") for line in listed.splitlines())


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        (
            '[[feature]]\nid = "review"\n',
            "feature 'review', id: 'review' is reserved: wta names its review branches"
            " wta/review/<id>. Fix: rename the feature",
        ),
        (
            '[run]\nintegration_branch = "wta/review-base/x"\n[[feature]]\nid = "a"\n',
            "[run], integration_branch: 'wta/review-base/x' clashes with wta's review branches,"
            " wta/review-base/<id>. Fix: use another name under the prefix, such as"
            ' "wta/integration"',
        ),
    ],
)
def test_names_the_review_branches_need(toml: str, problem: str) -> None:
    with pytest.raises(PlanError) as info:
        load_plan_text(toml, "wta.toml")
    assert [p.render() for p in info.value.problems] == [problem]
