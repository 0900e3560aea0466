"""kill -9 fault injection: `wta run` killed at random instants, the orchestrator alone or
its whole process group, once or twice, then run to completion (tests/killutil.py). Every
trial must end as an uninterrupted run does. A failing seed replays with
`python bench/kill9.py --only SEED`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from killutil import Trial, reference_tree, run_trial

TRIALS = 20


def test_every_random_kill_is_recovered_from(tmp_path: Path) -> None:
    reference = reference_tree(tmp_path / "reference")

    def trial(seed: int) -> tuple[int, list[str]]:
        return seed, run_trial(tmp_path / f"trial-{seed}", Trial.of(seed), reference)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(trial, range(TRIALS)))

    assert [(seed, problems) for seed, problems in results if problems] == []
    # the trials did kill: both kinds, and some twice
    kills = [kill for seed in range(TRIALS) for kill in Trial.of(seed).kills]
    assert {kill.group for kill in kills} == {True, False}
    assert len(kills) > TRIALS
