"""Plan validation beyond field types: references, cycles, branch clashes, and
turning pydantic's and tomllib's errors into problems that name the fix."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from worktree_agents.domain import RESERVED_IDS
from worktree_agents.errors import PlanProblem
from worktree_agents.plan import (
    BACKEND_FIELDS,
    DEFAULT_PROFILE,
    Feature,
    FieldProblem,
    Guardrails,
    Plan,
    Profile,
    RunConfig,
    VerifyConfig,
)
from worktree_agents.text import show

if TYPE_CHECKING:  # networkx and the rest load when validating, not for check_files alone
    import networkx as nx

TOP = "top level"
_SECTIONS: dict[str, type[BaseModel]] = {
    "run": RunConfig,
    "agent": Profile,
    "verify": VerifyConfig,
    "guardrails": Guardrails,
}
_TOML_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "a table",
}
_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_TOML_POSITION = re.compile(
    r"^(?P<msg>.*?) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)


def toml_problem(exc: tomllib.TOMLDecodeError, text: str, source: str) -> PlanProblem:
    """A TOML syntax error, with its line and column and the offending line."""
    fix = (
        "correct the TOML syntax there: strings need quotes, "
        "and each feature is a [[feature]] table"
    )
    match = _TOML_POSITION.match(str(exc))
    if match is None:
        return PlanProblem(source, None, f"TOML syntax error: {exc}", fix)
    message = match["msg"]
    if match["line"] is None:
        return PlanProblem(
            source, None, f"TOML syntax error at the end of the file: {message}", fix
        )
    line, col = int(match["line"]), int(match["col"])
    lines = text.splitlines()
    shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    where = f"{source}:{line}:{col}"
    detail = f" in `{shown[:60]}`" if shown else ""
    return PlanProblem(where, None, f"TOML syntax error: {message}{detail}", fix)


def _toml_type(value: object) -> str:
    for kind, name in _TOML_TYPES.items():
        if type(value) is kind:
            return name
    return "a date or time" if value is not None else "nothing"


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Labels:
    """Names features in messages: `feature 'auth'`, plus `(#n)` when the id is not unique."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        features = raw.get("feature")
        self.features = features if isinstance(features, list) else []
        self.counts = Counter(self._id(i) for i in range(len(self.features)))

    def _id(self, index: int) -> str | None:
        item = self.features[index]
        fid = item.get("id") if isinstance(item, dict) else None
        return fid if isinstance(fid, str) and fid else None

    def __call__(self, index: int) -> str:
        fid = self._id(index) if index < len(self.features) else None
        if fid is None:
            return f"feature #{index + 1}"
        return f"feature {show(fid)}" + (f" (#{index + 1})" if self.counts[fid] > 1 else "")


