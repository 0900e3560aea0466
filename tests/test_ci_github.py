"""`wta ci github`: the workflow whose job graph is the plan's feature DAG. It passes GitHub's
workflow schema (check-jsonschema's vendored copy, no network), its `needs` are the plan's
dependencies, its job ids are valid and stable, and it is written only where and when it
should be."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitutil import git, make_repo
from ruamel.yaml import YAML

from worktree_agents import __version__
from worktree_agents.ciworkflow import job_ids
from worktree_agents.cli import main
from worktree_agents.domain import FeatureId

WORKFLOW = Path(".github/workflows/wta.yml")
JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,98}")  # GitHub's rule, and under 100
# A diamond (a; b, c on a; d on b and c), a chain (x, y, z) and two independent features
SHAPES = {
    "a": [],
    "b": ["a"],
    "c": ["a"],
    "d": ["b", "c"],
    "x": [],
    "y": ["x"],
    "z": ["y"],
    "2fa.login": [],
    "on": [],
}


def plan_text(deps: dict[str, list[str]], extra: str = "") -> str:
    parts = [extra] if extra else []
    for feature, needs in deps.items():
        listed = ", ".join(f'"{d}"' for d in needs)
        parts.append(f'[[feature]]\nid = "{feature}"\ndepends_on = [{listed}]\n')
    return "\n".join(parts)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = make_repo(tmp_path / "repo")
    (path / "wta.toml").write_text(plan_text(SHAPES), encoding="utf-8")
    monkeypatch.chdir(path)
    return path


def stdout_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["ci", "github", "--stdout", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def parse(text: str) -> Any:
    return YAML(typ="safe").load(text)


def schema_check(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "wta.yml"
    path.write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "check_jsonschema"]
    command += ["--builtin-schema", "vendor.github-workflows", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    return result.returncode, result.stdout


@pytest.mark.parametrize("args", [(), ("--open-prs",)])
def test_the_workflow_passes_githubs_schema(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    text = stdout_of(capsys, *args)
    assert schema_check(tmp_path, text) == (0, "ok -- validation done\n")


def test_the_schema_check_can_fail(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = stdout_of(capsys).replace("    runs-on: ubuntu-latest\n", "", 1)
    code, out = schema_check(tmp_path, text)
    assert (code, out.splitlines()[0]) == (1, "Schema validation errors were encountered.")


def test_the_job_graph_is_the_feature_dag(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = parse(stdout_of(capsys))
    jobs: dict[str, Any] = workflow["jobs"]
    ids = job_ids([FeatureId(f) for f in SHAPES])
    feature_of = {job: feature for feature, job in ids.items()}
    assert list(jobs) == [*(ids[FeatureId(f)] for f in "abcdxyz"), "f-2fa-login", "f-on", "merge"]
    graph = {feature_of[j]: job.get("needs", []) for j, job in jobs.items() if j != "merge"}
    assert {f: [feature_of[n] for n in needs] for f, needs in graph.items()} == SHAPES
    assert jobs["merge"]["needs"] == list(jobs)[:-1]
    guarded = sorted(j for j, job in jobs.items() if job.get("if") == "${{ !cancelled() }}")
    assert guarded == ["f-b", "f-c", "f-d", "f-y", "f-z", "merge"]
    runs = {j: [s["run"] for s in job["steps"] if "run" in s] for j, job in jobs.items()}
    install = 'python -m pip install "$WTA_PACKAGE"'
    for feature, job in ids.items():
        assert runs[job] == [install, f"wta run-feature {feature} --push origin"]
    assert runs["merge"] == [install, "wta merge --push origin --junit wta-junit.xml"]
    assert workflow["on"] == {"workflow_dispatch": None}
    assert workflow["permissions"] == {"contents": "write"}
    assert workflow["concurrency"] == {"group": "wta-wta/integration", "cancel-in-progress": False}
    assert workflow["env"] == {"WTA_PACKAGE": f"worktree-agents=={__version__}"}


def test_prs_add_a_step_and_the_permission_to_the_merge_job(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merge = parse(stdout_of(capsys, "--open-prs"))["jobs"]["merge"]
    assert merge["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert merge["steps"][4] == {
        "name": "Open or update one pull request per feature",
        "if": "${{ !cancelled() }}",
        "env": {"GH_TOKEN": "${{ secrets.GITHUB_TOKEN }}"},
        "run": "wta review --push origin --open-prs",
    }


def test_job_ids_are_valid_unique_and_independent_of_plan_order() -> None:
    features = [FeatureId(f) for f in ["2fa.login", "a.b", "a-b", "a.b-c", "a-b.c", "x_y", "9"]]
    ids = job_ids(features)
    assert ids == {
        "2fa.login": "f-2fa-login",
        "a.b": "f-a-b-2e7336",
        "a-b": "f-a-b",
        "a.b-c": "f-a-b-c-ab8bb2",
        "a-b.c": "f-a-b-c-fb187e",
        "x_y": "f-x_y",
        "9": "f-9",
    }
    assert job_ids(list(reversed(features))) == ids
    # a feature whose id is another's hashed job id: the hash grows by a digit
    taken = job_ids([FeatureId(f) for f in ["a.b", "a-b", "a-b-2e7336"]])
    assert taken == {"a.b": "f-a-b-2e7336d", "a-b": "f-a-b", "a-b-2e7336": "f-a-b-2e7336"}
    longest = job_ids([FeatureId("a" * 63 + ".")])  # the longest id a plan allows, and a dot
    assert all(JOB_ID.fullmatch(job) for job in [*ids.values(), *longest.values()])


def test_names_show_the_id_and_title_and_nothing_github_would_evaluate(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    titles = 'title = "Log in: twice\\n  (2FA)"\n', 'title = "Use ${{ secrets.X }}"\n'
    text = plan_text({"a": [], "b": []}).split("[[feature]]\n")
    plan = f"[[feature]]\n{text[1]}{titles[0]}\n[[feature]]\n{text[2]}{titles[1]}"
    (repo / "wta.toml").write_text(plan, encoding="utf-8")
    jobs = parse(stdout_of(capsys))["jobs"]
    assert [job["name"] for job in jobs.values()] == [
        "a: Log in: twice (2FA)",
        "b: Use $ {{ secrets.X }}",
        "Merge the results onto wta/integration",
    ]


def test_a_plan_elsewhere_in_the_repository_is_named_in_every_command(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "plans").mkdir()
    (repo / "plans/web.toml").write_text(plan_text({"a": []}), encoding="utf-8")
    text = stdout_of(capsys, "--plan", "plans/web.toml")
    runs = [line.strip() for line in text.splitlines() if line.strip().startswith("run: wta")]
    assert runs == [
        "run: wta run-feature a --push origin --plan plans/web.toml",
        "run: wta merge --push origin --junit wta-junit.xml --plan plans/web.toml",
    ]
    assert "#   wta ci github --force --plan plans/web.toml\n" in text


def test_a_long_plan_keeps_to_the_six_hours_of_a_hosted_job(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = '[agent]\ntimeout = "4h"\n[verify]\ncommands = ["pytest"]\ntimeout = 120\n'
    (repo / "wta.toml").write_text(plan_text({"a": []}, extra), encoding="utf-8")
    lines = stdout_of(capsys).splitlines()
    assert [line for line in lines if "timeout-minutes" in line or "360" in line] == [
        "    # the plan allows 499 minutes; a GitHub-hosted job stops at 360",
        "    timeout-minutes: 360",
        "    timeout-minutes: 18",  # merge: 15, and 2 min of verify + 6 s for one feature
    ]


def test_a_plan_over_githubs_job_limit_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "wta.toml").write_text(plan_text({f"f{i}": [] for i in range(255)}))
    assert len(parse(stdout_of(capsys))["jobs"]) == 256
    (repo / "wta.toml").write_text(plan_text({f"f{i}": [] for i in range(256)}))

    assert main(["ci", "github"]) == 2

    assert capsys.readouterr() == (
        "",
        "wta: error: wta.toml has 256 features, and a GitHub Actions workflow run holds at most"
        " 256 jobs (https://docs.github.com/en/actions/reference/limits): 255 features and the"
        " merge job; split the plan into plans of at most 255 features, and write a workflow"
        " for each with `wta ci github --plan PLAN --stdout > .github/workflows/NAME.yml`\n",
    )
    assert not (repo / ".github").exists()


def test_stdout_for_a_small_plan(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "wta.toml").write_text(
        '[[feature]]\nid = "db"\ntitle = "Schema"\n\n'
        '[[feature]]\nid = "api"\ndepends_on = ["db"]\n',
        encoding="utf-8",
    )
    assert stdout_of(capsys) == SMALL.replace("VERSION", __version__)
    assert not (repo / ".github").exists()


SETUP = """\
      - name: Check out with full history
        uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
      - name: Install wta
        run: python -m pip install "$WTA_PACKAGE"
