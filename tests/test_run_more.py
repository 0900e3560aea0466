"""More of `wta run`: the lock, --no-merge stacking, guardrails, verify and retries with
feedback, the command backend, no_changes, clean, and a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, git
from runutil import Spec, plan_repo, start_run, wta

from worktree_agents.lock import RunLock

BASE = {"README.md": "# sample\n", "src/core.py": "VALUE = 1\n"}


def features(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, dict[str, object]]:
    capsys.readouterr()
    assert wta(repo, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)["data"]
    return {f["id"]: f for f in data["features"]}


def test_a_second_run_is_refused_while_the_lock_is_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)

    with RunLock(repo / ".git" / "wta"):
        holder = json.loads((repo / ".git" / "wta" / "run.lock").read_text())
        capsys.readouterr()
        assert wta(repo, "run") == 2
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["started_at"]))
        assert capsys.readouterr() == (
            "",
            f"wta: error: another wta run holds this repository (pid {os.getpid()} on"
            f" {holder['host']}, started {started}); wait for it to finish, or stop it;"
            " `wta status` works meanwhile\n",
        )
        assert wta(repo, "status") == 0  # status works during a run
    assert git(repo, "branch", "--list", "wta/*") == ""


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


def test_guardrail_protected_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [Spec("sneaky", {".github/workflows/ci.yml": "on: push\n", "x.txt": "x\n"})]
    settings = '[guardrails]\nmax_attempts = 1\nprotected_paths = [".github/**"]\n'
    repo = plan_repo(tmp_path, specs, BASE, settings)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["sneaky"]
    assert (got["state"], got["reason"], got["detail"]) == (
        "failed",
        "guardrail",
        "changed a protected path: .github/workflows/ci.yml (matches '.github/**')",
    )
    assert git(repo, "rev-parse", "wta/integration") == git(repo, "rev-parse", "main")


def test_verify_failure_is_retried_with_feedback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # attempt 1 writes a value the acceptance check rejects; attempt 2 gets it right
    check = "grep -q good answer.txt || (echo answer is not good; exit 3)"
    specs = [
        Spec(
            "answer",
            {"answer.txt": "bad\n"},
            acceptance=[check],
            attempt_changes={2: {"answer.txt": "good\n"}},
        )
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 2\n")

    assert wta(repo, "run") == 0

    got = features(capsys, repo)["answer"]
    assert (got["state"], got["attempts"]) == ("merged", 2)
    prompt = (repo / ".git" / "wta" / "attempts" / "answer" / "2" / "prompt.md").read_text()
    assert prompt.split("A previous attempt at this feature failed. What went wrong:\n\n")[1] == (
        f"The check `{check}` failed with exit code 3. The end of its output:\nanswer is not good\n"
    )
    # the failed attempt's commit is kept under refs/wta/attempts
    assert git(repo, "show", "refs/wta/attempts/answer/1:answer.txt") == "bad"
    assert git(repo, "show", "wta/integration:answer.txt") == "good"


AGENT = """\
import json, os, pathlib, sys
feature = os.environ["WTA_FEATURE_ID"]
if feature != "lazy":
    pathlib.Path(f"{feature}.json").write_text(json.dumps({
        "argv": sys.argv[1:],
        "prompt_first_line": open(os.environ["WTA_PROMPT_FILE"]).readline().rstrip(),
        "attempt": os.environ["WTA_ATTEMPT"],
    }, sort_keys=True) + "\\n")
