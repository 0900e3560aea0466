"""ghpr.sync_pull_requests against a fake `gh` that keeps its pull requests in a JSON file and
records every call: the exact calls and their order, for a first pass on a stack of three
features, a second pass that changes nothing, passes after a change, and gh missing, not
logged in or failing midway."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from fakegh import REPO_URL, FakeGh

from worktree_agents import ghpr
from worktree_agents.domain import BranchName, FeatureId
from worktree_agents.errors import ExitCode, UsageError
from worktree_agents.ghpr import (
    GhError,
    PrAction,
    PrResult,
    PullRequestSpec,
    check_gh,
    sync_pull_requests,
)

FIELDS = "number,url,baseRefName,title,body"
FILE = "<body file>"  # a temp file's path, which the test cannot know in advance
DEPS = {"a": [], "b": ["a"], "c": ["a", "b"]}


def spec(fid: str, base: str, title: str | None = None) -> PullRequestSpec:
    head = f"wta/review/{fid}"
    return PullRequestSpec(
        FeatureId(fid), BranchName(head), BranchName(base), title or f"Add {fid}"
    )


STACK = [spec("a", "main"), spec("b", "wta/review/a"), spec("c", "wta/review/b")]


class Bodies:
    """A body_for that links each dependency's pull request, and records what it was given."""

    def __init__(self) -> None:
        self.given: list[tuple[str, dict[str, str]]] = []

    def __call__(self, spec: PullRequestSpec, links: Mapping[FeatureId, str]) -> str:
        plain = {str(fid): link for fid, link in links.items()}
        self.given.append((spec.feature_id, plain))
        return body(spec.feature_id, plain)


def body(fid: str, links: Mapping[str, str]) -> str:
    deps = [f"- needs {d}: {links.get(d, 'no pull request yet')}" for d in DEPS[fid]]
    return "\n".join([f"Feature {fid} — café ✓", "", *(deps or ["- needs nothing"])]) + "\n"


def url(number: int) -> str:
    return f"{REPO_URL}/pull/{number}"


def listing(head: str) -> tuple[list[str], None]:
    return ["pr", "list", "--head", head, "--state", "open", "--json", FIELDS], None


def create(s: PullRequestSpec, text: str) -> tuple[list[str], str]:
    argv = ["pr", "create", "--base", s.base, "--head", s.head, "--title", s.title]
    return [*argv, "--body-file", FILE], text


def edit(number: int, s: PullRequestSpec, text: str) -> tuple[list[str], str]:
    argv = ["pr", "edit", str(number), "--base", s.base, "--title", s.title]
    return [*argv, "--body-file", FILE], text


AUTH: tuple[list[str], None] = (["auth", "status"], None)
LINKS = {"a": url(1), "b": url(2)}
FIRST_CALLS = [
    AUTH,
    listing("wta/review/a"),
    create(STACK[0], body("a", {})),
    listing("wta/review/b"),
    create(STACK[1], body("b", LINKS)),
    listing("wta/review/c"),
    create(STACK[2], body("c", LINKS)),
]


NOT_LOGGED_IN_ERROR = (
    "gh is not logged in to GitHub (`gh auth status` exited 1: You are not logged into"
    " any GitHub hosts. To log in, run: gh auth login); run `gh auth login`, or set"
    " GH_TOKEN to a token that may write pull requests"
)


def calls(fake: FakeGh) -> list[tuple[list[str], str | None]]:
    """The calls since the last look, each body file's path masked; those files are gone."""
    out = []
    for call in fake.take_calls():
        argv = list(call["argv"])
        if "--body-file" in argv:
            at = argv.index("--body-file") + 1
            assert not Path(argv[at]).exists()
            argv[at] = FILE
        out.append((argv, call["body"]))
    return out


def results(*rows: tuple[str, int, str]) -> list[PrResult]:
    return [PrResult(FeatureId(fid), n, url(n), PrAction(action)) for fid, n, action in rows]


def first_pass(fake: FakeGh, tmp_path: Path) -> None:
    done = sync_pull_requests(STACK, Bodies(), tmp_path, env=fake.env())
    assert calls(fake) == FIRST_CALLS
    assert [r.action for r in done] == [PrAction.CREATED] * 3


def test_a_first_pass_opens_the_stack_in_order_each_body_linking_its_dependencies(
    tmp_path: Path,
) -> None:
    fake = FakeGh.install(tmp_path)
    bodies = Bodies()
    done = sync_pull_requests(STACK, bodies, tmp_path, env=fake.env())
    assert done == results(("a", 1, "created"), ("b", 2, "created"), ("c", 3, "created"))
    assert [r.as_json() for r in done] == [
        {"number": 1, "url": url(1), "action": "created"},
        {"number": 2, "url": url(2), "action": "created"},
        {"number": 3, "url": url(3), "action": "created"},
    ]
    assert [r.describe() for r in done] == [
        f"a: pull request #1 created {url(1)}",
        f"b: pull request #2 created {url(2)}",
        f"c: pull request #3 created {url(3)}",
    ]
    assert calls(fake) == FIRST_CALLS
    assert bodies.given == [("a", {}), ("b", {"a": url(1)}), ("c", LINKS)]
    assert [(p["number"], p["headRefName"], p["baseRefName"]) for p in fake.load()["prs"]] == [
        (1, "wta/review/a", "main"),
        (2, "wta/review/b", "wta/review/a"),
        (3, "wta/review/c", "wta/review/b"),
    ]


