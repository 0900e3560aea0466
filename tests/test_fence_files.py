"""The fence check on the repository's shared git files, on real repositories: what it puts
back (exactly), what it names, on every way out of the agent, and how attempts that run at
once share the work of putting things back."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest
from gitutil import git, make_repo

from worktree_agents.domain import FeatureId, GuardrailRule
from worktree_agents.failures import Finding
from worktree_agents.fence import fenced, in_own_thread
from worktree_agents.fence_files import (
    ADVICE,
    GitFilesCheck,
    Restored,
    SharedGitFiles,
    Visit,
)

A, B, C = FeatureId("a"), FeatureId("b"), FeatureId("c")


def state(common: Path) -> dict[str, tuple[str, int, bytes]]:
    """Everything under config, config.worktree, hooks/ and info/: kind, mode and bytes
    (a link's target), links not followed."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for name in ("config", "config.worktree", "hooks", "info"):
        for path in [common / name, *sorted((common / name).rglob("*"))]:
            if not path.exists() and not path.is_symlink():
                continue
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if path.is_symlink():
                out[str(path.relative_to(common))] = ("link", mode, os.fsencode(path.readlink()))
            elif path.is_dir():
                out[str(path.relative_to(common))] = ("dir", mode, b"")
            else:
                out[str(path.relative_to(common))] = ("file", mode, path.read_bytes())
    return out


def repo_with_files(tmp_path: Path) -> tuple[Path, Path, SharedGitFiles]:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    common = repo / ".git"
    return repo, common, SharedGitFiles(common)


def tamper(repo: Path, common: Path) -> None:
    """One of each change an agent can make there."""
    git(repo, "config", "core.hooksPath", "/tmp/x")
    hooks = common / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "update.sample").chmod(0o600)
    (hooks / "pre-push.sample").rename(hooks / "pre-push")
    (hooks / "lib").mkdir()
    (hooks / "lib" / "helper.sh").write_text("echo\n")
    (hooks / "post-update.sample").unlink()
    (hooks / "post-update.sample").symlink_to("/tmp/evil")
    (common / "info" / "exclude").write_text("*\n")
    (common / "info" / "attributes").write_text("* filter=evil\n")
    (common / "config.worktree").write_text("[user]\n\temail = evil@x\n")


TAMPERED = Finding(
    rule=GuardrailRule.GIT_FILES,
    detail="the agent changed the repository's config, config.worktree (added),"
    " hooks/lib (added), hooks/post-update.sample, hooks/pre-commit (added), hooks/pre-push"
    " (added), hooks/pre-push.sample (removed), hooks/update.sample (mode changed),"
    " info/attributes (added) and info/exclude; wta put them back",
    advice=ADVICE,
)


def test_every_change_is_put_back_exactly_and_named(tmp_path: Path) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)

    async def agent() -> list[Finding]:
        async with fenced([GitFilesCheck(files, A)]) as findings:
            tamper(repo, common)
        return findings

    assert asyncio.run(agent()) == [TAMPERED]
    assert state(common) == before


def test_a_directory_replaced_or_removed_is_put_back_whole(tmp_path: Path) -> None:
    _, common, files = repo_with_files(tmp_path)
    before = state(common)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pre-commit").write_text("#!/bin/sh\n")

    async def agent() -> list[Finding]:
        async with fenced([GitFilesCheck(files, A)]) as findings:
            shutil.rmtree(common / "hooks")
            (common / "hooks").symlink_to(elsewhere)
            shutil.rmtree(common / "info")
        return findings

    assert asyncio.run(agent()) == [
        Finding(
            rule=GuardrailRule.GIT_FILES,
            detail="the agent changed the repository's hooks and info (removed); wta put them back",
            advice=ADVICE,
        )
    ]
    assert state(common) == before
    assert sorted(p.name for p in elsewhere.iterdir()) == ["pre-commit"]  # not followed


def test_an_agent_that_changes_nothing_is_not_named(tmp_path: Path) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)

    async def agent() -> list[Finding]:
        async with fenced([GitFilesCheck(files, A)]) as findings:
            git(repo, "config", "--get", "core.bare")  # reading is fine
        return findings

    assert (asyncio.run(agent()), state(common)) == ([], before)


def test_what_an_agent_changed_before_it_raised_is_put_back(tmp_path: Path) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)

    async def agent() -> None:
        async with fenced([GitFilesCheck(files, A)]):
            tamper(repo, common)
            raise RuntimeError("the backend crashed")

    with pytest.raises(RuntimeError, match="the backend crashed"):
        asyncio.run(agent())
    assert state(common) == before


