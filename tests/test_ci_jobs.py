"""Beyond one machine: every feature as its own `wta run-feature` job, the way GitHub
Actions schedules the job graph, with a bare repository as the only shared state; then
`wta merge --push`. Three clones act as three machines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, git
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.dag import waves
from worktree_agents.git import GitRepo
from worktree_agents.plan_load import load_plan
from worktree_agents.remote_state import FeatureResult, publish_result

SPECS = [
    Spec("core", {"src/core.py": "VALUE = 1\nCORE = True\n"}),
    Spec("left", {"left.txt": "left\n"}, depends_on=["core"]),
    Spec("right", {"right.txt": "right\n"}, depends_on=["core"]),
    Spec("top", {"top.txt": "top\n"}, depends_on=["left", "right"]),  # a diamond
    Spec("one", {"one.txt": "1\n"}),
    Spec("two", {"one.txt": "1\n2\n"}, depends_on=["one"]),  # a chain
    Spec("solo", {"solo.txt": "solo\n"}),
]
TRAILERS = "--format=%(trailers:key=Wta-Feature,valueonly,separator=)"


def machines(tmp_path: Path, specs: list[Spec], count: int = 3) -> tuple[Path, list[Path]]:
    """The bare remote made from a planned repository, and `count` clones of it."""
    repo = plan_repo(tmp_path, specs, BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(remote))
    clones = []
    for n in range(count):
        clone = tmp_path / f"machine{n}" / "repo"
        git(tmp_path, "clone", "--quiet", str(remote), str(clone))
        (clone.parent / "plan").symlink_to(tmp_path / "plan")  # wta() finds it beside
        clones.append(clone)
    return remote, clones


def single_machine_tree(tmp_path: Path, specs: list[Spec]) -> str:
    repo = plan_repo(tmp_path / "single", specs, BASE)
    assert wta(repo, "run") == 0
    return git(repo, "rev-parse", "wta/integration^{tree}")


def run_job(clone: Path, feature: str, holder: str) -> subprocess.CompletedProcess[str]:
    """`wta run-feature` as a CI job would: its own process, its own GITHUB_RUN_ID."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    env["GITHUB_RUN_ID"] = holder
    plan = clone.parent / "plan" / "wta.toml"
    argv = [sys.executable, "-m", "worktree_agents.cli", "run-feature", feature]
    argv += ["--push", "origin", "--plan", str(plan)]
    return subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, check=False)


def test_three_machines_then_merge_make_what_one_machine_makes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote, clones = machines(tmp_path, SPECS)
    plan = load_plan(tmp_path / "plan" / "wta.toml").plan
    jobs = 0
    for wave in waves(plan.graph):  # a job starts once its dependencies' jobs finished
        for feature in wave:
            done = run_job(clones[jobs % 3], feature, f"run-{jobs}")
            jobs += 1
            assert done.returncode == 0, done.stderr
            tip = git(remote, "rev-parse", f"refs/heads/wta/{feature}")
            assert done.stdout.splitlines()[-1] == (
                f"{feature} done at {tip[:10]}: wta/{feature} pushed to origin; $0.0000"
            )
    capsys.readouterr()

    assert wta(clones[0], "merge", "--push", "origin") == 0

    head = git(remote, "rev-parse", "refs/heads/wta/integration")
    landed = git(remote, "log", TRAILERS, "--reverse", f"main..{head}").split()
    assert sorted(landed) == sorted(s.id for s in SPECS)  # each exactly once
    order = {f: i for i, f in enumerate(landed)}
    assert all(order[d] < order[s.id] for s in SPECS for d in s.depends_on)  # topological
    assert git(remote, "rev-parse", f"{head}^{{tree}}") == single_machine_tree(tmp_path, SPECS)

    # again, from another machine: nothing new, nothing merged twice
    assert wta(clones[1], "merge", "--push", "origin") == 0
    assert git(remote, "rev-parse", "refs/heads/wta/integration") == head


def run_jobs(clones: list[Path], features: list[str]) -> None:
    for n, feature in enumerate(features):
        done = run_job(clones[n % len(clones)], feature, f"run-{n}")
        assert done.returncode == 0, done.stdout + done.stderr


