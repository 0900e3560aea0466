"""What redacting secrets costs EventLog.append.

Usage: python bench/event_redaction.py [--events 10000] [--env 100] [--repeat 3]

Fills os.environ up to N variables (one in ten secret-looking, such as BENCH_7_TOKEN),
builds a mix of events (a tool call, a verify command, a failure with a detail, a retry)
that each carry a secret somewhere, then times appending them all to a fresh event log.
It prints the best of R runs, in total and per event, and checks that no secret reached
the file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from worktree_agents.domain import FailureReason, FeatureId, RunId
from worktree_agents.events import Event, EventLog, FeatureFailed, Retry, ToolUsed, VerifyStarted

RUN = RunId("20250101-000000-bench")
F = FeatureId("feature")


def fill_environ(size: int) -> list[str]:
    """Add variables until os.environ has `size` of them; return the secret values added."""
    secrets = []
    index = 0
    while len(os.environ) < size:
        if index % 10 == 0:
            value = f"sk-bench-{index:04d}-" + "x" * 40
            os.environ[f"BENCH_{index}_TOKEN"] = value
            secrets.append(value)
        else:
            os.environ[f"BENCH_{index}_SETTING"] = f"/opt/bench/{index}/value"
        index += 1
    return secrets


def events(count: int, secret: str) -> list[Event]:
    made: list[Event] = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            made.append(
                ToolUsed(run_id=RUN, feature_id=F, attempt=1, tool="Bash", summary=f"curl {secret}")
            )
        elif kind == 1:
            made.append(
                VerifyStarted(run_id=RUN, feature_id=F, command=f"check {secret}", stage="feature")
            )
        elif kind == 2:
            made.append(
                FeatureFailed(
                    run_id=RUN, feature_id=F, reason=FailureReason.AGENT_ERROR, detail=secret
                )
            )
        else:
            made.append(
                Retry(run_id=RUN, feature_id=F, attempt=2, reason=FailureReason.IDLE, profile="p")
            )
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--env", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    secrets = fill_environ(args.env)
    batch = events(args.events, secrets[0] if secrets else "no-secret")
    best = float("inf")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.jsonl"
            log = EventLog(path)
            started = time.perf_counter()
            for event in batch:
                log.append(event)
            best = min(best, time.perf_counter() - started)
            text = path.read_text(encoding="utf-8")
            assert not any(secret in text for secret in secrets), "a secret reached the file"
    print(
        f"{args.events} events, {len(os.environ)} environment variables: "
        f"{best:.3f} s, {best / args.events * 1e6:.1f} us per event (best of {args.repeat})"
    )


if __name__ == "__main__":
    main()
