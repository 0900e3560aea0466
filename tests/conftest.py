"""Shared fixtures: every test runs git against a temp HOME, with pinned identities and dates."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitutil import PINNED_GIT_ENV, SCRUBBED_GIT_VARS


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME at an empty temp dir and pin git's identity, dates and language."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name, value in PINNED_GIT_ENV.items():
        monkeypatch.setenv(name, value)
    for name in SCRUBBED_GIT_VARS:
        monkeypatch.delenv(name, raising=False)
    return home
