"""How a new feature worktree is filled in: all of it, whatever the user's sparse-checkout
says, and with the submodules that are checked out in the user's checkout.

`git worktree add` (2.39) copies the sparse-checkout patterns and the config.worktree of
the worktree it runs in into the new one, so a sparse user checkout would give agents
sparse worktrees, where `git add` refuses paths outside the user's patterns. And it leaves
every submodule empty. Only the new worktree's own files change here: never the shared
config, nor anything of the user's checkout.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.git import GitRepo, git_config_env, git_env
from worktree_agents.text import last_line

SPARSE = "core.sparseCheckout"
SPARSE_ONLY = ("core.sparseCheckoutCone", "index.sparse")  # meaningless when not sparse
# The sparse-checkout pattern that matches every path, in cone mode and in non-cone mode.
EVERY_PATH = "/*\n"
GITLINK = "160000"
# Parallel checkout: measured 23-69% faster on a fresh 10k-file checkout. More workers than
# this gain nothing on the disks wta runs on.
MAX_CHECKOUT_WORKERS = 8


def workers_setting() -> tuple[str, str]:
    """`-c checkout.workers=<n>`: one worker per core, up to MAX_CHECKOUT_WORKERS."""
    return ("-c", f"checkout.workers={min(os.cpu_count() or 1, MAX_CHECKOUT_WORKERS)}")


def make_full(repo: GitRepo, path: Path, admin: Path) -> None:
    """Make the worktree at `path` (its admin dir: `admin`), made with `--no-checkout`, a
    full checkout before its files are written."""
    if not _is_true(repo, path, SPARSE):
        return
    patterns = admin / "info" / "sparse-checkout"
    if _is_true(repo, path, "extensions.worktreeConfig"):
        # The worktree's own config.worktree is read after the shared config, so it wins.
        own = str(admin / "config.worktree")
        repo.run("config", "--file", own, SPARSE, "false")
        for key in SPARSE_ONLY:
            repo.run("config", "--file", own, "--unset-all", key, ok_codes=(0, 5))
        patterns.unlink(missing_ok=True)
    if _is_true(repo, path, SPARSE):
        # Set in the shared config, with no per-worktree config to override it: this
        # worktree's own patterns then match every path.
        patterns.parent.mkdir(parents=True, exist_ok=True)
        patterns.write_text(EVERY_PATH, encoding="utf-8")


def check_out(repo: GitRepo, path: Path) -> list[str]:
    """Write the worktree's files, then its submodules (`populate_submodules`). Returns a
    note for each submodule left empty."""
    args = ("reset", "--quiet", "--hard", "--no-recurse-submodules")
    repo.run(*workers_setting(), *args, cwd=path)
    return [
        f"submodule {sub.relative_to(path)} is left empty: {why}"
        for sub, why in populate_submodules(repo, repo.toplevel, path)
    ]


def populate_submodules(
    repo: GitRepo, user_dir: Path, path: Path, *, nested: bool = False
) -> list[tuple[Path, str]]:
    """Check out each submodule of the worktree at `path` that is checked out at the same
    place in the user's checkout `user_dir`, at the commit the worktree records, cloned
    from the user's copy of it: locally, so with no network and hard-linked objects. Nested
    submodules likewise. The others stay empty, as `git worktree add` leaves them.

    Returns each submodule that could not be checked out (the user's copy lacks the
    commit, say), with the reason."""
    left: list[tuple[Path, str]] = []
    for module in _submodules(repo, path):
        theirs, ours = user_dir / module.path, path / module.path
        source = _checked_out_repo(repo, theirs)
        if source is None:
            continue
        if not _has_commit(repo, theirs, module.commit):
            why = f"commit {module.commit} is not in your checkout's copy of it; fetch it there"
            left.append((ours, why))
            continue
        failed = _clone(repo, path, module, source)
        if failed is not None:
            left.append((ours, failed))
            continue
        if nested:
            _initialise_as_theirs(repo, user_dir, path, module.name)
        left += populate_submodules(repo, theirs, ours, nested=True)
    return left


def _initialise_as_theirs(repo: GitRepo, user_dir: Path, path: Path, name: str) -> None:
    """In the superproject at `path`, a clone made here, initialise submodule `name` as it
    is in the user's superproject at `user_dir`. (A top-level submodule's settings are in
    the shared config already, which wta never writes.)"""
    for setting in (f"submodule.{name}.url", f"submodule.{name}.active"):
        value = repo.run("config", "--get", setting, cwd=user_dir, ok_codes=(0, 1))
        if value.stdout.strip():
            repo.run("config", setting, value.stdout.strip(), cwd=path)


@dataclass(frozen=True)
class _Submodule:
    name: str
    path: str  # relative to its superproject
    commit: str  # the gitlink


def _clone(repo: GitRepo, path: Path, module: _Submodule, source: Path) -> str | None:
    """Clone `module` into the worktree at `path` from the user's copy (git dir `source`);
    None when done, else git's reason, with the half-made clone removed."""
    # Through the environment, not `-c`: a submodule's name may hold a `=`. Local clones
    # of submodules need protocol.file.allow since git 2.38.1; the source is the user's own.
    url = (f"submodule.{module.name}.url", str(source))
    env = git_config_env([("protocol.file.allow", "always"), url], git_env())
    args = ("submodule", "update", "--quiet", "--checkout", "--", module.path)
    done = repo.run(*args, cwd=path, env=env, check=False)
    if done.exit_code == 0:
        # The clone's origin is the user's copy; point it where the user's copy points.
        origin = repo.run("config", "--get", "remote.origin.url", cwd=source, ok_codes=(0, 1))
        if origin.stdout.strip():
            repo.run("config", "remote.origin.url", origin.stdout.strip(), cwd=path / module.path)
        return None
    git_dir = repo.run("rev-parse", "--absolute-git-dir", cwd=path).stdout.strip()
    modules = Path(_real(Path(git_dir) / "modules"))
    clone = Path(_real(modules / module.name))
    if modules in clone.parents:  # a name git refused (`../x`) must not lead rmtree out
        shutil.rmtree(clone, ignore_errors=True)
    shutil.rmtree(path / module.path, ignore_errors=True)
    (path / module.path).mkdir(parents=True, exist_ok=True)
    return last_line(done.stderr) or f"git submodule update exited {done.exit_code}"