"""
SMALL = f"""\
# Generated by `wta ci github` from wta.toml: one job per feature, each needing the
# jobs of the features it depends on, then one job that merges every result.
# Edit the plan, not this file, and write it again after changing the features:
#   wta ci github --force
# GitHub's limits it keeps to: https://docs.github.com/en/actions/reference/limits
name: wta

# Started by hand (Actions, wta, Run workflow): every run spends money on agents.
on:
  workflow_dispatch:

# GITHUB_TOKEN may push branches and refs: claims, results, integration.
permissions:
  contents: write

# One run at a time, or two would race for the same claims and branches. A run in
# progress is never cancelled: its agents' work would be paid for and thrown away,
# and its claims left for a later run to wait out; a new run waits instead.
concurrency:
  group: wta-wta/integration
  cancel-in-progress: false

# What pip installs: a version from your package index, or a git URL such as
# git+https://github.com/OWNER/REPO@TAG (`wta ci github --package SPEC`).
env:
  WTA_PACKAGE: worktree-agents==VERSION

jobs:
  f-db:
    name: "db: Schema"
    runs-on: ubuntu-latest
    timeout-minutes: 75
    steps:
{SETUP}\
      - name: Run feature db
        env:
          ANTHROPIC_API_KEY: ${{{{ secrets.ANTHROPIC_API_KEY }}}}
        run: wta run-feature db --push origin

  f-api:
    name: api
    needs:
      - f-db
    if: ${{{{ !cancelled() }}}}
    runs-on: ubuntu-latest
    timeout-minutes: 75
    steps:
{SETUP}\
      - name: Run feature api
        env:
          ANTHROPIC_API_KEY: ${{{{ secrets.ANTHROPIC_API_KEY }}}}
        run: wta run-feature api --push origin

  merge:
    name: Merge the results onto wta/integration
    needs:
      - f-db
      - f-api
    if: ${{{{ !cancelled() }}}}
    runs-on: ubuntu-latest
    timeout-minutes: 16
    steps:
{SETUP}\
      - name: Merge every result, in dependency order
        run: wta merge --push origin --junit wta-junit.xml
      - name: Publish the JUnit report
        if: ${{{{ !cancelled() }}}}
        uses: actions/upload-artifact@v4
        with:
          name: wta-junit
          path: wta-junit.xml
          if-no-files-found: ignore
