"""`wta run` end to end on repositories that are not plain: a sparse checkout, a path with
spaces and non-ASCII characters, submodules, a shallow clone. In each, the features merge
and the user's checkout is exactly as it was."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, commit, git, make_repo
from runutil import BASE, Spec, command_profile, features, plan_repo, wta

# A command agent driven by a script: for its feature, write files, run git commands, and
# record what it saw (every file in its worktree, each command's exit code and output) in
# <seen>/<feature>.json, outside the worktree.
AGENT = """\
import json, os, pathlib, subprocess, sys
script, seen = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
feature = os.environ["WTA_FEATURE_ID"]
steps = json.loads(script.read_text(encoding="utf-8"))[feature]
for path, text in steps["write"].items():
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(text, encoding="utf-8")
ran = []
for argv in steps["git"]:
    p = subprocess.run(["git", *argv], capture_output=True, text=True)
    ran.append([argv, p.returncode, p.stdout + p.stderr])
files = sorted(
    str(pathlib.Path(d, f).relative_to("."))
    for d, dirs, names in os.walk(".")
    for f in names
    if ".git" not in pathlib.Path(d, f).parts
)
seen.mkdir(exist_ok=True)
(seen / f"{feature}.json").write_text(json.dumps({"files": files, "git": ran}), encoding="utf-8")
"""


def scripted_repo(
    root: Path,
    steps: Mapping[str, Mapping[str, object]],
    base: Mapping[str, str] = BASE,
) -> Path:
    """A repository (`plan_repo` on `base`) whose features are run by the scripted agent:
    `steps` maps each feature id to {"write": {path: text}, "git": [argv, ...]}."""
    (root / "agent.py").parent.mkdir(parents=True, exist_ok=True)
    (root / "agent.py").write_text(AGENT, encoding="utf-8")
    (root / "steps.json").write_text(json.dumps(steps), encoding="utf-8")
    agent = command_profile(root / "agent.py", str(root / "steps.json"), str(root / "seen"))
    specs = [Spec(fid, {}) for fid in steps]
    return plan_repo(root, specs, base, agent=agent)


def agent_line(root: Path, fid: str) -> str:
    """The line an attempt's log starts with: the scripted agent's command."""
    argv = [sys.executable, *(str(root / name) for name in ("agent.py", "steps.json", "seen"))]
    return f"[wta] {fid} attempt 1: {shlex.join(argv)}"


def seen(root: Path, fid: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "seen" / f"{fid}.json").read_text("utf-8"))
    return data


def files_on_disk(top: Path) -> dict[str, str]:
    """Every file under `top` outside .git, with its text (a gitfile's too)."""
    found: dict[str, str] = {}
    for d, _, names in os.walk(top):
        for name in names:
            path = Path(d, name)
            rel = path.relative_to(top)
            if ".git" not in rel.parts[:-1] and not (rel.name == ".git" and path.is_dir()):
                found[str(rel)] = path.read_text("utf-8", "replace")
    return dict(sorted(found.items()))


def read(path: Path) -> str | None:
    return path.read_text("utf-8") if path.exists() else None


def checkout_state(repo: Path) -> dict[str, object]:
    """Everything of the user's checkout that wta must leave as it was."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return {
        "HEAD": git(repo, "rev-parse", "HEAD"),
        "symbolic HEAD": git(repo, "symbolic-ref", "HEAD"),
        "index": git(repo, "ls-files", "--stage", "--debug"),
        "index tags": git(repo, "ls-files", "-t"),
        "status": git(repo, "status", "--porcelain=v2", "--branch", "--untracked-files=all"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "refs": [r for r in refs if not r.startswith(("refs/heads/wta/", "refs/wta/"))],
        "config": git(repo, "config", "--list", "--show-origin"),
        "config files": {name: read(git_dir / name) for name in ("config", "config.worktree")},
        "sparse-checkout": read(git_dir / "info" / "sparse-checkout"),
        "submodules": git(repo, "submodule", "status", "--recursive"),
        "module configs": {
            str(p.relative_to(git_dir)): p.read_text("utf-8")
            for p in sorted((git_dir / "modules").rglob("config"))
        },
        "files": files_on_disk(repo),
    }


def busy_checkout(repo: Path) -> None:
    """The user is mid-work: a stash entry, a staged file and an edited one."""
    (repo / "README.md").write_text("# stashed\n")
    git(repo, "stash", "push", "--quiet", "-m", "mine")
    (repo / "src" / "staged.txt").write_text("staged\n")
    git(repo, "add", "src/staged.txt")
    (repo / "src" / "core.py").write_text("VALUE = 'mine'\n")


def subprocess_exit(repo: Path, *args: str) -> int:
    """git's exit code, for a command expected to fail."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True).returncode


def merged(repo: Path) -> list[str]:
    """The features on the integration branch, oldest first."""
    log = git(
        repo,
        "log",
        "--reverse",
        "--format=%(trailers:key=Wta-Feature,valueonly)",
        "main..wta/integration",
    )
    return log.split()


def on_integration(repo: Path, path: str) -> str:
    return git(repo, "show", f"wta/integration:{path}")


# --- a sparse checkout ------------------------------------------------------------------

SPARSE_BASE = {**BASE, "docs/guide.md": "# guide\n", "other/data.txt": "data\n"}


def sparse_legacy(repo: Path) -> None:
    """Sparse through the shared config, as before `git sparse-checkout` existed: with no
    per-worktree config, every worktree of the repository is sparse."""
    git(repo, "config", "core.sparseCheckout", "true")
    (repo / ".git" / "info" / "sparse-checkout").write_text("/README.md\n/src/\n")
    git(repo, "read-tree", "-mu", "HEAD")


SPARSE_CASES = {
    # how the user's checkout is made sparse: what `git sparse-checkout list` then says in
    # a feature worktree
    "cone": (["sparse-checkout", "set", "src"], 128, "fatal: this worktree is not sparse\n"),
    "cone, sparse index": (
        ["sparse-checkout", "set", "--sparse-index", "src"],
        128,
        "fatal: this worktree is not sparse\n",
    ),
    "non-cone": (
        ["sparse-checkout", "set", "--no-cone", "/README.md", "/src/"],
        128,
        "fatal: this worktree is not sparse\n",
    ),
    "shared config": ([], 0, "/*\n"),  # the feature worktree's own patterns: every path
}


@pytest.mark.parametrize("case", list(SPARSE_CASES))
def test_a_sparse_checkout_gets_full_feature_worktrees(tmp_path: Path, case: str) -> None:
    make_sparse, list_code, listed = SPARSE_CASES[case]
    steps = {
        "docs": {
            "write": {"docs/guide.md": "# guide\nmore\n", "other/new.txt": "new\n"},
            "git": [
                ["add", "docs/guide.md", "other/new.txt"],
                ["status", "--porcelain"],
                ["sparse-checkout", "list"],
            ],
        },
    }
    repo = scripted_repo(tmp_path, steps, SPARSE_BASE)
    if make_sparse:
        git(repo, *make_sparse)
    else:
        sparse_legacy(repo)
    busy_checkout(repo)
    before = checkout_state(repo)

    assert wta(repo, "run") == 0

    assert checkout_state(repo) == before
    assert list(files_on_disk(repo)) == ["README.md", "src/core.py", "src/staged.txt"]  # sparse
    assert (merged(repo), on_integration(repo, "docs/guide.md")) == (["docs"], "# guide\nmore")
    assert on_integration(repo, "other/new.txt") == "new"
    every_file = ["README.md", "docs/guide.md", "other/data.txt", "other/new.txt", "src/core.py"]
    assert seen(tmp_path, "docs") == {
        "files": every_file,
        "git": [
            [["add", "docs/guide.md", "other/new.txt"], 0, ""],
            [["status", "--porcelain"], 0, "M  docs/guide.md\nA  other/new.txt\n"],
            [["sparse-checkout", "list"], list_code, listed],
        ],
    }
    assert list(files_on_disk(tmp_path / "repo.wta" / "docs")) == [".git", *every_file]


# --- spaces and non-ASCII characters in the path ----------------------------------------


def test_a_path_with_spaces_and_non_ascii_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "my prøjects ✓ (wta)"
    check = 'test -f "docs/naïve café.md"'
    specs = [
        Spec("notes", {"docs/naïve café.md": "crème brûlée\n"}, acceptance=[check]),
        Spec("core", {"src/core.py": "VALUE = 'ü'\n"}, depends_on=["notes"]),
    ]
    repo = plan_repo(root, specs, BASE)
    busy_checkout(repo)
    before = checkout_state(repo)

    assert wta(repo, "run") == 0

    assert checkout_state(repo) == before
    assert merged(repo) == ["notes", "core"]
    assert on_integration(repo, "docs/naïve café.md") == "crème brûlée"
    assert on_integration(repo, "src/core.py") == "VALUE = 'ü'"
    state_dir = repo / ".git" / "wta"
    (events_file,) = (state_dir / "runs").iterdir()
    events = [json.loads(line) for line in events_file.read_text("utf-8").splitlines()]
    created = [(e["feature_id"], e["path"]) for e in events if e["kind"] == "worktree_created"]
    trees = root / "repo.wta"
    assert created == [("notes", str(trees / "notes")), ("core", str(trees / "core"))]
    assert {fid: (f["state"], f["branch"]) for fid, f in features(capsys, repo).items()} == {
        "notes": ("merged", "wta/notes"),
        "core": ("merged", "wta/core"),
    }
    assert wta(repo, "logs", "notes") == 0
    patch = root / "plan" / "patches" / "notes.patch"
    assert capsys.readouterr().out.splitlines() == [
        f"[wta] notes attempt 1: git apply {patch}",
        f"$ {check}",
    ]
    assert sorted(p.name for p in (state_dir / "attempts").iterdir()) == ["core", "notes"]
    # core took over notes' worktree (reuse_worktrees), at a base that holds notes' file
    assert (trees / "core" / "docs" / "naïve café.md").read_text() == "crème brûlée\n"


# --- submodules -------------------------------------------------------------------------


def add_submodule(repo: Path, lib: Path, path: str) -> None:
    """`git submodule add` of a local repository: git 2.39 needs protocol.file.allow for
    that, given here to this one command."""
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "--quiet", str(lib), path)
    git(repo, "commit", "--quiet", "-m", f"add {path}")


