"""The merge coordinator: integrates a feature onto the integration branch with no worktree and
no index (merge-tree, commit-tree, then a compare-and-swap update-ref)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from worktree_agents.domain import BranchName, CommitSha, FeatureId
from worktree_agents.errors import GitError, RepoError, WtaError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.plumbing import (
    TEMP_PARENT_MESSAGE,
    TreeMerge,
    commit_tree,
    is_ancestor,
    merge_tree,
    plumb,
    tree_of,
)

MergeMode = Literal["squash", "rebase"]
TRAILER = "Wta-Feature"
HUNKS_LIMIT = 20_000  # characters of conflict hunks kept in a report


@dataclass(frozen=True)
class ConflictReport:
    paths: tuple[str, ...]  # sorted, unique
    hunks: str  # `--- <path>` then its conflict-marker regions, for each path
    touched_by: tuple[FeatureId, ...]  # merged features that touched `paths`, oldest first
    messages: tuple[str, ...]  # merge-tree's informational lines, in its order


@dataclass(frozen=True)
class FeatureChange:
    feature_id: FeatureId
    title: str
    base_commit: CommitSha  # the recorded commit the feature branch started from
    tip: CommitSha
    body: str = ""
    # the tip is one commit on the base (its only parent): with the base on the integration
    # branch, merging the tip itself is then exactly applying base..tip
    one_commit: bool = False


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A clean merge, computed and not yet published."""

    onto: CommitSha
    commit: CommitSha  # the new integration head
    tree: str


@dataclass(frozen=True, kw_only=True)
class AlreadyPresent:
    """The feature's changes are already on `onto` (in rebase mode: every commit became
    empty): nothing to commit."""

    onto: CommitSha


@dataclass(frozen=True, kw_only=True)
class Conflicted:
    onto: CommitSha
    report: ConflictReport


@dataclass(frozen=True, kw_only=True)
class Merged:
    onto: CommitSha  # the integration tip the merge was computed on
    commit: CommitSha  # the new tip
    tries: int  # how many times it was computed (the ref moved in between)


@dataclass(frozen=True, kw_only=True)
class VerifyFailed:
    onto: CommitSha
    commit: CommitSha  # the rejected merge, never published
    detail: str


PrepareResult: TypeAlias = Prepared | AlreadyPresent | Conflicted
MergeResult: TypeAlias = Merged | AlreadyPresent | Conflicted | VerifyFailed


@dataclass(frozen=True, kw_only=True)
class StackedBase:
    """A base holding every dependency branch."""

    commit: CommitSha


@dataclass(frozen=True, kw_only=True)
class StackConflict:
    """The dependency branches conflict: they cannot be stacked."""

    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class BaseConflict:
    """The base branch and the integration branch conflict: integration cannot follow it."""

    onto: CommitSha
    paths: tuple[str, ...]


@dataclass(frozen=True)
class _Step:
    """Apply `parent..commit` and, if that changes anything, commit it with `message`."""

    parent: CommitSha
    commit: CommitSha
    message: str
    author: Mapping[str, str]  # GIT_AUTHOR_* to keep; empty: the environment's identity


def _trailers(
    repo: GitRepo, rev_range: str, paths: Iterable[str] = ()
) -> list[tuple[CommitSha, FeatureId]]:
    fmt = f"%x1e%H%x1f%(trailers:key={TRAILER},valueonly,unfold,separator=%x1f)"
    args = ["log", "--reverse", "--no-show-signature", "--full-history", f"--format={fmt}"]
    pathspec = ["--", *paths] if paths else []
    literal = {"GIT_LITERAL_PATHSPECS": "1"}
    out = plumb(repo, *args, "--end-of-options", rev_range, *pathspec, env=literal).stdout
    found: list[tuple[CommitSha, FeatureId]] = []
    for record in out.split("\x1e")[1:]:
        sha, *values = record.strip().split("\x1f")
        features = [value.strip() for value in values if value.strip()]
        if features:  # one feature per commit; if a commit names several, the last wins
            found.append((CommitSha(sha), FeatureId(features[-1])))
    return found


def feature_trailers(repo: GitRepo, rev_range: str) -> list[tuple[CommitSha, FeatureId]]:
    """(commit, feature) for each commit in `rev_range` carrying a Wta-Feature trailer, oldest
    first: which features a branch holds, even if the state store is lost."""
    return _trailers(repo, rev_range)


