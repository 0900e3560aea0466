"""`wta review --open-prs` on the command line: the branches pushed to a bare remote, one
pull request per feature opened through a fake `gh` in review order, each body linking its
dependencies' pull requests, and a second run that changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fakegh import REPO_URL, FakeGh
from gitutil import git
from reviewutil import review_refs
from runutil import BASE, Spec, plan_repo, wta

SPECS = [
    Spec("a", {"a.txt": "a\n"}),
    Spec("b", {"b.txt": "b\n"}, depends_on=["a"]),
    Spec("c", {"c.txt": "c\n"}),
]


def calls(fake: FakeGh) -> list[list[str]]:
    """The gh calls, each as its argv, body files named by the file's first line."""
    shown = []
    for call in fake.take_calls():
        argv = list(call["argv"])
        if "--body-file" in argv:
            at = argv.index("--body-file") + 1
            argv[at] = f"<{call['body'].splitlines()[0]}>"
        shown.append(argv)
    return shown


def lists(head: str) -> list[str]:
    fields = "number,url,baseRefName,title,body"
    return ["pr", "list", "--head", head, "--state", "open", "--json", fields]


def create(base: str, head: str, title: str) -> list[str]:
    body = f"<Feature `{title}`.>"
    return ["pr", "create", "--base", base, "--head", head, "--title", title, "--body-file", body]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = plan_repo(tmp_path, SPECS, BASE)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(made, "remote", "add", "origin", str(remote))
    assert wta(made, "run") == 0
    return made


def test_open_prs_in_review_order_then_nothing_twice(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeGh.install(tmp_path)
    monkeypatch.setenv("PATH", fake.env()["PATH"])
    capsys.readouterr()

    assert wta(repo, "review", "--push", "origin", "--open-prs", "--json") == 0

    data = json.loads(capsys.readouterr().out)["data"]
    assert calls(fake) == [
        ["auth", "status"],  # before anything is built or pushed
        ["auth", "status"],  # and again before the pull requests (a quick call)
        lists("wta/review/a"),
        create("main", "wta/review/a", "a"),
        lists("wta/review/b"),
        create("wta/review/a", "wta/review/b", "b"),
        lists("wta/review/c"),
        create("main", "wta/review/c", "c"),
    ]
    prs = {r["id"]: r["pr"] for r in data["reviews"]}
    assert prs == {
        fid: {"number": n, "url": f"{REPO_URL}/pull/{n}", "action": "created"}
        for fid, n in (("a", 1), ("b", 2), ("c", 3))
    }
    opened: list[dict[str, Any]] = fake.load()["prs"]
    bodies = {p["headRefName"]: p["body"] for p in opened}
    # b's body links a's pull request
    assert f"- depends on `a`: {REPO_URL}/pull/1" in bodies["wta/review/b"].splitlines()
    assert {r["id"]: r["body"] for r in data["reviews"]} == {
        "a": bodies["wta/review/a"],
        "b": bodies["wta/review/b"],
        "c": bodies["wta/review/c"],
    }
    remote = tmp_path / "remote.git"
    heads = git(
        remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/wta/review"
    )
    assert dict(line.split() for line in heads.splitlines()) == review_refs(repo)

    # again: the same branches, the same bodies: gh is asked, and nothing is opened or edited
    assert wta(repo, "review", "--open-prs") == 0
    out = capsys.readouterr().out
    assert calls(fake) == [
        ["auth", "status"], ["auth", "status"],
        lists("wta/review/a"), lists("wta/review/b"), lists("wta/review/c"),
    ]  # fmt: skip
    assert (
        out.split("\n\n")[-1]
        == "\n".join(
            f"{fid}: pull request #{n} unchanged {REPO_URL}/pull/{n}"
            for fid, n in (("a", 1), ("b", 2), ("c", 3))
        )
        + "\n"
    )
    assert fake.load()["prs"] == opened


def test_without_gh_or_its_login_nothing_moves(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeGh.install(tmp_path, logged_in=False)
    monkeypatch.setenv("PATH", fake.env()["PATH"])
    capsys.readouterr()

    assert wta(repo, "review", "--push", "origin", "--open-prs") == 2

    err = capsys.readouterr().err
    assert err.startswith("wta: error: ")
    assert "gh auth login" in err
    assert review_refs(repo) == {}  # nothing built, nothing pushed
    assert git(tmp_path / "remote.git", "for-each-ref") == ""

    gitonly = tmp_path / "gitonly"  # git, and no gh
    gitonly.mkdir()
    (gitonly / "git").symlink_to(shutil.which("git") or "git")
    monkeypatch.setenv("PATH", str(gitonly))
    assert wta(repo, "review", "--open-prs") == 2
    assert capsys.readouterr().err.startswith("wta: error: ")
    assert review_refs(repo) == {}


def test_a_failing_gh_call_keeps_what_was_done(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeGh.install(tmp_path)
    state = fake.load()
    state["fail"] = {"wta/review/b": "GraphQL: Head sha can't be blank (createPullRequest)"}
    fake.save(state)
    monkeypatch.setenv("PATH", fake.env()["PATH"])
    capsys.readouterr()

    assert wta(repo, "review", "--push", "origin", "--open-prs", "--json") == 1

    envelope = json.loads(capsys.readouterr().out)
    prs = {r["id"]: r["pr"] for r in envelope["data"]["reviews"]}
    assert prs == {
        "a": {"number": 1, "url": f"{REPO_URL}/pull/1", "action": "created"},
        "b": None,
        "c": None,
    }
    [error] = envelope["errors"]
    assert error["type"] == "GhError"
    assert error["message"].splitlines()[1] == "pull requests done before it: a #1 created"
