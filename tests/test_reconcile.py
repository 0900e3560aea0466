"""The refs are the truth: runs and `wta status` reconcile the store with them. A merge the
integration branch lost is integrated again (or the feature runs again when nothing of it is
left), a branch a killed run made before recording it is reused, `done = true` features
are merged from the first status on, and a killed run shows as interrupted."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from gitutil import git
from runutil import BASE, Spec, features, plan_repo, start_run, wta

from worktree_agents.reconcile import INTERRUPTED_DETAIL, LOST_DETAIL
from worktree_agents.reintegrate import AGAIN
from worktree_agents.worktrees import BASE_FILE

SPECS = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
    Spec("c", {"c.txt": "c\n"}),
]
TRAILERS = "--format=%(trailers:key=Wta-Feature,valueonly)"


def wta_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(objectname) %(refname)")


def summary(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, tuple[object, ...]]:
    return {
        fid: (f["state"], f["detail"], f["attempts"]) for fid, f in features(capsys, repo).items()
    }


@pytest.mark.parametrize("how", ["deleted", "reset to the base"])
def test_a_lost_integration_branch_is_integrated_again_without_running_agents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    log = tmp_path / "verified.log"
    settings = f'[verify]\ncommands = ["echo $WTA_FEATURE_ID >> {log}"]\n'
    repo = plan_repo(tmp_path, SPECS, BASE, settings)
    assert wta(repo, "run") == 0
    tree = git(repo, "rev-parse", "wta/integration^{tree}")
    if how == "deleted":
        git(repo, "branch", "-D", "wta/integration")
    else:
        git(repo, "update-ref", "refs/heads/wta/integration", "main")
    refs = wta_refs(repo)
    checked = log.read_text()

    # status says what the store's merges are worth now, and moves no ref
    assert summary(capsys, repo) == {f: ("pending", LOST_DETAIL, 1) for f in ("a", "b", "c")}
    assert wta_refs(repo) == refs

    assert wta(repo, "run") == 0

    assert summary(capsys, repo) == {f: ("merged", AGAIN, 1) for f in ("a", "b", "c")}
    assert git(repo, "rev-parse", "wta/integration^{tree}") == tree
    assert sorted(git(repo, "log", TRAILERS, "wta/integration").split()) == ["a", "b", "c"]
    # the after-merge checks ran once more per feature, in topological order, no agent did
    assert log.read_text() == checked + "a\nb\nc\n"
    for fid in ("a", "b", "c"):  # each branch points at its commit on integration
        log_of = git(repo, "log", "-1", TRAILERS, f"wta/{fid}")
        assert (
            log_of,
            git(repo, "merge-base", "--is-ancestor", f"wta/{fid}", "wta/integration"),
        ) == (fid, "")


@pytest.mark.parametrize("mode", ["squash", "rebase"])
def test_a_lost_merge_comes_back_from_its_branch_when_its_attempt_refs_are_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE, f'[run]\nmerge = "{mode}"\n')
    assert wta(repo, "run") == 0
    tree = git(repo, "rev-parse", "wta/integration^{tree}")
    git(repo, "branch", "-D", "wta/integration")
    for ref in git(repo, "for-each-ref", "--format=%(refname)", "refs/wta/attempts").split():
        git(repo, "update-ref", "-d", ref)

    assert wta(repo, "run") == 0

    assert summary(capsys, repo) == {f: ("merged", AGAIN, 1) for f in ("a", "b", "c")}
    assert git(repo, "rev-parse", "wta/integration^{tree}") == tree
    assert sorted(git(repo, "log", TRAILERS, "wta/integration").split()) == ["a", "b", "c"]


def test_a_lost_merge_with_nothing_left_of_its_work_runs_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS[:1], BASE)
    assert wta(repo, "run") == 0
    tree = git(repo, "rev-parse", "wta/integration^{tree}")
    assert wta(repo, "clean") == 0
    git(repo, "branch", "-D", "wta/integration", "wta/a")
    git(repo, "update-ref", "-d", "refs/wta/attempts/a/1")
    assert summary(capsys, repo) == {"a": ("pending", LOST_DETAIL, 1)}

    assert wta(repo, "run") == 0

    assert summary(capsys, repo) == {"a": ("merged", None, 2)}
    assert git(repo, "rev-parse", "wta/integration^{tree}") == tree
    assert git(repo, "log", TRAILERS, "wta/integration") == "a"


def test_a_merge_recorded_with_no_refs_at_all_is_pending_until_its_agent_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from worktree_agents.domain import FeatureId, FeatureState
    from worktree_agents.store import Store

    repo = plan_repo(tmp_path, SPECS[:1], BASE)
    with Store.open(repo / ".git" / "wta") as store:  # merged once, by a run whose refs are gone
        store.sync_features([FeatureId("a")], set())
        store.set_state(FeatureId("a"), FeatureState.MERGED)
    assert summary(capsys, repo) == {"a": ("pending", LOST_DETAIL, 0)}

    assert wta(repo, "run") == 0

    assert summary(capsys, repo) == {"a": ("merged", None, 1)}
    assert git(repo, "log", TRAILERS, "wta/integration") == "a"


def test_a_branch_a_killed_run_made_before_recording_it_is_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from worktree_agents.domain import CommitSha, FeatureId, RunId
    from worktree_agents.store import Store

    repo = plan_repo(tmp_path, SPECS, BASE)
    base = git(repo, "rev-parse", "main")
    # killed after recording the attempt's base, before recording the branch it made
    with Store.open(repo / ".git" / "wta") as store:
        store.sync_features([FeatureId(s.id) for s in SPECS], set())
        store.claim(FeatureId("a"), RunId("killed"), base_commit=CommitSha(base))
    git(repo, "branch", "wta/a", base)
    # and a worktree whose record (`wta-base`) is all there is: the state was lost
    git(repo, "worktree", "add", "--quiet", "-b", "wta/c", str(tmp_path / "repo.wta" / "c"), base)
    (repo / ".git" / "worktrees" / "c" / BASE_FILE).write_text(base + "\n")

    assert wta(repo, "run") == 0

    assert {f: v[0] for f, v in summary(capsys, repo).items()} == dict.fromkeys("abc", "merged")
    assert sorted(git(repo, "log", TRAILERS, "wta/integration").split()) == ["a", "b", "c"]


def test_a_worktree_a_killed_git_worktree_add_left_locked_is_made_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS[:1], BASE)
    base = git(repo, "rev-parse", "main")
    worktree = tmp_path / "repo.wta" / "a"
    git(repo, "worktree", "add", "--quiet", "--no-checkout", "-b", "wta/a", str(worktree), base)
    admin = repo / ".git" / "worktrees" / "a"
    (admin / BASE_FILE).write_text(base + "\n")
    (admin / "locked").write_text("initializing")  # as `git worktree add` leaves it, killed

    assert wta(repo, "run") == 0

    assert summary(capsys, repo) == {"a": ("merged", None, 1)}
    assert wta(repo, "clean") == 0
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_branch_with_someone_elses_work_on_a_recorded_base_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS[:1], BASE)
    git(repo, "worktree", "add", "--quiet", "-b", "wta/a", str(tmp_path / "repo.wta" / "a"))
    (repo / ".git" / "worktrees" / "a" / BASE_FILE).write_text(git(repo, "rev-parse", "main"))
    git(tmp_path / "repo.wta" / "a", "commit", "--quiet", "--allow-empty", "-m", "mine")
    tip = git(repo, "rev-parse", "wta/a")
    capsys.readouterr()

    assert wta(repo, "run") == 2

    assert capsys.readouterr().err == (
        "wta: error: wta/a already exists, but wta has no record of making it; rename or"
        " delete it (git branch -m / -D) so wta does not overwrite it\n"
    )
    assert git(repo, "rev-parse", "wta/a") == tip


def test_a_directory_that_is_not_a_worktree_where_a_feature_goes_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    stale = tmp_path / "repo.wta" / "a"  # left by another clone of the same name, say
    stale.mkdir(parents=True)
    (stale / "notes.txt").write_text("someone's\n")
    (tmp_path / "repo.wta" / "b").mkdir()  # empty: wta may use it
    capsys.readouterr()

    assert wta(repo, "run") == 2

    assert capsys.readouterr().err == (
        f"wta: error: {stale} exists and is not a worktree of {repo}; wta makes each"
        " feature's worktree there and never overwrites what it did not make: move it away"
        " or delete it, then run again\n"
    )
    assert (stale / "notes.txt").read_text() == "someone's\n"
    assert git(repo, "branch", "--list", "wta/*") == ""


def test_done_features_are_merged_from_the_first_status_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}, extra="done = true"), SPECS[1]]
    repo = plan_repo(tmp_path, specs, BASE)

    assert summary(capsys, repo) == {"a": ("merged", "done in plan", 0), "b": ("pending", None, 0)}
    assert wta(repo, "show", "a") == 0
    assert wta(repo, "diff", "a") == 0
    assert capsys.readouterr().out == (
        "a: a\nstate: merged\ndetail: done in plan\n"
        + "a is marked done in the plan (done = true): wta made no change for it\n"
    )
    assert not (repo / ".git" / "wta").exists()  # status, show and diff wrote nothing


def test_status_after_a_killed_run_says_it_was_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("slow", {"s.txt": "s\n"}, acceptance=["sleep 30"])], BASE)
    proc = start_run(repo, new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and features(capsys, repo)["slow"]["state"] != "verifying":
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    capsys.readouterr()

    assert wta(repo, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert wta(repo, "status") == 0

    run_id, head = data["run"]["id"], git(repo, "rev-parse", "wta/integration")[:12]
    assert (data["run"]["status"], data["totals"]["running"]) == ("interrupted", 0)
    assert capsys.readouterr().out == (
        _table(head) + f"run {run_id} was interrupted; `wta run` resumes it\n"
    )
    assert data["features"][0]["detail"] == INTERRUPTED_DETAIL


def _table(head: str) -> str:
    return (
        "FEATURE  STATE    REASON  BRANCH    TRIES  COST   TIME\n"
        "slow     pending  -       wta/slow  1      $0.00  -\n"
        "\n"
        "0 merged, 0 failed, 0 skipped, 1 pending of 1; cost $0.00;"
        f" integration wta/integration at {head}\n"
    )
