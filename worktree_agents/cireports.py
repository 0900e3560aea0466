"""The reports `wta run` and `wta merge` leave for CI: `--junit FILE` (junit.py) and, when
`$GITHUB_STEP_SUMMARY` names a file, a Markdown summary appended to it (stepsummary.py)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from worktree_agents.errors import UsageError
from worktree_agents.git import GitRepo
from worktree_agents.junit import junit_xml, log_tails
from worktree_agents.plan import Plan
from worktree_agents.stepsummary import step_summary
from worktree_agents.store import Store

STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def check_report_path(path: Path, option: str) -> None:
    """Fail before the run starts if the report cannot be written to `path`: a report lost
    after an hour of agents is worse than an error now. A file made and removed in its
    directory is the real test (permissions alone do not tell, e.g. for root)."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: the directory {parent} does not exist; create it first")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write there: {exc.strerror}") from exc


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_ci_reports(
    command: str, data: dict[str, Any], plan: Plan, repo: GitRepo, junit: Path | None
) -> None:
    """Write the JUnit report (when asked for) and append the step summary (when in GitHub
    Actions), from `data`, what `--json` prints for the command. The run is over by now, so
    a file that cannot be written is a warning; the exit code stays the run's."""
    if junit is not None:
        ids = [f["id"] for f in data["features"] if f["state"] == "failed"]
        with Store.open(repo.state_dir()) as store:
            tails = log_tails(store, ids)
        try:
            write_atomic(junit, junit_xml(data, f"wta.{repo.toplevel.name}", tails))
        except OSError as exc:
            _warn(f"cannot write the --junit report {junit}: {exc}")
    summary_file = os.environ.get(STEP_SUMMARY)
    if summary_file:
        deps: dict[str, list[str]] = {f.id: list(f.depends_on) for f in plan.features}
        try:
            with Path(summary_file).open("a", encoding="utf-8") as out:
                out.write(step_summary(command, data, deps))
        except OSError as exc:
            _warn(f"cannot append to {STEP_SUMMARY} {summary_file}: {exc}")


def _warn(message: str) -> None:
    sys.stderr.write(f"wta: warning: {message}\n")