def test_what_a_cancelled_agent_changed_is_put_back(tmp_path: Path) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)

    async def main() -> None:
        changed = asyncio.Event()

        async def agent() -> None:
            async with fenced([GitFilesCheck(files, A)]):
                tamper(repo, common)
                changed.set()
                await asyncio.Event().wait()  # until cancelled

        task = asyncio.create_task(agent())
        await changed.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert state(common) == before


def test_a_restore_cannot_be_held_back_by_a_busy_executor(tmp_path: Path) -> None:
    """Every worker of the event loop's executor is busy when the agent is cancelled: the
    restore still runs (in a thread of its own), and finishes before the loop closes."""
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)
    release = threading.Event()

    async def main() -> None:
        changed = asyncio.Event()

        async def agent() -> None:
            async with fenced([GitFilesCheck(files, A)]):
                git(repo, "config", "user.email", "evil@x")
                changed.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(agent())
        await changed.wait()
        busy = [asyncio.to_thread(release.wait) for _ in range(64)]
        hogs = asyncio.gather(*busy)
        await asyncio.sleep(0.1)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        restored = state(common) == before  # before any of the busy workers is free
        release.set()
        await hogs
        assert (done, restored) == ({task}, True)

    asyncio.run(main())
    assert state(common) == before


def change_config(repo: Path, value: str) -> None:
    git(repo, "config", "wta.test", value)


def test_an_attempt_puts_back_what_changed_while_it_ran_and_names_the_others(
    tmp_path: Path,
) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)
    a, b = Visit(A), Visit(B)
    files.enter(a)
    files.enter(b)
    change_config(repo, "by b, say")

    restored = files.leave(a)
    assert restored == Restored(("config",), (B,))
    assert state(common) == before
    assert files.leave(b) is None
    assert restored.finding() == Finding(
        rule=GuardrailRule.GIT_FILES,
        detail="the repository's config changed while this agent and those of b ran;"
        " wta put it back",
        advice=ADVICE,
    )


def test_a_change_from_before_an_attempt_started_is_left_to_the_attempts_running_then(
    tmp_path: Path,
) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)
    c, w = Visit(C), Visit(FeatureId("w"))
    files.enter(c)
    change_config(repo, "by c")
    files.enter(w)

    assert files.leave(w) is None
    assert git(repo, "config", "--get", "wta.test") == "by c"  # c's agent may still need it
    assert files.leave(c) == Restored(("config",), ())
    assert state(common) == before


def test_nothing_is_put_back_twice_nor_to_a_state_an_agent_made(tmp_path: Path) -> None:
    repo, common, files = repo_with_files(tmp_path)
    before = state(common)
    c, w = Visit(C), Visit(FeatureId("w"))
    files.enter(c)
    change_config(repo, "by c")
    files.enter(w)  # it sees c's change when it starts

    assert files.leave(c) == Restored(("config",), ())
    assert files.leave(w) is None
    assert state(common) == before


def test_a_change_made_while_no_agent_runs_is_the_next_baseline(tmp_path: Path) -> None:
    repo, common, files = repo_with_files(tmp_path)
    a, b = Visit(A), Visit(B)
    files.enter(a)
    assert files.leave(a) is None
    change_config(repo, "the user's")  # between agents
    after_user = state(common)
    files.enter(b)

    assert files.leave(b) is None
    assert state(common) == after_user


def test_the_users_own_links_come_back_as_links_and_a_fifo_is_never_opened(
    tmp_path: Path,
) -> None:
    _, common, files = repo_with_files(tmp_path)
    (common / "hooks" / "pre-commit").symlink_to("../../tools/pre-commit")  # the user's
    before = state(common)

    async def agent() -> list[Finding]:
        async with fenced([GitFilesCheck(files, A)]) as findings:
            (common / "hooks" / "pre-commit").unlink()
            (common / "hooks" / "pre-commit").write_text("#!/bin/sh\n")
            os.mkfifo(common / "info" / "pipe")  # opening it would wait for a writer
        return findings

    assert asyncio.run(agent()) == [
        Finding(
            rule=GuardrailRule.GIT_FILES,
            detail="the agent changed the repository's hooks/pre-commit and info/pipe (added);"
            " wta put them back",
            advice=ADVICE,
        )
    ]
    assert state(common) == before


def test_a_visit_whose_entry_failed_puts_nothing_back(tmp_path: Path) -> None:
    repo, _, files = repo_with_files(tmp_path)
    entered, failed = Visit(A), Visit(B)
    files.enter(entered)
    failed.entered.set()  # as after an entry that raised
    change_config(repo, "by a")

    assert files.leave(failed) is None
    assert files.leave(entered) == Restored(("config",), ())


def test_work_in_its_own_thread_hands_back_its_error() -> None:
    def fails() -> None:
        raise OSError("the disk is full")

    with pytest.raises(OSError, match="the disk is full"):
        asyncio.run(in_own_thread(fails))
