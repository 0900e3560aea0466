"""The task text an agent receives: the feature, its checks, the rules, and any feedback
from a failed attempt."""

from __future__ import annotations

from worktree_agents.plan import Feature

RULES = """\
Rules:
- Work only inside this directory (a git worktree made for this feature). Do not read or
  write files outside it.
- Never switch branches, rebase, merge, reset to another commit, or push. wta commits what
  you leave uncommitted and integrates the branch itself.
- Keep the change to what this feature needs.
- When the feature is complete and its checks pass, say that you are done, with a one-line
  summary of what you changed."""


def build_prompt(feature: Feature, checks: list[str], feedback: str | None = None) -> str:
    """The prompt for one attempt at `feature`."""
    parts = [f"# Feature {feature.id}: {feature.display_title}"]
    if feature.description.strip():
        parts.append(feature.description.strip())
    if feature.steps:
        parts.append("Steps:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(feature.steps, 1)))
    if checks:
        parts.append(
            "These commands must succeed in this directory when you are done:\n"
            + "\n".join(f"    {c}" for c in checks)
        )
    parts.append(RULES)
    if feedback:
        parts.append(
            "A previous attempt at this feature failed. What went wrong:\n\n" + feedback.strip()
        )
    return "\n\n".join(parts) + "\n"