print("agent done for", feature)
"""


def command_repo(tmp_path: Path, specs: list[Spec]) -> Path:
    repo = plan_repo(tmp_path, specs, BASE)
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    plan = tmp_path / "plan" / "wta.toml"
    text = plan.read_text().replace(
        'backend = "patch"',
        'backend = "command"\n'
        f'command = ["{sys.executable}", "{script}", "--id", "{{feature_id}}"]',
    )
    plan.write_text("\n".join(line for line in text.splitlines() if not line.startswith("dir =")))
    return repo


def test_command_backend_and_no_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = command_repo(tmp_path, [Spec("hello", {}), Spec("lazy", {})])

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    assert (got["hello"]["state"], got["lazy"]["state"], got["lazy"]["reason"]) == (
        "merged",
        "failed",
        "no_changes",
    )
    assert json.loads(git(repo, "show", "wta/integration:hello.json")) == {
        "argv": ["--id", "hello"],
        "prompt_first_line": "# Feature hello: hello",
        "attempt": "1",
    }
    log = (repo / ".git" / "wta" / "attempts" / "hello" / "1" / "log.txt").read_text()
    assert log.splitlines()[-1] == "agent done for hello"


def test_clean_removes_finished_worktrees_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("ok", {"ok.txt": "ok\n"}),
        Spec("bad", {"bad.txt": "bad\n"}, acceptance=["false"]),
        Spec("after-bad", {"after.txt": "x\n"}, depends_on=["bad"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    root = tmp_path / "repo.wta"
    assert sorted(p.name for p in root.iterdir()) == ["bad", "ok"]
    capsys.readouterr()

    (root / "ok" / "build.out").write_text("untracked build output\n")
    assert wta(repo, "clean") == 0
    assert capsys.readouterr().out == "removed 1 worktree: ok\n"
    assert sorted(p.name for p in root.iterdir()) == ["bad"]
    (root / "bad" / "bad.txt").write_text("a person's edit\n")  # a tracked change
    assert wta(repo, "clean", "--all") == 0
    assert capsys.readouterr().out == (
        "removed 0 worktrees\n"
        "kept 1 with changes to tracked files: bad; pass --force to remove them anyway\n"
    )
    assert wta(repo, "clean", "--all", "--force") == 0
    assert capsys.readouterr().out == "removed 1 worktree: bad\n"
    assert list(root.iterdir()) == []
    # branches are kept
    assert git(repo, "branch", "--list", "wta/*", "--format=%(refname:short)").split() == [
        "wta/bad", "wta/integration", "wta/ok",
    ]  # fmt: skip


def test_a_run_killed_with_sigkill_finishes_on_the_next_run(tmp_path: Path) -> None:
    slow = Spec("slow", {"slow.txt": "slow\n"}, acceptance=["sleep 30"])
    specs = [Spec(f"f{i}", {f"f{i}.txt": f"{i}\n"}) for i in range(4)] + [slow]
    repo = plan_repo(tmp_path, specs, BASE, "[run]\nmax_parallel = 5\n")
    plan = tmp_path / "plan" / "wta.toml"
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    proc = start_run(repo, new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the four quick ones merged
        merged = subprocess.run(
            ["git", "log", "--format=%(trailers:key=Wta-Feature)", "wta/integration", "--"],
            cwd=repo, env=env, capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        if len([line for line in merged.splitlines() if line.strip()]) == 4:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # wta and the sleeping check, at once
    proc.wait()
    # the slow feature's acceptance check would take 30 s: make it quick for the rerun
    plan.write_text(plan.read_text().replace("'sleep 30'", "'true'"))

    assert wta(repo, "run") == 0

    trailers = git(repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "wta/integration")
    assert sorted(trailers.split()) == ["f0", "f1", "f2", "f3", "slow"]  # each merged once
    assert git(repo, "show", "wta/integration:slow.txt") == "slow"


def test_after_merge_verification_rejects_a_bad_combination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # each feature passes on its own; together they break the (made-up) invariant
    check = "test ! -f left.txt -o ! -f right.txt"
    specs = [
        Spec("left", {"left.txt": "l\n"}),
        Spec("right", {"right.txt": "r\n"}, acceptance=["sleep 0.5"]),  # merges second
    ]
    settings = (
        f"[verify]\ncommands = ['{check}']\nafter_merge = true\n[guardrails]\nmax_attempts = 1\n"
    )
    repo = plan_repo(tmp_path, specs, BASE, settings)

    assert wta(repo, "run") == 1

    got = features(capsys, repo)
    assert (got["left"]["state"], got["right"]["state"], got["right"]["reason"]) == (
        "merged",
        "failed",
        "merge_verify_failed",
    )
    assert got["right"]["detail"] == f"on the merged result: `{check}` exited 1"
    worktree = tmp_path / "repo.wta" / "right"  # back on its branch, at the feature's commit
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD") == "wta/right"
    assert git(repo, "rev-parse", "wta/integration") == got["left"]["commit"]


COMMITTING_AGENT = """\
import os, subprocess
def run(*a): subprocess.run(a, check=True)
open("first.txt", "w").write("first\\n"); run("git", "add", "first.txt")
run("git", "commit", "-qm", "Agent's first commit")
open("second.txt", "w").write("second\\n"); run("git", "add", "second.txt")
run("git", "commit", "-qm", "Agent's second commit")
open("leftover.txt", "w").write("left over\\n")
"""


def test_rebase_mode_keeps_the_agents_commits(tmp_path: Path) -> None:
    repo = command_repo(tmp_path, [Spec("work", {})])
    (tmp_path / "agent.py").write_text(COMMITTING_AGENT)
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text('[run]\nmerge = "rebase"\n' + plan.read_text())

    assert wta(repo, "run") == 0

    log = git(
        repo, "log", "--format=%s|%(trailers:key=Wta-Feature,valueonly)", "main..wta/integration"
    )
    assert [line for line in log.splitlines() if line] == [
        "work|work",  # wta's commit of what the agent left uncommitted, titled by the feature
        "Agent's second commit|work",
        "Agent's first commit|work",
    ]
    assert git(repo, "show", "wta/integration:leftover.txt") == "left over"


def test_circuit_breaker_stops_new_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec(f"bad{i}", {f"b{i}.txt": "x\n"}, acceptance=["false"]) for i in range(2)]
    specs.append(Spec("later", {"later.txt": "x\n"}, depends_on=["bad0"]))
    specs.append(Spec("good", {"good.txt": "x\n"}, depends_on=["bad1"]))
    specs.append(Spec("slow", {"slow.txt": "x\n"}, acceptance=["sleep 1"]))
    specs.append(Spec("free", {"free.txt": "x\n"}, depends_on=["slow"]))
    settings = "[run]\nmax_parallel = 3\n[guardrails]\nmax_attempts = 1\nstop_after_failures = 2\n"
    repo = plan_repo(tmp_path, specs, BASE, settings)
    capsys.readouterr()

    assert wta(repo, "run", "--json") == 1

    data = json.loads(capsys.readouterr().out)["data"]
    states = {f["id"]: f["state"] for f in data["features"]}
    assert states == {
        "bad0": "failed",
        "bad1": "failed",
        "later": "skipped",
        "good": "skipped",
        "slow": "merged",
        "free": "ready",
    }
    assert (data["not_started"], data["stopped_by"]) == (["free"], "stop_after_failures")


def test_a_merge_recorded_only_on_the_branch_is_not_merged_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from worktree_agents.domain import FeatureId, FeatureState
    from worktree_agents.store import Store

    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"})], BASE)
    assert wta(repo, "run") == 0
    head = git(repo, "rev-parse", "wta/integration")
    # as if the run died after moving the integration ref but before recording the merge
    with Store.open(repo / ".git" / "wta") as store:
        store.set_state(FeatureId("a"), FeatureState.INTEGRATING)

    assert wta(repo, "run") == 0

    got = features(capsys, repo)["a"]
    assert (got["state"], got["detail"], got["attempts"]) == (
        "merged",
        "found on the integration branch after an interrupted run",
        1,
    )
    assert git(repo, "rev-parse", "wta/integration") == head


def test_an_unknown_existing_feature_branch_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    git(repo, "branch", "wta/a")  # somebody's own branch under the prefix
    tip = git(repo, "rev-parse", "wta/a")
    capsys.readouterr()

    assert wta(repo, "run") == 2

    assert capsys.readouterr().err == (
        "wta: error: wta/a already exists, but wta has no record of making it; rename or"
        " delete it (git branch -m / -D) so wta does not overwrite it\n"
    )
    assert git(repo, "rev-parse", "wta/a") == tip
    assert git(repo, "branch", "--list", "wta/*", "--format=%(refname:short)") == "wta/a"


def test_lost_state_is_rebuilt_from_the_integration_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, depends_on=["a"])]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run") == 0
    head = git(repo, "rev-parse", "wta/integration")
    shutil.rmtree(repo / ".git" / "wta")

    assert wta(repo, "run") == 0

    got = features(capsys, repo)
    assert {f: (v["state"], v["detail"], v["attempts"]) for f, v in got.items()} == {
        fid: ("merged", "found on the integration branch (the state had no record of it)", 0)
        for fid in ("a", "b")
    }
    assert git(repo, "rev-parse", "wta/integration") == head


@pytest.mark.parametrize(
    ("args", "profiles"),
    [
        ([], {"api": "default", "guide": "writer"}),  # routing by category
        (["--profile", "writer"], {"api": "writer", "guide": "writer"}),  # one profile for all
    ],
)
def test_routing_and_profile_override(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    profiles: dict[str, str],
) -> None:
    repo = command_repo(tmp_path, [Spec("api", {}), Spec("guide", {})])
    plan = tmp_path / "plan" / "wta.toml"
    text = plan.read_text().replace('id = "guide"', 'id = "guide"\ncategory = "docs"')
    script = tmp_path / "agent.py"
    plan.write_text(
        text + f'\n[agents.writer]\nbackend = "command"\ncommand = ["{sys.executable}", "{script}",'
        ' "--writer"]\n\n[routing]\ndocs = "writer"\n'
    )

    assert wta(repo, "run", *args) == 0

    assert {f: v["profile"] for f, v in features(capsys, repo).items()} == profiles
    ran = {
        fid: json.loads(git(repo, "show", f"wta/integration:{fid}.json"))["argv"]
        for fid in profiles
    }
    expected = {"default": ["--id", "{fid}"], "writer": ["--writer"]}
    assert ran == {
        fid: [a.replace("{fid}", fid) for a in expected[p]] for fid, p in profiles.items()
    }


def test_logs_print_the_events_and_a_features_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    capsys.readouterr()

    assert wta(repo, "logs") == 0
    lines = [line.split(" ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    head = git(repo, "rev-parse", "wta/integration")
    worktree = tmp_path / "repo.wta" / "a"
    base = git(repo, "rev-parse", "main")
    assert (
        lines[1:]
        == [
            f"a: worktree {worktree} on wta/a at {base[:10]}",
            "a: attempt 1 started (patch, profile default)",
            lines[3],  # the agent's time varies
            f"a: merged as {head[:10]}",
            lines[5],
        ]
    )
    assert lines[0].startswith("run ") and lines[0].endswith(": 1 features, 3 slots")
    assert lines[3].startswith("a: agent finished in ")
    assert lines[5].startswith("run finished (success): 1 merged, 0 failed, 0 skipped in ")

    assert wta(repo, "logs", "a") == 0
    patch = tmp_path / "plan" / "patches" / "a.patch"
    assert capsys.readouterr().out.splitlines() == [f"[wta] a attempt 1: git apply {patch}"]


def test_an_agent_that_leaves_its_branch_fails_the_guardrail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = command_repo(tmp_path, [Spec("wander", {})])
    (tmp_path / "agent.py").write_text(
        "import subprocess\n"
        "def run(*a): subprocess.run(a, check=True)\n"
        "run('git', 'switch', '-q', '-c', 'side')\n"
        "open('a.txt', 'w').write('a\\n')\n"
        "run('git', 'add', '-A')\n"
        "run('git', 'commit', '-qm', 'w')\n"
    )
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text("[guardrails]\nmax_attempts = 1\n" + plan.read_text())

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["wander"]
    assert (got["state"], got["reason"], got["detail"]) == (
        "failed",
        "guardrail",
        "the agent left the branch wta/wander (the worktree is on side)",
    )
    assert git(repo, "rev-parse", "wta/integration") == git(repo, "rev-parse", "main")


def test_a_check_that_commits_does_not_merge_the_feature_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}, acceptance=["git commit -q --allow-empty -m x"])]
    repo = plan_repo(tmp_path, specs, BASE)

    assert wta(repo, "run") == 0

    got = features(capsys, repo)["a"]
    assert (got["state"], got["attempts"]) == ("merged", 1)
    trailers = git(repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "wta/integration")
    assert trailers.split() == ["a"]


def test_lost_state_and_a_deleted_branch_do_not_merge_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    assert wta(repo, "clean") == 0
    git(repo, "branch", "-D", "wta/a")
    shutil.rmtree(repo / ".git" / "wta")
    head = git(repo, "rev-parse", "wta/integration")

    assert wta(repo, "run") == 0

    assert features(capsys, repo)["a"]["state"] == "merged"
    assert git(repo, "rev-parse", "wta/integration") == head


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


def test_clean_removes_a_detached_feature_worktree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(repo, "run") == 0
    worktree = tmp_path / "repo.wta" / "a"
    git(worktree, "checkout", "--quiet", "--detach")  # as an interrupted step can leave it
    capsys.readouterr()

    assert wta(repo, "clean") == 0

    assert capsys.readouterr().out == "removed 1 worktree: a\n"
    assert not worktree.exists()


STALE_AGENT = """\
import os, time
if os.environ["WTA_ATTEMPT"] == "1":  # the run is killed while this sleeps
    time.sleep(4)
    open("stale.txt", "w").write("from the killed run\\n")
