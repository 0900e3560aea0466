"""`wta run --no-merge`: verified features end `done`, their branches stacked."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, features, plan_repo, wta


def test_no_merge_stacks_branches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [
        Spec("a", {"a.txt": "a\n"}),
        Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
        Spec("c", {"c.txt": "c\n"}),
        Spec("d", {"d.txt": "d\n"}, depends_on=["b", "c"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    main_tip = git(repo, "rev-parse", "main")

    assert wta(repo, "run", "--no-merge") == 0

    got = features(capsys, repo)
    assert {f: v["state"] for f, v in got.items()} == dict.fromkeys("abcd", "done")
    assert git(repo, "rev-parse", "wta/integration") == main_tip  # nothing integrated
    assert got["b"]["base_commit"] == git(repo, "rev-parse", "wta/a")  # stacked on a
    # d starts from b and c merged together, so its branch holds all four files
    assert git(repo, "ls-tree", "--name-only", "wta/d").split() == [
        "README.md", "a.txt", "b.txt", "c.txt", "d.txt", "src",
    ]  # fmt: skip
    assert git(repo, "rev-list", "--count", "main..wta/d") == "5"


def test_no_merge_stacks_on_merged_dependencies_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("a", {"a.txt": "a\n"}),
        Spec("b", {"b.txt": "b\n"}),
        Spec("c", {"c.txt": "c\n"}, depends_on=["a", "b"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run", "--no-merge", "--only", "a") == 0
    assert wta(repo, "run", "--only", "b") == 0

    assert wta(repo, "run", "--no-merge", "--only", "c") == 0

    assert git(repo, "ls-tree", "--name-only", "wta/c").split() == [
        "README.md",
        "a.txt",
        "b.txt",
        "c.txt",
        "src",
    ]
