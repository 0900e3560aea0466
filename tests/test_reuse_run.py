"""`wta run` with reused worktrees: a chain on one slot makes one worktree and hands it on,
setup and `.worktreeinclude` run again for each feature, and the result is the one a run
with a fresh worktree per feature gets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.reuse import HANDING_OVER

# Setup fails if anything of the last feature's survived (its ignored build output), or if
# the .worktreeinclude file was not copied in again; it records every feature it ran for,
# with what it found in node_modules/ (which it then fills, as `npm ci` would).
SETUP = (
    'echo "$WTA_FEATURE_ID:$(ls node_modules 2>/dev/null)" >> "$SETUP_RECORD"'
    " && test ! -e build/stale && test -f .env && mkdir -p build node_modules"
    " && touch build/stale node_modules/cache"
)
CHAIN = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("b", {"b.txt": "b\n"}, depends_on=("a",)),
    Spec("c", {"c.txt": "c\n", "src/core.py": "VALUE = 3\n"}, depends_on=("b",)),
]


def chain_repo(root: Path, run: str, specs: list[Spec] = CHAIN) -> Path:
    base = {**BASE, ".gitignore": ".env\nbuild/\nnode_modules/\n", ".worktreeinclude": ".env\n"}
    settings = f"[run]\nmax_parallel = 1\nsetup = ['{SETUP}']\n{run}"
    repo = plan_repo(root, specs, base, settings)
    (repo / ".env").write_text("SECRET=1\n")
    return repo


def traced_run(repo: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> list[list[str]]:
    """Run wta; each git command it ran, as argv."""
    trace = repo.parent / "trace.txt"
    monkeypatch.setenv("WTA_GIT_TRACE", str(trace))
    monkeypatch.setenv("SETUP_RECORD", str(repo.parent / "setup.txt"))
    assert wta(repo, "run", *args) == 0
    monkeypatch.delenv("WTA_GIT_TRACE")
    return [line.split("\t")[1:] for line in trace.read_text().splitlines()]


def worktree_calls(trace: list[list[str]]) -> list[str]:
    return [argv[1] for argv in trace if argv[0] == "worktree" and argv[1] in ("add", "move")]


def linked(repo: Path) -> list[str]:
    lines = git(repo, "worktree", "list", "--porcelain").splitlines()
    return sorted(line.removeprefix("worktree ") for line in lines[1:] if "worktree " in line)


def test_a_chain_on_one_slot_reuses_one_worktree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reused = chain_repo(tmp_path / "reuse", "")
    fresh = chain_repo(tmp_path / "fresh", "reuse_worktrees = false\n")

    assert worktree_calls(traced_run(reused, monkeypatch)) == ["add", "move", "move"]
    assert worktree_calls(traced_run(fresh, monkeypatch)) == ["add", "add", "add"]

    def tree(repo: Path) -> str:
        return git(repo, "rev-parse", "wta/integration^{tree}")

    assert tree(reused) == tree(fresh)
    setup_runs = (tmp_path / "reuse" / "setup.txt").read_text()
    assert setup_runs == "a:\nb:\nc:\n"
    trees = [str(p) for p in (tmp_path / "reuse" / "repo.wta", tmp_path / "fresh" / "repo.wta")]
    assert (linked(reused), linked(fresh)) == (
        [f"{trees[0]}/c"],
        [f"{trees[1]}/a", f"{trees[1]}/b", f"{trees[1]}/c"],
    )
    capsys.readouterr()
    assert wta(reused, "clean") == 0
    assert capsys.readouterr().out == "removed 1 worktree: c\n"
    assert (linked(reused), os.path.exists(trees[0])) == ([], False)


def test_keep_ignored_keeps_a_dependency_cache_across_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = chain_repo(tmp_path, 'keep_ignored = ["node_modules/"]\n')
    monkeypatch.setenv("SETUP_RECORD", str(tmp_path / "setup.txt"))

    assert wta(repo, "run") == 0

    # what setup left in node_modules/ before b and c ran was still there
    assert (tmp_path / "setup.txt").read_text() == "a:\nb:cache\nc:cache\n"


def test_a_failed_features_worktree_is_kept_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = [
        Spec("a", {"a.txt": "a\n"}, acceptance=["false"]),
        Spec("b", {"b.txt": "b\n"}),
        Spec("c", {"c.txt": "c\n"}),
    ]
    repo = chain_repo(tmp_path, "[guardrails]\nmax_attempts = 1\n", specs)
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("WTA_GIT_TRACE", str(trace))
    monkeypatch.setenv("SETUP_RECORD", str(tmp_path / "setup.txt"))

    assert wta(repo, "run") == 1

    calls = worktree_calls([line.split("\t")[1:] for line in trace.read_text().splitlines()])
    trees = tmp_path / "repo.wta"
    assert (calls, linked(repo)) == (["add", "add", "move"], [f"{trees}/a", f"{trees}/c"])
    assert git(trees / "a", "symbolic-ref", "HEAD") == "refs/heads/wta/a"


def test_wta_merge_of_done_features_hands_one_worktree_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec(fid, {f"{fid}.txt": f"{fid}\n"}) for fid in ("a", "b", "c")]
    trees = []
    for name, run in (("reuse", ""), ("fresh", "reuse_worktrees = false\n")):
        repo = chain_repo(tmp_path / name, run, specs)
        monkeypatch.setenv("SETUP_RECORD", str(repo.parent / "setup.txt"))
        assert wta(repo, "run", "--no-merge") == 0
        assert wta(repo, "clean") == 0  # as in a CI job's fresh clone: no worktree left
        trace = repo.parent / "trace.txt"
        monkeypatch.setenv("WTA_GIT_TRACE", str(trace))
        assert wta(repo, "merge") == 0
        monkeypatch.delenv("WTA_GIT_TRACE")
        calls = worktree_calls([line.split("\t")[1:] for line in trace.read_text().splitlines()])
        assert calls == (["add", "move", "move"] if name == "reuse" else ["add", "add", "add"])
        trees.append(git(repo, "rev-parse", "wta/integration^{tree}"))
        assert [
            git(repo, "log", "-1", "--format=%(trailers:key=Wta-Feature,valueonly)", f"wta/{f}")
            for f in ("a", "b", "c")
        ] == ["a", "b", "c"]  # each branch on its merged commit
    assert trees[0] == trees[1]
    capsys.readouterr()


def test_clean_removes_a_worktree_a_killed_handover_left_half_switched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = chain_repo(tmp_path / "killed", "", CHAIN[:2])
    traced_run(repo, monkeypatch)
    worktree = tmp_path / "killed" / "repo.wta" / "b"
    admin = Path(git(worktree, "rev-parse", "--absolute-git-dir"))
    # as a checkout killed midway through a handover leaves it: files half switched
    (worktree / "a.txt").write_text("half switched\n")
    capsys.readouterr()
    assert wta(repo, "clean") == 0
    assert capsys.readouterr().out == (
        "removed 0 worktrees\n"
        "kept 1 with changes to tracked files: b; pass --force to remove them anyway\n"
    )
    (admin / HANDING_OVER).write_text("0" * 40 + "\n")  # ... with its handover unfinished
    assert wta(repo, "clean") == 0
    assert capsys.readouterr().out == "removed 1 worktree: b\n"
    assert linked(repo) == []
