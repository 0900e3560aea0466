"""The CI reports of `wta run` and `wta merge`: `--junit FILE`, validated against the
Jenkins/Ant junit-10.xsd that most JUnit consumers accept, and the Markdown summary appended
to `$GITHUB_STEP_SUMMARY`. Real runs on real git, with the patch agent."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from gitutil import git
from runutil import BASE, Spec, features, plan_repo, wta

from worktree_agents.junit import junit_xml, log_tail
from worktree_agents.stepsummary import markdown_cell, mermaid_label

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent.parent / "fixtures/schemas/junit-10.xsd")
TITLE = "Add | a <b> *c* & $d @e #f `g`"
# colour codes and a bell in the failing check's output: XML 1.0 cannot hold the bell
FAILING = r'printf "\033[31mred\033[0m \007bell\n"; false'
SPECS = [
    Spec("a", {"a.txt": "a\n"}, extra=f'title = "{TITLE}"'),
    Spec("c", {"c.txt": "c\n"}, depends_on=["a"], acceptance=[FAILING]),
    Spec("d", {"d.txt": "d\n"}, depends_on=["c"]),
    Spec("e", {"e.txt": "e\n"}),
]


def _status(capsys: pytest.CaptureFixture[str], repo: Path) -> dict[str, Any]:
    capsys.readouterr()
    assert wta(repo, "status", "--json") == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)["data"]
    return data


Case = tuple[str, str | None, dict[str, str] | None, str | None]


def _cases(report: Path) -> list[Case]:
    """A valid report's testcases: name, and the tag, attributes and text of their result."""
    SCHEMA.validate(str(report))
    cases: list[Case] = []
    for case in ET.parse(report).getroot().iter("testcase"):
        result = next(iter(case), None)
        cases.append(
            (case.attrib["name"], None, None, None)
            if result is None
            else (case.attrib["name"], result.tag, dict(result.attrib), result.text)
        )
    return cases


def _t(feature: dict[str, Any]) -> str:
    return f"{feature['duration_s'] or 0:.3f}"


def test_junit_report_of_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    report = tmp_path / "wta-junit.xml"
    report.write_text("an old report\n")  # replaced whole

    assert wta(repo, "run", "--junit", str(report)) == 1

    data = _status(capsys, repo)
    f = {x["id"]: x for x in data["features"]}
    log = repo / ".git/wta/attempts/c/2/log.txt"
    expected = f"""\
<?xml version='1.0' encoding='utf-8'?>
<testsuites name="wta.repo" tests="4" failures="1" errors="0" time="{data["totals"]["duration_s"]:.3f}">
  <testsuite name="wta.repo" tests="4" failures="1" errors="0" skipped="1" time="{data["totals"]["duration_s"]:.3f}">
    <properties>
      <property name="run_id" value="{data["run"]["id"]}" />
      <property name="integration_branch" value="wta/integration" />
      <property name="integration_head" value="{git(repo, "rev-parse", "wta/integration")}" />
      <property name="cost_usd" value="0.0000" />
    </properties>
    <testcase classname="wta.repo" name="a" time="{_t(f["a"])}" />
    <testcase classname="wta.repo" name="c" time="{_t(f["c"])}">
      <failure type="verify_failed" message="verify_failed: `printf &quot;\\033[31mred\\033[0m \\007bell\\n&quot;; false` exited 1">`printf "\\033[31mred\\033[0m \\007bell\\n"; false` exited 1

the end of its log, {log}:
[wta] c attempt 2: git apply {tmp_path}/plan/patches/c.patch
$ printf "\\033[31mred\\033[0m \\007bell\\n"; false
red \ufffdbell
</failure>
    </testcase>
    <testcase classname="wta.repo" name="d" time="0.000">
      <skipped message="dependency 'c' failed" />
    </testcase>
    <testcase classname="wta.repo" name="e" time="{_t(f["e"])}" />
  </testsuite>
</testsuites>
"""  # noqa: E501
    assert report.read_text(encoding="utf-8") == expected
    SCHEMA.validate(str(report))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".wta-junit")] == []


def test_features_not_run_are_skipped_as_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    report = tmp_path / "report.xml"

    assert wta(repo, "run", "--only", "e", "--junit", str(report)) == 0

    assert _cases(report) == [
        ("a", "skipped", {"message": "not run (state: pending)"}, None),
        ("c", "skipped", {"message": "not run (state: pending)"}, None),
        ("d", "skipped", {"message": "not run (state: pending)"}, None),
        ("e", None, None, None),
    ]


def test_features_a_guardrail_held_back_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = [Spec("c", {"c.txt": "c\n"}, acceptance=["false"]), Spec("e", {"e.txt": "e\n"})]
    settings = "[run]\nmax_parallel = 1\n[guardrails]\nmax_attempts = 1\nstop_after_failures = 1\n"
    repo = plan_repo(tmp_path, specs, BASE, settings)
    report = tmp_path / "report.xml"

    assert wta(repo, "run", "--junit", str(report)) == 1

    log = repo / ".git/wta/attempts/c/1/log.txt"
    assert _cases(report) == [
        ("c", "failure", {"type": "verify_failed", "message": "verify_failed: `false` exited 1"},
         f"`false` exited 1\n\nthe end of its log, {log}:\n{log.read_text()}"),
        ("e", "skipped",
         {"message": "not run: the stop_after_failures guardrail stopped new attempts"}, None),
    ]  # fmt: skip


