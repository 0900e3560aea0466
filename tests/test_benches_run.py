"""The benches of issue 13 (bench/hop.py, bench/scale.py, bench/bigrepo.py) still run: each
with tiny parameters, as a subprocess, its figures read back from `--json`. Nothing here
is timed, and no figure is held to its goal: speed is the benches' business; these tests
only keep them from rotting (they find wta's records, their floors' trees match wta's)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(tmp_path: Path, script: str, *args: str) -> dict[str, Any]:
    out = tmp_path / "figures.json"
    argv = [sys.executable, str(BENCH / script), *args, "--json", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "integration trees: identical in all runs (" in proc.stdout
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def check_shape(data: dict[str, Any], figures: set[str], limits: dict[str, float]) -> None:
    """Exactly these figures, each a finite number >= 0; exactly these goals, each judged
    by its own value and limit; the tree checks passed."""
    assert set(data) == {"figures", "goals", "trees_identical"}
    assert data["trees_identical"] is True
    assert set(data["figures"]) == figures
    bad = {k: v for k, v in data["figures"].items() if not is_figure(v)}
    assert bad == {}
    assert {key: goal["limit"] for key, goal in data["goals"].items()} == limits
    for goal in data["goals"].values():
        assert set(goal) == {"value", "limit", "met"}
        assert is_figure(goal["value"])
        assert goal["met"] is (goal["value"] <= goal["limit"])


def is_figure(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


def test_hop_bench_runs(tmp_path: Path) -> None:
    data = run_bench(tmp_path, "hop.py", "--features", "3", "--files", "10", "--repeat", "1")
    figures = {
        "git_calls_per_feature_whole_run",
        "git_calls_per_feature",
        "wta_hop_s",
        "wta_run_s",
        "wta_version_s",
        "wta_hop_from_wall_s",
        "floor_hop_s",
        "floor_gap_s",
        "wta_fresh_hop_s",
        "fresh_ratio",
        "ratio",
        "paired_ratio",
    }
    check_shape(data, figures, {"git_calls_per_feature": 12, "hop_ratio": 2})
    # a feature costs wta some git calls: the trace was found and counted
    assert data["figures"]["git_calls_per_feature"] >= 1


def test_scale_bench_runs(tmp_path: Path) -> None:
    args = ["--features", "4", "--edge", "2", "--files", "10", "--parallel", "2"]
    data = run_bench(tmp_path, "scale.py", *args)
    figures = {
        "create_first_ms",
        "create_last_ms",
        "merge_first_ms",
        "merge_last_ms",
        "merge_all_ms",
        "floor_first_ms",
        "floor_last_ms",
        "floor_all_ms",
        "run_s",
        "peak_rss_mb",
    }
    limits = {"merge_ratio": 1.5, "merge_flat": 1.2, "create_flat": 1.2, "peak_rss_mb": 45}
    check_shape(data, figures, limits)
    # a python running wta takes megabytes: the peak RSS was read from the right process
    assert data["figures"]["peak_rss_mb"] > 5


def test_bigrepo_bench_runs(tmp_path: Path) -> None:
    args = ["--files", "40", "--features-a", "3", "--slots-a", "2", "--features-b", "2"]
    data = run_bench(tmp_path, "bigrepo.py", *args, "--repeat", "1", "--dir", str(tmp_path))
    figures = {
        f"{part}_{name}_{what}"
        for part, names in (
            ("a", ["wta_reuse", "wta_fresh", "fresh_script"]),
            ("b", ["wta_reuse", "wta_fresh", "fresh_script", "reuse_script"]),
        )
        for name in names
        for what in ("s", "ratio", "paired", "worktree_ms")
    }
    check_shape(data, figures, {"b_run_ratio": 0.5, "b_worktree_ms": 100})
    assert data["figures"]["a_fresh_script_ratio"] == 1.0
    assert data["figures"]["b_fresh_script_ratio"] == 1.0
    assert data["figures"]["b_fresh_script_paired"] == 1.0


BAD_SIZES = {
    "hop.py": (["--features", "2"], "--features must be at least 3"),
    "scale.py": (["--features", "10", "--edge", "6"], "--features must be at least twice --edge"),
    "bigrepo.py": (
        ["--part", "c"],
        "argument --part: invalid choice: 'c' (choose from 'a', 'b', 'both')",
    ),
}


@pytest.mark.parametrize("script", sorted(BAD_SIZES))
def test_a_bench_refuses_bad_sizes(script: str) -> None:
    """Sizes it cannot measure get a usage error (exit 2), not a traceback."""
    args, message = BAD_SIZES[script]
    argv = [sys.executable, str(BENCH / script), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines()[-1] == f"{script}: error: {message}"
