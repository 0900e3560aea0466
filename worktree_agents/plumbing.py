"""git plumbing on the object store, shared by the merge coordinator (merge.py) and the
review branches (review.py): merges computed with `merge-tree --write-tree` and commits made
with `commit-tree`, no checkout and no index.

Every call runs from a neutral directory (the common git dir) with GIT_DIR set: with no
checkout in sight, an uncommitted `.gitattributes` (say, a merge driver) cannot change a
merge's result.

git 2.39 has no `merge-tree --merge-base`; a cherry-pick of `parent..commit` onto a tree is
made with a temporary commit (that tree, `parent` as its parent) merged with `commit`."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from worktree_agents.domain import CommitSha
from worktree_agents.git import GitRepo, GitResult

TEMP_PARENT_MESSAGE = "wta temporary parent\n"


@dataclass(frozen=True)
class TreeMerge:
    clean: bool
    tree: str
    paths: tuple[str, ...]  # the conflicted paths, sorted
    messages: tuple[str, ...]  # git's messages about the conflicts


def plumb(
    repo: GitRepo,
    *args: str,
    input: str | bytes | None = None,
    ok_codes: Collection[int] = (0,),
    env: Mapping[str, str] | None = None,
) -> GitResult:
    """git on the object store, from a neutral directory (see the module)."""
    neutral = {"GIT_DIR": str(repo.common_dir), **(env or {})}
    return repo.run(*args, input=input, ok_codes=ok_codes, env=neutral, cwd=repo.common_dir)


def is_ancestor(repo: GitRepo, ancestor: CommitSha, commit: CommitSha) -> bool:
    result = plumb(repo, "merge-base", "--is-ancestor", ancestor, commit, ok_codes=(0, 1))
    return result.exit_code == 0


def tree_of(repo: GitRepo, commit: CommitSha) -> str:
    return plumb(repo, "rev-parse", "--verify", f"{commit}^{{tree}}").stdout.strip()


def merge_tree(repo: GitRepo, ours: CommitSha, theirs: CommitSha) -> TreeMerge:
    """The merge of two commits as a tree (written to the object store), with what
    conflicted; no ref moves."""
    result = plumb(repo, "merge-tree", "--write-tree", "-z", ours, theirs, ok_codes=(0, 1))
    tree, *fields = result.stdout.split("\0")
    clean = result.exit_code == 0  # 1 is conflicts; anything else raised GitError
    paths: set[str] = set()
    messages: list[str] = []
    if not clean:  # `<mode> <oid> <stage>\t<path>` records, an empty field, then messages
        end = fields.index("") if "" in fields else len(fields)
        paths = {entry.split("\t", 1)[1] for entry in fields[:end]}
        i = end + 1
        while i < len(fields) and fields[i].isdigit():  # <n> <path>*n <type> <message>
            i += int(fields[i]) + 3
            messages.append(fields[i - 1].rstrip("\n"))
    return TreeMerge(clean, tree, tuple(sorted(paths)), tuple(messages))


def commit_tree(
    repo: GitRepo,
    tree: str,
    parents: Sequence[CommitSha],
    message: str,
    env: Mapping[str, str],
    *,
    sign: bool = True,
) -> CommitSha:
    """A commit of `tree` (messages kept byte-exact, even if not UTF-8); `env` holds the
    identity and dates; `sign=False` never signs, whatever the user's config says."""
    flags = [] if sign else ["--no-gpg-sign"]
    flags += [arg for parent in parents for arg in ("-p", parent)]
    data = message.encode("utf-8", "surrogateescape")
    args = ("commit-tree", *flags, "-F", "-", tree)
    return CommitSha(plumb(repo, *args, input=data, env=env).stdout.strip())


def cherry_pick_tree(
    repo: GitRepo, tree: str, parent: CommitSha, commit: CommitSha, env: Mapping[str, str]
) -> TreeMerge:
    """`parent..commit` applied to `tree` (see the module), as a merge result."""
    temp = commit_tree(repo, tree, [parent], TEMP_PARENT_MESSAGE, env, sign=False)
    return merge_tree(repo, temp, commit)
