"""Helpers for review-branch tests: `wta review --json`, and the review-branch property
checked against the features' own changes with real git."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from gitutil import git
from runutil import Spec, apply, base_state, tree_of, wta


def reviews(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> dict[str, Any]:
    """`wta review --json`'s whole envelope (what was captured before is dropped)."""
    capsys.readouterr()
    code = wta(repo, "review", "--json", *args)
    envelope: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert envelope["exit_code"] == code
    return envelope


def review_refs(repo: Path) -> dict[str, str]:
    listed = git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/wta/")
    return dict(line.split(" ") for line in listed.splitlines() if line.startswith("wta/review"))


def final_files(specs: Sequence[Spec], base: Mapping[str, str]) -> dict[str, str]:
    files = dict(base)
    for spec in specs:
        files = apply(files, spec.changes)
    return files


def check_property(
    repo: Path, specs: Sequence[Spec], base: Mapping[str, str], found: Sequence[Mapping[str, Any]]
) -> str:
    """For each review: its base is an ancestor of its branch, and `git diff base branch` is
    exactly the feature's own change; merging them in review order gives every change, whose
    tree is returned."""
    by_id = {s.id: s for s in specs}
    merged = git(repo, "rev-parse", "main")
    for review in found:
        spec, base_ref, branch = by_id[review["id"]], review["base"], review["branch"]
        git(repo, "merge-base", "--is-ancestor", base_ref, branch)  # fails loudly if not
        before = base_state(specs, spec, base)
        after = apply(before, spec.changes)
        changed = git(repo, "diff", "--name-only", "--no-renames", base_ref, branch).split()
        assert changed == sorted(spec.changes), review["id"]
        for path in spec.changes:
            assert _show(repo, base_ref, path) == before.get(path), (review["id"], path)
            assert _show(repo, branch, path) == after.get(path), (review["id"], path)
        tree = git(repo, "merge-tree", "--write-tree", merged, branch)
        merged = git(repo, "commit-tree", "-p", merged, "-p", branch, "-m", "merge", tree)
    index = repo / ".git" / "review-test-index"
    tree = git(repo, "rev-parse", f"{merged}^{{tree}}")
    assert tree == tree_of(repo, final_files(specs, base), index)
    return tree


def _show(repo: Path, rev: str, path: str) -> str | None:
    listed = git(repo, "ls-tree", "--name-only", rev, "--", path)
    if not listed:
        return None
    return git(repo, "cat-file", "blob", f"{rev}:{path}") + "\n"