def test_merge_writes_the_report_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    specs = [
        Spec("x", {"src/core.py": "VALUE = 3\n"}),
        Spec("c", {"src/core.py": "VALUE = 2\n"}),
        Spec("d", {"d.txt": "d\n"}, depends_on=["c"]),
    ]
    repo = plan_repo(tmp_path, specs, BASE)
    assert wta(repo, "run", "--no-merge") == 0
    report = tmp_path / "merge.xml"

    assert wta(repo, "merge", "--junit", str(report)) == 1

    log = repo / ".git/wta/attempts/c/1/log.txt"
    detail = features(capsys, repo)["c"]["detail"]
    assert _cases(report) == [
        ("x", None, None, None),
        ("c", "failure", {"type": "conflict", "message": f"conflict: {detail}"},
         f"{detail}\n\nconflicting paths: src/core.py\n\n"
         f"the end of its log, {log}:\n{log.read_text().rstrip()}\n"),
        ("d", "skipped", {"message": "dependency 'c' failed"}, None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/report.xml", "the directory {tmp}/missing does not exist; create it first"),
        (".", "is a directory; give a file name"),
    ],
)
def test_an_unwritable_report_path_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str, message: str
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    path = tmp_path / where
    capsys.readouterr()

    assert wta(repo, "run", "--junit", str(path)) == 2

    err = capsys.readouterr().err
    assert err == f"wta: error: --junit {path}: {message.format(tmp=tmp_path)}\n"
    assert git(repo, "branch", "--list", "wta/*") == ""  # nothing ran
    assert not (repo / ".git/wta/state.db").exists()


def test_markdown_and_mermaid_escaping() -> None:
    assert markdown_cell(TITLE) == r"Add \| a \<b\> \*c\* \& \$d \@e #f \`g\`"
    assert markdown_cell("two\nlines\\") == "two lines\\\\"
    assert mermaid_label(TITLE) == "Add | a #lt;b#gt; *c* #38; $d @e #35;f #96;g#96;"
    assert mermaid_label('say "hi"\n') == "say #quot;hi#quot;"


def _d(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def test_step_summary_is_appended_after_run_and_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = plan_repo(tmp_path, SPECS, BASE)
    summary = tmp_path / "step-summary.md"
    earlier = "## an earlier step\n\nits summary\n"
    summary.write_text(earlier)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    assert wta(repo, "run") == 1
    assert wta(repo, "merge") == 0  # nothing is done: it only reports

    data = _status(capsys, repo)
    f = {x["id"]: x for x in data["features"]}
    head = git(repo, "rev-parse", "wta/integration")[:12]
    table_and_graph = f"""\
| feature | title | state | reason | attempts | cost | duration | diffstat | branch |
|---|---|---|---|---|---|---|---|---|
| a | Add \\| a \\<b\\> \\*c\\* \\& \\$d \\@e #f \\`g\\` | merged |  | 1 | \\$0.00 | {_d(f["a"]["duration_s"])} | 1 file, +1 -0 | wta/a |
| c |  | failed | verify\\_failed | 2 | \\$0.00 | {_d(f["c"]["duration_s"])} | 1 file, +1 -0 | wta/c |
| d |  | skipped | after c | 0 | \\$0.00 | - | - | - |
| e |  | merged |  | 1 | \\$0.00 | {_d(f["e"]["duration_s"])} | 1 file, +1 -0 | wta/e |

```mermaid
flowchart LR
  n1["a<br/>Add | a #lt;b#gt; *c* #38; $d @e #35;f #96;g#96;<br/>merged"]
  n2["c<br/>failed"]
  n3["d<br/>skipped"]
  n4["e<br/>merged"]
  n1 --> n2
  n2 --> n3
  classDef merged fill:#dafbe1,stroke:#1a7f37,color:#1a7f37
  class n1,n4 merged
  classDef failed fill:#ffebe9,stroke:#cf222e,color:#cf222e
  class n2 failed
  classDef skipped fill:#eaeef2,stroke:#6e7781,color:#57606a,stroke-dasharray:4 3
  class n3 skipped
```

"""  # noqa: E501
    totals = (
        f"2 merged, 1 failed, 1 skipped of 4; cost $0.00; duration"
        f" {_d(data['totals']['duration_s'])}; integration wta/integration at {head}\n\n"
    )
    assert summary.read_text() == (
        f"{earlier}## wta run {data['run']['id']}\n\n{totals}{table_and_graph}"
        f"## wta merge\n\n{totals}{table_and_graph}"
    )


def test_an_unwritable_step_summary_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = plan_repo(tmp_path, SPECS[3:], BASE)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a directory
    capsys.readouterr()

    assert wta(repo, "run", "--json") == 0

    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == 0
    assert err.splitlines()[-1] == (
        f"wta: warning: cannot append to GITHUB_STEP_SUMMARY {tmp_path}:"
        f" [Errno 21] Is a directory: '{tmp_path}'"
    )


def test_an_interrupted_feature_and_the_log_tail(tmp_path: Path) -> None:
    """What a killed run leaves (hard to stop at the right instant through the CLI)."""
    feature = {"id": "f", "state": "running", "duration_s": None}
    data = {
        "integration": {"branch": "wta/integration", "head": None},
        "totals": {"cost_usd": 0.0, "duration_s": None},
        "features": [feature],
        "interrupted": ["f"],
    }
    report = tmp_path / "r.xml"
    report.write_bytes(junit_xml(data, "wta.x", {}))
    assert _cases(report) == [
        ("f", "skipped", {"message": "not run: interrupted; the next `wta run` starts it again"},
         None),
    ]  # fmt: skip
    log = tmp_path / "log.txt"
    log.write_text("".join(f"line {n}\n" for n in range(1, 61)))
    assert log_tail(log) == "\n".join(f"line {n}" for n in range(11, 61))
    assert log_tail(tmp_path / "gone.txt") is None
