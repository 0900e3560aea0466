"""The error tree, and the exit code each error maps to.

    WtaError                 exit 3 unless a subclass says otherwise
    ├── UsageError           exit 2: a bad argument or a missing file
    ├── PlanError            exit 2: the plan is invalid (carries every problem)
    ├── RepoError            exit 2: not a repo, bare repo, detached HEAD, missing base
    ├── LockError            exit 2: another orchestrator holds the repository
    ├── GitError             exit 3: a git command failed unexpectedly
    ├── StoreError           exit 3: the state store is unusable
    └── AgentError           exit 3: an agent backend could not be started

Anything else is a crash: the top-level handler writes a crash log and exits 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1
    USAGE = 2
    INTERNAL = 3
    INTERRUPTED = 130


class WtaError(Exception):
    """Root of every error wta raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        """The message as printed to the user, one entry per line."""
        return self.message.splitlines() or [self.message]


class UsageError(WtaError):
    exit_code = ExitCode.USAGE


class RepoError(WtaError):
    exit_code = ExitCode.USAGE


class LockError(WtaError):
    exit_code = ExitCode.USAGE


class StoreError(WtaError):
    exit_code = ExitCode.INTERNAL


class AgentError(WtaError):
    exit_code = ExitCode.INTERNAL


class GitError(WtaError):
    """A git command failed: carries the command, its exit code and stderr."""

    exit_code = ExitCode.INTERNAL

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        self.args_list = list(args)
        self.returncode = returncode
        self.stderr = stderr
        detail = stderr.strip() or "(no output on stderr)"
        super().__init__(f"`git {' '.join(self.args_list)}` exited {returncode}: {detail}")


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan: where it is, which field, what is wrong, how to fix it."""

    where: str  # e.g. "feature 'auth'", "[run]", "wta.toml:3:7"
    field: str | None  # e.g. "depends_on"; None for whole-document problems
    problem: str
    fix: str

    def render(self) -> str:
        place = f"{self.where}, {self.field}" if self.field else self.where
        return f"{place}: {self.problem}. Fix: {self.fix}"


class PlanError(WtaError):
    """The plan cannot be used. Carries every problem found, not only the first."""

    exit_code = ExitCode.USAGE

    def __init__(self, source: str, problems: Sequence[PlanProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        head = f"{source}: {count} {noun} in the plan"
        body = "\n".join(f"  - {p.render()}" for p in self.problems)
        super().__init__(f"{head}\n{body}")
