"""Valid plans: defaults, durations, profile inheritance and routing."""

from __future__ import annotations

import pytest

from worktree_agents.domain import FeatureId
from worktree_agents.errors import PlanError
from worktree_agents.plan import FieldProblem, ResolvedProfile, parse_duration
from worktree_agents.plan_load import load_plan_text
from worktree_agents.starter import STARTER_PLAN

PLAN = """
version = 1

[run]
base = "main"
max_parallel = 4

[agent]
backend = "claude"
model = "sonnet"
max_turns = 100
max_budget_usd = 5.0
timeout = "30m"
idle_timeout = "10m"
permission_mode = "bypassPermissions"
env = { A = "1", B = "2" }

[agents.cheap]
model = "haiku"
escalate_to = "default"
env = { B = "3" }

[agents.aider]
backend = "command"
command = ["aider", "--yes-always", "--message-file", "{prompt_file}"]

[routing]
docs = "cheap"

[[feature]]
id = "auth"
title = "User authentication"
category = "backend"

[[feature]]
id = "readme"
category = "docs"
depends_on = ["auth"]

[[feature]]
id = "cli"
category = "docs"
agent = "aider"
depends_on = ["auth"]
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1h0m5s", 3605), (45, 45)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "30x", "m", "", "1.5h", "30m1h", "-5m", "0s", "8d", True])
def test_bad_durations(text: str | bool) -> None:
    with pytest.raises(FieldProblem):
        parse_duration(text)


def test_defaults_apply() -> None:
    plan = load_plan_text('[[feature]]\nid = "a"\n', "wta.toml")
    assert (plan.version, plan.run.model_dump(), plan.guardrails.max_attempts) == (
        1,
        {
            "base": None,
            "integration_branch": "wta/integration",
            "branch_prefix": "wta/",
            "max_parallel": 3,
            "merge": "squash",
            "worktree_root": None,
            "setup": [],
            "setup_timeout": 600.0,
            "max_log_bytes": 10 * 1024 * 1024,
            "reuse_worktrees": True,
            "keep_ignored": [],
        },
        2,
    )
    assert plan.features[0].display_title == "a"


def test_profile_inheritance_and_routing() -> None:
    plan = load_plan_text(PLAN, "wta.toml")
    by_id = plan.by_id
    routed = {f.id: plan.profile_for(f) for f in plan.features}
    assert routed == {"auth": "default", "readme": "cheap", "cli": "aider"}
    assert plan.profile_for(by_id[FeatureId("auth")], override="cheap") == "cheap"
    assert plan.resolve_profile("cheap") == ResolvedProfile(
        name="cheap",
        backend="claude",
        model="haiku",
        fallback_model=None,
        max_turns=100,
        max_budget_usd=5.0,
        timeout_s=1800.0,
        idle_timeout_s=600.0,
        escalate_to="default",
        env={"A": "1", "B": "3"},
        command=None,
        dir="patches",
        cli_path=None,
        permission_mode="bypassPermissions",
        allowed_tools=None,
        disallowed_tools=None,
        setting_sources=None,
        resume_on_retry=False,
    )
    aider = plan.resolve_profile("aider")
    # a profile on another backend does not inherit claude-only fields
    assert (aider.backend, aider.command, aider.permission_mode, aider.model) == (
        "command",
        ("aider", "--yes-always", "--message-file", "{prompt_file}"),
        None,
        "sonnet",
    )


def test_starter_plan_is_valid() -> None:
    plan = load_plan_text(STARTER_PLAN, "wta.toml")
    assert [(f.id, f.depends_on) for f in plan.features] == [
        ("hello", []),
        ("hello-docs", ["hello"]),
    ]


def test_all_problems_reported_together() -> None:
    text = """
[run]
max_parallel = 0
[[feature]]
id = "a"
depends_on = ["missing"]
[[feature]]
id = "B"
"""
    with pytest.raises(PlanError) as info:
        load_plan_text(text, "wta.toml")
    assert [(p.where, p.field) for p in info.value.problems] == [
        ("[run]", "max_parallel"),
        ("feature 'B'", "id"),
        ("feature 'a'", "depends_on"),
    ]


RELATIVE = "patterns are relative to the worktree's root"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('["/node_modules/"]', "'/node_modules/' is an absolute path; " + RELATIVE),
        ('["cache/../../x"]', "'cache/../../x' leads out of the worktree ('..')"),
        ('["!build/"]', "'!build/' is a negation; list only what may stay"),
        ('["**"]', "'**' would keep every ignored file, so no reused worktree would be clean"),
        ('[".git/"]', "'.git/' names git's own files"),
        ('["  "]', "'  ' is blank"),
    ],
)
def test_keep_ignored_patterns_stay_inside_the_worktree(value: str, problem: str) -> None:
    with pytest.raises(PlanError) as info:
        load_plan_text(f'[run]\nkeep_ignored = {value}\n[[feature]]\nid = "a"\n', "wta.toml")
    assert [(p.where, p.field, p.problem) for p in info.value.problems] == [
        ("[run]", "keep_ignored", problem)
    ]


def test_reuse_keys_are_read() -> None:
    text = '[run]\nreuse_worktrees = false\nkeep_ignored = ["node_modules/", "build/cache/"]\n'
    plan = load_plan_text(text + '[[feature]]\nid = "a"\n', "wta.toml")
    assert (plan.run.reuse_worktrees, plan.run.keep_ignored) == (
        False,
        ["node_modules/", "build/cache/"],
    )
    with pytest.raises(PlanError) as info:
        load_plan_text('[run]\nreuse_worktrees = "yes"\n[[feature]]\nid = "a"\n', "wta.toml")
    assert [(p.where, p.field) for p in info.value.problems] == [("[run]", "reuse_worktrees")]
