"""The fence in whole runs: one hostile `command` agent next to a normal feature, per rule.

Each test checks that the hostile feature failed with the right reason and detail, that the
normal feature merged, and that the user's repository is as it was: HEAD, index, status,
stash, refs outside wta's namespaces, config, hooks and the remote's refs, or the damage is
named where the fence can only report it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, command_repo, features, wta

SCRIPT = """\
import os, pathlib, subprocess
feature = os.environ["WTA_FEATURE_ID"]
pathlib.Path(feature + ".txt").write_text(feature + "\\n")
if feature == "evil" and os.environ["WTA_ATTEMPT"] == "1":
    subprocess.run(["sh", "-c", {snippet!r}])
"""


WTA_NAMESPACES = ("refs/heads/wta/", "refs/wta/")


@dataclass(frozen=True)
class User:
    """The user's repository, its bare remote, and commits the tests name."""

    repo: Path
    remote: Path
    main: str  # main's tip
    topic: str  # the tip of the user's branch `topic`, not on main


def setup(tmp_path: Path, snippet: str, *, attempts: int = 1) -> User:
    settings = f"[run]\nmax_parallel = 1\n\n[guardrails]\nmax_attempts = {attempts}\n"
    specs = [Spec("good", {}), Spec("evil", {}, depends_on=("good",))]
    repo = command_repo(tmp_path, specs, settings=settings)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q", "origin")
    git(repo, "switch", "-q", "-c", "topic")
    (repo / "topic.txt").write_text("topic\n")
    git(repo, "add", "topic.txt")
    git(repo, "commit", "-qm", "topic")
    git(repo, "switch", "-q", "main")
    git(repo, "tag", "v1")
    (repo / "README.md").write_text("my own edit\n")
    git(repo, "stash", "push", "-q", "-m", "my wip")
    (repo / "notes.txt").write_text("untracked, mine\n")
    user = User(repo, remote, git(repo, "rev-parse", "main"), git(repo, "rev-parse", "topic"))
    script = SCRIPT.format(snippet=snippet.format(main=user.main, topic=user.topic))
    (tmp_path / "agent.py").write_text(script)
    return user


def snapshot(user: User) -> dict[str, object]:
    repo, git_dir = user.repo, user.repo / ".git"
    refs = git(repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
    hooks = sorted((p.name, p.read_bytes()) for p in (git_dir / "hooks").iterdir())
    return {
        "HEAD": git(repo, "symbolic-ref", "HEAD") + " " + git(repo, "rev-parse", "HEAD"),
        "index": git(repo, "ls-files", "--stage"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "refs": [r for r in refs if not r.split(" ")[1].startswith(WTA_NAMESPACES)],
        "config": (git_dir / "config").read_bytes(),
        "hooks": hooks,
        "remote": git(user.remote, "for-each-ref", "--format=%(objectname) %(refname)"),
    }


def outcome(capsys: pytest.CaptureFixture[str], user: User) -> tuple[object, ...]:
    got = features(capsys, user.repo)
    evil = got["evil"]
    return got["good"]["state"], evil["state"], evil["reason"], evil["detail"]


def short(sha: str) -> str:
    return sha[:12]


REFUSED = [
    pytest.param(
        "git update-ref refs/heads/main {topic}",
        "move refs/heads/main from {main} to {topic}",
        id="moves main",
    ),
    pytest.param(
        "git update-ref refs/heads/topic {main}",
        "move refs/heads/topic from {topic} to {main}",
        id="moves another branch",
    ),
    pytest.param(
        "git branch -D topic", "delete refs/heads/topic (at {topic})", id="deletes a branch"
    ),
    pytest.param("git tag v9 {topic}", "create refs/tags/v9 at {topic}", id="creates a tag"),
    pytest.param(
        "git tag -f v1 {topic}", "move refs/tags/v1 from {main} to {topic}", id="moves a tag"
    ),
    pytest.param(
        "git update-ref refs/remotes/origin/main {topic}",
        "move refs/remotes/origin/main from {main} to {topic}",
        id="moves a remote-tracking ref",
    ),
    pytest.param(
        "git checkout -q -b side && git commit -qm side --allow-empty",
        "create refs/heads/side at {base}",
        id="makes a branch of its own",
    ),
]


@pytest.mark.parametrize(("snippet", "named"), REFUSED)
def test_a_ref_outside_the_feature_is_refused_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], snippet: str, named: str
) -> None:
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    base = git(user.repo, "rev-parse", "wta/integration")  # good's merge: evil's base
    names = {"main": short(user.main), "topic": short(user.topic), "base": short(base)}
    detail = f"the agent's git tried to {named.format(**names)}; git refused"
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


