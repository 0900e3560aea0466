"""Opening and updating one pull request per feature through the GitHub CLI, `gh`.

Why gh, and not the GitHub API: gh already holds the user's login (or `GH_TOKEN` in CI),
finds the repository from the remotes and knows GitHub Enterprise hosts, so wta handles
no token and needs no HTTP client. The pull requests are handled in review order, so
each body can link the pull requests of its dependencies: those were found or opened
earlier in the same pass. A second pass with nothing changed opens and edits nothing:
the list call asks for `title,body` besides `number,url,baseRefName`, and a pull
request whose base, title and body already match is left alone.

    WtaError
    ├── UsageError   exit 2: gh is not on PATH, does not start or is not logged in
    │                (nothing was done)
    └── GhError      exit 1: a gh call failed midway (carries what was done before it)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from worktree_agents.domain import BranchName, FeatureId
from worktree_agents.errors import ExitCode, UsageError, WtaError
from worktree_agents.text import last_line

GH_TIMEOUT_S = 120.0  # one gh call; a hung network call must not hang wta for ever
LIST_FIELDS = "number,url,baseRefName,title,body"
LOGIN_FIX = "run `gh auth login`, or set GH_TOKEN to a token that may write pull requests"
# never a prompt, whatever gh makes of the terminal; no "new release" notice on stderr
GH_QUIET = {"GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1"}
_PR_URL = re.compile(r"https?://\S+/pull/(\d+)")


class PrAction(StrEnum):
    """What a pass did to a feature's pull request; each compares equal to its value."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class PullRequestSpec:
    """The pull request a feature should have: from `head` into `base`, with `title`."""

    feature_id: FeatureId
    head: BranchName
    base: BranchName
    title: str


@dataclass(frozen=True)
class PrResult:
    feature_id: FeatureId
    number: int
    url: str
    action: PrAction

    def as_json(self) -> dict[str, int | str]:
        return {"number": self.number, "url": self.url, "action": self.action.value}

    def describe(self) -> str:
        return f"{self.feature_id}: pull request #{self.number} {self.action} {self.url}"


# A feature's pull request body, given the URLs of the pull requests handled before it
# in this pass, by feature id (its dependencies' among them).
BodyFor = Callable[[PullRequestSpec, Mapping[FeatureId, str]], str]


class GhError(WtaError):
    """A gh call failed midway: the command, gh's last line on stderr, what was done."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, command: Sequence[str], detail: str, done: Sequence[PrResult] = ()) -> None:
        self.command = tuple(command)
        self.detail = detail
        self.done = tuple(done)
        before = ", ".join(f"{r.feature_id} #{r.number} {r.action}" for r in self.done)
        super().__init__(
            f"`{shlex.join(self.command)}` failed: {detail}\n"
            f"pull requests done before it: {before or 'none'}"
        )


@dataclass(frozen=True)
class _Found:
    """An open pull request that `gh pr list` found for a head branch."""

    number: int
    url: str
    base: str
    title: str
    body: str

    def matches(self, spec: PullRequestSpec, body: str) -> bool:
        same_body = _plain(self.body) == _plain(body)
        return same_body and (self.base, self.title.strip()) == (spec.base, spec.title.strip())


def _plain(body: str) -> str:
    """A body as compared: GitHub may keep a web edit's CRLFs and trim the end."""
    return body.replace("\r\n", "\n").rstrip()