else:
    open("fresh.txt", "w").write("from the new run\\n")
"""


def test_agents_of_a_killed_run_are_stopped_before_the_feature_restarts(tmp_path: Path) -> None:
    repo = command_repo(tmp_path, [Spec("a", {})])
    (tmp_path / "agent.py").write_text(STALE_AGENT)
    proc = start_run(repo)
    record = repo / ".git" / "wta" / "attempts" / "a" / "1" / "processes"
    deadline = time.monotonic() + 30
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # wta only: its agent lives on in its own session
    proc.wait()
    agent = int(record.read_text().split()[0])
    os.kill(agent, 0)  # still running

    assert wta(repo, "run") == 0

    time.sleep(4.5)  # when the stale agent would have written
    with pytest.raises(ProcessLookupError):
        os.kill(agent, 0)
    assert git(repo, "ls-tree", "--name-only", "wta/integration").split() == [
        "README.md",
        "fresh.txt",
        "src",
    ]
    assert not (tmp_path / "repo.wta" / "a" / "stale.txt").exists()


def test_retry_keeps_a_persons_work_on_the_feature_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}, acceptance=["test -f fixed.txt"])]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nmax_attempts = 1\n")
    assert wta(repo, "run") == 1
    worktree = tmp_path / "repo.wta" / "a"
    (worktree / "mine.txt").write_text("a person's commit\n")
    git(worktree, "add", "mine.txt")
    git(worktree, "commit", "-qm", "my fix")
    mine = git(worktree, "rev-parse", "HEAD")
    (worktree / "edit.txt").write_text("an uncommitted edit\n")

    assert wta(repo, "run", "--retry-failed") == 1

    saved = "refs/wta/saved/a/2"
    assert git(repo, "rev-parse", f"{saved}~1") == mine
    assert git(repo, "show", f"{saved}:edit.txt") == "an uncommitted edit"
    events = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    kinds = [json.loads(line)["kind"] for path in events for line in path.read_text().splitlines()]
    assert kinds.count("work_saved") == 1


def test_an_agent_that_pops_the_users_stash_is_stopped_and_the_stash_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = command_repo(tmp_path, [Spec("thief", {})])
    (tmp_path / "agent.py").write_text(
        "import subprocess\n"
        "subprocess.run(['git', 'stash', 'pop'], check=True)\n"
        "open('x.txt', 'w').write('x\\n')\n"
    )
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text("[guardrails]\nmax_attempts = 1\n" + plan.read_text())
    (repo / "README.md").write_text("my work in progress\n")
    git(repo, "stash", "push", "-q", "-m", "my wip")
    before = git(repo, "stash", "list", "--format=%H %gs")

    assert wta(repo, "run") == 1

    got = features(capsys, repo)["thief"]
    assert (got["reason"], got["detail"]) == (
        "guardrail",
        "the agent changed the stash, which your checkout shares; wta put back 1 entry it had"
        " removed",
    )
    assert git(repo, "stash", "list", "--format=%H %gs") == before
    assert git(repo, "rev-parse", "wta/integration") == git(repo, "rev-parse", "main")


def test_logs_follow_prints_until_the_run_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}, acceptance=["sleep 2"])], BASE)
    proc = start_run(repo)
    runs = repo / ".git" / "wta" / "runs"
    deadline = time.monotonic() + 30
    while not (runs.exists() and any(runs.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    capsys.readouterr()

    assert wta(repo, "logs", "--follow") == 0  # returns once the run has ended

    assert proc.wait(timeout=30) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split(" ", 1)[1].startswith("run finished (success): 1 merged")
