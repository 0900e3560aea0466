"""What `wta run` checks before any agent starts, so that a usage error changes nothing:
the options, the selection, the base, the integration branch, the feature branches, and what
would make every agent of a profile fail (preflight_agents.py). It returns a frozen
Preflight for the run to use, with the files agents will not see as they are."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.basesync import (
    BaseSync,
    base_name,
    check_base,
    check_same_base,
    follow_base,
)
from worktree_agents.context import RunOptions
from worktree_agents.domain import BranchName, CommitSha, FeatureId, FeatureState
from worktree_agents.errors import UsageError
from worktree_agents.git import HEADS, GitRepo
from worktree_agents.merge import MergeCoordinator
from worktree_agents.plan import LoadedPlan, Plan
from worktree_agents.preflight_agents import AgentChecks, profiles_used
from worktree_agents.reconcile import own_branches, reconcile
from worktree_agents.recovery import landed, settle
from worktree_agents.store import Store
from worktree_agents.uncommitted import uncommitted_files
from worktree_agents.worktree_files import registered_at
from worktree_agents.worktrees import resolve_worktree_root


@dataclass(frozen=True)
class Preflight:
    selected: tuple[FeatureId, ...]
    base_branch: BranchName | None  # None: the base is not a local branch
    base_commit: CommitSha
    worktree_root: Path
    slots: int
    synced: BaseSync | None = None  # what following the base did to integration
    uncommitted: tuple[str, ...] = ()  # files the run names that agents will not see as they are
    lost: tuple[FeatureId, ...] = ()  # merges the integration branch lost: integrate again


def check_options(plan: Plan, options: RunOptions) -> None:
    """The command line's options against the plan: raises UsageError."""
    unknown = [f for f in options.only if f not in plan.by_id]
    if unknown:
        raise UsageError(
            f"--only names {', '.join(repr(u) for u in unknown)}, which the plan does not"
            " have; see `wta plan` for the feature ids"
        )
    if options.profile is not None and options.profile not in plan.profile_names():
        raise UsageError(
            f"--profile {options.profile!r} is not defined; the plan has: "
            + ", ".join(plan.profile_names())
        )
    if options.parallel is not None and options.parallel < 1:
        raise UsageError("--parallel must be at least 1")


def preflight(
    repo: GitRepo,
    loaded: LoadedPlan,
    options: RunOptions,
    store: Store,
    coordinator: MergeCoordinator,
) -> Preflight:
    """Check everything, settle what a dead run left, and make the integration branch."""
    plan = loaded.plan
    store.sync_features([f.id for f in plan.features], {f.id for f in plan.features if f.done})
    selected = _selection(plan, options, store)
    base_branch, base_commit = repo.resolve_base(plan.run.base)
    check_base(base_branch, plan.run.integration_branch)
    root = resolve_worktree_root(repo, plan.run.worktree_root, loaded.base_dir)
    coordinator.refuse_if_checked_out()
    reconciled = reconcile(repo, plan, store, base_commit, root)
    _check_branches(repo, plan, store, selected, base_commit, root)
    to_run = _to_run(store, selected, options)
    _check_worktree_paths(repo, root, to_run)
    profiles = profiles_used(plan, to_run, options.profile)
    check_agents(AgentChecks(loaded.base_dir, repo.toplevel).problems(profiles))
    uncommitted = uncommitted_files(repo, loaded, to_run, profiles)
    check_same_base(repo, store, plan.run.base, (base_branch, base_commit), coordinator)
    coordinator.ensure_branch(base_commit)
    base = base_name(base_branch, plan.run.base, base_commit)
    synced = follow_base(coordinator, base, base_commit)  # before anything starts
    if options.retry_failed:
        again = (FeatureState.FAILED, FeatureState.SKIPPED)
        store.reset([f for f, s in store.states().items() if f in selected and s in again])
    slots = options.parallel or plan.run.max_parallel
    return Preflight(
        selected, base_branch, base_commit, root, slots, synced, uncommitted, reconciled.lost
    )


