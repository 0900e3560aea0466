"""`wta run` in a real terminal (tmux), read from the screen as a person sees it: the live
table while the run goes and after it, colour or none, a narrow window, and `--no-live`."""

from __future__ import annotations

import re
import time
from pathlib import Path

from runutil import Spec, command_repo, wta
from ttyutil import SGR, colour_codes, needs_tmux, terminal, wta_argv

from worktree_agents.events import Event, EventLog
from worktree_agents.progress import describe

pytestmark = needs_tmux

IDS = [f"feat-{i}" for i in range(6)]
# An agent slow enough for the table to be seen while it works.
SLOW_AGENT = """\
import os, pathlib, time
feature = os.environ["WTA_FEATURE_ID"]
time.sleep(1.0)
pathlib.Path(feature + ".txt").write_text(feature + "\\n")
"""
IN_FLIGHT = re.compile(r"^feat-\d\s+(running|verifying|integrating)\s", re.MULTILINE)
# the hashes and times of a run, which differ from one run to the next
VARYING = re.compile(r"\b[0-9a-f]{10}\b|\b\d+\.\ds\b")


def working(screen: str) -> bool:
    """Whether a feature is at work on the screen (read with or without its escapes)."""
    return IN_FLIGHT.search(SGR.sub("", screen)) is not None


def slow_repo(root: Path, ids: list[str], parallel: int = 3) -> Path:
    """`ids` in chains of three (feat-3 after feat-0...), run by SLOW_AGENT."""
    root.mkdir(parents=True, exist_ok=True)
    specs = [Spec(f, {}, depends_on=[ids[i - 3]] if i >= 3 else []) for i, f in enumerate(ids)]
    repo = command_repo(root, specs, settings=f"[run]\nmax_parallel = {parallel}\n")
    (root / "agent.py").write_text(SLOW_AGENT)
    return repo


def plan_of(repo: Path) -> Path:
    return repo.parent / "plan" / "wta.toml"


def table_at(screen: str, header_start: str = "feature  state") -> list[str]:
    """The live table on a screen: its progress line, header and one row per feature."""
    lines = screen.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(header_start)]
    assert len(at) == 1, f"not one table header on the screen:\n{screen}"
    return lines[at[0] - 1 : at[0] + 1 + len(IDS)]


def steady(lines: list[str]) -> list[str]:
    return [VARYING.sub("#", line.rstrip()) for line in lines]


@needs_tmux
def test_the_table_is_redrawn_in_place_while_the_run_goes_and_stays(tmp_path: Path) -> None:
    repo = slow_repo(tmp_path, IDS)
    with terminal(tmp_path, repo, wta_argv(plan_of(repo), "run"), width=120, height=40) as tty:
        live = tty.wait_for(working, timeout=30)
        progress, header, *rows = table_at(live)
        assert re.fullmatch(
            r"[━╸╺ ]{24} [0-6]/6, [0-6] merged  cost \$0\.00  slots [0-3]/3", progress
        )
        assert header.split() == [
            "feature", "state", "profile", "model", "try", "time", "cost", "last", "action"
        ]  # fmt: skip
        assert [row.split()[0] for row in rows] == IDS
        for fid in IDS:  # each feature on exactly one line of the screen
            assert sum(line.split()[:1] == [fid] for line in live.splitlines()) == 1
        assert tty.exit_code() == 0
        final = tty.screen(history=True)
    run_line = [line for line in final.splitlines() if " run finished " in line]
    assert len(run_line) == 1
    start = final.splitlines().index(run_line[0]) + 1
    assert steady(final.splitlines()[start : start + 2 + len(IDS) + 2]) == [
        "━━━━━━━━━━━━━━━━━━━━━━━━ 6/6, 6 merged  cost $0.00",
        "feature  state   profile  model  try  time  cost  last action",
        *(f"{fid}   merged  default  -      1/2  #     -  merged as #" for fid in IDS),
        "",
        "FEATURE  STATE   REASON  BRANCH      TRIES  COST   TIME",
    ]


