"""Which backend runs a profile, and what each backend can do.

The claude backend imports claude_agent_sdk, which takes about a second, so it is imported
only when a claude profile is run, and `capabilities_for` answers from a static table that
needs no backend module at all.
"""

from __future__ import annotations

from worktree_agents.agents.base import AgentBackend, Capabilities
from worktree_agents.agents.command import CommandAgent
from worktree_agents.agents.patch import PatchAgent
from worktree_agents.errors import AgentError
from worktree_agents.plan import ResolvedProfile

# Each backend class declares its own `capabilities`; tests/test_agents.py checks that this
# table says the same for every backend, so the two cannot drift apart.
CAPABILITIES: dict[str, Capabilities] = {
    "claude": Capabilities(records_model=True, supports_resume=True),
    "command": Capabilities(records_model=False, supports_resume=False),
    "patch": Capabilities(records_model=False, supports_resume=False),
}


def backend_for(profile: ResolvedProfile) -> AgentBackend:
    """The backend that runs `profile`."""
    if profile.backend == "patch":
        return PatchAgent()
    if profile.backend == "command":
        return CommandAgent()
    if profile.backend == "claude":
        from worktree_agents.agents.claude import ClaudeAgent  # imports the SDK: only if used

        return ClaudeAgent()
    raise AgentError(f"the {profile.backend} backend is not available yet")


def capabilities_for(backend_name: str) -> Capabilities:
    """What the backend named `backend_name` can do, without importing it."""
    try:
        return CAPABILITIES[backend_name]
    except KeyError:
        raise AgentError(f"the {backend_name} backend is not available yet") from None


def recorded_model(profile: ResolvedProfile) -> str | None:
    """The model an attempt asks for, recorded on the attempt when it starts: the profile's,
    where the backend has models; None for backends that have none. The model that answered
    is recorded on the feature from the agent's result only."""
    return profile.model if capabilities_for(profile.backend).records_model else None
