"""Tests for guardrails.py: diffs of real commits, each limit, and protected-path globs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, commit, git, make_repo

from worktree_agents.domain import CommitSha, GuardrailRule
from worktree_agents.git import GitRepo
from worktree_agents.guardrails import (
    DiffStats,
    FileChange,
    RunGuard,
    Violation,
    _compile,
    check_diff,
    diff_stats,
    format_feedback,
    matches_protected,
    parse_diff,
)
from worktree_agents.plan import Guardrails

UTIL = "".join(f"line {n}\n" for n in range(1, 11))
BASE_FILES = {
    "README.md": "# sample\n",
    "src/app.py": "def main() -> None:\n    print('hello')\n",
    "notes/old.txt": "one\ntwo\nthree\n",
    "lib/util.py": UTIL,
}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"


def plain_git_diff(repo: Path, base: str, head: str) -> str:
    """`git diff base head` exactly as a user would type it, unstripped."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    proc = subprocess.run(
        ["git", "diff", base, head], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def commit_all(repo: Path, message: str) -> CommitSha:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return CommitSha(git(repo, "rev-parse", "HEAD"))


@pytest.fixture
def five_kinds(tmp_path: Path) -> tuple[GitRepo, CommitSha, CommitSha]:
    """A commit that adds, modifies, deletes, renames-with-edits, and adds a binary file."""
    repo_dir = make_repo(tmp_path / "repo", BASE_FILES)
    base = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    (repo_dir / "notes/old.txt").unlink()
    (repo_dir / "pkg").mkdir()
    git(repo_dir, "mv", "lib/util.py", "pkg/util.py")
    (repo_dir / "assets").mkdir()
    (repo_dir / "assets/logo.png").write_bytes(PNG)
    head = commit(
        repo_dir,
        {
            "src/app.py": "def main() -> None:\n    print('hello, world')\n    return None\n",
            "pkg/util.py": UTIL.replace("line 5\n", "line five\n"),
            "docs/guide.md": "a\nb\n",
        },
        "five kinds of change",
    )
    return GitRepo.open(repo_dir), base, CommitSha(head)


FIVE_KINDS = DiffStats(
    files=(
        FileChange("assets/logo.png", None, 0, 0, binary=True, status="added"),
        FileChange("docs/guide.md", None, 2, 0, binary=False, status="added"),
        FileChange("notes/old.txt", None, 0, 3, binary=False, status="deleted"),
        FileChange("pkg/util.py", "lib/util.py", 1, 1, binary=False, status="renamed"),
        FileChange("src/app.py", None, 2, 1, binary=False, status="modified"),
    ),
    insertions=5,
    deletions=5,
)


def test_diff_stats_of_every_kind_of_change(
    five_kinds: tuple[GitRepo, CommitSha, CommitSha],
) -> None:
    repo, base, head = five_kinds
    stats = diff_stats(repo, base, head)
    assert stats == FIVE_KINDS
    assert stats.files_changed == 5


def test_parse_diff_reads_plain_git_diff_output(
    five_kinds: tuple[GitRepo, CommitSha, CommitSha],
) -> None:
    repo, base, head = five_kinds
    assert parse_diff(plain_git_diff(repo.toplevel, base, head)) == FIVE_KINDS


def test_parse_diff_of_nothing() -> None:
    assert parse_diff("") == DiffStats(files=(), insertions=0, deletions=0)


def test_awkward_paths_survive(tmp_path: Path) -> None:
    """Spaces, " b/" inside a path, quotes, non-ASCII and empty files."""
    repo_dir = make_repo(tmp_path / "repo")
    base = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    head = commit(
        repo_dir,
        {"x b/c d.txt": "hi\n", 'we"ird.txt': "q\n", "naïve.txt": "z\n", "empty.txt": ""},
    )
    assert diff_stats(GitRepo.open(repo_dir), base, CommitSha(head)) == DiffStats(
        files=(
            FileChange("empty.txt", None, 0, 0, binary=False, status="added"),
            FileChange("naïve.txt", None, 1, 0, binary=False, status="added"),
            FileChange('we"ird.txt', None, 1, 0, binary=False, status="added"),
            FileChange("x b/c d.txt", None, 1, 0, binary=False, status="added"),
        ),
        insertions=3,
        deletions=0,
    )