def test_a_second_pass_with_nothing_changed_only_lists(tmp_path: Path) -> None:
    fake = FakeGh.install(tmp_path)
    first_pass(fake, tmp_path)
    bodies = Bodies()
    done = sync_pull_requests(STACK, bodies, tmp_path, env=fake.env())
    assert done == results(("a", 1, "unchanged"), ("b", 2, "unchanged"), ("c", 3, "unchanged"))
    lists = [listing("wta/review/a"), listing("wta/review/b"), listing("wta/review/c")]
    assert calls(fake) == [AUTH, *lists]
    # the links are those of the pull requests found, as they were opened
    assert bodies.given == [("a", {}), ("b", {"a": url(1)}), ("c", LINKS)]


def test_a_new_base_or_title_edits_that_pull_request_and_nothing_else(tmp_path: Path) -> None:
    fake = FakeGh.install(tmp_path)
    first_pass(fake, tmp_path)
    b = spec("b", "wta/review/a", "Add b, reworded")
    c = spec("c", "wta/review/base-of-c")
    done = sync_pull_requests([STACK[0], b, c], Bodies(), tmp_path, env=fake.env())
    assert done == results(("a", 1, "unchanged"), ("b", 2, "updated"), ("c", 3, "updated"))
    assert calls(fake) == [
        AUTH,
        listing("wta/review/a"),
        listing("wta/review/b"),
        edit(2, b, body("b", LINKS)),
        listing("wta/review/c"),
        edit(3, c, body("c", LINKS)),
    ]
    prs = fake.load()["prs"]
    assert [(p["number"], p["baseRefName"], p["title"]) for p in prs] == [
        (1, "main", "Add a"),
        (2, "wta/review/a", "Add b, reworded"),
        (3, "wta/review/base-of-c", "Add c"),
    ]


def test_a_body_changed_on_github_is_put_back_but_line_endings_are_not_a_change(
    tmp_path: Path,
) -> None:
    fake = FakeGh.install(tmp_path)
    first_pass(fake, tmp_path)
    state = fake.load()
    state["prs"][0]["body"] = state["prs"][0]["body"].replace("\n", "\r\n").rstrip()
    state["prs"][1]["body"] = "someone wrote this on GitHub"
    fake.save(state)
    done = sync_pull_requests(STACK, Bodies(), tmp_path, env=fake.env())
    assert done == results(("a", 1, "unchanged"), ("b", 2, "updated"), ("c", 3, "unchanged"))
    assert calls(fake) == [
        AUTH,
        listing("wta/review/a"),
        listing("wta/review/b"),
        edit(2, STACK[1], body("b", LINKS)),
        listing("wta/review/c"),
    ]


def test_a_closed_pull_request_is_replaced_and_its_dependents_link_the_new_one(
    tmp_path: Path,
) -> None:
    fake = FakeGh.install(tmp_path)
    first_pass(fake, tmp_path)
    state = fake.load()
    state["prs"][0]["state"] = "CLOSED"
    fake.save(state)
    done = sync_pull_requests(STACK, Bodies(), tmp_path, env=fake.env())
    assert done == results(("a", 4, "created"), ("b", 2, "updated"), ("c", 3, "updated"))
    links = {"a": url(4), "b": url(2)}
    assert calls(fake) == [
        AUTH,
        listing("wta/review/a"),
        create(STACK[0], body("a", {})),
        listing("wta/review/b"),
        edit(2, STACK[1], body("b", links)),
        listing("wta/review/c"),
        edit(3, STACK[2], body("c", links)),
    ]


def test_without_gh_on_path_it_says_so_and_does_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    with pytest.raises(UsageError) as caught:
        sync_pull_requests(STACK, Bodies(), tmp_path, env={"PATH": str(empty)})
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.lines() == [
        "opening pull requests needs the GitHub CLI, and `gh` is not on PATH: install it"
        " (https://cli.github.com), then run `gh auth login`, or set GH_TOKEN to a token"
        " that may write pull requests"
    ]


