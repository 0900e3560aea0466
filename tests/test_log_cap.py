"""An agent that prints far more than `[run] max_log_bytes`: its attempt's log keeps the head
and the tail with a note of the cut, and wta's memory does not grow with the output."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest
from logutil import capped
from runutil import BASE, Spec, command_profile, features, plan_repo, start_run, wta

LOUD = """\
import pathlib, sys
pathlib.Path("out.txt").write_text("done\\n")
out = sys.stdout.buffer
for n in range(int(sys.argv[1])):
    out.write(b"line %08d " % n + b"x" * 80 + b"\\n")
"""


def loud_repo(tmp_path: Path, lines: int, cap: int) -> Path:
    tmp_path.mkdir(exist_ok=True)
    script = tmp_path / "loud.py"
    script.write_text(LOUD)
    settings = f"[run]\nmax_log_bytes = {cap}\n"
    agent = command_profile(script, str(lines))
    return plan_repo(tmp_path, [Spec("a", {})], BASE, settings, agent=agent)


def test_a_log_keeps_its_head_and_tail_within_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = loud_repo(tmp_path, 30_000, 65_536)  # 2.8 MB of output

    assert wta(repo, "run") == 0

    assert features(capsys, repo)["a"]["state"] == "merged"
    argv = shlex.join([sys.executable, str(tmp_path / "loud.py"), "30000"])
    lines = "".join(f"line {n:08d} {'x' * 80}\n" for n in range(30_000))
    whole = f"[wta] a attempt 1: {argv}\n{lines}".encode()
    log = (repo / ".git" / "wta" / "attempts" / "a" / "1" / "log.txt").read_bytes()
    assert log == capped(whole, 65_536)
    assert len(log) <= 65_536


def peak_rss_kb(repo: Path) -> int:
    """The peak resident set size (VmHWM) of a `wta run` of `repo`, in kB."""
    proc = start_run(repo)
    status = Path(f"/proc/{proc.pid}/status")
    peak = 0
    while proc.poll() is None:
        try:
            text = status.read_text()
        except OSError:  # it has just exited
            continue
        hwm = [int(line.split()[1]) for line in text.splitlines() if line.startswith("VmHWM:")]
        peak = max([peak, *hwm])  # a zombie has no VmHWM
        time.sleep(0.02)
    assert proc.returncode == 0
    return peak


def test_wta_memory_stays_flat_however_much_an_agent_prints(tmp_path: Path) -> None:
    # 90 MB through a 32 MiB cap: keeping the tail in memory would cost 16 MB and more
    quiet = peak_rss_kb(loud_repo(tmp_path / "quiet", 100, 32 * 1024 * 1024))
    loud = peak_rss_kb(loud_repo(tmp_path / "loud", 1_000_000, 32 * 1024 * 1024))

    print(f"peak RSS of wta: {quiet} kB (quiet agent), {loud} kB (90 MB of output)")
    assert loud - quiet < 8 * 1024, (quiet, loud)