def _path(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _locate(loc: Sequence[int | str], label: _Labels) -> tuple[str, list[int | str]]:
    """Split a pydantic location into a place ("[run]", "feature 'a'") and the field path."""
    head = loc[0] if loc else ""
    if head == "feature" and len(loc) >= 2 and isinstance(loc[1], int):
        return label(loc[1]), list(loc[2:])
    if head == "agents" and len(loc) >= 2:
        return f"[agents.{loc[1]}]", list(loc[2:])
    if (head in _SECTIONS or head == "routing") and len(loc) >= 2:
        return f"[{head}]", list(loc[1:])
    return TOP, list(loc)


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model whose keys are valid at the parent of `loc`."""
    parent = list(loc[:-1])
    if not parent:
        return Plan
    if parent[0] == "feature" and len(parent) == 2:
        return Feature
    if parent[0] == "agents" and len(parent) == 2:
        return Profile
    if len(parent) == 1:
        return _SECTIONS.get(str(parent[0]))
    return None


def _known_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_key(key: str, loc: Sequence[int | str]) -> tuple[str, str]:
    model = _model_at(loc)
    if model is None:
        return "is not a key wta knows", "remove it"
    known = _known_keys(model)
    guess = _suggest(key, known)
    if guess is not None:
        return "is not a key wta knows", f"did you mean {guess!r}? Otherwise remove it"
    return "is not a key wta knows", f"remove it; the keys allowed here are: {', '.join(known)}"


def _describe(error: ErrorDetails) -> tuple[str, str]:
    """(problem, fix) for one pydantic error."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    field = error["loc"][-1] if error["loc"] else ""
    if kind == "value_error" and isinstance(ctx.get("error"), FieldProblem):
        problem: FieldProblem = ctx["error"]
        return problem.problem, problem.fix
    if kind == "missing":
        return "is required", f"add {field} = ..."
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        if field == "feature":
            return (
                f"must be an array of tables, not {_toml_type(value)}",
                "write each feature as a [[feature]] table (double brackets)",
            )
        return (
            f"must be {expected}, not {_toml_type(value)} ({show(value)})",
            f"write it as {expected}",
        )
    if kind == "literal_error":
        return f"{show(value)} is not allowed", f"use one of {ctx.get('expected', '')}"
    bounds = {
        "greater_than_equal": ("at least {}", "use {} or more", "ge"),
        "greater_than": ("greater than {}", "use a number above {}", "gt"),
        "less_than_equal": ("at most {}", "use {} or less", "le"),
        "less_than": ("less than {}", "use a number below {}", "lt"),
    }
    if kind in bounds:
        words, fix, key = bounds[kind]
        limit = _number(ctx.get(key))
        return f"must be {words.format(limit)} (got {show(value)})", fix.format(limit)
    if kind == "finite_number":
        return f"must be a finite number (got {show(value)})", "use an ordinary number"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty", "give it a value, or remove the key"
    return f"{error['msg']} (got {show(value)})", "correct the value"


def translate(exc: ValidationError, raw: Mapping[str, Any]) -> list[PlanProblem]:
    """Every pydantic error as a PlanProblem naming the place, the field and the fix."""
    problems: list[PlanProblem] = []
    label = _Labels(raw)
    for error in exc.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        where, parts = _locate(loc, label)
        if error["type"] == "extra_forbidden":
            problem, fix = _unknown_key(str(loc[-1]), loc)
        else:
            problem, fix = _describe(error)
        problems.append(PlanProblem(where, _path(parts) or None, problem, fix))
    return problems


def check_semantics(raw: Mapping[str, Any], plan: Plan | None) -> list[PlanProblem]:
    """Cross-field checks on the raw document, so they run even when some fields failed."""
    features = raw.get("feature")
    items: list[tuple[int, dict[str, Any]]] = []
    if isinstance(features, list):
        items = [(i, f) for i, f in enumerate(features) if isinstance(f, dict)]
    problems: list[PlanProblem] = []
    if "feature" not in raw or features == []:
        problems.append(
            PlanProblem(
                TOP,
                "feature",
                "the plan has no features",
                'add a [[feature]] table with at least id = "..." and title = "..."',
            )
        )
    label = _Labels(raw)
    problems += _check_ids_and_deps(label, items)
    problems += _check_profiles(raw, label, items)
    problems += _check_branches(raw, label, items)
    return problems


def _ids(items: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, int]:
    """First plan index of each string id."""
    seen: dict[str, int] = {}
    for index, item in items:
        fid = item.get("id")
        if isinstance(fid, str) and fid not in seen:
            seen[fid] = index
    return seen


def _deps(item: Mapping[str, Any]) -> list[str]:
    deps = item.get("depends_on")
    return [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []


def _check_ids_and_deps(
    label: _Labels, items: Sequence[tuple[int, dict[str, Any]]]
) -> Iterator[PlanProblem]:
    first = _ids(items)
    counts = Counter(item.get("id") for _, item in items if isinstance(item.get("id"), str))
    for fid, count in counts.items():
        if count > 1:
            places = ", ".join(f"#{i + 1}" for i, item in items if item.get("id") == fid)
            yield PlanProblem(
                f"feature {show(fid)}",
                "id",
                f"is used by {count} features ({places})",
                "give each feature its own id",
            )
    import networkx as nx

    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(first)
    for index, item in items:
        where = label(index)
        own = item.get("id")
        deps = _deps(item)
        for dep, n in Counter(deps).items():
            if n > 1:
                yield PlanProblem(
                    where, "depends_on", f"lists {show(dep)} {n} times", "list it once"
                )
        for dep in dict.fromkeys(deps):
            if dep == own:
                yield PlanProblem(
                    where, "depends_on", "the feature depends on itself", f"remove {dep!r}"
                )
            elif dep not in first:
                guess = _suggest(dep, list(first))
                hint = f"did you mean {guess!r}? Otherwise " if guess else ""
                yield PlanProblem(
                    where,
                    "depends_on",
                    f"{show(dep)} is not a feature in this plan",
                    f"{hint}add a feature with id {dep!r}, or remove it from depends_on",
                )
            elif isinstance(own, str):
                graph.add_edge(own, dep)
    yield from _cycles(graph, first)


def _cycles(graph: nx.DiGraph, order: Mapping[str, int]) -> Iterator[PlanProblem]:
    """One problem per dependency cycle (edges point from a feature to its dependency)."""
    import networkx as nx

    components = [c for c in nx.strongly_connected_components(graph) if len(c) > 1]
    for component in sorted(components, key=lambda c: min(order[n] for n in c)):
        start = min(component, key=order.__getitem__)
        edges = nx.find_cycle(graph.subgraph(component), source=start)
        cycle = [u for u, _ in edges]
        pivot = cycle.index(min(cycle, key=order.__getitem__))
        cycle = cycle[pivot:] + cycle[:pivot]
        shown = " -> ".join([*cycle, cycle[0]])
        yield PlanProblem(
            f"feature {show(cycle[0])}",
            "depends_on",
            f"the dependencies form a cycle: {shown} (each depends on the next)",
            "remove one of these dependencies to break the cycle",
        )


def _profiles(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Profile name -> its raw table, for the tables that are tables."""
    out: dict[str, dict[str, Any]] = {}
    agent = raw.get("agent", {})
    out[DEFAULT_PROFILE] = agent if isinstance(agent, dict) else {}
    agents = raw.get("agents", {})
    if isinstance(agents, dict):
        for name, table in agents.items():
            if name != DEFAULT_PROFILE:
                out[name] = table if isinstance(table, dict) else {}
    return out


def _check_profiles(
    raw: Mapping[str, Any], label: _Labels, items: Sequence[tuple[int, dict[str, Any]]]
) -> Iterator[PlanProblem]:
    profiles = _profiles(raw)
    names = list(profiles)
    agents = raw.get("agents")
    if isinstance(agents, dict) and DEFAULT_PROFILE in agents:
        yield PlanProblem(
            f"[agents.{DEFAULT_PROFILE}]",
            None,
            f"{DEFAULT_PROFILE!r} is the name of the [agent] profile",
            "rename this profile, or move its settings into [agent]",
        )

    def unknown(name: object, where: str, field: str) -> Iterator[PlanProblem]:
        if isinstance(name, str) and name not in profiles:
            guess = _suggest(name, names)
            hint = f"did you mean {guess!r}? Otherwise " if guess else ""
            yield PlanProblem(
                where,
                field,
                f"names the profile {name!r}, which is not defined",
                f"{hint}define [agents.{name}], or use one of: {', '.join(names)}",
            )

    routing = raw.get("routing")
    if isinstance(routing, dict):
        for category, name in routing.items():
            yield from unknown(name, "[routing]", category)
    default_backend = profiles[DEFAULT_PROFILE].get("backend")
    for name, table in profiles.items():
        where = "[agent]" if name == DEFAULT_PROFILE else f"[agents.{name}]"
        yield from unknown(table.get("escalate_to"), where, "escalate_to")
        yield from _check_backend_fields(where, table, default_backend, profiles)
    for index, item in items:
        yield from unknown(item.get("agent"), label(index), "agent")


def _check_backend_fields(
    where: str,
    table: Mapping[str, Any],
    default_backend: object,
    profiles: Mapping[str, Mapping[str, Any]],
) -> Iterator[PlanProblem]:
    backend = table.get("backend") or default_backend or "claude"
    if not isinstance(backend, str) or backend not in BACKEND_FIELDS:
        return
    for other, fields in BACKEND_FIELDS.items():
        if other == backend:
            continue
        for field in sorted(fields - BACKEND_FIELDS[backend]):
            if field in table:
                yield PlanProblem(
                    where,
                    field,
                    f"is used only by backend {other!r}, and this profile's backend is {backend!r}",
                    f"remove it, or set backend = {other!r}",
                )
    inherited = (
        profiles[DEFAULT_PROFILE].get("command")
        if backend == (default_backend or "claude")
        else None
    )
    if backend == "command" and table.get("command") is None and inherited is None:
        yield PlanProblem(
            where,
            "command",
            'is required when backend = "command"',
            'set command = ["your-agent", "--message-file", "{prompt_file}"]',
        )


def _check_branches(
    raw: Mapping[str, Any], label: _Labels, items: Sequence[tuple[int, dict[str, Any]]]
) -> Iterator[PlanProblem]:
    run = raw.get("run", {})
    if not isinstance(run, dict):
        return
    prefix = run.get("branch_prefix", "wta/")
    integration = run.get("integration_branch", "wta/integration")
    if not isinstance(prefix, str) or not isinstance(integration, str):
        return
    for index, item in items:
        if item.get("id") in RESERVED_IDS:
            name = f"{prefix}{item['id']}/<id>"
            yield PlanProblem(
                label(index),
                "id",
                f"{item['id']!r} is reserved: wta names its review branches {name}",
                "rename the feature",
            )
    if run.get("base") == integration:
        yield PlanProblem(
            "[run]",
            "base",
            f"is the same branch as integration_branch ({integration!r})",
            'set base to the branch integration starts from, such as "main"',
        )
    if not integration.startswith(prefix) or integration == prefix:
        yield PlanProblem(
            "[run]",
            "integration_branch",
            f"{integration!r} is not under branch_prefix {prefix!r}, and wta moves only "
            "branches under its prefix",
            f'use a branch under the prefix, such as "{prefix}integration"',
        )
        return
    clash = integration[len(prefix) :].split("/")[0]
    if clash in RESERVED_IDS:
        yield PlanProblem(
            "[run]",
            "integration_branch",
            f"{integration!r} clashes with wta's review branches, {prefix}{clash}/<id>",
            f'use another name under the prefix, such as "{prefix}integration"',
        )
    for index, item in items:
        if item.get("id") == clash:
            yield PlanProblem(
                label(index),
                "id",
                f"its branch {prefix + clash!r} clashes with integration_branch {integration!r}",
                "rename the feature, or change [run] integration_branch",
            )


def check_files(plan: Plan, plan_dir: Path) -> list[PlanProblem]:
    """What the plan names on disk: a `cli_path` that is not an executable file (each
    attempt on that profile would fail). Separate from loading, which reads only the text."""
    problems: list[PlanProblem] = []
    for name in plan.profile_names():
        own = plan.agent if name == DEFAULT_PROFILE else plan.agents[name]
        if own.cli_path is None or plan.resolve_profile(name).backend != "claude":
            continue
        from worktree_agents.agents.claude_cli import configured_cli, is_runnable

        path = configured_cli(own.cli_path, plan_dir)
        if not is_runnable(path):
            what = "is not executable" if path.is_file() else "does not exist"
            problems.append(
                PlanProblem(
                    "[agent]" if name == DEFAULT_PROFILE else f"[agents.{name}]",
                    "cli_path",
                    f"{path} {what}",
                    "point it at the Claude Code CLI, or remove it to use the CLI bundled"
                    " with claude-agent-sdk",
                )
            )
    return problems
