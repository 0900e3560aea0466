"""`wta merge`: the done features of a `--no-merge` run integrated later, by the rules of
`wta run`, and pushed with a lease."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, features, plan_repo, start_wta, wta

from worktree_agents.reconcile import INTERRUPTED_DETAIL

TRAILERS = "--format=%(trailers:key=Wta-Feature,valueonly,separator=)"


def test_no_merge_then_run_then_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [
        Spec("x", {"src/core.py": "VALUE = 3\n"}),
        Spec("a", {"a.txt": "a\n"}),
        Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
        Spec("c", {"src/core.py": "VALUE = 2\n"}),
        Spec("d", {"d.txt": "d\n"}, depends_on=["c"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    main = git(repo, "rev-parse", "main")
    assert wta(repo, "run", "--no-merge") == 0
    done_b = git(repo, "rev-parse", "wta/b")
    capsys.readouterr()

    assert wta(repo, "run") == 1  # a plain run says what the done features wait for
    out = capsys.readouterr().out
    assert out.split("\n\n", 1)[1] == (
        "0 merged, 5 done, 0 failed, 0 skipped, 0 pending of 5; cost $0.00;"
        f" integration wta/integration at {main[:12]}\n"
        "done, waiting for `wta merge` to integrate them: x, a, b, c, d\n"
    )

    assert wta(repo, "merge") == 1
    out = capsys.readouterr().out
    assert out.split("\n\n", 1)[1] == (
        f"3 merged, 1 failed, 1 skipped, 0 pending of 5; cost $0.00;"
        f" integration wta/integration at {git(repo, 'rev-parse', 'wta/integration')[:12]}\n"
        "next:\n"
        "  wta show c              why it failed\n"
        "  wta retry c             back to pending, with their skipped dependents\n"
        "  wta run --retry-failed  run every failed and skipped feature again\n"
    )
    got = features(capsys, repo)
    assert {f: (v["state"], v["reason"], v["skipped_because"]) for f, v in got.items()} == {
        "x": ("merged", None, None),
        "a": ("merged", None, None),
        "b": ("merged", None, None),
        "c": ("failed", "conflict", None),
        "d": ("skipped", None, "c"),
    }
    assert got["c"]["conflict_paths"] == ["src/core.py"]
    # in topological order, plan order breaking ties; one commit each, with its trailer
    log = git(repo, "log", "--reverse", TRAILERS, f"{main}..wta/integration")
    assert log.split() == ["x", "a", "b"]
    assert git(repo, "rev-parse", "wta/b") == git(repo, "rev-parse", "wta/integration")
    assert git(repo, "rev-parse", "refs/wta/attempts/b/1") == done_b  # the agent's work stays
    assert git(repo, "ls-tree", "--name-only", "wta/integration").split() == [
        "README.md", "a.txt", "b.txt", "src",
    ]  # fmt: skip
    assert git(repo, "show", "wta/integration:src/core.py") == "VALUE = 3"
    assert git(repo, "rev-parse", "wta/d") != git(repo, "rev-parse", "wta/integration")


def test_merge_runs_the_checks_on_the_merged_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = '[verify]\ncommands = ["test ! -f a.txt || test ! -f y.txt"]\n'
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("y", {"y.txt": "y\n"})]
    repo = plan_repo(tmp_path, specs, BASE, settings)
    assert wta(repo, "run", "--no-merge") == 0  # each passes on its own
    capsys.readouterr()

    assert wta(repo, "merge", "--json") == 1

    envelope = json.loads(capsys.readouterr().out)
    assert (envelope["command"], envelope["status"], envelope["exit_code"]) == (
        "merge",
        "partial",
        1,
    )
    data = envelope["data"]
    assert (data["selected"], data["push"]) == (["a", "y"], None)
    states = {f["id"]: (f["state"], f["reason"]) for f in data["features"]}
    assert states == {"a": ("merged", None), "y": ("failed", "merge_verify_failed")}
    assert git(repo, "ls-tree", "--name-only", "wta/integration").split() == [
        "README.md", "a.txt", "src",
    ]  # fmt: skip


def test_merge_with_nothing_done(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    capsys.readouterr()
    assert wta(repo, "merge") == 0
    out = capsys.readouterr().out
    assert out.split("\n\n", 1)[1].splitlines()[1:] == [
        "nothing to merge: no feature is done (`wta run --no-merge` leaves them done)"
    ]


def test_merge_push_to_a_bare_remote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, depends_on=["a"])]
    repo = plan_repo(tmp_path, specs, BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    assert wta(repo, "run", "--no-merge") == 0
    capsys.readouterr()

    assert wta(repo, "merge", "--push", "origin") == 0

    head = git(repo, "rev-parse", "wta/integration")
    assert git(remote, "rev-parse", "refs/heads/wta/integration") == head
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"pushed refs/heads/wta/integration to origin at {head[:10]}"
    )
    assert git(repo, "log", TRAILERS, "--reverse", "main..wta/integration").split() == ["a", "b"]

    # the remote's integration is something else altogether: refused before anything
    other = git(remote, "commit-tree", "-m", "elsewhere", f"{head}^{{tree}}")
    git(remote, "update-ref", "refs/heads/wta/integration", other)
    assert wta(repo, "merge", "--push", "origin") == 2
    assert capsys.readouterr().err == (
        f"wta: error: origin's wta/integration ({other[:10]}) shares no history with the base;"
        " nothing moved. Delete it on origin (git push origin :wta/integration) if it is"
        " not wta's\n"
    )
    assert git(remote, "rev-parse", "refs/heads/wta/integration") == other
    assert git(repo, "rev-parse", "wta/integration") == head

    assert wta(repo, "merge", "--push", "nowhere") == 2
    err = capsys.readouterr().err
    assert err.startswith("wta: error: cannot read the remote 'nowhere': ")


def test_a_killed_merge_is_finished_by_the_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wta merge` killed (with its whole group) while it checks b's merged result: b is
    shown interrupted, then integrated by the next `wta merge`, once, without its agent."""
    block, started = tmp_path / "block", tmp_path / "started"
    check = f"test ! -f {block} || test ! -f b.txt || {{ touch {started}; sleep 60; }}"
    settings = f"[verify]\ncommands = ['{check}']\n"
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, depends_on=["a"])]
    repo = plan_repo(tmp_path, specs, BASE, settings)
    assert wta(repo, "run", "--no-merge") == 0
    block.touch()  # from now on, the check on b's merged result hangs
    proc = start_wta(repo, "merge", new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not started.exists():
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    block.unlink()
    capsys.readouterr()

    assert wta(repo, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)["data"]
    shown = {f["id"]: (f["state"], f["detail"]) for f in data["features"]}
    assert shown == {"a": ("merged", None), "b": ("pending", INTERRUPTED_DETAIL)}
    assert data["run"]["status"] == "interrupted"

    assert wta(repo, "merge") == 0
    got = features(capsys, repo)
    assert {f: (v["state"], v["attempts"]) for f, v in got.items()} == {
        "a": ("merged", 1),
        "b": ("merged", 1),  # its agent did not run again
    }
    assert git(repo, "log", TRAILERS, "--reverse", "main..wta/integration").split() == ["a", "b"]
    assert git(repo, "rev-parse", "wta/b") == git(repo, "rev-parse", "wta/integration")
    assert wta(repo, "clean") == 0
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_feature_failing_in_merge_skips_what_waits_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("x", {"src/core.py": "VALUE = 3\n"}),
        Spec("c", {"src/core.py": "VALUE = 2\n"}),
        Spec("d", {"d.txt": "d\n"}, depends_on=["c"]),
        Spec("e", {"e.txt": "e\n"}, depends_on=["d"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run", "--no-merge", "--only", "x,c") == 0
    capsys.readouterr()

    assert wta(repo, "merge") == 1

    got = features(capsys, repo)
    assert {f: (v["state"], v["reason"], v["skipped_because"]) for f, v in got.items()} == {
        "x": ("merged", None, None),
        "c": ("failed", "conflict", None),
        "d": ("skipped", None, "c"),  # pending, not in the merge: skipped now all the same
        "e": ("skipped", None, "d"),
    }
