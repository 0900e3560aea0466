"""Helpers for the report tests: a real run with a retry, and the page's DOM read back with
the standard library's HTML parser."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.demo import after_merge_of

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
CHECK = "grep -q good answer.txt || (echo answer is not good; exit 3)"


def retry_run(root: Path) -> Path:
    """A finished run of five features on three slots: `answer` fails its check once and
    merges on its second attempt, `uses` depends on it, `clash` conflicts with `base`, and
    `extra` waits for a slot."""
    specs = [
        Spec("base", {"src/core.py": "VALUE = 2\n"}),
        Spec(
            "answer",
            {"answer.txt": "bad\n"},
            acceptance=[CHECK],
            attempt_changes={2: {"answer.txt": "good\n"}},
        ),
        Spec("uses", {"uses.txt": "uses the answer\n"}, depends_on=["answer"]),
        # changes base's line, and is checked only once base merged: it loses, every time
        Spec("clash", {"src/core.py": "VALUE = 3\n"}, acceptance=[after_merge_of("base")]),
        Spec("extra", {"extra.txt": "extra\n"}),  # last in line: it waits for a slot
    ]
    settings = "[run]\nmax_parallel = 3\n\n[guardrails]\nmax_attempts = 2\n"
    repo = plan_repo(root, specs, BASE, settings)
    assert wta(repo, "run") == 1  # clash fails
    return repo


class Dom(HTMLParser):
    """Every element as (tag, attributes, the id of the section it is in)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str], str | None]] = []
        self._sections: list[str | None] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._sections.append(values.get("id"))
        self.elements.append((tag, values, self._sections[-1] if self._sections else None))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._sections:
            self._sections.pop()

    def ids(self) -> list[str]:
        return [a["id"] for t, a, _ in self.elements if t == "section" and "id" in a]

    def with_feature(self, section: str, tag: str) -> list[dict[str, str]]:
        """The `tag` elements carrying data-feature inside `section`, in document order."""
        return [a for t, a, s in self.elements if s == section and t == tag and "data-feature" in a]


def dump_dom(page: Path) -> str:
    """The DOM after headless Chromium loaded `page` (skip when there is no Chromium)."""
    profile = tempfile.mkdtemp(prefix="wta-chromium-")
    try:
        done = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
             page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
            env={**os.environ, "HOME": profile},
        )  # fmt: skip
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return done.stdout