def stack_bases(repo: GitRepo, tips: Sequence[CommitSha]) -> StackedBase | StackConflict:
    """A base holding every tip (with --no-merge, a dependent starts from its dependencies'
    branches): the tip itself, or merge commits of them; or the paths where they conflict."""
    if not tips:
        raise ValueError("stack_bases needs at least one tip")
    base = tips[0]
    for tip in tips[1:]:
        if is_ancestor(repo, tip, base):
            continue
        if is_ancestor(repo, base, tip):
            base = tip
            continue
        merge = merge_tree(repo, base, tip)
        if not merge.clean:
            return StackConflict(paths=merge.paths)
        args = ["commit-tree", "-p", base, "-p", tip, "-m", "wta: stack dependency branches"]
        base = CommitSha(plumb(repo, *args, merge.tree, env=repo.commit_env).stdout.strip())
    return StackedBase(commit=base)


def with_trailer(repo: GitRepo, message: str, feature: FeatureId) -> str:
    """`message` with the trailer `Wta-Feature: <feature>` (replacing one already there)."""
    if _subject_only(message):
        # what interpret-trailers makes of a one-line message (it is never a trailer block),
        # without a process; tests/test_merge.py holds the two side by side
        return f"{message}\n{TRAILER}: {feature}\n"
    # --no-divider: a `---` line in a commit message is not the start of a patch.
    args = ["interpret-trailers", "--no-divider", "--where", "end", "--if-exists", "replace"]
    args += ["--if-missing", "add", "--trailer", f"{TRAILER}: {feature}"]
    data = message.encode("utf-8", "surrogateescape")
    return plumb(repo, *args, input=data).stdout


def _subject_only(message: str) -> bool:
    """A message of one line, ending with its newline, with no trailer of wta's in it."""
    line = message.removesuffix("\n")
    return (
        bool(line.strip())
        and "\n" not in line
        and "\r" not in line
        and TRAILER.lower() not in line.lower()
    )


def _conflict_regions(text: str) -> list[str]:
    regions: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines(keepends=True):
        if current is None and line.startswith("<<<<<<<"):
            current = []
        if current is not None:
            current.append(line)
            if line.startswith(">>>>>>>"):
                regions.append("".join(current))
                current = None
    if current:  # an unterminated region: keep what there is
        regions.append("".join(current))
    return regions


@dataclass(frozen=True)
class ForeignMove:
    """A ref of wta's that something other than wta moved (None: deleted), now put back."""

    ref: str
    old: CommitSha
    new: CommitSha | None


