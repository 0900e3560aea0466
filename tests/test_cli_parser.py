"""The parser: its errors as wta's own (or the envelope), flags in --help, `--only a,b`, and
`wta plan --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import SCRUBBED_GIT_VARS, git
from runutil import BASE, Spec, features, plan_repo, wta

from worktree_agents.cli import main


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m worktree_agents.cli ARGS` as a user runs it: its own stdout and stderr."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_GIT_VARS}
    return subprocess.run(
        [sys.executable, "-m", "worktree_agents.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--xyzzy"], "No such option: --xyzzy; see `wta run --help`"),
        (["show"], "Missing argument 'ID'; see `wta show --help`"),
        (
            ["run", "--parallel", "0"],
            "Invalid value for '--parallel': Input should be greater than or equal to 1;"
            " see `wta run --help`",
        ),
        (
            ["plan", "--format", "xml"],
            "Invalid value for '--format': Value error, 'xml' is not one of 'text', 'json',"
            " 'mermaid', 'dot'; see `wta plan --help`",
        ),
        (["run", "--only"], "Option '--only' requires an argument; see `wta run --help`"),
        (["bogus"], "No such command 'bogus'. Did you mean 'logs'? See `wta --help`"),
    ],
)
def test_parser_errors_are_wta_errors(tmp_path: Path, args: list[str], message: str) -> None:
    done = cli(tmp_path, *args)

    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"wta: error: {message}\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (["run", "--json", "--xyzzy"], "run", "No such option: --xyzzy"),
        (["status", "--json", "--plan"], "status", "Option '--plan' requires an argument."),
        (
            ["plan", "--json", "--format", "xml"],
            "plan",
            "Invalid value for '--format': Value error, 'xml' is not one of 'text', 'json',"
            " 'mermaid', 'dot'.",
        ),
        (
            ["plan", "--json", "--format", "dot"],
            "plan",
            "--json and --format dot contradict each other; give one",
        ),
    ],
)
def test_parser_errors_with_json_are_an_envelope_alone(
    tmp_path: Path, args: list[str], command: str, message: str
) -> None:
    done = cli(tmp_path, *args)

    assert (done.returncode, done.stderr) == (2, "")
    assert json.loads(done.stdout) == {
        "schema": 1,
        "command": command,
        "status": "error",
        "exit_code": 2,
        "data": None,
        "errors": [
            {"type": "UsageError", "message": message, "where": None, "field": None, "fix": None}
        ],
    }


def test_flags_show_as_plain_flags_in_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["demo", "--help"]) == 0

    assert capsys.readouterr() == (
        "Usage: wta demo [OPTIONS]\n"
        "\n"
        "  The whole pipeline on a generated sample repository, with the patch agent\n"
        "  (no API key).\n"
        "\n"
        "Options:\n"
        "  --dir DIR   Create the sample repository here (new or empty).\n"
        "  --json      Print the JSON envelope on stdout.\n"
        "  -h, --help  Show this message and exit.\n",
        "",
    )


def test_every_help_names_no_bool_type(capsys: pytest.CaptureFixture[str]) -> None:
    commands = ["init", "plan", "run", "status", "show", "diff", "logs", "clean", "demo"]
    commands += ["sync", "merge", "retry"]
    for command in commands:
        assert main([command, "--help"]) == 0
    out = capsys.readouterr().out

    assert out.count("Usage: wta ") == len(commands)
    assert "<bool>" not in out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    specs = [Spec(name, {f"{name}.txt": f"{name}\n"}) for name in ("a", "b", "c", "d")]
    return plan_repo(tmp_path, specs, BASE)


def test_only_takes_a_comma_list_and_repeats(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert wta(repo, "run", "--only", "a,b", "--only", "c", "--only", "a") == 0

    states = {fid: f["state"] for fid, f in features(capsys, repo).items()}
    assert states == {"a": "merged", "b": "merged", "c": "merged", "d": "pending"}
    trailers = git(repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "wta/integration")
    assert sorted(trailers.split()) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("only", "message"),
    [
        (
            "a,nope",
            "--only names 'nope', which the plan does not have; see `wta plan` for the feature ids",
        ),
        ("a,,b", "--only 'a,,b' has an empty feature id; write --only a,b"),
    ],
)
def test_only_with_a_bad_id_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str], only: str, message: str
) -> None:
    refs = git(repo, "for-each-ref")
    capsys.readouterr()

    assert wta(repo, "run", "--only", only) == 2

    assert capsys.readouterr() == ("", f"wta: error: {message}\n")
    assert git(repo, "for-each-ref") == refs


def test_plan_json_is_format_json(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert wta(repo, "plan", "--format", "json") == 0
    by_format = capsys.readouterr()

    assert wta(repo, "plan", "--json") == 0
    assert capsys.readouterr() == by_format
    assert wta(repo, "plan", "--json", "--format", "json") == 0
    assert capsys.readouterr() == by_format
    assert json.loads(by_format.out)["data"]["features_total"] == 4


def test_plan_json_contradicting_format_is_an_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert wta(repo, "plan", "--format", "mermaid", "--json") == 2

    document = json.loads(capsys.readouterr().out)
    assert (document["status"], document["exit_code"], document["errors"][0]["message"]) == (
        "error",
        2,
        "--json and --format mermaid contradict each other; give one",
    )


def test_wta_alone_prints_the_help(tmp_path: Path) -> None:
    done = cli(tmp_path)

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("Usage: wta [OPTIONS] COMMAND [ARGS]...\n")


def test_counts_of_one_are_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "wta.toml"
    plan.write_text('[run]\nmax_parallel = 1\n\n[[feature]]\nid = "only"\n', encoding="utf-8")

    assert main(["plan", "--plan", str(plan)]) == 0

    assert capsys.readouterr() == (
        f"{plan}: 1 feature, 1 wave\n"
        "  wave 1 (1): only\n"
        "critical path (1 unit): only\n"
        "widest wave: wave 1, 1 feature\n"
        "max_parallel = 1: the widest wave (wave 1) fills its one slot; no schedule finishes"
        " in under 1 unit of work (critical path 1; total work 1 over 1 slot = 1).\n",
        "",
    )
