"""Where wta keeps its files under `<git-common-dir>/wta/`: one module builds every path.

state.db                         the store (store.py)
runs/<run id>.jsonl              a run's event log (events.py)
attempts/<id>/<n>/log.txt        an attempt's transcript
attempts/<id>/<n>/prompt.md      the prompt its agent was given
attempts/<id>/<n>/conflict.txt   the conflict report, when the merge conflicted
attempts/<id>/<n>/processes      the process groups it started (process.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worktree_agents.domain import FeatureId, RunId

LOG = "log.txt"


@dataclass(frozen=True)
class AttemptFiles:
    """The files of one attempt, all in one directory."""

    dir: Path

    @classmethod
    def of_log(cls, log_path: str | Path) -> AttemptFiles:
        """The files beside an attempt's recorded log."""
        return cls(Path(log_path).parent)

    @property
    def log(self) -> Path:
        return self.dir / LOG

    @property
    def prompt(self) -> Path:
        return self.dir / "prompt.md"

    @property
    def conflict(self) -> Path:
        return self.dir / "conflict.txt"

    @property
    def processes(self) -> Path:
        from worktree_agents.process import PROCESS_RECORD  # process.py loads asyncio

        return self.dir / PROCESS_RECORD

    @property
    def spend(self) -> Path:
        """What the agent had spent so far, kept up to date while it runs (agents/base.py)."""
        return self.dir / "spend.json"

    @property
    def refused_refs(self) -> Path:
        """The ref updates the attempt's git tried and wta's hook refused (refguard.py)."""
        return self.dir / "refused-refs"


@dataclass(frozen=True)
class StatePaths:
    """The state directory of one repository (`GitRepo.state_dir()`)."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "state.db"

    def run_events(self, run_id: RunId | str) -> Path:
        return self.root / "runs" / f"{run_id}.jsonl"

    def attempt(self, feature_id: FeatureId, n: int) -> AttemptFiles:
        return AttemptFiles(self.root / "attempts" / feature_id / str(n))
