"""Agent backends behind one interface; `backend_for` picks the one a profile names."""

from __future__ import annotations

from worktree_agents.agents.base import (
    AgentBackend,
    AgentResult,
    AgentTask,
    Capabilities,
    agent_env,
)
from worktree_agents.agents.registry import backend_for, capabilities_for

__all__ = [
    "AgentBackend",
    "AgentResult",
    "AgentTask",
    "Capabilities",
    "agent_env",
    "backend_for",
    "capabilities_for",
]