def submodule_repo(tmp_path: Path) -> tuple[Path, Path]:
    """The user's repository, with the submodule vendor/lib (from `tmp_path/lib`, which has
    its own submodule deps/tiny) checked out recursively, and `submodule.recurse` on.
    Returns the repository and lib."""
    steps = {
        "readme": {
            "write": {"README.md": "# sample, with a lib\n"},
            "git": [
                ["submodule", "status", "--recursive"],
                ["-C", "vendor/lib", "remote", "get-url", "origin"],
            ],
        },
    }
    repo = scripted_repo(tmp_path, steps)
    tiny = make_repo(tmp_path / "tiny", {"tiny.txt": "tiny\n"})
    lib = make_repo(tmp_path / "lib", {"lib.txt": "lib\n"})
    add_submodule(lib, tiny, "deps/tiny")
    add_submodule(repo, lib, "vendor/lib")
    git(
        repo,
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "update",
        "--quiet",
        "--init",
        "--recursive",
    )
    git(repo, "config", "submodule.recurse", "true")
    return repo, lib


def test_submodules_are_checked_out_as_in_the_users_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, lib = submodule_repo(tmp_path)
    busy_checkout(repo)
    before = checkout_state(repo)

    assert wta(repo, "run") == 0

    assert checkout_state(repo) == before
    assert merged(repo) == ["readme"]
    assert on_integration(repo, "README.md") == "# sample, with a lib"
    assert git(repo, "rev-parse", "wta/integration:vendor/lib") == git(lib, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "wta/readme") == git(repo, "rev-parse", "wta/integration")
    lib_head = git(lib, "rev-parse", "HEAD")
    tiny_head = git(tmp_path / "tiny", "rev-parse", "HEAD")
    assert seen(tmp_path, "readme") == {
        "files": [
            ".gitmodules",
            "README.md",
            "src/core.py",
            "vendor/lib/.gitmodules",
            "vendor/lib/deps/tiny/tiny.txt",
            "vendor/lib/lib.txt",
        ],
        "git": [
            [
                ["submodule", "status", "--recursive"],
                0,
                f" {lib_head} vendor/lib (heads/main)\n"
                f" {tiny_head} vendor/lib/deps/tiny (heads/main)\n",
            ],
            [["-C", "vendor/lib", "remote", "get-url", "origin"], 0, f"{lib}\n"],
        ],
    }
    capsys.readouterr()
    assert wta(repo, "logs", "readme") == 0
    assert capsys.readouterr().out.splitlines() == [agent_line(tmp_path, "readme")]  # no note

    assert wta(repo, "clean") == 0  # a worktree with submodules can be removed

    assert not (tmp_path / "repo.wta" / "readme").exists()
    assert git(repo, "worktree", "list", "--porcelain").splitlines()[0] == f"worktree {repo}"
    assert checkout_state(repo) == before


