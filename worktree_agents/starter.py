"""The commented starter plan that `wta init` writes."""

from __future__ import annotations

STARTER_PLAN = '''\
# wta plan: features for coding agents to build, each in its own git worktree.
# Reference: docs/reference/plan.md. Check this file with `wta plan`.
version = 1

[run]
# base = "main"                  # where integration starts; default: the current branch
integration_branch = "wta/integration"
branch_prefix = "wta/"           # feature branches are <prefix><id>
max_parallel = 3                 # agents running at once
merge = "squash"                 # "squash": one commit per feature; "rebase": keep the agent's
# setup = ["npm ci"]             # run in each new worktree before its agent; ignored files
                                 # listed in .worktreeinclude (e.g. .env) are copied in first

[agent]                          # the default profile
backend = "claude"               # claude | command | patch
model = "sonnet"
max_turns = 100
max_budget_usd = 5.0
timeout = "30m"                  # wall clock, per attempt
idle_timeout = "10m"             # no output for this long counts as a hang

# [agents.cheap]                 # named profiles, for routing and escalation
# backend = "claude"
# model = "haiku"
# escalate_to = "default"        # a failed attempt is retried on this profile

# [routing]                      # feature category -> profile
# docs = "cheap"

[verify]
commands = []                    # e.g. ["pytest -q"]: run after each agent, and after merging
after_merge = true

[guardrails]
# run_budget_usd = 50.0          # no new attempt starts once the run has spent this much
max_attempts = 2                 # per feature; a retry carries the failure as feedback
max_changed_files = 60
max_changed_lines = 3000
protected_paths = [".github/**", "wta.toml"]

[[feature]]
id = "hello"                     # a slug: lowercase letters, digits, ".", "_" and "-"
title = "Say hello"
description = """Add a hello() function that returns "hello, world"."""
category = "backend"
depends_on = []
acceptance = []                  # feature-specific checks, e.g. ["pytest tests/test_hello.py -q"]

[[feature]]
id = "hello-docs"
title = "Document hello()"
description = "Describe hello() in the README."
category = "docs"
depends_on = ["hello"]
'''
