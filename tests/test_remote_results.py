"""Result records on a bare remote: published and read back, replaced only by the same
worker's redo of a failure, unreadable ones skipped with a warning, and costs summed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from remoteutil import remote_refs, remote_with_clones, result

from worktree_agents.errors import RepoError
from worktree_agents.git import GitRepo
from worktree_agents.remote_refs import make_record
from worktree_agents.remote_state import (
    RefUpdate,
    ResultRefused,
    publish_result,
    read_results,
    remote_cost,
)


def machines(tmp_path: Path) -> tuple[Path, GitRepo, GitRepo]:
    remote, (one, two) = remote_with_clones(tmp_path, 2)
    return remote, GitRepo.open(one), GitRepo.open(two)


def test_a_published_result_reads_back_the_same(tmp_path: Path) -> None:
    remote, one, two = machines(tmp_path)
    done = result(
        "auth", "github-run-7", cost_usd=0.25, turns=12, model="claude-sonnet-4-5",
        duration_s=61.5, files_changed=2, insertions=30, deletions=4, base_commit="b" * 40,
        commit="c" * 40, branch="wta/auth", attempts=1,
    )  # fmt: skip
    failed = result("api", "github-run-7", state="failed", reason="verify_failed", detail="x")

    publish_result(one, "origin", done)
    publish_result(one, "origin", failed)

    assert read_results(two, "origin") == {"auth": done, "api": failed}
    commit = remote_refs(remote)["refs/wta/results/auth"]
    assert git(remote, "ls-tree", "--name-only", commit) == "result.json"
    assert git(remote, "rev-list", "--parents", commit) == commit  # no parent
    text = git(remote, "show", f"{commit}:result.json")
    assert text == json.dumps(done.model_dump(), sort_keys=True, indent=2)
    assert git(remote, "log", "-1", "--format=%s %at", commit) == (
        "wta result auth: done by github-run-7 1700000000"
    )


def test_a_failed_result_is_replaced_and_a_done_one_is_final(tmp_path: Path) -> None:
    _, one, two = machines(tmp_path)
    failed = result("auth", "github-run-7", state="failed", reason="timeout")
    publish_result(one, "origin", failed)

    redone = result("auth", "github-run-8", finished_at=1_700_000_100.0)
    publish_result(two, "origin", redone)
    publish_result(one, "origin", redone)  # the same record again: nothing to do
    with pytest.raises(ResultRefused) as final:
        publish_result(one, "origin", result("auth", "github-run-8", state="failed"))
    with pytest.raises(ResultRefused) as twice:
        publish_result(one, "origin", result("auth", "github-run-9"))

    assert [(e.value.message, e.value.existing) for e in (final, twice)] == [
        ("origin already holds a result for auth: done by github-run-8", redone)
    ] * 2
    assert read_results(one, "origin") == {"auth": redone}


def test_refs_pushed_with_a_result_land_with_it_or_not_at_all(tmp_path: Path) -> None:
    remote, one, two = machines(tmp_path)
    tip = one.head_commit()
    branch = RefUpdate("refs/heads/wta/auth", tip, None)
    theirs = make_record(two, "api.txt", b"theirs", "theirs\n", 0.0)
    git(two.toplevel, "push", "--quiet", "origin", f"{theirs}:refs/heads/wta/api")

    publish_result(one, "origin", result("auth", "w1", commit=tip), with_refs=[branch])
    with pytest.raises(ResultRefused) as refused:
        taken = RefUpdate("refs/heads/wta/api", tip, None)
        publish_result(two, "origin", result("api", "w2"), with_refs=[taken])

    assert refused.value.message == (
        "origin refused the push of api: refs/heads/wta/api: [rejected] (stale info)"
    )
    assert remote_refs(remote) == {
        "refs/wta/results/auth": remote_refs(remote)["refs/wta/results/auth"]
    }
    assert git(remote, "rev-parse", "refs/heads/wta/auth") == tip
    assert list(read_results(two, "origin")) == ["auth"]


def test_unreadable_records_are_skipped_with_a_warning_and_may_be_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, one, two = machines(tmp_path)
    good = result("good", "w1", cost_usd=1.5)
    publish_result(one, "origin", good)
    records = {
        "notjson": b"{not json",
        "badstate": json.dumps({**good.model_dump(), "feature_id": "badstate", "state": "x"}),
        "other": good.to_json(),  # good's record under another feature's ref
        "newer": json.dumps({**good.model_dump(), "feature_id": "newer", "new_field": 1}),
    }
    for feature, data in records.items():
        raw = data if isinstance(data, bytes) else str(data).encode()
        record = make_record(one, "result.json", raw, "junk\n", 0.0)
        git(one.toplevel, "push", "--quiet", "origin", f"{record}:refs/wta/results/{feature}")
    empty = make_record(one, "other.txt", b"", "junk\n", 0.0)
    git(one.toplevel, "push", "--quiet", "origin", f"{empty}:refs/wta/results/nofile")
    capsys.readouterr()

    found = read_results(two, "origin")
    publish_result(two, "origin", result("notjson", "w2"))

    assert found == {"good": good}
    where = "wta: warning: refs/wta/results/{} on origin "
    assert capsys.readouterr().err.splitlines() == [
        where.format("badstate") + "is not a result record wta can read"
        " (state: Input should be 'done', 'failed' or 'skipped'); ignored",
        where.format("newer") + "is not a result record wta can read"
        " (new_field: Extra inputs are not permitted); ignored",
        where.format("nofile") + "holds no result.json; ignored",
        where.format("notjson") + "is not a result record wta can read"
        " (Invalid JSON: key must be a string at line 1 column 2); ignored",
        where.format("other") + "holds the result of 'good', not of 'other'; ignored",
    ]
    # the unreadable record was replaced by a readable one
    assert sorted(read_results(one, "origin")) == ["good", "notjson"]


def test_costs_are_summed_over_every_result() -> None:
    results = {
        "a": result("a", "w", cost_usd=0.1),
        "b": result("b", "w", state="failed", cost_usd=0.2, cost_estimated=True),
        "c": result("c", "w", state="skipped"),
    }
    assert remote_cost(results) == 0.3
    assert remote_cost({}) == 0.0


def test_an_unreadable_remote_is_a_clear_error(tmp_path: Path) -> None:
    _, one, _ = machines(tmp_path)
    with pytest.raises(RepoError) as unknown:
        read_results(one, "nowhere")
    with pytest.raises(RepoError) as unwritable:
        publish_result(one, str(tmp_path / "gone.git"), result("auth", "w"))
    assert [unknown.value.message, unwritable.value.message] == [
        "cannot read the remote 'nowhere': 'nowhere' does not appear to be a git repository",
        f"cannot read the remote '{tmp_path}/gone.git':"
        f" '{tmp_path}/gone.git' does not appear to be a git repository",
    ]