AWKWARD = [
    "tab\there.txt",
    'ends with a quote"',
    "new\nline.txt",
    "ctl\x01.txt",
    "back\\slash.txt",
    "naïve.txt",
    os.fsdecode(b"\xff\tbyte.txt"),  # not UTF-8, and quoted for the tab
    os.fsdecode(b"raw\xff.txt"),
]


def test_quoted_paths_are_unquoted(tmp_path: Path) -> None:
    """git quotes these names C-style (with octal bytes in plain `git diff`)."""
    repo_dir = make_repo(tmp_path / "repo")
    base = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    for name in AWKWARD:
        (repo_dir / name).write_bytes(b"x\n")
    head = commit_all(repo_dir, "awkward names")
    in_git_order = sorted(AWKWARD, key=os.fsencode)
    expected = DiffStats(
        files=tuple(FileChange(n, None, 1, 0, binary=False, status="added") for n in in_git_order),
        insertions=len(AWKWARD),
        deletions=0,
    )
    assert diff_stats(GitRepo.open(repo_dir), base, head) == expected
    assert parse_diff(plain_git_diff(repo_dir, base, head)) == expected


def test_diff_stats_compares_the_two_commits_only(tmp_path: Path) -> None:
    """Not the working tree, and a file named like a commit is not taken for a path."""
    repo_dir = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    base = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    middle = CommitSha(commit(repo_dir, {"b.txt": "b\n"}))
    commit(repo_dir, {"c.txt": "c\n"})
    (repo_dir / "a.txt").write_text("edited, not committed\n", encoding="utf-8")
    (repo_dir / middle).write_text("a file named like the commit\n", encoding="utf-8")

    assert diff_stats(GitRepo.open(repo_dir), base, middle) == DiffStats(
        files=(FileChange("b.txt", None, 1, 0, binary=False, status="added"),),
        insertions=1,
        deletions=0,
    )


def stats_of(files: int, insertions: int, deletions: int) -> DiffStats:
    changes = tuple(
        FileChange(f"f{n}.txt", None, 0, 0, binary=False, status="modified") for n in range(files)
    )
    return DiffStats(files=changes, insertions=insertions, deletions=deletions)


def test_no_limits_means_no_violations() -> None:
    assert check_diff(stats_of(500, 90_000, 90_000), Guardrails()) == []


def test_max_changed_files_allows_the_limit_and_refuses_one_more() -> None:
    limit = Guardrails(max_changed_files=60)
    assert check_diff(stats_of(60, 1, 1), limit) == []
    assert check_diff(stats_of(61, 1, 1), limit) == [
        Violation(
            GuardrailRule.MAX_CHANGED_FILES, "changed 61 files; the limit is 60 (max_changed_files)"
        )
    ]


def test_max_changed_lines_counts_insertions_plus_deletions() -> None:
    limit = Guardrails(max_changed_lines=3000)
    assert check_diff(stats_of(1, 2000, 1000), limit) == []
    assert check_diff(stats_of(1, 2000, 1001), limit) == [
        Violation(
            GuardrailRule.MAX_CHANGED_LINES,
            "changed 3001 lines (2000 added, 1001 deleted); the limit is 3000 (max_changed_lines)",
        )
    ]


