"""Mutation score of wta's core modules, per module, with mutmut.

Usage: python bench/mutation.py [MODULE ...] [--jobs 2] [--workdir DIR]
                                [--tests MODULE=FILE[,FILE...]] [--goal 90] [--survivors]
                                [--report-only]

mutmut is a development tool, not a dependency of wta or of its tests (CI never needs
it): install it into the venv first with `pip install mutmut` (3.x; measured with 3.8.1).

What it measures. For each module (dag, scheduler, guardrails, plan_checks, merge and
store by default), mutmut makes small changes to its functions, one at a time (a `<`
becomes `<=`, a constant changes, an argument is dropped...), and runs the tests that
call the changed function: a mutant is killed when a test fails. Each module is run
against only its own test files (MODULE_TESTS below), so each run stays short and the
score says how well those tests pin that module down.

How. Each module gets a fresh scratch copy of the checkout (every tracked and untracked,
not ignored file) under --workdir (build/mutation/, which git ignores), whose
pyproject.toml has the repository's `[tool.mutmut]` table with `only_mutate` and the
test selection set for that module; `mutmut run` runs there (its `mutants/` directory
and cache stay in the scratch copy), then `mutmut results` gives each mutant's status.
Hypothesis runs with a fixed seed, so a run's figures are reproducible.

The table, per module: killed; survived; no tests (mutants no selected test reaches:
not killed either); equivalent (survivors listed in bench/mutation_equivalent.toml, each
with the changed line and the reason it cannot change behaviour, or the name of a shared
reason; an entry whose mutant no longer shows that change, because the code moved, is
reported as stale and counted as survived, and one the tests now kill is reported too);
timeout (the tests hung or ran far past their usual time: counted as killed, since the
change made the suite fail); and the score, the percentage of non-equivalent mutants
killed. With --survivors, the diff of every survivor follows. The exit code is 1 when a
module scores under --goal.

A full run of the six modules takes 15 to 18 minutes with 2 jobs on a 2-core machine
(mutmut 3.8.1, git 2.39); each module's time is in the table.

mutmut does not mutate decorated functions (an `lru_cache`d or `cached_property` body),
so such bodies live in plain helper functions that it can reach.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "bench" / "mutation_equivalent.toml"
MODULE_TESTS = {
    "dag": ["tests/test_dag.py"],
    "scheduler": ["tests/test_scheduler.py"],
    "guardrails": ["tests/test_guardrails.py"],
    "plan_checks": [
        "tests/test_plan.py",
        "tests/test_plan_checks.py",
        "tests/test_plan_corpus.py",
        "tests/test_plan_fuzz.py",
    ],
    "merge": ["tests/test_merge.py", "tests/test_merge_details.py", "tests/test_trailers.py"],
    "store": ["tests/test_store.py", "tests/test_store_edges.py"],
}
KILLED = {"killed", "caught by type check"}
RESULT_LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


@dataclass(frozen=True)
class Equivalent:
    mutant: str
    change: str  # the mutated line, as `mutmut show` prints it after "+"
    reason: str


@dataclass
class Tally:
    module: str
    seconds: float = 0.0
    killed: int = 0
    timeout: int = 0
    survived: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # listed equivalent, but not that change
    wrongly_listed: list[str] = field(default_factory=list)  # listed equivalent, yet killed
    other: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        detected = self.killed + self.timeout
        total = detected + len(self.survived) + len(self.no_tests) + len(self.other)
        return 100.0 * detected / total if total else 100.0


def load_equivalents() -> dict[str, Equivalent]:
    """The listed mutants; a reason may name an entry of the [reasons] table instead."""
    data = tomllib.loads(EQUIVALENT_FILE.read_text(encoding="utf-8"))
    shared: dict[str, str] = data.get("reasons", {})
    entries = [
        Equivalent(e["mutant"], e["change"], shared.get(e["reason"], e["reason"]))
        for e in data.get("equivalent", [])
    ]
    return {e.mutant: e for e in entries}


def scratch_copy(module: str, tests: list[str], workdir: Path) -> Path:
    """A fresh copy of the checkout whose [tool.mutmut] mutates `module` against `tests`."""
    target = workdir / module
    if target.exists():
        shutil.rmtree(target)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in listed:
        source = ROOT / name
        if name and source.is_file() and not name.startswith(("docs/", "bench/")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    config = project["tool"]["mutmut"]
    config["only_mutate"] = [f"worktree_agents/{module}.py"]
    config["pytest_add_cli_args_test_selection"] = tests
    (target / "pyproject.toml").write_text(tomli_w.dumps(project), encoding="utf-8")
    return target


def mutmut(scratch: Path, *args: str) -> str:
    command = [sys.executable, "-m", "mutmut", *args]
    proc = subprocess.run(command, cwd=scratch, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise SystemExit(
            f"`mutmut {' '.join(args)}` in {scratch} exited {proc.returncode}:\n{tail}"
        )
    return proc.stdout


def run(module: str, tests: list[str], workdir: Path, jobs: int) -> None:
    scratch = scratch_copy(module, tests, workdir)
    started = time.monotonic()
    log = mutmut(scratch, "run", "--max-children", str(jobs))
    (scratch / "mutmut-run.log").write_text(log, encoding="utf-8")
    (scratch / "mutmut-run.seconds").write_text(f"{time.monotonic() - started:.1f}\n")


def tally_of(module: str, workdir: Path) -> Tally:
    """The statuses of the last run in `module`'s scratch copy, with the equivalent list."""
    scratch = workdir / module
    seconds = scratch / "mutmut-run.seconds"
    if not seconds.is_file():
        raise SystemExit(f"{scratch} holds no finished run of {module}; run it first")
    tally = Tally(module, seconds=float(seconds.read_text()))
    equivalents = load_equivalents()
    for line in mutmut(scratch, "results", "--all", "true").splitlines():
        match = RESULT_LINE.match(line)
        if match is None:
            continue
        name, status = match["name"], match["status"]
        listed = equivalents.get(name)
        if status in KILLED:
            tally.killed += 1
            if listed is not None:
                tally.wrongly_listed.append(name)
        elif status == "timeout":
            tally.timeout += 1
        elif status in ("survived", "no tests") and listed is not None:
            if shows_change(mutmut(scratch, "show", name), listed.change):
                tally.equivalent.append(name)
            else:
                tally.stale.append(name)
                tally.survived.append(name)
        elif status == "survived":
            tally.survived.append(name)
        elif status == "no tests":
            tally.no_tests.append(name)
        else:
            tally.other[name] = status
    return tally


