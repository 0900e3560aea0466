"""Integration follows its base: `wta run` and `wta sync` bring the base's new commits onto
the integration branch before anything starts, by a merge made with plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import commit, git
from runutil import BASE, Spec, features, plan_repo, wta

from worktree_agents.events import EventLog


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def test_a_fix_on_the_base_reaches_the_next_runs_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"})]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run", "--only", "a") == 0
    after_a = git(repo, "rev-parse", "wta/integration")
    fix = commit(repo, {"fix.txt": "fixed\n"}, "fix on main")

    assert wta(repo, "run") == 0

    got = features(capsys, repo)
    merge = got["b"]["base_commit"]
    assert isinstance(merge, str)
    # b started from integration with the fix merged in: first parent integration, then main
    assert git(repo, "rev-list", "--parents", "-n", "1", merge).split() == [merge, after_a, fix]
    assert git(repo, "log", "-1", "--format=%s", merge) == "Merge main into wta/integration"
    assert git(repo, "ls-tree", "--name-only", "wta/b").split() == [
        "README.md", "a.txt", "b.txt", "fix.txt", "src",
    ]  # fmt: skip
    assert git(repo, "log", "--first-parent", "--format=%s", "wta/integration").split("\n") == [
        "b", "Merge main into wta/integration", "a", "initial commit"
    ]  # fmt: skip
    runs = (repo / ".git" / "wta" / "runs").iterdir()
    followed = [e for run in runs for e in EventLog.read(run) if e.kind == "base_followed"]
    assert [e.model_dump(exclude={"ts"}) for e in followed] == [
        {
            "schema_version": 1,
            "run_id": followed[0].run_id,
            "kind": "base_followed",
            "base": "main",
            "base_commit": fix,
            "how": "merge",
            "old_head": after_a,
            "integration_head": merge,
        }
    ]
    # the base the status reports is held by integration
    capsys.readouterr()
    assert wta(repo, "status", "--json") == 0
    integration = json.loads(capsys.readouterr().out)["data"]["integration"]
    assert integration["base_commit"] == fix
    assert git(repo, "merge-base", "--is-ancestor", fix, "wta/integration") == ""


def test_a_base_that_conflicts_stops_the_run_and_moves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"src/core.py": "VALUE = 2\n"}), Spec("b", {"b.txt": "b\n"})]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run", "--only", "a") == 0
    commit(repo, {"src/core.py": "VALUE = 3\n", "other.txt": "x\n"}, "change core on main")
    before = refs(repo)
    capsys.readouterr()

    assert wta(repo, "run") == 2

    err = capsys.readouterr().err
    assert err == (
        "wta: error: the base 'main' has commits that conflict with the integration branch"
        " 'wta/integration', in: src/core.py; nothing was started and nothing moved.\n"
        "Merge main into wta/integration yourself and resolve the conflict, for example:\n"
        "  git worktree add ../wta-sync wta/integration && cd ../wta-sync && git merge main\n"
        "then remove that worktree (git worktree remove ../wta-sync) and run wta again\n"
    )
    assert refs(repo) == before
    assert features(capsys, repo)["b"]["state"] == "pending"
    assert wta(repo, "sync") == 2
    assert refs(repo) == before


def test_sync_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    main = git(repo, "rev-parse", "main")

    assert wta(repo, "sync") == 0  # made at the base
    assert capsys.readouterr().out == f"wta/integration is up to date with main ({main[:10]})\n"

    fix = commit(repo, {"fix.txt": "fixed\n"}, "fix")
    assert wta(repo, "sync") == 0  # nothing of wta's on it yet: a fast-forward
    assert capsys.readouterr().out == f"wta/integration: fast-forwarded to main ({fix[:10]})\n"
    assert git(repo, "rev-parse", "wta/integration") == fix

    assert wta(repo, "run") == 0
    merged_a = git(repo, "rev-parse", "wta/integration")
    fix2 = commit(repo, {"fix2.txt": "fixed\n"}, "fix 2")
    capsys.readouterr()
    assert wta(repo, "sync", "--json") == 0
    head = git(repo, "rev-parse", "wta/integration")
    assert json.loads(capsys.readouterr().out) == {
        "schema": 1,
        "command": "sync",
        "status": "success",
        "exit_code": 0,
        "data": {
            "integration": {
                "branch": "wta/integration",
                "base": "main",
                "base_commit": fix2,
                "head": head,
            },
            "old_head": merged_a,
            "how": "merge",
        },
        "errors": [],
    }
    assert git(repo, "rev-list", "--parents", "-n", "1", head).split() == [head, merged_a, fix2]
    assert git(repo, "status", "--porcelain") == ""  # the user's checkout: untouched
    assert git(repo, "symbolic-ref", "HEAD") == "refs/heads/main"


def test_switching_branches_does_not_merge_the_new_branch_into_integration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no [run] base, the base is the branch checked out: a run from another branch
    stops rather than merge that branch into integration, until the plan names it."""
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"})]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run", "--only", "a") == 0
    git(repo, "switch", "--quiet", "-c", "topic")
    topic = commit(repo, {"wip.txt": "half done\n"}, "work in progress")
    before = refs(repo)
    capsys.readouterr()

    assert wta(repo, "run") == 2
    assert wta(repo, "sync") == 2

    message = (
        "wta: error: the integration branch 'wta/integration' was built on 'main', and the"
        " current branch 'topic' has commits it lacks; nothing was started and nothing moved.\n"
        "Check out main and run again, or, to bring topic into wta/integration, set"
        ' base = "topic" under [run] in wta.toml\n'
    )
    assert capsys.readouterr().err == message * 2
    assert refs(repo) == before
    assert features(capsys, repo)["b"]["state"] == "pending"

    # a branch integration already holds moves nothing: no reason to stop
    git(repo, "switch", "--quiet", "-c", "side", "main")
    assert wta(repo, "sync") == 0
    # the plan naming the branch is the user's say-so
    git(repo, "switch", "--quiet", "topic")
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text('[run]\nbase = "topic"\n' + plan.read_text())
    assert wta(repo, "run") == 0
    assert git(repo, "merge-base", "--is-ancestor", topic, "wta/integration") == ""
