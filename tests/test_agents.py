"""Tests for the patch and command agent backends, in real git worktrees with real programs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import get_args

import pytest
from gitutil import git, make_repo
from runutil import resolved_profile

from worktree_agents.agents import AgentResult, AgentTask, backend_for, capabilities_for
from worktree_agents.agents.base import Capabilities
from worktree_agents.agents.claude import ClaudeAgent
from worktree_agents.agents.command import CommandAgent
from worktree_agents.agents.patch import PatchAgent
from worktree_agents.agents.registry import CAPABILITIES
from worktree_agents.domain import CommitSha, FailureReason, FeatureId
from worktree_agents.errors import AgentError
from worktree_agents.plan import Backend, ResolvedProfile

PROFILE = resolved_profile()

README_PATCH = """\
diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 # sample
+Added by {who}.
diff --git a/src/new.py b/src/new.py
new file mode 100644
--- /dev/null
+++ b/src/new.py
@@ -0,0 +1 @@
+VALUE = 1
"""

BAD_PATCH = """\
diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1 +1 @@
-# some other text
+# replaced
"""

RECORDER = """\
import json, os, sys
names = sorted(n for n in os.environ if n.startswith("WTA_"))
record = {
    "argv": sys.argv[1:],
    "cwd": os.getcwd(),
    "env": {n: os.environ[n] for n in names},
    "extra": os.environ.get("EXTRA_SETTING"),
    "absent": [n for n in ("CLAUDECODE", "GIT_DIR", "GIT_INDEX_FILE") if n in os.environ],
}
with open(os.environ["RECORD_PATH"], "w") as f:
    json.dump(record, f)