class MergeCoordinator:
    """Integrates features onto one integration branch; moves no other ref."""

    def __init__(self, repo: GitRepo, integration_branch: BranchName, mode: MergeMode) -> None:
        self.repo = repo
        self.branch = integration_branch
        self.ref = HEADS + integration_branch
        self.mode = mode
        # The tip wta last set or found at the start: the branch only ever holds commits wta
        # made, so a tip that differs was moved by someone else (an agent), and is put back.
        self.known: CommitSha | None = None
        self.reclaimed: list[ForeignMove] = []  # moves put back, not yet reported
        self._last_tree: tuple[CommitSha, str] | None = None  # the tree of the tip it made
        self._tips: set[CommitSha] = set()  # every tip it set or started from: ancestors of known

    def tip(self) -> CommitSha | None:
        """The integration head, or None if the branch does not exist."""
        return self.repo.ref_value(self.ref)

    def ensure_branch(self, base: CommitSha) -> CommitSha:
        """Create the integration branch at `base` unless it exists; return its tip."""
        current = self.tip()
        if current is not None:
            self.known = current
            self._tips = {current}
            return current
        self.refuse_if_checked_out()
        try:
            self.repo.update_ref(self.ref, base, None, message="wta: start integration")
        except GitError:
            if self.tip() is None:
                raise
        created = self.tip()
        assert created is not None
        self.known = created
        self._tips = {created}
        return created

    def reclaim(self, seen: CommitSha | None = None) -> None:
        """Put the branch back (by compare-and-swap) where this coordinator left it if
        something else moved it, and note the move in `reclaimed`. `wta run` calls it under
        its merge lock, where nothing but its agents can have moved the branch; integrate()
        itself recomputes on a moved tip, as a coordinator elsewhere may have moved it.
        `seen`: the tip as a listing of refs just showed it; if it is where this
        coordinator left it, the ref is not read again."""
        if self.known is None or seen == self.known:
            return
        now = self.tip()
        if now == self.known:
            return
        try:
            if now is None:
                self.repo.update_ref(self.ref, self.known, None, message="wta: put back")
            else:
                self.repo.update_ref(self.ref, self.known, now, message="wta: put back")
        except GitError:
            return  # it moved again: the next call sees where to
        self.reclaimed.append(ForeignMove(ref=self.ref, old=self.known, new=now))

    def take_reclaimed(self) -> list[ForeignMove]:
        taken, self.reclaimed = self.reclaimed, []
        return taken

    def prepare(self, change: FeatureChange, onto: CommitSha) -> PrepareResult:
        """Compute the new integration head for `change` on `onto` without moving any ref."""
        head, tree = onto, self._tree_of(onto)
        # the base is on `onto`'s history when it is a tip this coordinator set or started
        # from and `onto` is where it left the branch (each such tip descends from the last)
        on_history = onto == self.known and change.base_commit in self._tips
        direct = change.one_commit and on_history and self.mode == "squash"
        for step in self._steps(change):
            # The temporary parent F (tree of the tip, parent = the step's base) makes
            # `merge-tree F commit` a cherry-pick: git 2.39 has no --merge-base. It is only
            # required when the base is not an ancestor of the tip (a stacked branch), and
            # gives the same result when it is, so it is always used; except when the tip is
            # the step's base itself (nothing landed since the feature started), where F
            # would be the tip with a new date: the same merge, one git process fewer. Nor
            # when the change is one commit on a base on the tip's history: their merge base
            # is then exactly that base.
            ours = head
            if step.parent != head and not direct:
                env = self.repo.commit_env
                ours = commit_tree(
                    self.repo, tree, [step.parent], TEMP_PARENT_MESSAGE, env, sign=False
                )
            merge = merge_tree(self.repo, ours, step.commit)
            if not merge.clean:
                labels: dict[str, str] = {ours: self.branch, step.commit: change.feature_id}
                return Conflicted(onto=onto, report=self._report(change, onto, merge, labels))
            if merge.tree == tree:
                continue  # already present, or the commit became empty: make no empty commit
            message = with_trailer(self.repo, step.message, change.feature_id)
            env = {**self.repo.commit_env, **step.author}
            head = commit_tree(self.repo, merge.tree, [head], message, env)
            tree = merge.tree
        if head == onto:
            return AlreadyPresent(onto=onto)
        return Prepared(onto=onto, commit=head, tree=tree)

    def prepare_base(
        self, base: CommitSha, base_name: str, onto: CommitSha
    ) -> Prepared | AlreadyPresent | BaseConflict:
        """Integration at `onto` brought up to date with its base, without moving a ref:
        already there, a fast-forward (nothing of wta's on it yet), or a merge commit whose
        first parent is `onto` and second `base`, so every feature commit stays as it is."""
        if is_ancestor(self.repo, base, onto):
            return AlreadyPresent(onto=onto)
        if is_ancestor(self.repo, onto, base):
            return Prepared(onto=onto, commit=base, tree=tree_of(self.repo, base))
        shared = plumb(self.repo, "merge-base", onto, base, ok_codes=(0, 1))
        if shared.exit_code != 0:
            raise RepoError(
                f"the integration branch '{self.branch}' shares no history with the base"
                f" '{base_name}'; delete it (git branch -D {self.branch}) to start it again"
            )
        merge = merge_tree(self.repo, onto, base)
        if not merge.clean:
            return BaseConflict(onto=onto, paths=merge.paths)
        message = f"Merge {base_name} into {self.branch}\n".encode("utf-8", "surrogateescape")
        args = ["commit-tree", "-p", onto, "-p", base, "-F", "-", merge.tree]
        made = plumb(self.repo, *args, input=message, env=self.repo.commit_env).stdout.strip()
        return Prepared(onto=onto, commit=CommitSha(made), tree=merge.tree)

    def publish(self, prepared: Prepared) -> bool:
        """Move the integration ref from `prepared.onto` to `prepared.commit`, only if it is
        still at `onto`; False if it moved meanwhile."""
        self.refuse_if_checked_out()
        try:
            self.repo.update_ref(self.ref, prepared.commit, prepared.onto, message="wta: integrate")
        except GitError:
            if self.tip() != prepared.onto:
                return False
            raise
        if prepared.onto != self.known:  # built on a tip it did not set: the old ones may not
            self._tips = {prepared.onto}  # be on the new tip's history
        self.known = prepared.commit
        self._tips.add(prepared.commit)
        self._last_tree = (prepared.commit, prepared.tree)
        return True

    def _tree_of(self, commit: CommitSha) -> str:
        if self._last_tree is not None and self._last_tree[0] == commit:
            return self._last_tree[1]
        return tree_of(self.repo, commit)

    async def integrate(
        self,
        change: FeatureChange,
        verify: Callable[[CommitSha], Awaitable[str | None]] | None = None,
        max_retries: int = 5,
        *,
        owned: bool = False,
    ) -> MergeResult:
        """Prepare, verify (a non-None result is the failure detail) and publish `change`,
        recomputing on the new tip up to `max_retries` times when the ref moves meanwhile.
        `owned`: nothing but this coordinator may move the branch (`wta run`, under its
        lock and merge lock): each try builds on the tip it last set, with no read, and when
        the ref is found moved (by an agent), it is put back (reclaim) before the next try,
        so an agent's move is never built on.

        The git steps run in a worker thread; `verify` runs on the caller's event loop, so
        cancelling the caller (Ctrl-C) stops the verification too, and nothing is published.
        """
        await asyncio.to_thread(self.refuse_if_checked_out)
        for tries in range(1, max_retries + 2):
            if owned and tries > 1:
                await asyncio.to_thread(self.reclaim)
            if owned and self.known is not None:
                onto: CommitSha | None = self.known
            else:
                onto = await asyncio.to_thread(self.tip)
            if onto is None:
                raise RepoError(
                    f"the integration branch '{self.branch}' does not exist;"
                    " create it from the base first"
                )
            prepared = await asyncio.to_thread(self.prepare, change, onto)
            if not isinstance(prepared, Prepared):
                return prepared
            detail = await verify(prepared.commit) if verify is not None else None
            if detail is not None:
                return VerifyFailed(onto=onto, commit=prepared.commit, detail=detail)
            if await asyncio.to_thread(self.publish, prepared):
                return Merged(onto=onto, commit=prepared.commit, tries=tries)
        raise WtaError(
            f"the integration branch '{self.branch}' kept moving while '{change.feature_id}'"
            f" was being integrated ({max_retries + 1} attempts); is another wta running?"
        )

    def refuse_if_checked_out(self) -> None:
        where = self.repo.checked_out_branches().get(self.branch)
        if where is not None:
            raise RepoError(
                f"the integration branch '{self.branch}' is checked out in {where};"
                " wta never moves a checked-out branch; switch that worktree to another"
                " branch, or set [run] integration_branch in wta.toml to another name"
            )

    def _steps(self, change: FeatureChange) -> list[_Step]:
        if self.mode == "squash":
            message = change.title.strip() + "\n"
            if change.body.strip():
                message += "\n" + change.body.strip() + "\n"
            return [_Step(change.base_commit, change.tip, message, {})]
        fmt = "%H%x00%P%x00%an%x00%ae%x00%ad%x00%B"
        args = ["log", "-z", "--reverse", "--first-parent", "--no-show-signature", "--date=raw"]
        rev_range = f"{change.base_commit}..{change.tip}"
        fields = plumb(self.repo, *args, f"--format={fmt}", rev_range).stdout.split("\0")[:-1]
        steps: list[_Step] = []
        for i in range(0, len(fields), 6):
            sha, parents, name, email, date, message = fields[i : i + 6]
            if not parents:
                raise WtaError(f"commit {sha} of '{change.feature_id}' has no parent to replay")
            author = {
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email,
                "GIT_AUTHOR_DATE": "@" + date,
            }
            steps.append(_Step(CommitSha(parents.split()[0]), CommitSha(sha), message, author))
        return steps

    def _report(
        self,
        change: FeatureChange,
        onto: CommitSha,
        merge: TreeMerge,
        labels: Mapping[str, str],
    ) -> ConflictReport:
        seen: list[FeatureId] = []
        if merge.paths:
            rev_range = f"{change.base_commit}..{onto}"
            for _, feature in _trailers(self.repo, rev_range, merge.paths):
                if feature not in seen:
                    seen.append(feature)
        return ConflictReport(
            paths=merge.paths,
            hunks=self._hunks(merge.tree, merge.paths, labels),
            touched_by=tuple(seen),
            messages=merge.messages,
        )

    def _hunks(self, tree: str, paths: tuple[str, ...], labels: Mapping[str, str]) -> str:
        parts: list[str] = []
        size = 0
        for path in paths:
            if size > HUNKS_LIMIT:
                break
            blob = plumb(self.repo, "cat-file", "blob", f"{tree}:{path}", ok_codes=(0, 128))
            regions = _conflict_regions(blob.stdout if blob.exit_code == 0 else "")
            text = "".join(regions) or "(no conflict markers; see the messages)\n"
            for sha, label in labels.items():  # name the sides, not the throwaway commits
                text = text.replace(f"<<<<<<< {sha}", f"<<<<<<< {label}")
                text = text.replace(f">>>>>>> {sha}", f">>>>>>> {label}")
            parts.append(f"--- {path}\n{text}")
            size += len(parts[-1])
        hunks = "".join(parts)
        if len(hunks) > HUNKS_LIMIT or len(parts) < len(paths):
            hunks = (
                hunks[:HUNKS_LIMIT] + f"[conflict hunks truncated at {HUNKS_LIMIT} characters]\n"
            )
        return hunks