"""


def git_state(repo: Path) -> tuple[str, str, str]:
    return (
        git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "ls-files", "--stage"),
    )


def test_writes_the_file_then_leaves_an_identical_one_and_refuses_a_different_one(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = git_state(repo)
    expected = stdout_of(capsys)
    next_steps = (
        "Next: add the ANTHROPIC_API_KEY secret, commit the plan and the workflow, push,\n"
        "and start it: Actions, wta, Run workflow.\n"
    )

    assert main(["ci", "github"]) == 0
    assert capsys.readouterr() == (
        f"wrote {WORKFLOW}: 9 feature jobs and the merge job\n{next_steps}",
        "",
    )
    assert (repo / WORKFLOW).read_text(encoding="utf-8") == expected

    assert main(["ci", "github"]) == 0
    assert capsys.readouterr() == (
        f"{WORKFLOW} is already the workflow for this plan; nothing written\n",
        "",
    )

    (repo / WORKFLOW).write_text("name: mine\n", encoding="utf-8")
    assert main(["ci", "github"]) == 2
    assert capsys.readouterr() == (
        "",
        f"wta: error: {WORKFLOW} exists and is not the workflow for this plan; pass --force"
        " to replace it, or --stdout to see the new one\n",
    )
    assert (repo / WORKFLOW).read_text(encoding="utf-8") == "name: mine\n"

    assert main(["ci", "github", "--force"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {WORKFLOW}: 9 feature jobs")
    assert (repo / WORKFLOW).read_text(encoding="utf-8") == expected
    assert git_state(repo) == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == "\n".join(
        [f"?? {WORKFLOW}", "?? wta.toml"]
    )


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        (
            '[[feature]]\nid = "a"\ndepends_on = ["nope"]\n',
            "feature 'a', depends_on: 'nope' is not a feature in this plan. Fix: add a feature"
            " with id 'nope', or remove it from depends_on",
        ),
        (
            plan_text({"a": ["b"], "b": ["a"]}),
            "feature 'a', depends_on: the dependencies form a cycle: a -> b -> a (each depends"
            " on the next). Fix: remove one of these dependencies to break the cycle",
        ),
    ],
)
def test_a_plan_error_exits_2_and_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], plan: str, problem: str
) -> None:
    (repo / "wta.toml").write_text(plan, encoding="utf-8")

    assert main(["ci", "github"]) == 2

    path = repo / "wta.toml"
    assert capsys.readouterr() == (
        "",
        f"wta: error: {path}: 1 problem in the plan\n  - {problem}\n",
    )
    assert not (repo / ".github").exists()


def test_a_plan_outside_the_repository_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "elsewhere.toml"
    outside.write_text(plan_text({"a": []}), encoding="utf-8")

    assert main(["ci", "github", "--plan", str(outside)]) == 2

    assert capsys.readouterr() == (
        "",
        f"wta: error: the plan {outside} is outside the repository {repo}; the workflow's"
        " jobs see only the repository: move the plan into it and commit it\n",
    )


def test_a_package_of_your_own(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "git+https://example.invalid/wta.git@v1 extra"
    workflow = stdout_of(capsys, "--package", spec)
    assert parse(workflow)["env"] == {"WTA_PACKAGE": spec}
    assert f"#   wta ci github --force --package '{spec}'\n" in workflow

    assert main(["ci", "github", "--package", "x${{ secrets.X }}"]) == 2
    assert capsys.readouterr() == (
        "",
        "wta: error: --package: `${{` would be read by GitHub as an expression; remove it\n",
    )


@pytest.mark.parametrize("kind", ["directory", "symlink out"])
def test_a_workflow_path_that_is_not_a_file_in_the_repository_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    (repo / ".github").mkdir()
    if kind == "directory":
        (repo / WORKFLOW).parent.mkdir()
        (repo / WORKFLOW).mkdir()
        why = "is a directory; remove it, or use --stdout"
    else:
        (tmp_path / "outside").mkdir()
        (repo / WORKFLOW).parent.symlink_to(tmp_path / "outside")
        why = "leads outside the repository (a symbolic link); remove it"

    assert main(["ci", "github", "--force"]) == 2

    assert capsys.readouterr() == ("", f"wta: error: {WORKFLOW} {why}\n")
    assert list((tmp_path / "outside").iterdir() if kind != "directory" else []) == []


def test_a_workflow_over_githubs_file_size_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def plan(title: str) -> str:
        return "".join(f'[[feature]]\nid = "{f}"\ntitle = "{title}"\n' for f in "ab")

    (repo / "wta.toml").write_text(plan("t"), encoding="utf-8")
    small = len(stdout_of(capsys).encode())
    title = " ".join(["word"] * 60_000)  # 299 999 characters, written twice
    (repo / "wta.toml").write_text(plan(title), encoding="utf-8")

    assert main(["ci", "github"]) == 2

    size = small + 2 * (len(title) - 1)
    assert capsys.readouterr() == (
        "",
        f"wta: error: the workflow for wta.toml is {size} bytes, and GitHub starts no runs"
        " from a workflow file over 500 KB (https://docs.github.com/en/actions/reference/limits);"
        " shorten the feature titles, or split the plan and write a workflow for each part\n",
    )
    assert not (repo / ".github").exists()


def test_a_plan_path_unfit_for_a_command_line_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "my plan.toml").write_text(plan_text({"a": []}), encoding="utf-8")

    assert main(["ci", "github", "--plan", "my plan.toml"]) == 2

    assert capsys.readouterr() == (
        "",
        "wta: error: the plan path 'my plan.toml' would go into the workflow's commands; use"
        ' one of letters, digits, ".", "_", "-" and "/", not starting with "." or "-"\n',
    )