def test_every_broken_rule_is_reported_in_order() -> None:
    stats = DiffStats(
        files=(
            FileChange(".github/workflows/ci.yml", None, 3, 0, binary=False, status="added"),
            FileChange("src/app.py", None, 1, 1, binary=False, status="modified"),
            FileChange("wta.toml", None, 0, 9, binary=False, status="deleted"),
        ),
        insertions=4,
        deletions=10,
    )
    rails = Guardrails(
        max_changed_files=2, max_changed_lines=13, protected_paths=[".github/**", "wta.toml"]
    )
    violations = check_diff(stats, rails)
    assert violations == [
        Violation(
            GuardrailRule.MAX_CHANGED_FILES, "changed 3 files; the limit is 2 (max_changed_files)"
        ),
        Violation(
            GuardrailRule.MAX_CHANGED_LINES,
            "changed 14 lines (4 added, 10 deleted); the limit is 13 (max_changed_lines)",
        ),
        Violation(
            GuardrailRule.PROTECTED_PATHS,
            "changed a protected path: .github/workflows/ci.yml (matches '.github/**')",
        ),
        Violation(
            GuardrailRule.PROTECTED_PATHS, "changed a protected path: wta.toml (matches 'wta.toml')"
        ),
    ]
    assert format_feedback(violations) == (
        "The change was rejected by the plan's guardrails:\n"
        "- changed 3 files; the limit is 2 (max_changed_files)\n"
        "- changed 14 lines (4 added, 10 deleted); the limit is 13 (max_changed_lines)\n"
        "- changed a protected path: .github/workflows/ci.yml (matches '.github/**')\n"
        "- changed a protected path: wta.toml (matches 'wta.toml')\n"
        "Make a smaller change that stays within these limits and leaves protected paths alone."
    )
    assert format_feedback([]) == ""


def test_a_rename_out_of_a_protected_directory_is_caught(tmp_path: Path) -> None:
    workflow = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    repo_dir = make_repo(tmp_path / "repo", {".github/workflows/ci.yml": workflow})
    base = CommitSha(git(repo_dir, "rev-parse", "HEAD"))
    git(repo_dir, "mv", ".github/workflows/ci.yml", "ci.yml")
    head = commit_all(repo_dir, "move the workflow out")
    stats = diff_stats(GitRepo.open(repo_dir), base, head)
    assert stats == DiffStats(
        files=(FileChange("ci.yml", ".github/workflows/ci.yml", 0, 0, False, "renamed"),),
        insertions=0,
        deletions=0,
    )
    assert check_diff(stats, Guardrails(protected_paths=["wta.toml", ".github/**"])) == [
        Violation(
            GuardrailRule.PROTECTED_PATHS,
            "changed a protected path: .github/workflows/ci.yml -> ci.yml (matches '.github/**')",
        )
    ]


def test_a_rename_into_a_protected_directory_is_caught() -> None:
    stats = DiffStats(
        files=(FileChange(".github/evil.yml", "evil.yml", 0, 0, False, "renamed"),),
        insertions=0,
        deletions=0,
    )
    assert check_diff(stats, Guardrails(protected_paths=[".github/**"])) == [
        Violation(
            GuardrailRule.PROTECTED_PATHS,
            "changed a protected path: evil.yml -> .github/evil.yml (matches '.github/**')",
        )
    ]


@pytest.fixture(autouse=True)
def fresh_glob_cache() -> None:
    """Compile every pattern anew: a cache another test filled must not decide a result."""
    _compile.cache_clear()


