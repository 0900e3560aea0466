"""Start-up: `wta --version` answers before typer loads, and a command loads only what it
uses (each checked in a fresh interpreter); bench/startup.py keeps working."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from gitutil import SCRUBBED_GIT_VARS
from runutil import Spec, plan_repo, wta

from worktree_agents import __version__

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("typer", "pydantic", "networkx", "git", "claude_agent_sdk", "rich", "unidiff", "tomli_w")
# runs main(ARGS) then prints which of HEAVY and wta's heavier modules it loaded
PROBE = f"""
import sys
from worktree_agents.cli import main
code = main(sys.argv[1:])
heavy = {HEAVY!r} + ("worktree_agents.plan_checks", "worktree_agents.events")
print("exit", code, "loaded", sorted(m for m in heavy if m in sys.modules))
"""


def python(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def loaded(cwd: Path, *args: str) -> str:
    return python(cwd, "-c", PROBE, *args).splitlines()[-1]


def test_version_answers_before_typer_loads(tmp_path: Path) -> None:
    assert python(tmp_path, "-m", "worktree_agents.cli", "--version") == f"wta {__version__}\n"
    assert loaded(tmp_path, "--version") == "exit 0 loaded []"


def test_status_and_plan_load_only_what_they_use(tmp_path: Path) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, ["a"])])
    assert wta(repo, "run") == 0
    plan = str(tmp_path / "plan" / "wta.toml")
    # the first reads validate the plan and fill the cache; networkx checks for cycles
    first = "exit 0 loaded ['networkx', 'pydantic', 'typer', 'worktree_agents.plan_checks']"
    assert loaded(repo, "status", "--plan", plan) == first
    assert loaded(repo, "status", "--plan", plan) == "exit 0 loaded ['pydantic', 'typer']"
    # `wta plan` computes waves and the critical path (networkx) once, then shows what it
    # kept, for each format, the same as computed
    assert loaded(repo, "plan", "--plan", plan, "--format", "mermaid") == (
        "exit 0 loaded ['networkx', 'pydantic', 'typer', 'worktree_agents.plan_checks']"
    )
    for fmt in ("text", "json", "dot"):
        fresh = python(repo, "-m", "worktree_agents.cli", "plan", "--plan", plan, "--format", fmt)
        assert loaded(repo, "plan", "--plan", plan, "--format", fmt) == (
            "exit 0 loaded ['pydantic', 'typer', 'worktree_agents.plan_checks']"
        )
        kept = python(repo, "-m", "worktree_agents.cli", "plan", "--plan", plan, "--format", fmt)
        assert kept == fresh
    assert loaded(repo, "show", "a", "--plan", plan) == "exit 0 loaded ['pydantic', 'typer']"


def test_the_startup_bench_runs(tmp_path: Path) -> None:
    out = python(
        tmp_path,
        str(ROOT / "bench" / "startup.py"),
        "--features",
        "2",
        "--files",
        "4",
        "--repeat",
        "1",
        "--run-features",
        "2",
    )
    ms = r" +\d+\.\d +\d+\.\d +\d+\.\d\d +\d+\.\d\d"
    verdict = r"\d+\.\d\dx -> (met|NOT met)"
    expected = [
        r"wta from \S+ as .+; a finished run of 2 features, 4 files; 1 rounds",
        r" +median ms +best ms +/ pass +/ typer",
        r"python -c pass" + ms,
        r"python -c 'import typer'" + ms,
        r"wta --version" + ms,
        r"wta status" + ms,
        r"wta plan" + ms,
        r"goal: wta --version at most 1.5x import typer: " + verdict,
        r"goal: wta status at most 4.0x import typer: " + verdict,
        r"goal: wta plan at most 4.0x import typer: " + verdict,
        r"goal: peak RSS of wta run, 2 features, at most 45 MB \(the issue sets K=300\):"
        r" \d+\.\d MB -> (met|NOT met)",
    ]
    lines = out.splitlines()
    assert len(lines) == len(expected), out
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
