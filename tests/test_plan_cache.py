"""The validated plan cached in the state directory: an unchanged plan comes from the cache,
an edited one is validated again, and a stale or corrupt cache is never trusted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gitutil import make_repo
from runutil import Spec, plan_repo, wta

from worktree_agents.cli import main
from worktree_agents.errors import PlanError
from worktree_agents.plan import LoadedPlan, Plan
from worktree_agents.plan_cache import CACHE_FILE, VIEWS_FILE, cache_key, cached_view
from worktree_agents.plan_load import load_plan

PLAN = """\
version = 1

[run]
max_parallel = 2

[agent]
backend = "patch"
dir = "patches"

[[feature]]
id = "a"

[[feature]]
id = "b"
depends_on = ["a"]
"""


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "wta.toml"
    path.write_text(PLAN, encoding="utf-8")
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    return state


def fresh_error(path: Path) -> PlanError:
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    return caught.value


def test_the_cached_plan_equals_a_fresh_load(plan: Path, state: Path) -> None:
    first = load_plan(plan, state)
    cache = state / CACHE_FILE
    header, _, body = cache.read_bytes().partition(b"\n")
    assert header == cache_key(plan.read_bytes())
    assert Plan.model_validate_json(body) == first.plan
    again = load_plan(plan, state)
    assert again == first == load_plan(plan) == LoadedPlan(first.plan, plan.resolve())
    assert again.plan.by_id == load_plan(plan).plan.by_id


def test_an_unchanged_plan_comes_from_the_cache(plan: Path, state: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(PLAN.replace("max_parallel = 2", "max_parallel = 5"), encoding="utf-8")
    # the cache holds another valid plan under this plan's key: what comes back is the
    # cached plan, so the plan was not validated again
    cached = load_plan(other).plan
    dumped = cached.model_dump_json(by_alias=True).encode()
    (state / CACHE_FILE).write_bytes(cache_key(plan.read_bytes()) + b"\n" + dumped)
    assert load_plan(plan, state).plan == cached
    assert load_plan(plan, state).plan.run.max_parallel == 5


def test_an_edited_plan_is_validated_again(plan: Path, state: Path) -> None:
    load_plan(plan, state)
    cached = (state / CACHE_FILE).read_bytes()
    plan.write_text(PLAN.replace('depends_on = ["a"]', 'depends_on = ["nope"]'), encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        load_plan(plan, state)
    assert caught.value.problems == fresh_error(plan).problems
    assert [p.problem for p in caught.value.problems] == ["'nope' is not a feature in this plan"]
    assert (state / CACHE_FILE).read_bytes() == cached  # an invalid plan is not cached
    plan.write_text(PLAN.replace("max_parallel = 2", "max_parallel = 3"), encoding="utf-8")
    assert load_plan(plan, state).plan.run.max_parallel == 3
    assert load_plan(plan, state) == load_plan(plan)


@pytest.mark.parametrize(
    "body",
    [
        b"not JSON at all",
        b'{"plan": "an object, but not a Plan"}',
        b'{"version": 1, "run": {',
        b"",
    ],
)
def test_a_corrupt_cache_is_ignored_and_rewritten(plan: Path, state: Path, body: bytes) -> None:
    cache = state / CACHE_FILE
    cache.write_bytes(cache_key(plan.read_bytes()) + b"\n" + body)
    assert load_plan(plan, state) == load_plan(plan)
    header, _, rewritten = cache.read_bytes().partition(b"\n")
    assert header == cache_key(plan.read_bytes())
    assert Plan.model_validate_json(rewritten) == load_plan(plan).plan


def test_a_cache_without_a_key_line_is_ignored(plan: Path, state: Path) -> None:
    (state / CACHE_FILE).write_bytes(b"\x80\x04garbage without a newline")
    assert load_plan(plan, state) == load_plan(plan)
    assert (state / CACHE_FILE).read_bytes().startswith(cache_key(plan.read_bytes()) + b"\n")


def test_no_state_directory_no_cache(plan: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-state"
    assert load_plan(plan, missing) == load_plan(plan)
    assert not missing.exists()


def test_the_key_covers_the_plan_bytes(plan: Path) -> None:
    data = plan.read_bytes()
    assert cache_key(data) == cache_key(bytes(data))
    assert cache_key(data) != cache_key(data + b"\n")
    assert len(cache_key(data)) == 64


def test_status_reports_an_error_put_in_a_cached_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})])
    assert wta(repo, "run") == 0
    assert wta(repo, "status") == 0
    assert (repo / ".git" / "wta" / CACHE_FILE).exists()
    plan = tmp_path / "plan" / "wta.toml"
    plan.write_text(plan.read_text() + 'depends_on = ["ghost"]\n', encoding="utf-8")
    capsys.readouterr()
    assert wta(repo, "status") == 2
    assert capsys.readouterr().err == (
        f"wta: error: {plan}: 1 problem in the plan\n"
        "  - feature 'a', depends_on: 'ghost' is not a feature in this plan."
        " Fix: add a feature with id 'ghost', or remove it from depends_on\n"
    )


def test_no_cache_outside_a_repository_that_wta_ran_in(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# sample\n"})
    (repo / "wta.toml").write_text(PLAN, encoding="utf-8")
    assert wta_plan(repo) == 0
    assert not (repo / ".git" / "wta").exists()


def wta_plan(repo: Path) -> int:
    """`wta plan` from inside `repo` (runutil.wta puts the plan beside the repository)."""
    old = Path.cwd()
    os.chdir(repo)
    try:
        return main(["plan", "--plan", str(repo / "wta.toml")])
    finally:
        os.chdir(old)


RICH = """version = 1
[run]
base = "main"
max_parallel = 4
merge = "rebase"
setup = ["true"]
setup_timeout = "90s"
reuse_worktrees = false
keep_ignored = ["node_modules/"]
[agent]
backend = "claude"
model = "sonnet"
timeout = "20m"
idle_timeout = "3m"
max_budget_usd = 2.5
escalate_to = "strong"
env = { FOO = "bar" }
allowed_tools = ["Read", "Edit"]
[agents.strong]
model = "opus"
resume_on_retry = true
[agents.script]
backend = "command"
command = ["bash", "-c", "echo {prompt_file}"]
[routing]
docs = "script"
[verify]
commands = ["pytest -q"]
after_merge = false
timeout = "1h"
[guardrails]
run_budget_usd = 40
max_attempts = 3
protected_paths = ["migrations/**"]
retry_conflicts = true
max_quota_wait = "2h"
[[feature]]
id = "a"
title = "A"
description = "first"
category = "docs"
priority = 5
acceptance = ["test -f a"]
steps = ["one", "two"]
estimate = 2.5
[[feature]]
id = "b"
depends_on = ["a"]
agent = "strong"
done = true
"""


def test_every_kind_of_setting_comes_back_from_the_cache_as_it_went_in(
    tmp_path: Path, state: Path
) -> None:
    rich = tmp_path / "rich.toml"
    rich.write_text(RICH, encoding="utf-8")
    fresh = load_plan(rich)
    assert load_plan(rich, state) == fresh  # validated, and cached
    assert (state / CACHE_FILE).exists()
    assert load_plan(rich, state) == fresh  # read from the cache


def test_a_view_is_kept_under_the_plans_key_and_made_again_when_it_changes(
    tmp_path: Path, state: Path
) -> None:
    made: list[str] = []

    def render(text: str) -> str:
        made.append(text)
        return text

    assert cached_view(state, b"plan one", "text", lambda: render("one")) == "one"
    assert cached_view(state, b"plan one", "text", lambda: render("again")) == "one"  # kept
    assert cached_view(state, b"plan one", "json", lambda: render("{}")) == "{}"  # another view
    assert cached_view(state, b"plan two", "text", lambda: render("two")) == "two"  # edited
    assert cached_view(None, b"plan two", "text", lambda: render("none")) == "none"  # no state
    (state / VIEWS_FILE).write_text("{not json", encoding="utf-8")
    assert cached_view(state, b"plan two", "text", lambda: render("mended")) == "mended"
    assert made == ["one", "{}", "two", "none", "mended"]
