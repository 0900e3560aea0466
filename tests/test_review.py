"""`wta review`: one PR-ready review branch per merged or done feature, on real git."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import git
from reviewutil import check_property, review_refs, reviews
from runutil import BASE, Spec, plan_repo, wta

CHAIN = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("x", {"x.txt": "x\n"}),
    Spec("b", {"a.txt": "a, then b\n", "b.txt": "b\n"}, depends_on=["a"]),  # edits a's file
    Spec("c", {"c.txt": "c\n"}, depends_on=["b"]),
]
DIAMOND = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
    Spec("c", {"c.txt": "c\n", "a.txt": "a\nand c\n"}, depends_on=["a"]),
    Spec("d", {"d.txt": "d\n", "b.txt": "b\nand d\n"}, depends_on=["b", "c"]),
]
REBASE = '[run]\nmerge = "rebase"\n'


@pytest.mark.parametrize("settings", ["", REBASE], ids=["squash", "rebase"])
@pytest.mark.parametrize("run_args", [(), ("--no-merge",)], ids=["merged", "no-merge"])
@pytest.mark.parametrize("specs", [CHAIN, DIAMOND], ids=["chain", "diamond"])
def test_the_review_branch_property(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    specs: list[Spec],
    run_args: tuple[str, ...],
    settings: str,
) -> None:
    repo = plan_repo(tmp_path, specs, BASE, settings)
    assert wta(repo, "run", *run_args) == 0
    found = reviews(capsys, repo)["data"]["reviews"]
    assert [r["id"] for r in found] == [s.id for s in specs]  # already topological here
    tree = check_property(repo, specs, BASE, found)
    if not run_args:  # merging the pull requests gives the integration tree
        assert tree == git(repo, "rev-parse", "wta/integration^{tree}")


def test_bases_and_branch_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, DIAMOND, BASE)
    assert wta(repo, "run") == 0
    found = reviews(capsys, repo)["data"]["reviews"]
    assert [(r["id"], r["branch"], r["base"]) for r in found] == [
        ("a", "wta/review/a", "main"),
        ("b", "wta/review/b", "wta/review/a"),
        ("c", "wta/review/c", "wta/review/a"),
        ("d", "wta/review/d", "wta/review-base/d"),
    ]
    # the base of d holds both its dependencies' review branches, merged
    assert git(repo, "rev-parse", "wta/review-base/d^1", "wta/review-base/d^2").split() == [
        git(repo, "rev-parse", "wta/review/b"),
        git(repo, "rev-parse", "wta/review/c"),
    ]
    assert sorted(review_refs(repo)) == [
        "wta/review-base/d", "wta/review/a", "wta/review/b", "wta/review/c", "wta/review/d",
    ]  # fmt: skip
