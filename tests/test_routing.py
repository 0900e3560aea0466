"""Profiles in a run: routing by category, and `--profile` for every feature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitutil import git
from runutil import Spec, command_profile, command_repo, features, wta


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
    specs = [Spec("api", {}), Spec("guide", {}, extra='category = "docs"')]
    writer = command_profile(tmp_path / "agent.py", "--writer")
    repo = command_repo(
        tmp_path, specs, settings='[routing]\ndocs = "writer"\n', profiles={"writer": writer}
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
