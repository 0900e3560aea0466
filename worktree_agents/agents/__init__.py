"""Agent backends behind one interface; `backend_for` picks the one a profile names."""

from __future__ import annotations

from worktree_agents.agents.base import (
    AgentBackend,
    AgentResult,
    AgentTask,
    agent_env,
    backend_for,
)

__all__ = ["AgentBackend", "AgentResult", "AgentTask", "agent_env", "backend_for"]
