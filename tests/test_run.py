"""`wta run` end to end with the patch agent: real repositories, real worktrees, real merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import commit, git
from runutil import Spec, apply, plan_repo, wta

from worktree_agents.demo import after_merge_of

BASE = {
    "README.md": "# sample\n",
    "src/core.py": "def core():\n    return 1\n",
    "src/old_name.py": "OLD = 1\n",
    "docs/obsolete.md": "remove me\n",
    "src/shared.py": "A = 1\n\n\n\n\n\n\nB = 2\n",
}
# a chain (api -> cli), a diamond (model -> views, forms -> admin), a deletion, a rename,
# and two features editing different ends of one file
SPECS = [
    Spec("model", {"src/model.py": "class Model:\n    pass\n"}),
    Spec("views", {"src/views.py": "from src.model import Model\n"}, depends_on=["model"]),
    Spec("forms", {"src/forms.py": "from src.model import Model\n"}, depends_on=["model"]),
    Spec(
        "admin",
        {"src/admin.py": "import src.views\nimport src.forms\n"},
        depends_on=["views", "forms"],
    ),
    Spec("api", {"src/api.py": "def api():\n    return 2\n"}),
    Spec("cli", {"src/cli.py": "import src.api\n"}, depends_on=["api"]),
    Spec("cleanup", {"docs/obsolete.md": None}),
    Spec("rename", {"src/old_name.py": None, "src/new_name.py": "OLD = 1\n"}),
    Spec("shared-a", {"src/shared.py": "A = 10\n\n\n\n\n\n\nB = 2\n"}),
    Spec("shared-b", {"src/shared.py": "A = 1\n\n\n\n\n\n\nB = 20\n"}),
]
TOPOLOGICAL = ["model", "api", "cleanup", "rename", "shared-a", "shared-b", "views", "forms",
               "cli", "admin"]  # fmt: skip


def ls_tree(repo: Path, ref: str) -> str:
    return git(repo, "ls-tree", "-r", ref)


@pytest.mark.parametrize("mode", ["squash", "rebase"])
def test_integration_equals_sequential_application(tmp_path: Path, mode: str) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE, settings=f'[run]\nmerge = "{mode}"\nmax_parallel = 3\n')

    assert wta(repo, "run") == 0

    # the same patches applied one after another, in a topological order, in a plain clone
    scratch = tmp_path / "scratch"
    git(tmp_path, "clone", "--quiet", str(repo), str(scratch))
    for fid in TOPOLOGICAL:
        git(scratch, "apply", "--index", str(tmp_path / "plan" / "patches" / f"{fid}.patch"))
    assert git(repo, "rev-parse", "wta/integration^{tree}") == git(scratch, "write-tree")
    assert git(scratch, "show", ":src/shared.py") == "A = 10\n\n\n\n\n\n\nB = 20"
    subjects = git(
        repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "main..wta/integration"
    ).split()
    assert sorted(subjects) == sorted(TOPOLOGICAL)
    # every feature branch ends at its commit on integration
    for spec in SPECS:
        tip = git(repo, "rev-parse", f"wta/{spec.id}")
        assert git(repo, "merge-base", "--is-ancestor", tip, "wta/integration") == ""
        assert (
            git(repo, "log", "-1", "--format=%(trailers:key=Wta-Feature,valueonly)", tip) == spec.id
        )


CONFLICT_SPECS = [
    Spec("winner", {"src/core.py": "def core():\n    return 'winner'\n"}),
    # its acceptance check waits until the winner has merged, so it loses the race
    Spec(
        "loser",
        {"src/core.py": "def core():\n    return 'loser'\n"},
        acceptance=[after_merge_of("winner")],
    ),
    Spec("after-loser", {"src/after.py": "x = 1\n"}, depends_on=["loser"]),
    Spec("after-after", {"src/after2.py": "y = 1\n"}, depends_on=["after-loser"]),
    Spec("independent", {"src/other.py": "z = 1\n"}),
]


def status_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert wta(repo, "status", "--json") == 0
    document: dict[str, object] = json.loads(capsys.readouterr().out)
    return document


def test_conflict_fails_the_loser_and_skips_its_dependents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, CONFLICT_SPECS, BASE, settings="[run]\nmax_parallel = 3\n")

    assert wta(repo, "run") == 1

    data = status_json(repo, capsys)["data"]
    assert isinstance(data, dict)
    summary = {
        f["id"]: (f["state"], f["reason"], f["conflict_paths"], f["skipped_because"])
        for f in data["features"]
    }
    assert summary == {
        "winner": ("merged", None, [], None),
        "loser": ("failed", "conflict", ["src/core.py"], None),
        "after-loser": ("skipped", None, [], "loser"),
        "after-after": ("skipped", None, [], "after-loser"),
        "independent": ("merged", None, [], None),
    }
    loser = next(f for f in data["features"] if f["id"] == "loser")
    assert loser["detail"] == "conflict in src/core.py (also changed by winner)"
    # the loser's branch still holds its own work, for a person to look at
    assert git(repo, "show", "wta/loser:src/core.py") == "def core():\n    return 'loser'"
    assert git(repo, "show", "wta/integration:src/core.py") == "def core():\n    return 'winner'"


def snapshot(repo: Path) -> dict[str, str]:
    """Everything of the user's that wta must leave alone."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    return {
        "HEAD": git(repo, "rev-parse", "HEAD"),
        "symbolic HEAD": git(repo, "symbolic-ref", "HEAD"),
        "index": git(repo, "ls-files", "--stage", "--debug"),
        "status": git(repo, "status", "--porcelain=v2", "--untracked-files=all"),
        "stash": git(repo, "stash", "list", "--format=%H %gs"),
        "branches": "\n".join(
            line
            for line in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
            if not line.startswith(("refs/heads/wta/", "refs/wta/"))
        ),
        "worktree files": (repo / "src" / "core.py").read_text() + (repo / "dirty.txt").read_text(),
        "state files": " ".join(
            sorted(
                str(p.relative_to(git_dir))
                for name in (
                    "MERGE_HEAD",
                    "CHERRY_PICK_HEAD",
                    "REBASE_HEAD",
                    "rebase-merge",
                    "rebase-apply",
                    "REVERT_HEAD",
                    "BISECT_LOG",
                )
                for p in git_dir.rglob(name)
            )
        ),
    }


