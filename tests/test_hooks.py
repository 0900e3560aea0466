"""wta's own git commands run with hooks disabled: a hook in the repository (the user's,
or one an agent planted) can neither break nor slow wta's plumbing."""

from __future__ import annotations

from pathlib import Path

from gitutil import git
from runutil import Spec, plan_repo, wta

FAILING = '#!/bin/sh\necho "$0 ran" >> "$(git rev-parse --git-common-dir)/hooks-ran.log"\nexit 1\n'


def test_failing_hooks_do_not_stop_a_run(tmp_path: Path) -> None:
    repo = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"}), Spec("b", {"b.txt": "b\n"}, ["a"])])
    hooks = repo / ".git" / "hooks"
    for name in ("reference-transaction", "post-checkout", "pre-commit", "commit-msg"):
        (hooks / name).write_text(FAILING)
        (hooks / name).chmod(0o755)

    assert wta(repo, "run") == 0

    log = git(repo, "log", "--format=%(trailers:key=Wta-Feature,valueonly)", "wta/integration")
    assert (log.split(), (repo / ".git" / "hooks-ran.log").exists()) == (["b", "a"], False)
