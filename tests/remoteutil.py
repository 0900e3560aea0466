"""Helpers for the remote's shared state: a bare remote, clones standing in for machines, a
result record, and a pre-receive hook that holds pushes until several have arrived."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gitutil import SCRUBBED_GIT_VARS, git, make_repo

from worktree_agents.remote_state import FeatureResult


def remote_with_clones(tmp_path: Path, clones: int) -> tuple[Path, list[Path]]:
    """A bare remote holding one commit on main, and `clones` clones of it (origin)."""
    source = make_repo(tmp_path / "source")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    git(source, "push", "--quiet", str(remote), "main")
    machines = []
    for n in range(clones):
        machine = tmp_path / f"machine{n}"
        git(tmp_path, "clone", "--quiet", str(remote), str(machine))
        machines.append(machine)
    return remote, machines


def result(feature_id: str, worker: str, **fields: Any) -> FeatureResult:
    values: dict[str, Any] = {"state": "done", "finished_at": 1_700_000_000.0, **fields}
    return FeatureResult(feature_id=feature_id, worker=worker, **values)


def remote_refs(remote: Path) -> dict[str, str]:
    """Every ref of the remote under refs/wta/, and its commit."""
    listed = git(remote, "for-each-ref", "--format=%(refname) %(objectname)", "refs/wta/")
    return dict(line.split() for line in listed.splitlines())


def hold_pushes(remote: Path, count: int) -> None:
    """A pre-receive hook on the remote that holds each push until `count` pushes have
    arrived (after the pushers computed their leases), then lets them all go at once; after
    20 s it refuses instead, so a race that never happened fails the test."""
    arrived = remote / "arrived"
    arrived.mkdir()
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "cat >/dev/null\n"
        f'touch "{arrived}/$$"\n'
        "i=0\n"
        f'while [ "$(ls "{arrived}" | wc -l)" -lt {count} ]; do\n'
        "  i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.05\n"
        "done\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)


CLAIMER = """\
import json, sys
from pathlib import Path
from worktree_agents.git import GitRepo
from worktree_agents.remote_state import claim
repo, feature, holder, now = GitRepo.open(Path(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
out = claim(repo, "origin", feature, holder, ttl_s=60, now=float(now))
taken = out.taken_over.holder if out.taken_over else None
print(json.dumps([out.won, out.claim.holder if out.claim else None, taken]))
"""


def start_claimer(machine: Path, feature: str, holder: str, now: float) -> subprocess.Popen[str]:
    """claim() in a process of its own, on `machine`; it prints [won, claim holder, taken]."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMER, str(machine), feature, holder, str(now)],
        cwd=machine,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
