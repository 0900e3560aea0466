"""Property tests: no input given as a plan raises anything but PlanError."""

from __future__ import annotations

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from worktree_agents.errors import PlanError
from worktree_agents.plan import Plan
from worktree_agents.plan_load import load_plan_bytes

KEYS = [
    "version", "run", "agent", "agents", "routing", "verify", "guardrails", "feature",
    "id", "title", "depends_on", "estimate", "priority", "backend", "command", "timeout",
    "idle_timeout", "max_parallel", "escalate_to", "agent", "done", "base", "branch_prefix",
    "integration_branch", "max_attempts", "commands", "x",
]  # fmt: skip
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["a", "b", "30m", "1h30m", "0s", "claude", "command", "patch", "default"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
    ),
    max_leaves=20,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)


def _load(data: bytes) -> Plan | None:
    try:
        return load_plan_bytes(data, "fuzz.toml")
    except PlanError as exc:
        assert exc.problems, "a PlanError always names at least one problem"
        assert all(p.problem and p.fix for p in exc.problems)
        return None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    _load(data)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]=\"\n .,#{}ab1_-\\'")), max_size=120))
def test_toml_looking_text(text: str) -> None:
    _load(text.encode())


@settings(max_examples=400, deadline=None)
@given(documents)
def test_structured_documents(document: dict[str, object]) -> None:
    try:
        data = tomli_w.dumps(document).encode()
    except (TypeError, ValueError):
        return  # not representable as TOML (e.g. nan in some versions); nothing to load
    plan = _load(data)
    if plan is not None:
        assert plan.features, "a valid plan has at least one feature"