class GhCli:
    """One gh executable run in one directory: every gh call wta makes goes through here."""

    def __init__(self, cwd: Path, gh: str = "gh", env: Mapping[str, str] | None = None) -> None:
        if not cwd.is_dir():
            raise UsageError(f"directory {cwd} does not exist; cannot run gh there")
        self.cwd = cwd
        self.name = gh
        self.env = {**(os.environ if env is None else env), **GH_QUIET}
        found = shutil.which(gh, path=self.env.get("PATH", os.defpath))
        if found is None:
            raise UsageError(
                f"opening pull requests needs the GitHub CLI, and `{gh}` is not on PATH:"
                f" install it (https://cli.github.com), then {LOGIN_FIX}"
            )
        self.exe = found

    def check_login(self) -> None:
        """Raise a UsageError unless `gh auth status` succeeds: nothing was done yet."""
        argv = (self.name, "auth", "status")
        try:
            proc = self._spawn(argv)
        except GhError as exc:
            raise UsageError(f"{exc.lines()[0]}; check that gh works, then run again") from None
        if proc.returncode != 0:
            said = last_line(proc.stderr) or last_line(proc.stdout) or "no output"
            raise UsageError(
                f"gh is not logged in to GitHub (`gh auth status` exited {proc.returncode}:"
                f" {said}); {LOGIN_FIX}"
            )

    def run(self, *args: str) -> str:
        """gh's stdout for `gh <args>`; a GhError when it fails."""
        argv = (self.name, *args)
        proc = self._spawn(argv)
        if proc.returncode != 0:
            said = last_line(proc.stderr) or last_line(proc.stdout) or "no output"
            raise GhError(argv, f"exited {proc.returncode}: {said}")
        return proc.stdout

    def _spawn(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [self.exe, *argv[1:]],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=GH_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GhError(argv, f"no answer in {GH_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise GhError(argv, f"could not be started: {exc.strerror or exc}") from None

    def find(self, head: BranchName) -> _Found | None:
        """The open pull request from `head` (the first gh lists, if several), or None."""
        args = ("pr", "list", "--head", head, "--state", "open", "--json", LIST_FIELDS)
        out = self.run(*args)
        try:
            listed = json.loads(out)
            if not listed:
                return None
            first = listed[0]
            return _Found(
                number=int(first["number"]),
                url=str(first["url"]),
                base=str(first["baseRefName"]),
                title=str(first["title"]),
                body=str(first["body"] or ""),
            )
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            detail = f"printed what is not a list of pull requests ({exc}): {out[:200]!r}"
            raise GhError((self.name, *args), detail) from None

    def create(self, spec: PullRequestSpec, body_file: Path) -> tuple[int, str]:
        """Open the pull request; its number and URL, read from what gh prints."""
        args: tuple[str, ...] = ("pr", "create", "--base", spec.base, "--head", spec.head)
        args += ("--title", spec.title, "--body-file", str(body_file))
        out = self.run(*args)
        urls = list(_PR_URL.finditer(out))
        if not urls:
            detail = f"printed no pull request URL: {last_line(out) or 'nothing'}"
            raise GhError((self.name, *args), detail)
        return int(urls[-1].group(1)), urls[-1].group(0)

    def edit(self, number: int, spec: PullRequestSpec, body_file: Path) -> None:
        args = ("pr", "edit", str(number), "--base", spec.base, "--title", spec.title)
        self.run(*args, "--body-file", str(body_file))


def check_gh(cwd: Path, gh: str = "gh", env: Mapping[str, str] | None = None) -> None:
    """The preflight alone, for a command to run before it changes anything: a UsageError
    (exit 2) when gh is not on PATH, does not start or is not logged in."""
    GhCli(cwd, gh, env).check_login()


def sync_pull_requests(
    specs: Sequence[PullRequestSpec],
    body_for: BodyFor,
    cwd: Path,
    gh: str = "gh",
    env: Mapping[str, str] | None = None,
) -> list[PrResult]:
    """Open or update one pull request per spec, in the order given (the review order).

    `env` is the whole environment gh runs with (None: this process's). Raises a
    UsageError (exit 2) before anything when gh is missing or not logged in, and a
    GhError carrying the results done so far when a gh call fails midway."""
    cli = GhCli(cwd, gh, env)
    cli.check_login()  # again, if check_gh ran: one quick call, and gh may have logged out
    done: list[PrResult] = []
    links: dict[FeatureId, str] = {}
    with tempfile.TemporaryDirectory(prefix="wta-pr-") as tmp:
        for n, spec in enumerate(specs):
            body = body_for(spec, MappingProxyType(dict(links)))
            try:
                result = _sync_one(cli, spec, body, Path(tmp) / f"body-{n}.md")
            except GhError as exc:
                raise GhError(exc.command, exc.detail, done) from None
            done.append(result)
            links[spec.feature_id] = result.url
    return done


def _sync_one(cli: GhCli, spec: PullRequestSpec, body: str, body_file: Path) -> PrResult:
    found = cli.find(spec.head)
    if found is not None and found.matches(spec, body):
        return PrResult(spec.feature_id, found.number, found.url, PrAction.UNCHANGED)
    body_file.write_text(body, encoding="utf-8")
    if found is None:
        number, url = cli.create(spec, body_file)
        return PrResult(spec.feature_id, number, url, PrAction.CREATED)
    cli.edit(found.number, spec, body_file)
    return PrResult(spec.feature_id, found.number, found.url, PrAction.UPDATED)