def test_a_submodule_not_checked_out_by_the_user_stays_empty(tmp_path: Path) -> None:
    repo, _ = submodule_repo(tmp_path)
    git(repo, "submodule", "deinit", "--quiet", "--force", "vendor/lib")
    before = checkout_state(repo)

    assert wta(repo, "run") == 0

    assert checkout_state(repo) == before
    assert merged(repo) == ["readme"]
    assert seen(tmp_path, "readme") == {
        "files": [".gitmodules", "README.md", "src/core.py"],
        "git": [
            [
                ["submodule", "status", "--recursive"],
                0,
                f"-{git(repo, 'rev-parse', 'HEAD:vendor/lib')} vendor/lib\n",
            ],
            [
                ["-C", "vendor/lib", "remote", "get-url", "origin"],
                2,
                "error: No such remote 'origin'\n",
            ],
        ],
    }


def test_a_submodule_commit_the_users_copy_lacks_leaves_it_empty_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, lib = submodule_repo(tmp_path)
    newer = commit(lib, {"lib.txt": "lib v2\n"}, "v2")  # not fetched into the user's copy
    git(repo, "update-index", "--cacheinfo", f"160000,{newer},vendor/lib")
    git(repo, "commit", "--quiet", "-m", "lib v2")
    before = checkout_state(repo)

    assert wta(repo, "run") == 0

    assert checkout_state(repo) == before
    assert merged(repo) == ["readme"]
    assert git(repo, "rev-parse", "wta/integration:vendor/lib") == newer
    assert git(repo, "rev-parse", "wta/readme") == git(repo, "rev-parse", "wta/integration")
    assert seen(tmp_path, "readme")["files"] == [".gitmodules", "README.md", "src/core.py"]
    capsys.readouterr()
    assert wta(repo, "logs", "readme") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"[wta] submodule vendor/lib is left empty: commit {newer} is not in your checkout's"
        " copy of it; fetch it there",
        agent_line(tmp_path, "readme"),
    ]
    assert os.listdir(tmp_path / "repo.wta" / "readme" / "vendor" / "lib") == []