@pytest.mark.parametrize("ref", ["wta/good", "wta/integration"])
def test_wtas_own_branches_are_refused_to_an_agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str
) -> None:
    user = setup(tmp_path, f"git update-ref refs/heads/{ref} {{topic}}")
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    merged = git(user.repo, "rev-parse", "wta/integration")
    assert git(user.repo, "rev-parse", "wta/good") == merged
    detail = (
        f"the agent's git tried to move refs/heads/{ref} from {short(merged)} to"
        f" {short(user.topic)}; git refused"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_the_integration_branch_moved_past_the_hook_is_put_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = "git -c core.hooksPath=/dev/null update-ref refs/heads/wta/integration {topic}"
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    merged = git(user.repo, "rev-parse", "wta/integration")
    assert git(user.repo, "log", "--format=%s", "wta/integration") == "good\ninitial commit"
    detail = (
        f"refs/heads/wta/integration was moved from {short(merged)} to {short(user.topic)}"
        " while the agent ran; wta put it back"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_a_branch_moved_onto_the_agents_work_past_the_hook_is_put_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = (
        "git add -A && git commit -qm mine"
        " && git -c core.hooksPath=/dev/null update-ref refs/heads/main HEAD"
        " && git -c core.hooksPath=/dev/null update-ref refs/heads/wta/good HEAD"
        " && git -c core.hooksPath=/dev/null tag v9"
    )
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    mine, good = git(user.repo, "rev-parse", "wta/evil"), git(user.repo, "rev-parse", "wta/good")
    assert good == git(user.repo, "rev-parse", "wta/integration")  # good's own commit again
    detail = (
        f"the agent moved refs/heads/main from {short(user.main)} to {short(mine)},"
        f" moved refs/heads/wta/good from {short(good)} to {short(mine)},"
        f" created refs/tags/v9 at {short(mine)}; wta put them back"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_an_agents_push_does_not_reach_the_remote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = (
        "git add -A && git commit -qm mine"
        " && ! git push -q origin HEAD:refs/heads/evil && ! git push -q origin HEAD:main"
        " && ! git push -q {remote} HEAD:main && touch pushes-failed"
    )
    user = setup(tmp_path, snippet.replace("{remote}", str(tmp_path / "remote.git")))
    before = snapshot(user)

    assert wta(user.repo, "run") == 0

    assert outcome(capsys, user) == ("merged", "merged", None, None)
    assert git(user.repo, "show", "wta/integration:pushes-failed") == ""
    assert snapshot(user) == before


def test_a_push_that_gets_through_fails_the_attempt_and_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = (
        "git add -A && git commit -qm mine && env -u GIT_CONFIG_COUNT git push -q origin HEAD:main"
    )
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    mine = git(user.repo, "rev-parse", "wta/evil")
    detail = (
        f"the agent moved refs/remotes/origin/main from {short(user.main)} to {short(mine)}"
        " (a push reached the remote); wta put them back"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    after = snapshot(user)
    assert git(user.remote, "rev-parse", "main") == mine  # what only the remote can undo
    assert {**after, "remote": before["remote"]} == before


def test_an_agents_stash_push_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = setup(tmp_path, "echo changed > README.md && git stash push -q")
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    detail = "the agent's git tried to add to the stash, which your checkout shares; git refused"
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_an_agents_stash_entry_made_past_the_hook_is_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = "echo changed > README.md && git -c core.hooksPath=/dev/null stash push -q"
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    detail = (
        "the agent changed the stash, which your checkout shares; wta dropped 1 entry it had added"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_history_rewritten_below_the_base_fails_guardrail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = 'git reset -q --hard "$(git commit-tree HEAD^{{tree}} -m unrelated)"'
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    base = git(user.repo, "rev-parse", "wta/integration")
    tip = git(user.repo, "rev-parse", "wta/evil")
    detail = (
        f"the branch wta/evil no longer descends from its base {short(base)}"
        f" (it is at {short(tip)})"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_a_deleted_worktree_fails_guardrail_and_the_retry_and_clean_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = setup(tmp_path, 'rm -rf "$WTA_WORKTREE"', attempts=2)
    before = snapshot(user)

    assert wta(user.repo, "run") == 0

    got = features(capsys, user.repo)
    assert (got["good"]["state"], got["evil"]["state"], got["evil"]["attempts"]) == (
        "merged",
        "merged",
        2,
    )
    assert snapshot(user) == before
    events = (user.repo / ".git" / "wta" / "runs").glob("*.jsonl")
    tripped = [line for f in events for line in f.read_text().splitlines() if "tripped" in line]
    worktree = tmp_path / "repo.wta" / "evil"
    detail = f"the agent deleted or broke its worktree {worktree}; wta pruned it"
    assert [line.split('"detail":')[1].split('"')[1] for line in tripped] == [detail]
    prompt = user.repo / ".git" / "wta" / "attempts" / "evil" / "2" / "prompt.md"
    feedback = prompt.read_text().split("What went wrong:\n\n")[1].split("\n")[0]
    assert feedback == f"{detail}. Never remove your worktree."
    assert wta(user.repo, "clean") == 0
    assert git(user.repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_refs_moved_through_the_users_checkout_are_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = setup(tmp_path, 'git -C "$WTA_USER_REPO" update-ref refs/heads/topic {main}')
    before = snapshot(user)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("WTA_USER_REPO", str(user.repo))
        assert wta(user.repo, "run") == 1

    detail = (
        f"the agent's git tried to move refs/heads/topic from {short(user.topic)} to"
        f" {short(user.main)}; git refused"
    )
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert snapshot(user) == before


def test_a_repository_the_agent_makes_inside_its_worktree_is_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = (
        "mkdir inner && cd inner && git init -q && echo x > f && git add f"
        " && git -c user.name=a -c user.email=a@b commit -qm inner && git tag v1"
    )
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 0

    assert outcome(capsys, user) == ("merged", "merged", None, None)
    assert snapshot(user) == before


def test_locks_left_by_a_killed_git_are_cleared_and_the_feature_merges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snippet = (
        'touch "$(git rev-parse --git-dir)/index.lock"'
        ' "$(git rev-parse --git-common-dir)/refs/heads/wta/evil.lock"'
    )
    user = setup(tmp_path, snippet)
    before = snapshot(user)

    assert wta(user.repo, "run") == 0

    assert outcome(capsys, user) == ("merged", "merged", None, None)
    log = user.repo / ".git" / "wta" / "attempts" / "evil" / "1" / "log.txt"
    notes = [line for line in log.read_text().splitlines() if line.startswith("[wta] removed")]
    git_dir = user.repo / ".git"
    # evil took over good's worktree (reuse_worktrees): its admin dir keeps good's name
    admin = git(tmp_path / "repo.wta" / "evil", "rev-parse", "--absolute-git-dir")
    assert notes == [
        f"[wta] removed {admin}/index.lock, left by the agent's git",
        f"[wta] removed {git_dir}/refs/heads/wta/evil.lock, left by the agent's git",
    ]
    assert snapshot(user) == before


def test_a_broken_worktree_git_file_fails_guardrail_and_is_discarded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = setup(tmp_path, "echo 'gitdir: /nonexistent' > .git")
    before = snapshot(user)

    assert wta(user.repo, "run") == 1

    worktree = tmp_path / "repo.wta" / "evil"
    detail = f"the agent deleted or broke its worktree {worktree}; wta pruned it"
    assert outcome(capsys, user) == ("merged", "failed", "guardrail", detail)
    assert not worktree.exists()
    assert snapshot(user) == before