def shows_change(diff: str, change: str) -> bool:
    """Whether the mutant's diff adds `change` (compared without surrounding blanks)."""
    lines = diff.splitlines()
    added = [line[1:].strip() for line in lines if line[:1] == "+" and line[:3] != "+++"]
    return change.strip() in added


def print_table(tallies: list[Tally]) -> None:
    header = ("module", "killed", "survived", "no tests", "equivalent", "timeout", "other",
              "score", "time")  # fmt: skip
    rows = [
        (t.module, str(t.killed), str(len(t.survived)), str(len(t.no_tests)),
         str(len(t.equivalent)), str(t.timeout), str(len(t.other)), f"{t.score:.1f}%",
         f"{t.seconds:.0f}s")
        for t in tallies
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip


def print_notes(tally: Tally, workdir: Path, diffs: bool) -> None:
    for name in tally.stale:
        print(
            f"{tally.module}: {name} is listed as equivalent, but its change is not the listed one"
        )
    for name in tally.wrongly_listed:
        print(f"{tally.module}: {name} is listed as equivalent, but the tests kill it")
    for name, status in tally.other.items():
        print(f"{tally.module}: {name}: {status}")
    if diffs:
        for name in tally.survived + tally.no_tests:
            print(mutmut(workdir / tally.module, "show", name))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"some of {', '.join(MODULE_TESTS)}")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "mutation")
    parser.add_argument("--tests", action="append", default=[], metavar="MODULE=FILE,...",
                        help="test files for MODULE instead of the usual ones")  # fmt: skip
    parser.add_argument("--goal", type=float, default=90.0, help="lowest acceptable score, %%")
    parser.add_argument("--survivors", action="store_true", help="print every survivor's diff")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="no new run: the table of the last runs in --workdir (after editing the list)",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    tests = {module: list(files) for module, files in MODULE_TESTS.items()}
    for override in args.tests:
        module, _, files = override.partition("=")
        if module not in tests or not files:
            raise SystemExit(f"--tests {override!r}: expected MODULE=FILE[,FILE...]")
        tests[module] = files.split(",")
    unknown = [m for m in args.modules if m not in tests]
    if unknown:
        raise SystemExit(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(tests)}")
    started = time.monotonic()
    tallies = []
    for module in args.modules or list(MODULE_TESTS):
        if not args.report_only:
            run(module, tests[module], args.workdir, args.jobs)
        tally = tally_of(module, args.workdir)
        print(f"{module}: {tally.score:.1f}% in {tally.seconds:.0f}s", file=sys.stderr)
        tallies.append(tally)
    print_table(tallies)
    runs = sum(t.seconds for t in tallies)
    if args.report_only:
        print(f"mutation time: {runs:.0f}s (the runs of the modules above)")
    else:
        print(f"mutation time: {runs:.0f}s; wall clock: {time.monotonic() - started:.0f}s;"
              f" {args.jobs} jobs")  # fmt: skip
    for tally in tallies:
        print_notes(tally, args.workdir, args.survivors)
    return 0 if all(t.score >= args.goal for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
