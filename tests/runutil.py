"""Helpers for end-to-end runs: a repository, a plan, and patches for the patch agent.

Patches are made by real git from whole file states: `tree_of` builds a tree object from
a {path: text} mapping through a temporary index, and `git diff -M` between two trees is
the patch. No mocking anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from gitutil import SCRUBBED_GIT_VARS, make_repo

from worktree_agents.cli import main
from worktree_agents.plan import ResolvedProfile

# A small repository for runs whose files do not matter.
BASE = {"README.md": "# sample\n", "src/core.py": "VALUE = 1\n"}


@dataclass
class Spec:
    """A feature for the patch agent: the files it ends with (None deletes a file)."""

    id: str
    changes: Mapping[str, str | None]
    depends_on: Sequence[str] = ()
    acceptance: Sequence[str] = ()
    extra: str = ""  # more TOML lines for this [[feature]]
    attempt_changes: Mapping[int, Mapping[str, str | None]] = field(default_factory=dict)


def tree_of(repo: Path, files: Mapping[str, str], index: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    env["GIT_INDEX_FILE"] = str(index)
    index.unlink(missing_ok=True)
    for path, text in sorted(files.items()):
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, env=env, input=text.encode(),
            capture_output=True, check=True,
        ).stdout.decode().strip()  # fmt: skip
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
            cwd=repo, env=env, check=True,
        )  # fmt: skip
    return (
        subprocess.run(["git", "write-tree"], cwd=repo, env=env, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )


def apply(files: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    out = dict(files)
    for path, text in changes.items():
        if text is None:
            out.pop(path, None)
        else:
            out[path] = text
    return out


def base_state(specs: Sequence[Spec], spec: Spec, base: Mapping[str, str]) -> dict[str, str]:
    """Base plus the changes of every transitive dependency, in plan order."""
    by_id = {s.id: s for s in specs}
    needed: set[str] = set()
    stack = list(spec.depends_on)
    while stack:
        fid = stack.pop()
        if fid not in needed:
            needed.add(fid)
            stack.extend(by_id[fid].depends_on)
    files = dict(base)
    for s in specs:
        if s.id in needed:
            files = apply(files, s.changes)
    return files


def write_patch(repo: Path, before: Mapping[str, str], after: Mapping[str, str], out: Path) -> None:
    index = repo / ".git" / "wta-test-index"
    old, new = tree_of(repo, before, index), tree_of(repo, after, index)
    index.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    diff = subprocess.run(
        ["git", "diff", "-M", old, new], cwd=repo, env=env, capture_output=True, check=True
    )
    out.write_bytes(diff.stdout)


UNIT_PROFILE = ResolvedProfile(
    name="default",
    backend="patch",
    model=None,
    fallback_model=None,
    max_turns=None,
    max_budget_usd=None,
    timeout_s=20.0,
    idle_timeout_s=20.0,
    escalate_to=None,
    env={},
    command=None,
    dir="patches",
    cli_path=None,
    permission_mode=None,
    allowed_tools=None,
    disallowed_tools=None,
    setting_sources=None,
)


def resolved_profile(**changes: Any) -> ResolvedProfile:
    """A resolved profile as a unit test wants it: the patch backend, 20 s timeouts and
    nothing else set, with `changes` on top."""
    return replace(UNIT_PROFILE, **changes)


def agent_toml(profile: Mapping[str, object], name: str = "default") -> str:
    """One agent profile as TOML: `[agent]` for the default profile, else `[agents.<name>]`."""
    table = {"agent": profile} if name == "default" else {"agents": {name: profile}}
    return tomli_w.dumps(table)


def command_profile(script: Path, *args: str) -> dict[str, object]:
    """A profile for the command backend: `script` run by this Python, with `args`."""
    return {"backend": "command", "command": [sys.executable, str(script), *args]}


def plan_repo(
    root: Path,
    specs: Sequence[Spec],
    base: Mapping[str, str] | None = None,
    settings: str = "",
    *,
    agent: Mapping[str, object] | None = None,
    profiles: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """A repository on `main` holding `base`, with wta.toml and patches/ outside the repo.

    The default profile is `agent`, else the patch agent on those patches; `profiles` are
    the other profiles, by name."""
    base = dict(base or {"README.md": "# sample\n"})
    repo = make_repo(root / "repo", base)
    plan_dir = root / "plan"
    default = agent or {"backend": "patch", "dir": str(plan_dir / "patches")}
    lines = [settings, agent_toml(default)]
    lines += [agent_toml(profile, name) for name, profile in (profiles or {}).items()]
    for spec in specs:
        before = base_state(specs, spec, base)
        write_patch(
            repo, before, apply(before, spec.changes), plan_dir / "patches" / f"{spec.id}.patch"
        )
        for attempt, changes in spec.attempt_changes.items():
            out = plan_dir / "patches" / f"{spec.id}.attempt{attempt}.patch"
            write_patch(repo, before, apply(before, changes), out)
        lines += ["", "[[feature]]", f'id = "{spec.id}"']
        if spec.depends_on:
            lines.append("depends_on = [" + ", ".join(f'"{d}"' for d in spec.depends_on) + "]")
        if spec.acceptance:
            lines.append("acceptance = [" + ", ".join(f"'{a}'" for a in spec.acceptance) + "]")
        if spec.extra:
            lines.append(spec.extra)
    (plan_dir / "wta.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return repo


def wta(repo: Path, *args: str) -> int:
    """Run `wta` in-process from inside `repo`, with the plan next to the repository."""
    old = Path.cwd()
    os.chdir(repo)  # tests only: the code under test never changes directory
    try:
        return main([*args, "--plan", str(repo.parent / "plan" / "wta.toml")])
    finally:
        os.chdir(old)


def start_run(repo: Path, *, new_session: bool = False) -> subprocess.Popen[bytes]:
    """`wta run` as a separate process (to be killed or watched), the plan beside `repo`."""
    return start_wta(repo, "run", new_session=new_session)


def start_wta(repo: Path, *args: str, new_session: bool = False) -> subprocess.Popen[bytes]:
    """`wta ARGS` as a separate process (to be killed or watched), the plan beside `repo`."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    plan = repo.parent / "plan" / "wta.toml"
    return subprocess.Popen(
        [sys.executable, "-m", "worktree_agents.cli", *args, "--plan", str(plan)],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=new_session,
    )


AGENT = """\
import json, os, pathlib, sys
feature = os.environ["WTA_FEATURE_ID"]
if feature != "lazy":
    pathlib.Path(f"{feature}.json").write_text(json.dumps({
        "argv": sys.argv[1:],
        "prompt_first_line": open(os.environ["WTA_PROMPT_FILE"]).readline().rstrip(),
        "attempt": os.environ["WTA_ATTEMPT"],
    }, sort_keys=True) + "\\n")
print("agent done for", feature)
"""


def command_repo(
    root: Path,
    specs: Sequence[Spec],
    *,
    settings: str = "",
    profiles: Mapping[str, Mapping[str, object]] | None = None,
) -> Path:
    """`plan_repo` on BASE whose default profile runs `root/agent.py --id <feature id>` on
    the command backend; the script is AGENT until a test writes its own."""
    script = root / "agent.py"
    script.write_text(AGENT)
    agent = command_profile(script, "--id", "{feature_id}")
    return plan_repo(root, specs, BASE, settings, agent=agent, profiles=profiles)


def features(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, dict[str, object]]:
    """`wta status --json`'s features, by id (what was captured before is dropped)."""
    capsys.readouterr()
    assert wta(repo, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)["data"]
    return {f["id"]: f for f in data["features"]}
