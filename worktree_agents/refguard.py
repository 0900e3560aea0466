"""What an agent's git may move: its own branch, and its own worktree's HEAD and per-worktree
refs. Nothing else.

Every agent's git runs with `core.hooksPath` set (through the environment, see
agents/base.py) to a directory wta writes in its state directory. Its
`reference-transaction` hook refuses, in the `prepared` state, any update to a ref the
attempt does not own: git then aborts the whole transaction, so `main`, tags, remote-tracking
refs, the stash, other features' branches and the integration branch never move. The
refused updates are written to the attempt's file, and the fence fails the attempt naming
each one. Every other hook name runs the user's own hook, so agents' commits still run the
repository's pre-commit and commit-msg hooks as before.

An agent that writes ref files itself, or runs git with its own `-c core.hooksPath`, gets
past this; the fence's checks after the agent are the backstop for what they can see.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.domain import CommitSha
from worktree_agents.git import GitRepo

HOOKS_DIR = "agent-hooks"  # under the state directory
DISPATCH = "dispatch"
OWN_REF_VAR = "WTA_OWN_REF"
COMMON_DIR_VAR = "WTA_GIT_COMMON_DIR"
REFUSED_VAR = "WTA_REFUSED_REFS"

# githooks(5) of git 2.39: each runs the user's hook of the same name, if there is one.
HOOK_NAMES = (
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "pre-receive",
    "update",
    "proc-receive",
    "post-receive",
    "post-update",
    "reference-transaction",
    "push-to-checkout",
    "pre-auto-gc",
    "post-rewrite",
    "sendemail-validate",
    "fsmonitor-watchman",
    "p4-changelist",
    "p4-prepare-changelist",
    "p4-post-changelist",
    "p4-pre-submit",
    "post-index-change",
)

_SCRIPT = """#!/bin/sh
# Written by wta for the git of its agents; it is rewritten before every attempt.
hook=${{0##*/}}
user_hooks={user_hooks}
case $GIT_DIR in
    "${common_dir}"/worktrees/*/*) guard=check ;;
    "${common_dir}"/worktrees/*) guard= ;;
    *) guard=check ;;
esac
if [ -n "$guard" ]; then
    # Not an agent's worktree: the user's checkout (guarded the same), or another
    # repository, such as a submodule's or one an agent made inside its worktree (its
    # own hooks run, not wta's rules).
    found=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null)
    found=$(cd "$found" 2>/dev/null && pwd -P)
    if [ "$found" != "${common_dir}" ]; then
        [ -x "$found/hooks/$hook" ] && exec "$found/hooks/$hook" "$@"
        exit 0
    fi
fi
if [ "$hook" = reference-transaction ] && [ "$1" = prepared ] && [ -n "${own}" ]; then
    input= refused=
    while read -r old new ref; do
        input="$input$old $new $ref
"
        case $ref in
            "${own}"|refs/bisect/*|refs/worktree/*|refs/rewritten/*) ;;
            refs/*|*/*) refused="$refused$old $new $ref
" ;;
        esac
    done
    if [ -n "$refused" ]; then
        [ -n "${log}" ] && printf '%s' "$refused" >> "${log}"
        printf '%s' "$refused" | while read -r old new ref; do
            echo "wta: $ref is not this feature's to move; only ${own} is." >&2
        done
        exit 1
    fi
    if [ -x "$user_hooks/$hook" ]; then
        printf '%s' "$input" | "$user_hooks/$hook" "$@"
        exit $?
    fi
    exit 0
fi
if [ -x "$user_hooks/$hook" ]; then
    exec "$user_hooks/$hook" "$@"
fi
exit 0
"""


@dataclass(frozen=True)
class RefusedUpdate:
    """A ref update an agent's git tried and the hook refused."""

    ref: str
    old: CommitSha
    new: CommitSha


def user_hooks_dir(repo: GitRepo) -> str:
    """Where the user's own hooks are: core.hooksPath as configured (a relative one is
    relative to the worktree a hook runs in, as git has it), or the git directory's hooks.

    Asked before every agent starts: the answer is kept while no config file it could
    come from has changed (their sizes and times, looked at without a process)."""
    stamps = _config_stamps(repo)
    known = _hooks_dirs.get(repo.common_dir)
    if known is not None and known[0] == stamps:
        return known[1]
    configured = repo.user_config("--path", "core.hooksPath")
    found = configured or str(repo.common_dir / "hooks")
    _hooks_dirs[repo.common_dir] = (stamps, found)
    return found


_hooks_dirs: dict[Path, tuple[tuple[object, ...], str]] = {}  # common dir -> (stamps, dir)


def _config_stamps(repo: GitRepo) -> tuple[object, ...]:
    """What would tell that a git config file changed: each one's size and times, or that
    it is missing. The files git reads: system, global (both places), the repository's."""
    home = Path(os.environ.get("HOME", "/"))
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = [
        Path(os.environ.get("GIT_CONFIG_SYSTEM", "/etc/gitconfig")),
        Path(os.environ.get("GIT_CONFIG_GLOBAL", home / ".gitconfig")),
        xdg / "git" / "config",
        repo.common_dir / "config",
        repo.git_dir / "config.worktree",
    ]
    stamps: list[object] = [os.environ.get("GIT_CONFIG_COUNT"), os.environ.get("GIT_CONFIG")]
    for path in files:
        try:
            st = path.stat()
            stamps.append((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def hooks_dir(repo: GitRepo) -> Path:
    return repo.state_dir() / HOOKS_DIR


def install_hooks(repo: GitRepo) -> Path:
    """Write the agents' hooks directory (again, if an agent changed it); return it."""
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    user_hooks = user_hooks_dir(repo)
    script = _SCRIPT.format(
        user_hooks=shlex.quote(user_hooks),
        own=OWN_REF_VAR,
        log=REFUSED_VAR,
        common_dir=COMMON_DIR_VAR,
    )
    dispatch = directory / DISPATCH
    if not dispatch.is_file() or dispatch.read_text(encoding="utf-8") != script:
        tmp = directory / f".{DISPATCH}.tmp"
        tmp.write_text(script, encoding="utf-8")
        tmp.chmod(0o755)
        tmp.replace(dispatch)
    dispatch.chmod(0o755)
    wanted = _hooks_to_run(user_hooks)
    for name in HOOK_NAMES:
        link = directory / name
        if name not in wanted:
            link.unlink(missing_ok=True)
        elif not (link.is_symlink() and str(link.readlink()) == DISPATCH):
            link.unlink(missing_ok=True)
            link.symlink_to(DISPATCH)
    return directory


def _hooks_to_run(user_hooks: str) -> set[str]:
    """The hook names to link: reference-transaction, and each hook the user has, as git
    would run it. A relative core.hooksPath names a directory in each worktree, which
    cannot be listed here: then every name is linked (each costs a shell when git runs it)."""
    directory = Path(user_hooks)
    if not directory.is_absolute():
        return set(HOOK_NAMES)
    present = {
        name
        for name in HOOK_NAMES
        if (directory / name).is_file() and os.access(directory / name, os.X_OK)
    }
    return present | {"reference-transaction"}


def agent_settings(hooks_dir: Path) -> tuple[tuple[str, str], ...]:
    """The git settings that put an agent's git behind the hook."""
    return (("core.hooksPath", str(hooks_dir)),)


def agent_vars(repo: GitRepo, own_ref: str, refused_log: Path) -> dict[str, str]:
    return {
        OWN_REF_VAR: own_ref,
        REFUSED_VAR: str(refused_log),
        COMMON_DIR_VAR: str(repo.common_dir),
    }


def refused_updates(refused_log: Path) -> list[RefusedUpdate]:
    """What the attempt's git tried to move and was refused, in order, without repeats."""
    try:
        lines = refused_log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found: dict[tuple[str, str, str], RefusedUpdate] = {}
    for line in lines:
        parts = line.split(" ")
        if len(parts) == 3:
            old, new, ref = parts
            found.setdefault((ref, old, new), RefusedUpdate(ref, CommitSha(old), CommitSha(new)))
    return list(found.values())