def _submodules(repo: GitRepo, path: Path) -> list[_Submodule]:
    """Each submodule in `.gitmodules` whose path is a gitlink in the index (so no path
    outside the worktree is ever taken from that file), with its commit."""
    if not (path / ".gitmodules").is_file():
        return []
    gitlinks: dict[str, str] = {}
    for entry in repo.run("ls-files", "--stage", "-z", cwd=path).stdout.split("\0"):
        info, _, where = entry.partition("\t")
        fields = info.split()  # mode, object, stage
        if len(fields) == 3 and fields[0] == GITLINK:
            gitlinks[where] = fields[1]
    pattern = r"^submodule\..*\.path$"
    listed = repo.run("config", "--file", ".gitmodules", "-z", "--get-regexp", pattern,
                      cwd=path, ok_codes=(0, 1)).stdout  # fmt: skip
    found: list[_Submodule] = []
    for entry in listed.split("\0"):
        key, _, sub = entry.partition("\n")
        if sub in gitlinks:
            name = key.removeprefix("submodule.").removesuffix(".path")
            found.append(_Submodule(name, sub, gitlinks[sub]))
    return found


def _has_commit(repo: GitRepo, checkout: Path, commit: str) -> bool:
    found = repo.run("cat-file", "-e", f"{commit}^{{commit}}", cwd=checkout, check=False)
    return found.exit_code == 0


def _checked_out_repo(repo: GitRepo, directory: Path) -> Path | None:
    """The git dir of the repository checked out at `directory`, if one is."""
    if not (directory / ".git").exists():
        return None
    args = ("rev-parse", "--path-format=absolute", "--show-toplevel", "--absolute-git-dir")
    found = repo.run(*args, cwd=directory, check=False)
    lines = found.stdout.splitlines()
    if found.exit_code != 0 or len(lines) != 2 or _real(lines[0]) != _real(directory):
        return None
    return Path(lines[1])


def _is_true(repo: GitRepo, path: Path, key: str) -> bool:
    found = repo.run("config", "--bool", "--get", key, cwd=path, ok_codes=(0, 1))
    return found.stdout.strip() == "true"


def _real(path: str | Path) -> str:
    return os.path.realpath(path)