def start(clone: Path, holder: str, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    env["GITHUB_RUN_ID"] = holder
    plan = clone.parent / "plan" / "wta.toml"
    argv = [sys.executable, "-m", "worktree_agents.cli", *args, "--plan", str(plan)]
    return subprocess.Popen(argv, cwd=clone, env=env, stdout=subprocess.PIPE, text=True)


def test_two_workers_race_for_one_feature_and_one_wins(tmp_path: Path) -> None:
    specs = [Spec("a", {"a.txt": "a\n"})]
    remote, clones = machines(tmp_path, specs, count=2)
    job = ("run-feature", "a", "--push", "origin")
    racers = [start(clone, f"run-{n}", *job) for n, clone in enumerate(clones)]
    said = sorted(proc.communicate(timeout=120)[0].splitlines()[-1] for proc in racers)
    assert [proc.returncode for proc in racers] == [0, 0]
    tip = git(remote, "rev-parse", "refs/heads/wta/a")
    winner = f"a done at {tip[:10]}: wta/a pushed to origin; $0.0000"
    assert winner in said
    [loser] = [line for line in said if line != winner]
    assert loser.startswith(
        ("a is claimed on origin by github-run-", "a is already done on origin")
    )

    assert wta(clones[0], "merge", "--push", "origin") == 0
    landed = git(remote, "log", TRAILERS, "main..refs/heads/wta/integration").split()
    assert landed == ["a"]


def test_two_merges_race_and_each_feature_lands_once(tmp_path: Path) -> None:
    remote, clones = machines(tmp_path, SPECS)
    plan = load_plan(tmp_path / "plan" / "wta.toml").plan
    run_jobs(clones, [f for wave in waves(plan.graph) for f in wave])

    merge = ("merge", "--push", "origin")
    mergers = [start(clone, f"merge-{n}", *merge) for n, clone in enumerate(clones[:2])]
    for proc in mergers:
        proc.communicate(timeout=180)
    assert [proc.returncode for proc in mergers] == [0, 0]

    head = git(remote, "rev-parse", "refs/heads/wta/integration")
    landed = git(remote, "log", TRAILERS, f"main..{head}").split()
    assert sorted(landed) == sorted(s.id for s in SPECS)  # once each
    assert git(remote, "rev-parse", f"{head}^{{tree}}") == single_machine_tree(tmp_path, SPECS)


def test_a_failed_dependency_skips_everything_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [
        Spec("a", {"a.txt": "a\n"}, acceptance=["false"]),
        Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
        Spec("c", {"c.txt": "c\n"}, depends_on=["b"]),
        Spec("d", {"d.txt": "d\n"}),
    ]
    remote, clones = machines(tmp_path, specs)
    outs = {}
    for n, feature in enumerate(["a", "d", "b", "c"]):  # as GitHub would order the jobs
        done = run_job(clones[n % 3], feature, f"run-{n}")
        outs[feature] = (done.returncode, done.stdout.splitlines()[-1])
    assert outs["a"][0] == 1
    assert outs["a"][1].startswith("a failed (verify_failed): ")
    assert outs["b"] == (0, "b skipped: dependency 'a' failed")
    assert outs["c"] == (0, "c skipped: dependency 'b' skipped")
    capsys.readouterr()

    assert wta(clones[2], "merge", "--push", "origin", "--json") == 1

    data = json.loads(capsys.readouterr().out)["data"]
    got = {f["id"]: f["state"] for f in data["features"]}
    assert got == {"a": "failed", "b": "skipped", "c": "skipped", "d": "merged"}
    landed = git(remote, "log", TRAILERS, "main..refs/heads/wta/integration").split()
    assert landed == ["d"]


def test_a_merge_whose_push_loses_follows_the_winner(tmp_path: Path) -> None:
    """Another merger pushes between this one's read and its push (a hook on the remote
    stands in for it, once): the lease is refused, and this merger follows what the other
    pushed instead of merging anything twice."""
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, depends_on=["a"])]
    remote, clones = machines(tmp_path, specs, count=2)
    run_jobs(clones, ["a", "b"])
    assert wta(clones[0], "merge", "--push", "origin") == 0  # the other merger's work...
    theirs = git(remote, "rev-parse", "refs/heads/wta/integration")
    git(remote, "update-ref", "-d", "refs/heads/wta/integration")  # ...lands during ours
    once = tmp_path / "raced"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {once} ] && grep -q ' refs/heads/wta/integration$'; then\n"
        f"  touch {once}\n"
        f"  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/wta/integration {theirs}\n"
        "  exit 1\n"
        "fi\n"
    )
    hook.chmod(0o755)

    merger = start(clones[1], "merge-1", "merge", "--push", "origin")
    out = merger.communicate(timeout=120)[0]

    assert (merger.returncode, once.exists()) == (0, True), out
    assert git(remote, "rev-parse", "refs/heads/wta/integration") == theirs
    assert git(clones[1], "rev-parse", "wta/integration") == theirs
    assert git(remote, "log", TRAILERS, f"main..{theirs}").split() == ["b", "a"]
    assert out.splitlines()[-1] == f"origin already has refs/heads/wta/integration at {theirs[:10]}"


def test_the_run_budget_counts_what_the_remote_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"})]
    repo = plan_repo(tmp_path, specs, BASE, "[guardrails]\nrun_budget_usd = 1.0\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    # a job elsewhere ran a and recorded what it spent
    spent = FeatureResult(
        feature_id="a", state="failed", reason="verify_failed", detail="`pytest` exited 1",
        cost_usd=1.25, worker="github-run-7", finished_at=1.0,
    )  # fmt: skip
    publish_result(GitRepo.open(repo), "origin", spent)
    capsys.readouterr()

    assert wta(repo, "run-feature", "b", "--push", "origin", "--json") == 2

    envelope = json.loads(capsys.readouterr().out)
    assert envelope["errors"][0]["message"] == (
        "the features on origin have spent $1.2500 of the run budget ($1.00); no agent was"
        " started. Raise run_budget_usd in wta.toml to go on"
    )
    assert git(remote, "for-each-ref", "refs/wta/claims") == ""  # not even claimed
    assert wta(repo, "status", "--remote", "origin") == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("cost $1.25")
