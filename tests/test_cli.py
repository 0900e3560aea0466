"""The command line: init, plan in every format, and the top-level error handler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worktree_agents.cli import main
from worktree_agents.output import JsonMode
from worktree_agents.starter import STARTER_PLAN

DIAMOND = """
[run]
max_parallel = 2

[[feature]]
id = "base"
title = "Base layer"

[[feature]]
id = "left"
title = 'Left "wing"'
depends_on = ["base"]
estimate = 2

[[feature]]
id = "right"
depends_on = ["base"]

[[feature]]
id = "top"
depends_on = ["left", "right"]

[[feature]]
id = "solo"
title = "Stands alone"
priority = -1

[[feature]]
id = "old"
done = true
"""


@pytest.fixture
def diamond(tmp_path: Path) -> Path:
    path = tmp_path / "wta.toml"
    path.write_text(DIAMOND, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_writes_starter_and_refuses_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "wta.toml"
    assert run(capsys, "init", "--plan", str(target)) == (
        0,
        f"wrote a starter plan to {target}; check it with `wta plan`\n",
        "",
    )
    assert target.read_text(encoding="utf-8") == STARTER_PLAN
    target.write_text("# mine\n", encoding="utf-8")
    assert run(capsys, "init", "--plan", str(target)) == (
        2,
        "",
        f"wta: error: {target} already exists; pass --force to overwrite it\n",
    )
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert run(capsys, "init", "--plan", str(target), "--force")[0] == 0
    assert target.read_text(encoding="utf-8") == STARTER_PLAN


def test_init_finds_the_repository_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert run(capsys, "init")[0] == 0
    assert (tmp_path / "wta.toml").read_text(encoding="utf-8") == STARTER_PLAN
    assert run(capsys, "plan")[0] == 0


def test_plan_text(diamond: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "--plan", str(diamond)) == (
        0,
        f"{diamond}: 6 features, 1 already done, 3 waves\n"
        "  wave 1 (2): base, solo\n"
        "  wave 2 (2): left, right\n"
        "  wave 3 (1): top\n"
        "critical path (4 units): base -> left -> top\n"
        "widest wave: wave 1, 2 features\n"
        "max_parallel = 2: the widest wave (wave 1) fills all 2 slots; no schedule finishes "
        "in under 4 units of work (critical path 4; total work 6 over 2 slots = 3).\n",
        "",
    )


def test_plan_mermaid_and_dot(diamond: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "--plan", str(diamond), "--format", "mermaid") == (
        0,
        "graph TD\n"
        '  f0["base: Base layer"]\n'
        '  f1["left: Left #quot;wing#quot;"]\n'
        '  f2["right: right"]\n'
        '  f3["top: top"]\n'
        '  f4["solo: Stands alone"]\n'
        '  f5(["old: old"])\n'
        "  f0 --> f1\n"
        "  f0 --> f2\n"
        "  f1 --> f3\n"
        "  f2 --> f3\n",
        "",
    )
    assert run(capsys, "plan", "--plan", str(diamond), "--format", "dot") == (
        0,
        "digraph wta {\n"
        "  rankdir=LR;\n"
        "  node [shape=box];\n"
        '  "base" [label="base\\nBase layer"];\n'
        '  "left" [label="left\\nLeft \\"wing\\""];\n'
        '  "right" [label="right\\nright"];\n'
        '  "top" [label="top\\ntop"];\n'
        '  "solo" [label="solo\\nStands alone"];\n'
        '  "old" [label="old\\nold", style=dashed];\n'
        '  "base" -> "left";\n'
        '  "base" -> "right";\n'
        '  "left" -> "top";\n'
        '  "right" -> "top";\n'
        "}\n",
        "",
    )


def test_plan_json(diamond: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plan", "--plan", str(diamond), "--format", "json")
    document = json.loads(out)
    features = document["data"].pop("features")
    assert (code, err) == (0, "")
    assert document == {
        "schema": 1,
        "command": "plan",
        "status": "success",
        "exit_code": 0,
        "data": {
            "plan": str(diamond),
            "features_total": 6,
            "done": ["old"],
            "waves": [["base", "solo"], ["left", "right"], ["top"]],
            "critical_path": {"features": ["base", "left", "top"], "length": 4.0},
            "widest_wave": {"wave": 1, "size": 2},
            "max_parallel": 2,
            "total_work": 6.0,
            "lower_bound": 4.0,
        },
        "errors": [],
    }
    assert features[1] == {
        "id": "left",
        "title": 'Left "wing"',
        "category": None,
        "depends_on": ["base"],
        "priority": 0,
        "estimate": 2.0,
        "done": False,
        "wave": 2,
        "descendants": 1,
        "critical_work": 3.0,
        "profile": "default",
    }
    assert [f["wave"] for f in features] == [1, 2, 2, 3, 1, None]
    assert [f["descendants"] for f in features] == [3, 1, 1, 0, 0, None]  # "old" is done


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "plan", "--bogus") == (
        2,
        "",
        "wta: error: No such option: --bogus; see `wta plan --help`\n",
    )


def test_unexpected_exception_writes_crash_log(
    diamond: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crash_dir = tmp_path / "crashes"
    monkeypatch.setenv("WTA_CRASH_DIR", str(crash_dir))

    def explode(*_: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr("worktree_agents.commands.plan.run_plan", explode)
    code, out, err = run(capsys, "plan", "--plan", str(diamond))
    [log] = list(crash_dir.iterdir())
    assert (code, out) == (3, "")
    assert err == (
        "wta: internal error: RuntimeError: boom\n"
        f"A crash log with the details is at {log}; please attach it to a bug report.\n"
    )
    text = log.read_text(encoding="utf-8")
    assert text.splitlines()[1] == f"argv: ['plan', '--plan', '{diamond}']"
    assert text.rstrip().splitlines()[-1] == "RuntimeError: boom"
    assert JsonMode.command is None


def test_usage_error_with_json_prints_an_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", "--json", "--parallel", "0")
    assert (code, err) == (2, "")
    assert json.loads(out) == {
        "schema": 1,
        "command": "run",
        "status": "error",
        "exit_code": 2,
        "data": None,
        "errors": [
            {
                "type": "UsageError",
                "message": "Invalid value for '--parallel': Input should be greater than or"
                " equal to 1",
                "where": None,
                "field": None,
                "fix": None,
            }
        ],
    }
