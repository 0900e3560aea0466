"""A fake `gh` (the GitHub CLI) for the pull request tests, and the helper that installs it.

Run as a program, it answers the few gh commands wta uses (`auth status`, `pr list`,
`pr create`, `pr edit`) from a JSON state file, the way GitHub would: `pr list --json`
prints only the fields asked for and refuses an unknown one, `pr create` refuses a second
open pull request for a head branch and prints the new one's URL. It appends every call
to the state (its argv, and the content of its `--body-file`, read while it exists), so a
test can assert the exact calls and their order. `fail` in the state makes a `pr create`
for a head branch, or a `pr edit` of a number, exit 1 with the given stderr.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAKE = Path(__file__)
REPO_URL = "https://github.com/octo/sample"
FIELDS = {"number", "url", "headRefName", "baseRefName", "title", "body", "state"}
NOT_LOGGED_IN = "You are not logged into any GitHub hosts. To log in, run: gh auth login"


def _options(args: list[str], names: set[str]) -> dict[str, str]:
    """`--name value` pairs, each of `names` exactly once and nothing else."""
    if len(args) % 2:
        raise SystemExit(f"fake gh: unexpected arguments {args}")
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    if set(pairs) != names or len(pairs) * 2 != len(args):
        raise SystemExit(f"fake gh: unexpected arguments {args}")
    return pairs


def _out(text: str, code: int = 0, *, err: bool = False) -> int:
    (sys.stderr if err else sys.stdout).write(text + "\n")
    return code


def _list(state: dict[str, Any], args: list[str]) -> int:
    opts = _options(args, {"--head", "--state", "--json"})
    fields = opts["--json"].split(",")
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        return _out(f"Unknown JSON field: {unknown[0]!r}", 1, err=True)
    want = opts["--state"].upper()
    prs = [p for p in state["prs"] if p["headRefName"] == opts["--head"] and p["state"] == want]
    # gh lists the newest first
    rows = [{f: p[f] for f in fields} for p in sorted(prs, key=lambda p: -int(p["number"]))]
    return _out(json.dumps(rows))


def _create(state: dict[str, Any], args: list[str]) -> int:
    opts = _options(args, {"--base", "--head", "--title", "--body-file"})
    head = opts["--head"]
    if head in state["fail"]:
        return _out(state["fail"][head], 1, err=True)
    for pr in state["prs"]:
        if pr["headRefName"] == head and pr["state"] == "OPEN":
            message = f'a pull request for branch "{head}" into branch "{pr["baseRefName"]}"'
            return _out(f"{message} already exists:\n{pr['url']}", 1, err=True)
    number = 1 + max((int(p["number"]) for p in state["prs"]), default=0)
    url = f"{REPO_URL}/pull/{number}"
    body = Path(opts["--body-file"]).read_text(encoding="utf-8")
    state["prs"].append(
        {
            "number": number,
            "url": url,
            "headRefName": head,
            "baseRefName": opts["--base"],
            "title": opts["--title"],
            "body": body,
            "state": "OPEN",
        }
    )
    return _out(url)


def _edit(state: dict[str, Any], args: list[str]) -> int:
    number, opts = args[0], _options(args[1:], {"--base", "--title", "--body-file"})
    if number in state["fail"]:
        return _out(state["fail"][number], 1, err=True)
    pr = next((p for p in state["prs"] if str(p["number"]) == number), None)
    if pr is None:
        message = f"GraphQL: Could not resolve to a PullRequest with the number of {number}."
        return _out(message, 1, err=True)
    pr["baseRefName"] = opts["--base"]
    pr["title"] = opts["--title"]
    pr["body"] = Path(opts["--body-file"]).read_text(encoding="utf-8")
    return _out(pr["url"])


def _answer(state: dict[str, Any], argv: list[str]) -> int:
    match argv:
        case ["auth", "status"]:
            if not state["logged_in"]:
                return _out(NOT_LOGGED_IN, 1, err=True)
            return _out("github.com\n  ✓ Logged in to github.com account octo (GH_TOKEN)")
        case ["pr", "list", *rest]:
            return _list(state, rest)
        case ["pr", "create", *rest]:
            return _create(state, rest)
        case ["pr", "edit", *rest]:
            return _edit(state, rest)
    return _out(f"unknown command {argv}", 2, err=True)


def main() -> int:
    path = Path(os.environ["FAKE_GH_STATE"])
    state = json.loads(path.read_text())
    argv = sys.argv[1:]
    body_file = argv[argv.index("--body-file") + 1] if "--body-file" in argv else None
    body = Path(body_file).read_text(encoding="utf-8") if body_file else None
    state["calls"].append({"argv": argv, "body": body})
    try:
        return _answer(state, argv)
    finally:
        path.write_text(json.dumps(state, indent=1))


@dataclass
class FakeGh:
    """The fake installed as `<bin>/gh`, with its state file beside it."""

    bin: Path
    state_file: Path

    @classmethod
    def install(cls, tmp_path: Path, *, logged_in: bool = True) -> FakeGh:
        bindir = tmp_path / "ghbin"
        bindir.mkdir()
        state_file = tmp_path / "gh-state.json"
        script = bindir / "gh"
        script.write_text(
            f"#!{sys.executable}\nimport os, runpy\n"
            f"os.environ['FAKE_GH_STATE'] = {str(state_file)!r}\n"
            f"runpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
        )
        script.chmod(0o755)
        fake = cls(bindir, state_file)
        fake.save({"logged_in": logged_in, "prs": [], "calls": [], "fail": {}})
        return fake

    def load(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self.state_file.read_text())
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=1))

    def take_calls(self) -> list[dict[str, Any]]:
        """The calls recorded since the last time, forgetting them."""
        state = self.load()
        calls: list[dict[str, Any]] = state["calls"]
        state["calls"] = []
        self.save(state)
        return calls

    def env(self) -> dict[str, str]:
        """This process's environment with the fake first on PATH."""
        return {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}"}


if __name__ == "__main__":
    sys.exit(main())