def test_when_gh_is_not_logged_in_it_says_so_after_asking_only_that(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeGh.install(tmp_path, logged_in=False)
    monkeypatch.setenv("PATH", fake.env()["PATH"])  # env=None: gh is found on this PATH
    bodies = Bodies()
    with pytest.raises(UsageError) as caught:
        sync_pull_requests(STACK, bodies, tmp_path)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.lines() == [NOT_LOGGED_IN_ERROR]
    assert (calls(fake), bodies.given, fake.load()["prs"]) == ([AUTH], [], [])


def test_check_gh_alone_asks_only_whether_gh_is_logged_in(tmp_path: Path) -> None:
    fake = FakeGh.install(tmp_path)
    check_gh(tmp_path, env=fake.env())
    assert calls(fake) == [AUTH]
    state = fake.load()
    state["logged_in"] = False
    fake.save(state)
    with pytest.raises(UsageError) as caught:
        check_gh(tmp_path, env=fake.env())
    assert (caught.value.lines(), calls(fake)) == ([NOT_LOGGED_IN_ERROR], [AUTH])


def test_a_failing_create_names_the_command_and_carries_what_was_done(tmp_path: Path) -> None:
    fake = FakeGh.install(tmp_path)
    state = fake.load()
    why = "pull request create failed: GraphQL: No commits between wta/review/a and wta/review/b"
    state["fail"] = {"wta/review/b": f"some progress\n{why} (createPullRequest)\n"}
    fake.save(state)
    with pytest.raises(GhError) as caught:
        sync_pull_requests(STACK, Bodies(), tmp_path, env=fake.env())
    raw = fake.load()["calls"]
    body_file = raw[-1]["argv"][-1]
    assert calls(fake) == FIRST_CALLS[:5]
    error = caught.value
    assert (error.exit_code, error.done) == (ExitCode.PARTIAL, tuple(results(("a", 1, "created"))))
    assert error.command == ("gh", *FIRST_CALLS[4][0][:-1], body_file)
    assert error.lines() == [
        "`gh pr create --base wta/review/a --head wta/review/b --title 'Add b' --body-file"
        f" {body_file}` failed: exited 1: {why} (createPullRequest)",
        "pull requests done before it: a #1 created",
    ]


def test_a_failing_edit_before_anything_was_done_says_none_was(tmp_path: Path) -> None:
    fake = FakeGh.install(tmp_path)
    first_pass(fake, tmp_path)
    state = fake.load()
    state["fail"] = {"1": "HTTP 403: Resource not accessible by integration"}
    fake.save(state)
    with pytest.raises(GhError) as caught:
        sync_pull_requests([spec("a", "develop")], Bodies(), tmp_path, env=fake.env())
    assert caught.value.done == ()
    assert caught.value.lines()[1:] == ["pull requests done before it: none"]
    assert caught.value.detail == "exited 1: HTTP 403: Resource not accessible by integration"


def script(tmp_path: Path, text: str) -> str:
    """A stand-in gh given by its path: a shell script for answers the fake never gives."""
    path = tmp_path / "odd-gh"
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("answers", "subcommand", "detail"),
    [
        (
            'case "$2" in list) echo "<html>502</html>";; esac',
            "list",
            "printed what is not a list of pull requests (Expecting value: line 1 column 1"
            " (char 0)): '<html>502</html>\\n'",
        ),
        (
            'case "$2" in list) echo "[]";; create) echo "Creating pull request";; esac',
            "create",
            "printed no pull request URL: Creating pull request",
        ),
        ('case "$2" in list) echo "[]";; create) exit 4;; esac', "create", "exited 4: no output"),
    ],
)
def test_output_gh_should_not_print_is_an_error_naming_the_command(
    tmp_path: Path, answers: str, subcommand: str, detail: str
) -> None:
    gh = script(tmp_path, answers)
    with pytest.raises(GhError) as caught:
        sync_pull_requests(STACK, Bodies(), tmp_path, gh=gh)
    assert (caught.value.command[:3], caught.value.detail) == ((gh, "pr", subcommand), detail)


def test_a_gh_that_hangs_is_given_up_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ghpr, "GH_TIMEOUT_S", 0.2)
    gh = script(tmp_path, 'case "$1" in auth) exit 0;; esac\nexec sleep 30\n')
    with pytest.raises(GhError) as caught:
        sync_pull_requests(STACK, Bodies(), tmp_path, gh=gh)
    assert caught.value.lines() == [
        f"`{gh} pr list --head wta/review/a --state open --json {FIELDS}` failed:"
        " no answer in 0.2 s",
        "pull requests done before it: none",
    ]


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    fake = FakeGh.install(tmp_path)
    with pytest.raises(UsageError) as caught:
        sync_pull_requests(STACK, Bodies(), tmp_path / "gone", env=fake.env())
    gone = tmp_path / "gone"
    assert caught.value.lines() == [f"directory {gone} does not exist; cannot run gh there"]
    assert fake.load()["calls"] == []


def test_a_gh_that_cannot_be_started_is_a_usage_error_naming_the_command(tmp_path: Path) -> None:
    gh = tmp_path / "broken-gh"
    gh.write_text("#!/nonexistent/interpreter\n")
    gh.chmod(0o755)
    with pytest.raises(UsageError) as caught:
        sync_pull_requests(STACK, Bodies(), tmp_path, gh=str(gh))
    assert caught.value.lines() == [
        f"`{gh} auth status` failed: could not be started: No such file or directory;"
        " check that gh works, then run again"
    ]
