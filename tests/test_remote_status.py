"""`wta status --remote REMOTE`: each plan feature as the remote has it, in text and JSON;
an unknown remote exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from remoteutil import result
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.git import GitRepo
from worktree_agents.remote_state import claim, publish_result

SPECS = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
    Spec("c", {"c.txt": "c\n"}),
    Spec("d", {"d.txt": "d\n"}, depends_on=["b"]),
    Spec("e", {"e.txt": "e\n"}),
]


def remote_repo(tmp_path: Path) -> Path:
    """A plan's repository whose origin holds: a done, b failed, d skipped, c claimed."""
    repo = plan_repo(tmp_path, SPECS, BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    opened = GitRepo.open(repo)
    done = result(
        "a", "github-run-1", cost_usd=0.1234, model="claude-sonnet-4-5", duration_s=75.0,
        files_changed=1, insertions=1, attempts=1, commit="c" * 40, branch="wta/a",
    )  # fmt: skip
    failed = result(
        "b", "github-run-1", state="failed", reason="verify_failed", detail="tests failed",
        cost_usd=0.5, cost_estimated=True, duration_s=12.5, attempts=2,
    )  # fmt: skip
    skipped = result("d", "github-run-1", state="skipped", detail="b failed")
    for record in (done, failed, skipped):
        publish_result(opened, "origin", record)
    claim(opened, "origin", "c", "github-run-2", ttl_s=3600, now=1_700_000_500.0)
    return repo


def test_status_remote_shows_what_the_remote_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = remote_repo(tmp_path)
    capsys.readouterr()

    assert wta(repo, "status", "--remote", "origin") == 0

    assert capsys.readouterr() == (
        "FEATURE  REMOTE                   REASON         WORKER        COST    MODEL"
        "              TIME   CHANGES\n"
        "a        done                     -              github-run-1  $0.12   claude-sonnet-4-5"
        "  1m15s  1 file, +1 -0\n"
        "b        failed                   verify_failed  github-run-1  ~$0.50  -"
        "                  12.5s  0 files, +0 -0\n"
        "c        claimed by github-run-2  -              -             -       -"
        "                  -      -\n"
        "d        skipped                  -              github-run-1  $0.00   -"
        "                  -      -\n"
        "e        -                        -              -             -       -"
        "                  -      -\n"
        "\n"
        "origin: 1 done, 1 failed, 1 skipped, 1 claimed, 1 not started of 5; cost ~$0.62\n",
        "",
    )


def test_status_remote_json_adds_the_remote_to_the_status_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = remote_repo(tmp_path)
    assert wta(repo, "status", "--json") == 0
    local = json.loads(capsys.readouterr().out)

    assert wta(repo, "status", "--remote", "origin", "--json") == 0

    document = json.loads(capsys.readouterr().out)
    remote = document["data"].pop("remote")
    assert document == local  # the usual envelope and data, with data.remote beside
    nothing = {
        "reason": None, "detail": None, "worker": None, "cost_usd": 0.0,
        "cost_estimated": False, "turns": None, "model": None, "duration_s": None,
        "files_changed": 0, "insertions": 0, "deletions": 0, "base_commit": None,
        "commit": None, "branch": None, "attempts": 0, "finished_at": None,
        "claimed_by": None, "claimed_at": None,
    }  # fmt: skip
    ran = {**nothing, "worker": "github-run-1", "finished_at": 1_700_000_000.0}
    assert remote == {
        "name": "origin",
        "features": [
            {
                **ran, "id": "a", "state": "done", "cost_usd": 0.1234,
                "model": "claude-sonnet-4-5", "duration_s": 75.0, "files_changed": 1,
                "insertions": 1, "attempts": 1, "commit": "c" * 40, "branch": "wta/a",
            },
            {
                **ran, "id": "b", "state": "failed", "reason": "verify_failed",
                "detail": "tests failed", "cost_usd": 0.5, "cost_estimated": True,
                "duration_s": 12.5, "attempts": 2,
            },
            {
                **nothing, "id": "c", "state": "claimed", "claimed_by": "github-run-2",
                "claimed_at": 1_700_000_500.0,
            },
            {**ran, "id": "d", "state": "skipped", "detail": "b failed"},
            {**nothing, "id": "e", "state": None},
        ],
        "cost_usd": 0.6234,
        "warnings": [],
    }  # fmt: skip


def test_status_remote_with_an_unknown_remote_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)

    assert wta(repo, "status", "--remote", "nowhere") == 2
    assert capsys.readouterr() == (
        "",
        "wta: error: cannot read the remote 'nowhere':"
        " 'nowhere' does not appear to be a git repository\n",
    )
    assert wta(repo, "status", "--remote", "nowhere", "--json") == 2
    assert json.loads(capsys.readouterr().out)["errors"] == [
        {
            "type": "RepoError",
            "message": "cannot read the remote 'nowhere':"
            " 'nowhere' does not appear to be a git repository",
            "where": None,
            "field": None,
            "fix": None,
        }
    ]
