"""Profiles in a run: routing by category, and `--profile` for every feature."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, command_repo, features, wta


@pytest.mark.parametrize(
    ("args", "profiles"),
    [
        ([], {"api": "default", "guide": "writer"}),  # routing by category
        (["--profile", "writer"], {"api": "writer", "guide": "writer"}),  # one profile for all
    ],
)
def test_routing_and_profile_override(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    profiles: dict[str, str],
) -> None:
    repo = command_repo(tmp_path, [Spec("api", {}), Spec("guide", {})])
    plan = tmp_path / "plan" / "wta.toml"
    text = plan.read_text().replace('id = "guide"', 'id = "guide"\ncategory = "docs"')
    script = tmp_path / "agent.py"
    plan.write_text(
        text + f'\n[agents.writer]\nbackend = "command"\ncommand = ["{sys.executable}", "{script}",'
        ' "--writer"]\n\n[routing]\ndocs = "writer"\n'
    )

    assert wta(repo, "run", *args) == 0

    assert {f: v["profile"] for f, v in features(capsys, repo).items()} == profiles
    ran = {
        fid: json.loads(git(repo, "show", f"wta/integration:{fid}.json"))["argv"]
        for fid in profiles
    }
    expected = {"default": ["--id", "{fid}"], "writer": ["--writer"]}
    assert ran == {
        fid: [a.replace("{fid}", fid) for a in expected[p]] for fid, p in profiles.items()
    }