def test_a_submodule_that_cannot_be_cloned_stays_empty_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _ = submodule_repo(tmp_path)
    blob = git(repo / "vendor" / "lib", "rev-parse", "HEAD:lib.txt")
    module = Path(git(repo / "vendor" / "lib", "rev-parse", "--absolute-git-dir"))
    (module / "objects" / blob[:2] / blob[2:]).unlink()  # the user's copy has lost a blob
    before = checkout_state(repo)

    assert wta(repo, "run") == 0

    assert checkout_state(repo) == before
    assert merged(repo) == ["readme"]
    assert seen(tmp_path, "readme")["files"] == [".gitmodules", "README.md", "src/core.py"]
    worktree = tmp_path / "repo.wta" / "readme"
    assert os.listdir(worktree / "vendor" / "lib") == []
    assert not (repo / ".git" / "worktrees" / "readme" / "modules" / "vendor" / "lib").exists()
    capsys.readouterr()
    assert wta(repo, "logs", "readme") == 0
    lib_head = git(repo, "rev-parse", "HEAD:vendor/lib")
    assert capsys.readouterr().out.splitlines() == [
        "[wta] submodule vendor/lib is left empty: fatal: Unable to checkout"
        f" '{lib_head}' in submodule path 'vendor/lib'",
        agent_line(tmp_path, "readme"),
    ]


# --- a shallow clone --------------------------------------------------------------------


def test_a_shallow_clone(tmp_path: Path) -> None:
    specs = [Spec("a", {"a.txt": "a\n"}), Spec("b", {"src/core.py": "VALUE = 2\n"}, ["a"])]
    origin = plan_repo(tmp_path, specs, BASE)
    older = git(origin, "rev-parse", "HEAD")
    commit(origin, {"history.txt": "later\n"}, "later")
    clone = tmp_path / "clone"  # beside plan/, as wta() wants
    git(tmp_path, "clone", "--quiet", "--depth", "1", f"file://{origin}", str(clone))
    busy_checkout(clone)
    before = checkout_state(clone)
    shallow = (clone / ".git" / "shallow").read_text()

    assert wta(clone, "run") == 0

    assert checkout_state(clone) == before
    assert merged(clone) == ["a", "b"]
    assert (on_integration(clone, "a.txt"), on_integration(clone, "src/core.py")) == (
        "a",
        "VALUE = 2",
    )
    assert (clone / ".git" / "shallow").read_text() == shallow
    assert git(clone, "rev-list", "--count", "wta/integration") == "3"
    missing = subprocess_exit(clone, "cat-file", "-e", older)
    assert missing == 1  # still not fetched: nothing deepened the clone
