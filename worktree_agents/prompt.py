"""Every prompt text wta gives an agent: the task (the feature, its checks, the rules, and
feedback from a failed attempt), and the section appended to Claude Code's system prompt."""

from __future__ import annotations

from worktree_agents.plan import Feature

RULES = """\
Rules:
- Work only inside this directory (a git worktree made for this feature). Do not read or
  write files outside it.
- Never switch branches, rebase, merge, reset to another commit, or push. wta commits what
  you leave uncommitted and integrates the branch itself.
- Never use `git stash`: the stash is shared with the user's own checkout.
- Never create, move or delete other branches or tags, and never change git's config,
  hooks or `.git/info`: they are shared with the user's checkout and every other agent.
- Keep the change to what this feature needs.
- When the feature is complete and its checks pass, say that you are done, with a one-line
  summary of what you changed."""


def _feature_body(feature: Feature, checks: list[str], checks_intro: str) -> list[str]:
    """The feature's description, steps and checks, as prompt paragraphs."""
    parts = []
    if feature.description.strip():
        parts.append(feature.description.strip())
    if feature.steps:
        parts.append("Steps:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(feature.steps, 1)))
    if checks:
        parts.append(checks_intro + "\n" + "\n".join(f"    {c}" for c in checks))
    return parts


def build_prompt(feature: Feature, checks: list[str], feedback: str | None = None) -> str:
    """The prompt for one attempt at `feature`."""
    parts = [
        f"# Feature {feature.id}: {feature.display_title}",
        *_feature_body(
            feature, checks, "These commands must succeed in this directory when you are done:"
        ),
        RULES,
    ]
    if feedback:
        parts.append(
            "A previous attempt at this feature failed. What went wrong:\n\n" + feedback.strip()
        )
    return "\n\n".join(parts) + "\n"


KNOWLEDGE_OPEN = "<wta:knowledge-base>"
KNOWLEDGE_CLOSE = "</wta:knowledge-base>"

SYSTEM_RULES = """\
## Rules
- Work only inside your working directory, a git worktree made for this feature. Do not
  read or write files outside it. Other agents work on other features, in parallel, in
  other worktrees of the same repository.
- Never switch branches, rebase, merge, reset to another commit, or push. wta commits what
  you leave uncommitted and integrates the branch itself.
- Never use `git stash`: the stash is shared with the user's own checkout.
- Never create, move or delete other branches or tags, and never change git's config,
  hooks or `.git/info`: they are shared with the user's checkout and every other agent.
- Keep the change to what this feature needs.
- When the feature is complete and its checks pass, call the `mcp__wta__feature_done` tool
  with a one-line summary of what you changed, then stop.
- If the feature cannot be done (the task contradicts itself or the code, or it needs
  something you do not have), call the `mcp__wta__report_blocked` tool with the reason,
  then stop. Do not fake a result."""


def build_system_append(feature: Feature, checks: list[str], references: str | None = None) -> str:
    """The wta section appended to Claude Code's system prompt: the feature, its checks, the
    rules, and the knowledge-base references (similar past features) between the markers."""
    parts = [
        "# wta: your task",
        'You were started by wta ("worktree agents") to implement one feature of a plan.',
        f"## Feature {feature.id}: {feature.display_title}",
        *_feature_body(
            feature,
            checks,
            "Acceptance: these commands must succeed in your working directory when you are done:",
        ),
        SYSTEM_RULES,
    ]
    known = references.strip() if references else ""
    parts.append("## Similar past features (from wta's knowledge base; may be empty)")
    parts.append("\n".join(line for line in (KNOWLEDGE_OPEN, known, KNOWLEDGE_CLOSE) if line))
    return "\n\n".join(parts) + "\n"