def test_the_users_repository_is_untouched(tmp_path: Path) -> None:
    repo = plan_repo(tmp_path, CONFLICT_SPECS, BASE)
    git(repo, "branch", "topic")
    commit(repo, {"notes.txt": "stashed\n"}, "notes")
    (repo / "notes.txt").write_text("stash me\n")
    git(repo, "stash", "push", "-m", "my stash")
    (repo / "src" / "core.py").write_text("local edit\n")  # a dirty file
    (repo / "dirty.txt").write_text("staged\n")
    git(repo, "add", "dirty.txt")  # a staged file
    before = snapshot(repo)

    assert wta(repo, "run") == 1

    assert snapshot(repo) == before
    assert before["state files"] == ""


def test_running_again_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, CONFLICT_SPECS, BASE)
    assert wta(repo, "run") == 1
    first = status_json(repo, capsys)
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")

    assert wta(repo, "run") == 1

    again = status_json(repo, capsys)
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == refs
    assert again["data"]["features"] == first["data"]["features"]  # type: ignore[index]


def test_retry_failed_runs_the_failed_feature_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # attempt 1 conflicts; on retry (attempt 2) the loser's patch is rebased on the winner
    specs = [
        CONFLICT_SPECS[0],
        Spec(
            "loser",
            {"src/core.py": "def core():\n    return 'loser'\n"},
            acceptance=[after_merge_of("winner")],
            attempt_changes={
                2: {"src/core.py": "def core():\n    return 'winner'\n", "src/l.py": "L = 1\n"}
            },
        ),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run") == 1
    # the retry's patch applies on top of the winner, so make it from that state
    from runutil import write_patch

    after_winner = apply(BASE, specs[0].changes)
    write_patch(
        repo, after_winner, apply(after_winner, {"src/l.py": "L = 1\n"}),
        tmp_path / "plan" / "patches" / "loser.attempt2.patch",
    )  # fmt: skip

    assert wta(repo, "run", "--retry-failed") == 0

    data = status_json(repo, capsys)["data"]
    loser = next(f for f in data["features"] if f["id"] == "loser")  # type: ignore[index]
    assert (loser["state"], loser["attempts"]) == ("merged", 2)
    assert git(repo, "show", "wta/integration:src/l.py") == "L = 1"


def test_only_requires_unmerged_dependencies_in_the_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS[:4], BASE)
    capsys.readouterr()

    assert wta(repo, "run", "--only", "views") == 2

    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "wta: error: --only leaves out dependencies that are not merged yet: model;"
        " add them to --only, or run them first\n",
    )
    assert git(repo, "branch", "--list", "wta/*") == ""
    assert wta(repo, "run", "--only", "model", "--only", "views") == 0
    data = status_json(repo, capsys)["data"]
    states = {f["id"]: f["state"] for f in data["features"]}  # type: ignore[index]
    assert states == {"model": "merged", "views": "merged", "forms": "pending", "admin": "pending"}
