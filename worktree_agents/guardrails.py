"""The diff guardrails: what a feature's commits changed (parsed with unidiff), and which
of the plan's limits on changed files, changed lines and protected paths that breaks."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from unidiff.patch import PatchedFile, PatchSet

from worktree_agents.domain import CommitSha, GuardrailRule
from worktree_agents.git import GitRepo
from worktree_agents.plan import Guardrails
from worktree_agents.text import plural

# A path in git never contains "//", so these prefixes make every `diff --git` header
# split in exactly one place, even for paths containing " b/" (which trips unidiff
# with the usual a/ and b/ prefixes).
OLD_PREFIX = "old://"
NEW_PREFIX = "new://"
DEV_NULL = "/dev/null"
# Plain patch output (no --binary: binary files show as "Binary files ... differ"), with
# every user setting that changes its shape pinned. -U0: only the counts matter.
DIFF_ARGS = (
    "-c",
    "core.quotePath=false",
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--find-renames",
    "--submodule=short",
    "--unified=0",
    f"--src-prefix={OLD_PREFIX}",
    f"--dst-prefix={NEW_PREFIX}",
)
C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}

ChangeStatus = Literal["added", "modified", "deleted", "renamed"]


@dataclass(frozen=True)
class FileChange:
    """One file in a diff; `old_path` is set only for a rename."""

    path: str
    old_path: str | None
    insertions: int
    deletions: int
    binary: bool
    status: ChangeStatus


@dataclass(frozen=True)
class DiffStats:
    """Every file a diff touches, in git's order, and the line totals."""

    files: tuple[FileChange, ...]
    insertions: int
    deletions: int

    @property
    def files_changed(self) -> int:
        return len(self.files)


@dataclass(frozen=True)
class Violation:
    """One broken guardrail, with a one-sentence explanation."""

    rule: GuardrailRule
    detail: str


def diff_stats(repo: GitRepo, base: CommitSha, head: CommitSha) -> DiffStats:
    """What changed from `base` to `head`, with renames detected."""
    return parse_diff(repo.run(*DIFF_ARGS, base, head, "--").stdout)


def parse_diff(text: str) -> DiffStats:
    """Parse `git diff` patch output made with DIFF_ARGS (plain a/ b/ prefixes work too)."""
    files = tuple(_file_change(patched) for patched in PatchSet(text))
    return DiffStats(
        files=files,
        insertions=sum(f.insertions for f in files),
        deletions=sum(f.deletions for f in files),
    )


def _file_change(patched: PatchedFile) -> FileChange:
    source, target = patched.source_file, patched.target_file
    old = None if source == DEV_NULL else _strip_prefix(_unquote(source), OLD_PREFIX, "a/")
    new = None if target == DEV_NULL else _strip_prefix(_unquote(target), NEW_PREFIX, "b/")
    status: ChangeStatus
    if old is None:
        status = "added"
    elif new is None:
        status = "deleted"
    else:
        status = "renamed" if old != new else "modified"
    path = new or old
    assert path is not None  # git never diffs /dev/null against /dev/null
    return FileChange(
        path=path,
        old_path=old if status == "renamed" else None,
        insertions=patched.added,
        deletions=patched.removed,
        binary=patched.is_binary_file,
        status=status,
    )