@needs_tmux
def test_no_color_leaves_no_colour_codes_and_the_default_has_some(tmp_path: Path) -> None:
    screens: dict[str, list[str]] = {}
    for name, env, args in [
        ("no_color", {"NO_COLOR": "1"}, []),
        ("never", {}, ["--color", "never"]),
        ("auto", {}, []),
    ]:
        repo = slow_repo(tmp_path / name, IDS[:3])
        argv = wta_argv(plan_of(repo), "run", *args)
        with terminal(tmp_path, repo, argv, width=120, height=30, env=env) as tty:
            seen = [tty.wait_for(working, timeout=30, escapes=True)]
            assert tty.exit_code() == 0
            seen.append(tty.screen(escapes=True, history=True))
        screens[name] = [code for screen in seen for code in colour_codes(screen)]
    assert screens["no_color"] == []
    assert screens["never"] == []
    assert {"\x1b[32m", "\x1b[36m"} <= set(screens["auto"])  # merged in green, running in cyan


@needs_tmux
def test_a_narrow_window_keeps_one_line_per_feature(tmp_path: Path) -> None:
    repo = slow_repo(tmp_path, IDS)
    with terminal(tmp_path, repo, wta_argv(plan_of(repo), "run"), width=60, height=30) as tty:
        live = tty.wait_for(working, timeout=30)
        progress, header, *rows = table_at(live)
        assert tty.exit_code() == 0
    assert header.split() == ["feature", "state", "try", "time", "cost", "last", "action"]
    assert [row.split()[0] for row in rows] == IDS
    counts = r"[0-6]/6, [0-6] merged  cost \$0\.00  slots [0-3]/3"
    assert re.fullmatch(rf"(?:[━╸╺ ]+ )?{counts}", progress)
    assert all(len(line) <= 60 for line in live.splitlines())
    for fid in IDS:
        assert sum(line.split()[:1] == [fid] for line in live.splitlines()) == 1


@needs_tmux
def test_no_live_prints_one_line_per_event_on_a_terminal(tmp_path: Path) -> None:
    repo = slow_repo(tmp_path, IDS[:2], parallel=1)
    argv = wta_argv(plan_of(repo), "run", "--no-live")
    with terminal(tmp_path, repo, argv, width=400, height=60) as tty:
        assert tty.exit_code() == 0
        screen = tty.screen(history=True)
    (events_file,) = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    expected = [_line(event) for event in EventLog.read(events_file)]
    shown = screen.splitlines()
    assert shown[: shown.index("FEATURE  STATE   REASON  BRANCH      TRIES  COST   TIME")] == [
        line for line in expected if line is not None
    ]


def _line(event: Event) -> str | None:
    """The event's line as `wta run` prints it off a terminal (progress.LinePrinter)."""
    line = describe(event)
    stamp = time.strftime("%H:%M:%S", time.localtime(event.ts))
    return None if line is None else f"{stamp} {line}"


def test_the_terminal_reads_back_what_is_printed(tmp_path: Path) -> None:
    """The helper itself: a screen read back as printed, then the exit code."""
    with terminal(tmp_path, tmp_path, ["printf", "a\\nb\\n"], width=40, height=10) as tty:
        assert tty.exit_code() == 0
        assert tty.screen() == "a\nb\n[wta exited 0]\n"


@needs_tmux
def test_merge_shows_the_done_features_merging_then_merged(tmp_path: Path) -> None:
    repo = slow_repo(tmp_path, IDS[:3])
    assert wta(repo, "run", "--no-merge") == 0
    with terminal(tmp_path, repo, wta_argv(plan_of(repo), "merge"), width=100, height=30) as tty:
        assert tty.exit_code() == 0
        final = tty.screen(history=True)
    lines = final.splitlines()
    start = next(i for i, line in enumerate(lines) if " run finished " in line) + 1
    assert steady(lines[start : start + 6]) == [
        "━━━━━━━━━━━━━━━━━━━━━━━━ 3/3, 3 merged  cost $0.00",
        "feature  state   profile  model  try  time  cost  last action",
        *(f"{fid}   merged  default  -        -     -     -  merged as #" for fid in IDS[:3]),
        "",
    ]
