"""Capped attempt logs: the head and the tail kept, one note for the cut, one cap shared by
every writer, and a follower that sees each byte once."""

from __future__ import annotations

import re
from pathlib import Path

from logutil import capped

from worktree_agents.logcap import CappedLog, read_from

CAP = 8192


def numbered(first: int, count: int) -> list[str]:
    return [f"line {n:06d} of the output\n" for n in range(first, first + count)]


def write(path: Path, lines: list[str], cap: int = CAP) -> None:
    with CappedLog(path, cap) as log:
        for line in lines:
            log.write(line)


def test_a_log_within_its_cap_is_left_whole(tmp_path: Path) -> None:
    log = tmp_path / "attempt" / "log.txt"
    lines = numbered(0, 100)

    write(log, lines)

    assert log.read_text() == "".join(lines)


def test_a_log_past_its_cap_keeps_its_head_and_tail(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    lines = numbered(0, 50_000)  # 1.3 MB through an 8 KiB cap

    write(log, lines)

    data = log.read_bytes()
    assert data == capped("".join(lines).encode(), CAP)
    assert len(data) <= CAP
    assert data.count(b"bytes cut") == 1


def test_the_writers_of_one_attempt_share_its_cap(tmp_path: Path) -> None:
    # setup's output, then the agent's, then a check's: one head, one note, one tail
    log = tmp_path / "log.txt"
    parts = [numbered(0, 300), numbered(300, 20_000), numbered(20_300, 50)]

    for part in parts:
        write(log, part)

    whole = "".join(line for part in parts for line in part).encode()
    assert log.read_bytes() == capped(whole, CAP)


def test_a_line_longer_than_the_tail_is_cut_inside(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    text = "x" * 3 * CAP  # no line start to begin the tail at

    write(log, ["start\n", text])

    data = log.read_bytes()
    head = CAP // 2
    kept = CAP - head - 64
    cut = len(text) + len("start\n") - head - kept
    note = f"\n[wta] \u2026 {cut} bytes cut \u2026\n".encode()
    assert data == ("start\n" + "x" * (head - 6)).encode() + note + b"x" * kept


def test_a_follower_sees_each_byte_once_or_a_note_for_it(tmp_path: Path) -> None:
    # a reader polling now and then, however far behind: every line in order, none twice,
    # and the notes account for exactly what it missed
    log = tmp_path / "log.txt"
    lines = [f"line {n:06d} of the whole output\n" for n in range(20_000)]  # 32 bytes: no
    # line is cut at the head's end, so every byte the follower sees is output or a note
    for every in (50, 700, 5000):
        log.unlink(missing_ok=True)
        seen, offset = b"", 0
        with CappedLog(log, CAP) as writer:
            for n, line in enumerate(lines):
                writer.write(line)
                if n % every == 0:
                    new, offset = read_from(log.read_bytes(), offset, CAP)
                    seen += new
        seen += read_from(log.read_bytes(), offset, CAP)[0]
        text = seen.decode()
        notes = re.findall(r"\[wta\] \u2026 (\d+) bytes cut \u2026\n", text)
        shown = re.sub(r"\[wta\] \u2026 \d+ bytes cut \u2026\n", "", text)
        numbers = [int(n) for n in re.findall(r"^line (\d+) of the whole output$", shown, re.M)]
        assert numbers == sorted(set(numbers)), every
        assert len(shown.encode()) + sum(map(int, notes)) == len("".join(lines)), every
        assert bool(notes) == (every > 50), every


def test_read_from_a_log_that_was_not_cut() -> None:
    assert read_from(b"one\ntwo\n", 4, CAP) == (b"two\n", 8)
    assert read_from(b"one\n", 9, CAP) == (b"", 9)
