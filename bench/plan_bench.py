"""How long `wta plan` takes on a large random plan.

Usage: python bench/plan_bench.py [--features 5000] [--repeat 3]

Writes a random DAG plan (each feature depends on up to 3 earlier ones), then runs
`wta plan` on it in a fresh process, text and JSON, and prints the best wall time of
each. As a same-run baseline it also times `wta --version` (interpreter start and
imports), so the plan's own cost is the difference, and the ratio is printed too.
The issue's goal: under 2 s for 5,000 features.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_plan(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    lines = ["version = 1", "", "[run]", "max_parallel = 8", ""]
    for i in range(count):
        deps = sorted({f"f{rng.randrange(i)}" for _ in range(rng.randint(0, 3))}) if i else []
        lines += [
            "[[feature]]",
            f'id = "f{i}"',
            f'title = "Feature number {i}"',
            f"depends_on = [{', '.join(repr(d).replace(chr(39), chr(34)) for d in deps)}]",
            f"estimate = {rng.choice([1, 2, 3])}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


def best_of(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    wta = [sys.executable, "-m", "worktree_agents.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "wta.toml"
        write_plan(plan, args.features)
        baseline = best_of([*wta, "--version"], args.repeat)
        text = best_of([*wta, "plan", "--plan", str(plan)], args.repeat)
        as_json = best_of([*wta, "plan", "--plan", str(plan), "--format", "json"], args.repeat)
    print(f"features: {args.features}  (best of {args.repeat})")
    print(f"wta --version (start-up baseline): {baseline:.3f} s")
    print(f"wta plan:                 {text:.3f} s   ratio to baseline {text / baseline:.2f}")
    print(f"wta plan --format json:   {as_json:.3f} s   ratio to baseline {as_json / baseline:.2f}")
    print(f"goal: under 2 s -> {'met' if max(text, as_json) < 2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