PROTECTED = [".github/**", "wta.toml", "src/*.py", "**/secrets.txt", "docs/?.md"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".github/workflows/ci.yml", ".github/**"),
        (".github/CODEOWNERS", ".github/**"),
        (".githubx/ci.yml", None),
        ("sub/.github/ci.yml", None),
        ("wta.toml", "wta.toml"),
        ("sub/wta.toml", None),
        ("wta.toml.bak", None),
        ("src/app.py", "src/*.py"),
        ("src/pkg/app.py", None),
        ("src/app.pyc", None),
        ("lib/src/app.py", None),
        ("secrets.txt", "**/secrets.txt"),
        ("a/b/c/secrets.txt", "**/secrets.txt"),
        ("a/not-secrets.txt", None),
        ("docs/a.md", "docs/?.md"),
        ("docs/ab.md", None),
        ("docs/x/a.md", None),
        ("README.md", None),
    ],
)
def test_matches_protected(path: str, expected: str | None) -> None:
    assert matches_protected(path, PROTECTED) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        (".github", ".github/workflows/ci.yml", True),  # a directory covers its contents
        ("docs/", "docs/guide/intro.md", True),
        ("docs/", "docs.md", False),
        ("/wta.toml", "wta.toml", True),
        ("a/**/z.txt", "a/z.txt", True),
        ("a/**/z.txt", "a/b/c/z.txt", True),
        ("a/**/z.txt", "b/a/z.txt", False),
        ("*.lock", "poetry.lock", True),
        ("*.lock", "sub/poetry.lock", False),
        ("**", "anything/at/all", True),
        ("migrations/[0-9]*.sql", "migrations/0001_init.sql", True),
        ("migrations/[0-9]*.sql", "migrations/init.sql", False),
        ("migrations/[!0-9]*.sql", "migrations/init.sql", True),
        ("Makefile", "makefile", False),  # case-sensitive, like git
        ("a+b(c).txt", "a+b(c).txt", True),  # regex characters are literal
        # `*` and `?` stay within a segment; `**` spans segments only as a whole segment
        ("*", "a.txt", True),
        ("*", "dir/a.txt", True),  # "dir" matches, and a directory covers its contents
        ("*.md", "docs/a.md", False),
        ("docs/*", "docs/a/b.md", True),
        ("docs/*.md", "docs/a/b.md", False),
        ("a*c", "a/c", False),
        ("a/*/c", "a/b/c", True),
        ("a/*/c", "a/b/x/c", False),
        ("a/**/c", "a/b/x/c", True),
        ("a/**/c", "ab/c", False),
        ("**/x", "x", True),
        ("**/x", "p/q/x", True),
        ("**/x", "p/qx", False),
        ("x/**", "x", False),
        ("x/**", "x/y", True),
        ("a**", "abc/d", True),  # not a whole segment: one more `*`
        ("a**", "b/abc", False),
        ("a/**b", "a/xb", True),
        ("a/**b", "a/x/yb", False),
        ("b**/c", "bx/c", True),
        ("b**/c", "bx/y/c", False),
        ("?", "a", True),
        ("?", "ab", False),
        ("a?c", "a/c", False),
        # directory patterns
        ("docs", "docs", True),
        ("docs/", "docs", False),  # a trailing slash is a directory only
        ("docs/", "docs/x.md", True),
        ("docs/", "sub/docs/x.md", False),
        ("docs", "docsx/a.md", False),
        # character classes
        ("[ab].txt", "a.txt", True),
        ("[ab].txt", "c.txt", False),
        ("[a-c].txt", "b.txt", True),
        ("[a-c].txt", "d.txt", False),
        ("[!ab].txt", "c.txt", True),
        ("[!ab].txt", "a.txt", False),
        ("[^ab].txt", "c.txt", True),
        ("[^ab].txt", "b.txt", False),
        ("x[!a]y", "x/y", False),  # a negated class never matches a slash
        ("[]a].txt", "].txt", True),  # a leading `]` is a member
        ("[]a].txt", "a.txt", True),
        ("[[].txt", "[.txt", True),
        ("[\\].txt", "\\.txt", True),
        ("[\\].txt", "].txt", False),
        ("a[b", "a[b", True),  # no closing `]`: a literal `[`
        ("a[b", "ab", False),
        ("x[]", "x[]", True),
        # escapes
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("a\\?", "a?", True),
        ("a\\?", "ab", False),
        ("\\[ab]", "[ab]", True),
        ("\\[ab]", "a", False),
        ("a\\", "a\\", True),  # a trailing backslash is itself
        # leading slashes
        ("/docs/*.md", "docs/a.md", True),
        ("//wta.toml", "wta.toml", True),
        ("/wta.toml", "sub/wta.toml", False),
        # case and regex characters
        ("[A-Z]*.md", "Readme.md", True),
        ("[A-Z]*.md", "readme.md", False),
        ("*.MD", "a.md", False),
        ("a.b", "axb", False),
        ("(a|b)", "a", False),
        ("a{2}", "aa", False),
        ("^a$", "^a$", True),
        # the cases that tell apart close variants of the translation
        ("[ab]-[cd].txt", "a-c.txt", True),  # each class ends at its own `]`
        ("x[^a]y", "x/y", False),
        ("[!ab].txt", "!.txt", True),
        ("[\\].txt", "X.txt", False),
        ("[[].txt", "X.txt", False),
        ("Xfile", "Xfile", True),
        ("notes.txt", "notes.txt ", False),  # paths are not trimmed, only their slashes
    ],
)
def test_glob_semantics(pattern: str, path: str, matches: bool) -> None:
    assert (matches_protected(path, [pattern]) == pattern) is matches