"""


def real(path: Path) -> str:
    return os.path.realpath(path)


def make_task(tmp_path: Path, profile: ResolvedProfile, attempt: int = 1) -> AgentTask:
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "worktrees" / "feat"
    git(repo, "worktree", "add", "--quiet", "-b", "wta/feat", str(worktree), "main")
    prompt_file = tmp_path / "state" / "prompt.md"
    prompt_file.parent.mkdir(parents=True)
    prompt_file.write_text("Do the feature.\n")
    return AgentTask(
        feature_id=FeatureId("feat"),
        title="A feature",
        attempt=attempt,
        run_id="run-1",
        worktree=worktree,
        base_commit=CommitSha(git(repo, "rev-parse", "main")),
        prompt="Do the feature.\n",
        prompt_file=prompt_file,
        log_path=tmp_path / "state" / "feat.log",
        port=43210,
        profile=profile,
        plan_dir=repo,
    )


def write_patch(task: AgentTask, name: str, text: str) -> Path:
    path = task.plan_dir / "patches" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def timeless(result: AgentResult) -> AgentResult:
    return replace(result, duration_s=0.0)


def test_backend_for_each_backend() -> None:
    assert isinstance(backend_for(PROFILE), PatchAgent)
    assert isinstance(backend_for(replace(PROFILE, backend="command")), CommandAgent)
    assert isinstance(backend_for(replace(PROFILE, backend="claude")), ClaudeAgent)


def test_capabilities_table_matches_each_backend_class() -> None:
    # The static table exists so that asking about claude does not import the SDK; it
    # must say what each class itself declares, for every backend a plan can name.
    declared = {
        name: type(backend_for(replace(PROFILE, backend=name))).capabilities
        for name in get_args(Backend)
    }
    assert declared == CAPABILITIES
    assert {name: capabilities_for(name) for name in get_args(Backend)} == {
        "claude": Capabilities(records_model=True, supports_resume=True),
        "command": Capabilities(records_model=False, supports_resume=False),
        "patch": Capabilities(records_model=False, supports_resume=False),
    }


def test_capabilities_for_imports_no_backend_sdk() -> None:
    code = (
        "import sys\n"
        "from worktree_agents.agents.registry import capabilities_for\n"
        "capabilities_for('claude')\n"
        "print(sorted(m for m in sys.modules if 'claude' in m))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out == "[]\n"


def test_capabilities_for_an_unknown_backend() -> None:
    with pytest.raises(AgentError) as caught:
        capabilities_for("aider")
    assert str(caught.value) == "the aider backend is not available yet"


def test_agent_result_is_built_by_keyword() -> None:
    with pytest.raises(TypeError):
        AgentResult(True, None, None, 1.0)  # type: ignore[call-arg]


def test_patch_agent_applies_without_committing(tmp_path: Path) -> None:
    task = make_task(tmp_path, PROFILE)
    write_patch(task, "feat.patch", README_PATCH.format(who="the patch"))
    result = asyncio.run(PatchAgent().run(task))
    assert timeless(result) == AgentResult(
        ok=True,
        reason=None,
        detail=None,
        duration_s=0.0,
        cost_usd=0.0,
        summary="applied feat.patch",
    )
    assert (task.worktree / "README.md").read_text() == "# sample\nAdded by the patch.\n"
    assert (task.worktree / "src" / "new.py").read_text() == "VALUE = 1\n"
    assert git(task.worktree, "status", "--porcelain") == "M README.md\n?? src/new.py"
    assert git(task.worktree, "rev-parse", "HEAD") == task.base_commit


def test_patch_agent_prefers_the_patch_for_this_attempt(tmp_path: Path) -> None:
    task = make_task(tmp_path, PROFILE, attempt=2)
    write_patch(task, "feat.patch", README_PATCH.format(who="the first try"))
    write_patch(task, "feat.attempt2.patch", README_PATCH.format(who="the retry"))
    write_patch(task, "feat.attempt3.patch", BAD_PATCH)
    result = asyncio.run(PatchAgent().run(task))
    assert (result.ok, result.summary) == (True, "applied feat.attempt2.patch")
    assert (task.worktree / "README.md").read_text() == "# sample\nAdded by the retry.\n"


def test_patch_agent_without_a_patch(tmp_path: Path) -> None:
    task = make_task(tmp_path, PROFILE)
    result = asyncio.run(PatchAgent().run(task))
    detail = f"no patch for feature 'feat' at {task.plan_dir / 'patches' / 'feat.patch'}"
    assert timeless(result) == AgentResult(
        ok=False, reason=FailureReason.AGENT_ERROR, detail=detail, duration_s=0.0, cost_usd=0.0
    )
    assert task.log_path.read_text() == f"[wta] {detail}\n"


def test_patch_agent_with_a_patch_that_does_not_apply(tmp_path: Path) -> None:
    task = make_task(tmp_path, PROFILE)
    write_patch(task, "feat.patch", BAD_PATCH)
    result = asyncio.run(PatchAgent().run(task))
    assert timeless(result) == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail="feat.patch does not apply: error: patch failed: README.md:1",
        duration_s=0.0,
        cost_usd=0.0,
    )
    assert git(task.worktree, "status", "--porcelain") == ""


def test_command_agent_substitutes_per_argument_and_sets_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "elsewhere.index"))
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    record_path = tmp_path / "record.json"
    command = (
        sys.executable,
        str(script),
        "--message-file",
        "{prompt_file}",
        "id={feature_id}",
        "{worktree}/sub",
        "{unknown}",
        "{feature_id}{feature_id} {0}",
        "two words",
    )
    profile = replace(
        PROFILE,
        backend="command",
        command=command,
        env={"EXTRA_SETTING": "on", "RECORD_PATH": str(record_path)},
    )
    task = make_task(tmp_path, profile, attempt=3)
    result = asyncio.run(CommandAgent().run(task))
    assert timeless(result) == AgentResult(ok=True, reason=None, detail=None, duration_s=0.0)
    assert json.loads(record_path.read_text()) == {
        "argv": [
            "--message-file",
            str(task.prompt_file),
            "id=feat",
            f"{task.worktree}/sub",
            "{unknown}",
            "featfeat {0}",
            "two words",
        ],
        "cwd": real(task.worktree),
        "env": {
            "WTA_ATTEMPT": "3",
            "WTA_ATTEMPT_MARKER": f"run-1:{task.log_path.parent}",
            "WTA_BASE_COMMIT": task.base_commit,
            "WTA_FEATURE_ID": "feat",
            "WTA_PORT": "43210",
            "WTA_PROMPT_FILE": str(task.prompt_file),
            "WTA_RUN_ID": "run-1",
            "WTA_WORKTREE": str(task.worktree),
        },
        "extra": "on",
        "absent": [],
    }


def test_command_agent_nonzero_exit(tmp_path: Path) -> None:
    code = textwrap.dedent("""\
        import sys
        print("working on it")
        print("could not finish: tests fail", file=sys.stderr)
        print()
        sys.exit(3)
    """)
    profile = replace(PROFILE, backend="command", command=(sys.executable, "-c", code))
    result = asyncio.run(CommandAgent().run(make_task(tmp_path, profile)))
    assert timeless(result) == AgentResult(
        ok=False,
        reason=FailureReason.AGENT_ERROR,
        detail="exited 3: could not finish: tests fail",
        duration_s=0.0,
    )


def test_command_agent_timeout(tmp_path: Path) -> None:
    code = "import time; print('thinking', flush=True); time.sleep(30)"
    profile = replace(
        PROFILE, backend="command", command=(sys.executable, "-c", code), timeout_s=0.5
    )
    result = asyncio.run(CommandAgent().run(make_task(tmp_path, profile)))
    assert timeless(result) == AgentResult(
        ok=False, reason=FailureReason.TIMEOUT, detail="timed out after 0.5s", duration_s=0.0
    )


def test_command_agent_idle(tmp_path: Path) -> None:
    code = "import time; print('thinking', flush=True); time.sleep(30)"
    profile = replace(
        PROFILE, backend="command", command=(sys.executable, "-c", code), idle_timeout_s=0.5
    )
    result = asyncio.run(CommandAgent().run(make_task(tmp_path, profile)))
    assert timeless(result) == AgentResult(
        ok=False, reason=FailureReason.IDLE, detail="no output for 0.5s", duration_s=0.0
    )
