"""`wta run --push REMOTE`: integration and the review branches pushed to a bare remote as
features land and when the run ends; someone else's push to integration is fetched, merged
and pushed over with a lease; an unreadable remote stops the run before anything."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from gitutil import commit, git
from reviewutil import review_refs
from runutil import BASE, Spec, plan_repo, wta

SPECS = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
    Spec("c", {"src/core.py": "VALUE = 2\n"}),
]
TRAILERS = "--format=%(trailers:key=Wta-Feature,valueonly,separator=)"


def remote_heads(remote: Path) -> dict[str, str]:
    listed = git(remote, "for-each-ref", "--format=%(refname:short) %(objectname)")
    return dict(line.split() for line in listed.splitlines())


def setup(tmp_path: Path) -> tuple[Path, Path]:
    repo = plan_repo(tmp_path, SPECS, BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    return repo, remote


def test_run_pushes_integration_and_the_review_branches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, remote = setup(tmp_path)

    assert wta(repo, "run", "--push", "origin") == 0

    head = git(repo, "rev-parse", "wta/integration")
    reviews = review_refs(repo)
    assert sorted(reviews) == ["wta/review/a", "wta/review/b", "wta/review/c"]
    assert remote_heads(remote) == {"wta/integration": head, **reviews}
    out = capsys.readouterr().out.splitlines()
    said = [line for line in out if "origin" in line]
    # integration, then the review branches in one line: each was pushed as its feature
    # landed, or at the end; which, depends on the timing
    assert said[0] in (
        f"pushed refs/heads/wta/integration to origin at {head[:10]}",
        f"origin already has refs/heads/wta/integration at {head[:10]}",
    )
    assert len(said) == 2
    moved, there = (int(w) for w in re.findall(r"(\d+) (?:pushed|already)", said[1]))
    assert said[1] == f"review branches on origin: {moved} pushed, {there} already there"
    assert moved + there == 3

    # a second run starts nothing and pushes nothing new
    assert wta(repo, "run", "--push", "origin", "--json") == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert [(p["ref"], p["old"] == p["new"], p["error"]) for p in data["push"]] == [
        ("refs/heads/wta/integration", True, None),
        ("refs/heads/wta/review/a", True, None),
        ("refs/heads/wta/review/b", True, None),
        ("refs/heads/wta/review/c", True, None),
    ]


def test_someone_elses_push_is_fetched_merged_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, remote = setup(tmp_path)
    main = git(repo, "rev-parse", "main")
    # another machine pushed integration first, a commit this repository has never seen
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(repo), str(other))
    theirs = commit(other, {"other.txt": "other\n"}, "elsewhere")
    git(other, "push", "--quiet", str(remote), "HEAD:refs/heads/wta/integration")

    assert wta(repo, "run", "--push", "origin") == 0

    head = git(repo, "rev-parse", "wta/integration")
    assert remote_heads(remote)["wta/integration"] == head
    assert git(repo, "merge-base", "--is-ancestor", theirs, head) == ""  # kept
    landed = git(repo, "log", TRAILERS, "--reverse", f"{main}..{head}").split()
    assert sorted(landed) == ["a", "b", "c"]  # a and c in the order they finished
    assert landed.index("a") < landed.index("b")
    assert (
        git(repo, "log", "-1", "--format=%s", head)
        == "Merge origin/wta/integration into wta/integration"
    )
    assert git(repo, "show", f"{head}:other.txt") == "other"
    assert (
        capsys.readouterr().out.count(f"pushed refs/heads/wta/integration to origin at {head[:10]}")
        == 1
    )


def test_a_remote_integration_that_conflicts_is_named_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, remote = setup(tmp_path)
    git(repo, "switch", "--quiet", "-c", "elsewhere")
    (repo / "src" / "core.py").write_text("VALUE = 7\n")
    git(repo, "commit", "--quiet", "-am", "a conflicting change elsewhere")
    theirs = git(repo, "rev-parse", "HEAD")
    git(repo, "push", "--quiet", "origin", "elsewhere:refs/heads/wta/integration")
    git(repo, "switch", "--quiet", "main")
    git(repo, "branch", "--quiet", "-D", "elsewhere")

    assert wta(repo, "run", "--push", "origin") == 1

    assert remote_heads(remote)["wta/integration"] == theirs  # nothing pushed over it
    out = capsys.readouterr().out.splitlines()
    [failed] = [line for line in out if "wta/integration" in line and line.startswith("push")]
    assert failed == (
        "push to origin failed: the base 'origin/wta/integration' has commits that conflict"
        " with the integration branch 'wta/integration', in: src/core.py; nothing was started"
        " and nothing moved."
    )


def test_an_unreadable_remote_stops_the_run_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, _ = setup(tmp_path)
    assert wta(repo, "run", "--push", "nowhere") == 2
    assert capsys.readouterr().err.startswith("wta: error: cannot read the remote 'nowhere': ")
    assert git(repo, "branch", "--list", "wta/*") == ""
    assert wta(repo, "run", "--push", "--json") == 2


def test_a_lease_refused_at_the_end_is_fetched_merged_and_retried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The remote moves between wta's read and its push (a hook on the remote stands in for
    another machine, once): the lease is refused, and wta fetches, merges and pushes again."""
    repo, remote = setup(tmp_path)
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(repo), str(other))
    theirs = commit(other, {"other.txt": "other\n"}, "elsewhere")
    git(other, "push", "--quiet", str(remote), "HEAD:refs/heads/elsewhere")
    hook = remote / "hooks" / "pre-receive"
    once = tmp_path / "raced"
    hook.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {once} ] && grep -q ' refs/heads/wta/integration$'; then\n"
        f"  touch {once}\n"
        # another machine's push lands first; this one was made with a lease now stale
        f"  env -u GIT_QUARANTINE_PATH git update-ref refs/heads/wta/integration {theirs}\n"
        "  echo 'raced' >&2; exit 1\n"
        "fi\n"
    )
    hook.chmod(0o755)

    assert wta(repo, "run") == 0  # all merged; nothing pushed yet
    before = git(repo, "rev-parse", "wta/integration")
    capsys.readouterr()

    assert wta(repo, "run", "--push", "origin", "--json") == 0

    head = git(repo, "rev-parse", "wta/integration")
    assert once.exists()  # the first push was refused
    assert remote_heads(remote)["wta/integration"] == head
    assert git(repo, "rev-list", "--parents", "-n", "1", head).split() == [head, before, theirs]
    data = json.loads(capsys.readouterr().out)["data"]
    assert data["push"][0] == {
        "remote": "origin",
        "ref": "refs/heads/wta/integration",
        "old": theirs,
        "new": head,
        "error": None,
    }