def test_first_matching_pattern_wins() -> None:
    assert matches_protected(".github/x.yml", ["*.md", ".github/*", ".github/**"]) == ".github/*"
    assert matches_protected("a/b/c.txt", ["a/b/c.txt", "a"]) == "a/b/c.txt"
    assert matches_protected("a/b/c.txt", ["x", "a", "a/b/c.txt"]) == "a"
    assert matches_protected("a/b/c.txt", []) is None


def test_renames_are_checked_on_both_sides() -> None:
    stats = DiffStats(
        files=(
            FileChange("wta.toml.bak", "wta.toml", 0, 0, False, "renamed"),
            FileChange(".github/wta.toml", "wta.toml", 0, 0, False, "renamed"),
            FileChange("src/new.py", "src/old.py", 0, 0, False, "renamed"),
            FileChange("notes/x.md", None, 1, 0, False, "added"),
            FileChange("old/wta.toml", None, 0, 1, False, "deleted"),
        ),
        insertions=1,
        deletions=1,
    )
    rails = Guardrails(protected_paths=[".github/**", "wta.toml", "old/"])
    assert check_diff(stats, rails) == [
        Violation(
            GuardrailRule.PROTECTED_PATHS,
            "changed a protected path: wta.toml -> wta.toml.bak (matches 'wta.toml')",
        ),
        # the old path is checked first, and names its own pattern
        Violation(
            GuardrailRule.PROTECTED_PATHS,
            "changed a protected path: wta.toml -> .github/wta.toml (matches 'wta.toml')",
        ),
        Violation(
            GuardrailRule.PROTECTED_PATHS, "changed a protected path: old/wta.toml (matches 'old/')"
        ),
    ]


def test_run_guard_with_no_limits_never_trips() -> None:
    trips: list[tuple[GuardrailRule, str]] = []
    guard = RunGuard(Guardrails(), lambda rule, detail: trips.append((rule, detail)))
    for _ in range(5):
        guard.spent(1000.0)
        guard.failed()
    assert (guard.may_start(), guard.stopped_by, trips) == (True, None, [])


def test_run_budget_trips_once_spending_reaches_it() -> None:
    trips: list[tuple[GuardrailRule, str]] = []
    guard = RunGuard(
        Guardrails(run_budget_usd=1.5), lambda rule, detail: trips.append((rule, detail))
    )
    assert guard.may_start() is True
    guard.spent(1.0)
    guard.spent(None)  # an agent that reports no cost
    assert (guard.spent_usd, guard.may_start()) == (1.0, True)
    guard.spent(0.5)
    assert guard.may_start() is False
    guard.spent(2.0)
    assert guard.may_start() is False
    assert guard.stopped_by == GuardrailRule.RUN_BUDGET
    assert trips == [
        (
            GuardrailRule.RUN_BUDGET,
            "the run spent $1.5000 of its $1.50 budget; no new attempt starts",
        )
    ]


def test_circuit_breaker_counts_failures_in_a_row() -> None:
    trips: list[tuple[GuardrailRule, str]] = []
    guard = RunGuard(
        Guardrails(stop_after_failures=2), lambda rule, detail: trips.append((rule, detail))
    )
    guard.failed()
    guard.succeeded()  # a success resets the count
    guard.failed()
    assert (guard.failures_in_a_row, guard.may_start(), trips) == (1, True, [])
    guard.failed()
    guard.failed()
    assert (guard.failures_in_a_row, guard.may_start()) == (3, False)
    assert guard.stopped_by == GuardrailRule.STOP_AFTER_FAILURES
    assert trips == [
        (GuardrailRule.STOP_AFTER_FAILURES, "2 features failed in a row; no new feature starts")
    ]


def test_the_first_rule_to_trip_is_the_one_named() -> None:
    guard = RunGuard(Guardrails(run_budget_usd=1.0, stop_after_failures=1))
    guard.failed()
    guard.spent(5.0)
    assert (guard.may_start(), guard.stopped_by) == (False, GuardrailRule.STOP_AFTER_FAILURES)