def _check_worktree_paths(repo: GitRepo, root: Path, to_run: list[FeatureId]) -> None:
    """A feature's worktree goes to `<root>/<id>`: a directory there that is not a worktree
    of this repository (left by another clone, or made by hand) is never overwritten, and
    is named now rather than failing each of those features."""
    taken = []
    for fid in to_run:
        path = root / fid
        with suppress(OSError):
            if not path.is_dir():
                occupied = path.exists() or path.is_symlink()
            else:
                occupied = any(path.iterdir()) and not registered_at(repo.common_dir, path)
            if occupied:
                taken.append(str(path))
    if taken:
        them = "it" if len(taken) == 1 else "them"
        raise UsageError(
            f"{', '.join(taken)} {'exists' if len(taken) == 1 else 'exist'} and"
            f" {'is not a worktree' if len(taken) == 1 else 'are not worktrees'} of"
            f" {repo.toplevel}; wta makes each feature's worktree there and never overwrites"
            f" what it did not make: move {them} away or delete {them}, then run again"
        )


def _to_run(store: Store, selected: tuple[FeatureId, ...], options: RunOptions) -> list[FeatureId]:
    """The selected features this run may start an agent for."""
    runnable = {FeatureState.PENDING, FeatureState.READY}
    if options.retry_failed:
        runnable |= {FeatureState.FAILED, FeatureState.SKIPPED}
    states = store.states()
    return [f for f in selected if states.get(f, FeatureState.PENDING) in runnable]


def check_agents(problems: list[str]) -> None:
    """Stop the run before anything starts when every agent of a profile would fail."""
    if len(problems) == 1:
        raise UsageError(f"{problems[0]} (no agent was started)")
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UsageError(f"{len(problems)} problems would make agents fail:\n{lines}")


def _selection(plan: Plan, options: RunOptions, store: Store) -> tuple[FeatureId, ...]:
    if not options.only:
        return tuple(f.id for f in plan.features)
    chosen = set(options.only)
    states = store.states()
    missing = sorted(
        {
            dep
            for fid in chosen
            for dep in plan.by_id[fid].depends_on
            if dep not in chosen and states.get(dep) not in options.satisfied
        }
    )
    if missing:
        raise UsageError(
            "--only leaves out dependencies that are not merged yet: "
            + ", ".join(missing)
            + "; add them to --only, or run them first"
        )
    return tuple(f.id for f in plan.features if f.id in chosen)


def _check_branches(
    repo: GitRepo,
    plan: Plan,
    store: Store,
    selected: tuple[FeatureId, ...],
    base_commit: CommitSha,
    root: Path,
) -> None:
    """Settle what the integration branch already holds, and never take over a feature
    branch wta has no record of making.

    A selected feature whose `Wta-Feature` trailer is on the integration branch is merged,
    whatever the store says (it may have been lost): it is recorded so, never run again.
    A `<prefix><id>` branch unknown to the store that holds nothing beyond a base wta
    recorded is wta's own (reconcile.own_branches); any other is refused.
    """
    prefix = plan.run.branch_prefix
    records = {r.id: r for r in store.all_features()}
    found = landed(repo, plan, base_commit)
    for fid in selected:
        record = records.get(fid)
        if fid in found and (record is None or record.state is not FeatureState.MERGED):
            settle(store, plan, fid, found[fid], "(the state had no record of it)")
    # every branch in one process, however many features (a pattern would match a prefix
    # such as `wta-` only up to a slash)
    branches = set(repo.run("for-each-ref", "--format=%(refname)", HEADS).stdout.splitlines())
    unrecorded = [
        fid
        for fid in selected
        if fid not in found
        and (records.get(fid) is None or records[fid].branch is None)
        and HEADS + prefix + fid in branches
    ]
    own = own_branches(repo, store, prefix, unrecorded, root)
    unknown = [prefix + fid for fid in unrecorded if fid not in own]
    if unknown:
        verb, them = ("exists", "it") if len(unknown) == 1 else ("exist", "them")
        raise UsageError(
            f"{', '.join(unknown)} already {verb}, but wta has no record of making {them};"
            f" rename or delete {them} (git branch -m / -D) so wta does not overwrite {them}"
        )