def _strip_prefix(name: str, prefix: str, plain_prefix: str) -> str:
    for candidate in (prefix, plain_prefix):
        if name.startswith(candidate):
            return name[len(candidate) :]
    return name


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of a path ("a\\tb", octal bytes), if it is quoted."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    out = bytearray()
    body = name[1:-1]
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 == len(body):
            out += char.encode("utf-8", "surrogateescape")
            i += 1
        elif body[i + 1] in C_ESCAPES:
            out.append(C_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
    return out.decode("utf-8", "surrogateescape")


def check_diff(stats: DiffStats, guardrails: Guardrails) -> list[Violation]:
    """Every guardrail `stats` breaks: the file limit, the line limit, then protected paths."""
    violations: list[Violation] = []
    max_files = guardrails.max_changed_files
    if max_files is not None and stats.files_changed > max_files:
        detail = f"changed {plural(stats.files_changed, 'file')}; the limit is {max_files}"
        violations.append(
            Violation(GuardrailRule.MAX_CHANGED_FILES, f"{detail} (max_changed_files)")
        )
    max_lines = guardrails.max_changed_lines
    lines = stats.insertions + stats.deletions
    if max_lines is not None and lines > max_lines:
        detail = (
            f"changed {lines} lines ({stats.insertions} added, {stats.deletions} deleted);"
            f" the limit is {max_lines}"
        )
        violations.append(
            Violation(GuardrailRule.MAX_CHANGED_LINES, f"{detail} (max_changed_lines)")
        )
    for change in stats.files:
        touched = [p for p in (change.old_path, change.path) if p is not None]
        pattern = next(
            (m for m in (matches_protected(p, guardrails.protected_paths) for p in touched) if m),
            None,
        )
        if pattern is not None:
            shown = " -> ".join(touched)
            detail = f"changed a protected path: {shown} (matches {pattern!r})"
            violations.append(Violation(GuardrailRule.PROTECTED_PATHS, detail))
    return violations


def matches_protected(path: str, patterns: Sequence[str]) -> str | None:
    """The first pattern matching `path` or one of its parent directories, or None.

    Patterns are gitignore-style globs rooted at the repository root, like .gitattributes
    patterns with a leading slash: "wta.toml" is only the root file, never "sub/wta.toml".
    `*` and `?` stay within one path segment, `[abc]` is a character class, `**` spans any
    number of directories ("**/secrets.txt" is that name at any depth, ".github/**"
    everything under .github), and a directory pattern (".github", "docs/") covers
    everything inside it. Matching is case-sensitive, as git is by default.
    """
    prefixes = _self_and_parents(path)
    for pattern in patterns:
        regex = _compile(pattern)
        if any(regex.fullmatch(p) for p in prefixes):
            return pattern
    return None


def format_feedback(violations: Sequence[Violation]) -> str:
    """The guardrail failure as feedback for the agent's retry prompt ("" for none)."""
    if not violations:
        return ""
    lines = "\n".join(f"- {v.detail}" for v in violations)
    return (
        "The change was rejected by the plan's guardrails:\n"
        f"{lines}\n"
        "Make a smaller change that stays within these limits and leaves protected paths alone."
    )


def _self_and_parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(_glob_regex(pattern))


def _glob_regex(pattern: str) -> str:
    """Translate one rooted glob into a regex over slash-separated paths.

    (Apart from `_compile`, because mutation testing skips decorated functions.)"""
    glob = pattern.lstrip("/")
    if glob.endswith("/"):
        glob += "**"
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i) and (i == 0 or glob[i - 1] == "/"):
            out.append("(?:[^/]+/)*")  # zero or more whole directories
            i += 3
        elif glob.startswith("**", i) and i + 2 == len(glob) and (i == 0 or glob[i - 1] == "/"):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            while i < len(glob) and glob[i] == "*":
                i += 1
            out.append("[^/]*")
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and (end := glob.find("]", i + 2)) != -1:
            members = glob[i + 1 : end]
            negate = members[:1] in ("!", "^")
            members = members[1:] if negate else members
            escaped = members.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            i = end + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class RunGuard:
    """The run-wide guardrails: the run budget and the circuit breaker.

    Once either trips, no new attempt starts; `stopped_by` names the rule, and `on_trip`
    hears (rule, one-line detail) once.

    Each attempt reserves its profile's `max_budget_usd` before it starts (`reserve`) and
    `settle`s when it ends: the reservation is replaced by what it spent. An attempt waits
    while the spend and the others' reservations leave too little of the run budget for its
    own, so that agents running at once cannot overshoot it together; alone, it starts (it
    is the run budget's own check that then stops the next one). A profile with no
    `max_budget_usd` reserves nothing.
    """

    def __init__(
        self, guardrails: Guardrails, on_trip: Callable[[GuardrailRule, str], None] | None = None
    ) -> None:
        self.rails = guardrails
        self.on_trip = on_trip
        self.spent_usd = 0.0
        self.failures_in_a_row = 0
        self.stopped_by: GuardrailRule | None = None
        self.reserved: dict[str, float] = {}  # by feature id

    def reserve(self, key: str, amount_usd: float | None, *, wait: bool = True) -> bool:
        """Reserve `amount_usd` for `key`'s next attempt: False (reserving nothing) while
        other attempts' reservations leave too little of the run budget. A retry (`wait`
        False) keeps its feature's place: it reserves without waiting."""
        budget = self.rails.run_budget_usd
        self.reserved.pop(key, None)
        if budget is None or not amount_usd:
            return True
        others = sum(self.reserved.values())
        if wait and others and self.spent_usd + others + amount_usd > budget:
            return False
        self.reserved[key] = amount_usd
        return True

    def settle(self, key: str, cost_usd: float | None) -> None:
        """`key`'s attempt ended: its reservation gives way to what it spent."""
        self.reserved.pop(key, None)
        self.spent(cost_usd)

    def may_start(self) -> bool:
        budget = self.rails.run_budget_usd
        if budget is not None and self.spent_usd >= budget:  # reservations wait, never trip
            self._trip(
                GuardrailRule.RUN_BUDGET,
                f"the run spent ${self.spent_usd:.4f} of its ${budget:.2f} budget;"
                " no new attempt starts",
            )
        return self.stopped_by is None

    def spent(self, cost_usd: float | None) -> None:
        self.spent_usd += cost_usd or 0.0

    def succeeded(self) -> None:
        self.failures_in_a_row = 0

    def failed(self) -> None:
        self.failures_in_a_row += 1
        limit = self.rails.stop_after_failures
        if limit is not None and self.failures_in_a_row >= limit:
            self._trip(
                GuardrailRule.STOP_AFTER_FAILURES,
                f"{plural(self.failures_in_a_row, 'feature')} failed in a row;"
                " no new feature starts",
            )

    def _trip(self, rule: GuardrailRule, detail: str) -> None:
        if self.stopped_by is None:
            self.stopped_by = rule
            if self.on_trip is not None:
                self.on_trip(rule, detail)
