"""`wta report`: the timeline read from a real run's events, the text summary, and the HTML
page, whose structure is checked as written and as headless Chromium loads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reportutil import CHROMIUM, Dom, dump_dom, retry_run
from runutil import BASE, Spec, plan_repo, wta

from worktree_agents.dag import FeatureGraph
from worktree_agents.dag_layout import layered_layout
from worktree_agents.domain import CommitSha, FailureReason, FeatureId, RunId, RunStatus
from worktree_agents.events import (
    AgentFinished,
    AgentStarted,
    AnyEvent,
    EventLog,
    FeatureReady,
    Merged,
    MergeStarted,
    Retry,
    RunFinished,
    RunStarted,
    VerifyFinished,
    VerifyStarted,
    WorktreeCreated,
)
from worktree_agents.plan_load import load_plan
from worktree_agents.report_svg import clock, tick_step
from worktree_agents.runsummary import ran_critical_path, render_summary
from worktree_agents.runtimeline import build_timeline

FEATURES = ["base", "answer", "uses", "clash", "extra"]
ATTEMPTS = [("answer", "1"), ("answer", "2"), ("base", "1"), ("clash", "1"), ("extra", "1"),
            ("uses", "1")]  # fmt: skip


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return retry_run(tmp_path_factory.mktemp("report"))


def events_of(repo: Path) -> list[AnyEvent]:
    (log,) = (repo / ".git" / "wta" / "runs").glob("*.jsonl")
    return EventLog.read(log)


def test_the_timeline_of_a_run_with_a_retry_a_conflict_and_a_wait(ran: Path) -> None:
    timeline = build_timeline(events_of(ran))

    by_id = {f.feature_id: f for f in timeline.features}
    assert {
        fid: [
            (a.n, a.outcome, a.reason, *(p is not None for p in (a.agent, a.verify, a.merge)))
            for a in f.attempts
        ]
        for fid, f in by_id.items()
    } == {
        "answer": [(1, "retried", "verify_failed", True, True, False),
                   (2, "merged", None, True, True, True)],
        "base": [(1, "merged", None, True, False, True)],
        "clash": [(1, "failed", "conflict", True, True, True)],
        "extra": [(1, "merged", None, True, False, True)],
        "uses": [(1, "merged", None, True, False, True)],
    }  # fmt: skip
    assert timeline.slots == 3
    assert sorted(by_id[f].slot for f in ("answer", "base", "clash")) == [1, 2, 3]
    # extra waited for the first slot to come free, and took it
    first_free = min(by_id[f].end or 0.0 for f in ("answer", "base", "clash"))
    assert by_id["extra"].ready is not None and by_id["extra"].ready < first_free
    assert first_free <= by_id["extra"].start
    for feature in timeline.features:  # a slot holds one feature at a time
        for other in timeline.features:
            if other is not feature and other.slot == feature.slot:
                assert (other.end or 0.0) <= feature.start or (feature.end or 0.0) <= other.start
        for a in feature.attempts:  # every part in order, inside the run
            assert a.agent is not None and a.agent.end is not None and a.end is not None
            parts = [a.start, a.agent.start, a.agent.end]
            parts += [a.verify.start, a.verify.end or 0.0] if a.verify else []
            parts += [a.merge.start, a.merge.end or 0.0] if a.merge else []
            parts += [a.end, timeline.duration]
            assert parts == sorted(parts)


def test_the_summary_names_the_critical_path_as_it_ran_the_slowest_and_the_waiting() -> None:
    run = RunId("r1")
    t0 = 1_000_000.0

    def at(seconds: float, event: AnyEvent) -> AnyEvent:
        return event.model_copy(update={"ts": t0 + seconds})

    def attempt(fid: str, n: int, start: float, agent: float, check: float) -> list[AnyEvent]:
        f = FeatureId(fid)
        return [
            at(start, WorktreeCreated(run_id=run, feature_id=f, path="p", branch="b",
                                      base_commit=CommitSha("0" * 40))),
            at(start + 1, AgentStarted(run_id=run, feature_id=f, attempt=n, profile="default",
                                       backend="patch", model=None)),
            at(start + 1 + agent, AgentFinished(run_id=run, feature_id=f, attempt=n, ok=True,
                                                reason=None, cost_usd=0.5, turns=None,
                                                duration_s=agent)),
            at(start + 2 + agent, VerifyStarted(run_id=run, feature_id=f, command="c",
                                                stage="feature")),
            at(start + 2 + agent + check, VerifyFinished(run_id=run, feature_id=f, command="c",
                                                         stage="feature", ok=n > 1,
                                                         exit_code=0, duration_s=check)),
        ]  # fmt: skip

    def merged(fid: str, queued: float, done: float) -> list[AnyEvent]:
        f = FeatureId(fid)
        return [
            at(queued, MergeStarted(run_id=run, feature_id=f)),
            at(
                done,
                Merged(
                    run_id=run,
                    feature_id=f,
                    commit=CommitSha("1" * 40),
                    integration_head=CommitSha("1" * 40),
                ),
            ),
        ]

    a, b, c = FeatureId("a"), FeatureId("b"), FeatureId("c")
    events: list[AnyEvent] = [
        at(0, RunStarted(run_id=run, plan_path="wta.toml", parallel=1, features=(a, b, c))),
        at(0, FeatureReady(run_id=run, feature_id=a)),
        at(0, FeatureReady(run_id=run, feature_id=c)),
        *attempt("a", 1, 1, 10, 5),  # ends at 19: the check fails
        at(
            19,
            Retry(
                run_id=run,
                feature_id=a,
                attempt=2,
                reason=FailureReason.VERIFY_FAILED,
                profile="default",
            ),
        ),
        *attempt("a", 2, 20, 30, 5),  # to 58
        *merged("a", 58, 60),
        at(60, FeatureReady(run_id=run, feature_id=b)),
        *attempt("c", 1, 61, 4, 2),  # c waited 61 s for the one slot
        *merged("c", 70, 80),
        *attempt("b", 1, 80, 100, 8),  # b waited 20 s, behind c
        *merged("b", 191, 200),
        at(
            201,
            RunFinished(
                run_id=run,
                status=RunStatus.SUCCESS,
                merged=3,
                failed=0,
                skipped=0,
                cost_usd=2.0,
                duration_s=201,
            ),
        ),
    ]
    graph = FeatureGraph.build([a, b, c], {b: [a]})

    summary = render_summary(build_timeline(events), graph, "success")

    assert summary.split("\n") == [
        "run r1: success, 3m21s, 3 features started, 4 attempts, 1 slot",
        "critical path as it ran (3m20s, +0.0s to +3m20s):",
        "  a  +1.0s to +1m00s  (59.0s, waited 1.0s for a slot), merged, 2 attempts",
        "  b  +1m20s to +3m20s  (2m00s, waited 20.0s for a slot), merged",
        "slowest features:",
        "  b    2m00s  merged",
        "  a    59.0s  merged, 2 attempts",
        "  c    19.0s  merged",
        "waiting for a slot 1m22s, working 3m17s (agents 2m24s, checks 20.0s, merging 21.0s),"
        " summed over features",
    ]


def test_wta_report_prints_the_summary_of_the_latest_run(
    ran: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert wta(ran, "report") == 0

    out = capsys.readouterr().out
    plan = load_plan(ran.parent / "plan" / "wta.toml").plan
    assert out == render_summary(build_timeline(events_of(ran)), plan.graph, "partial") + "\n"
    slowest = out.split("slowest features:\n")[1].split("\n")[:5]
    assert sorted(line.split()[0] for line in slowest) == sorted(FEATURES)


def test_an_unknown_run_or_no_run_exits_2(
    ran: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert wta(ran, "report", "--run", "nope") == 2
    fresh = plan_repo(tmp_path, [Spec("a", {"a.txt": "a\n"})], BASE)
    assert wta(fresh, "report", "--html", str(tmp_path / "r.html")) == 2

    assert capsys.readouterr().err.split("\n") == [
        "wta: error: no run 'nope' is recorded; see `wta logs --runs` for the run ids",
        "wta: error: no run has been recorded in this repository yet; `wta run` makes one",
        "",
    ]
    assert not (tmp_path / "r.html").exists()


def check_structure(dom: Dom) -> None:
    """The structure the report's readers rely on: the sections, and data-feature on a
    node per feature, a bar per attempt and a table row per feature."""
    assert dom.ids() == ["dag", "timeline", "features", "costs"]
    assert [a["data-feature"] for a in dom.with_feature("dag", "g")] == FEATURES
    bars = [(a["data-feature"], a["data-attempt"]) for a in dom.with_feature("timeline", "g")]
    assert sorted(bars) == ATTEMPTS
    assert [a["data-feature"] for a in dom.with_feature("features", "tr")] == FEATURES
    assert [t for t, _, _ in dom.elements if t in ("script", "link", "img", "iframe")] == []


@pytest.fixture(scope="module")
def page(ran: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert wta(ran, "report", "--html", str(out)) == 0
    return out


def test_the_page_has_the_dag_the_timeline_and_the_features(page: Path) -> None:
    text = page.read_text(encoding="utf-8")

    check_structure(Dom(text))
    # nothing from the network: the only URL is the SVG namespace, which is a name
    assert set(re.findall(r"[a-z]+://[^\"' )]*", text)) == {"http://www.w3.org/2000/svg"}
    assert re.findall(r"\b(?:src|href)\s*=", text) == []


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"Chromium is not installed at {CHROMIUM}: scripts/test.sh installs it with"
    " apt-get (as root); elsewhere run `apt-get install -y chromium`",
)
def test_the_page_as_headless_chromium_loads_it(page: Path) -> None:
    check_structure(Dom(dump_dom(page)))


def test_the_layout_orders_columns_to_avoid_crossings() -> None:
    a, b, c, d = (FeatureId(x) for x in "abcd")
    graph = FeatureGraph.build([a, b, c, d], {c: [b], d: [a]})  # plan order crosses

    assert layered_layout(graph).columns == ((a, b), (d, c))


def test_the_time_axis_has_round_steps_and_readable_labels() -> None:
    assert [tick_step(d) for d in (0.7, 3.2, 45, 600, 3 * 3600)] == [0.1, 0.5, 5, 60, 1800]
    assert [clock(t, s) for t, s in ((0.5, 0.1), (40, 5), (120, 60), (150, 30), (4500, 900))] == [
        "0.5s", "40s", "2m", "2m30s", "1h15m",
    ]  # fmt: skip


def test_the_timeline_marks_the_critical_path_as_it_ran(ran: Path, page: Path) -> None:
    labels = re.findall(r'<text class="label( critical)?" [^>]*>([^<]*)</text>', page.read_text())

    plan = load_plan(ran.parent / "plan" / "wta.toml").plan
    chain = ran_critical_path(build_timeline(events_of(ran)), plan.graph)
    # uses waits for answer's two attempts: it ends last, unless clash's conflict came later
    assert [f.feature_id for f in chain] in (["answer", "uses"], ["clash"])
    critical = {f.feature_id for f in chain}
    assert sorted(labels) == sorted(
        [(" critical" if f in critical else "", f) for f in FEATURES]
        + [("", "slots in use (of 3)")]
    )
