"""`--junit FILE`: the end of a run as a JUnit XML report, one testcase per feature, so that
CI systems show failed features as failed tests and skipped ones as skipped.

The document is built with the standard library's ElementTree: it is five element kinds,
and a library (junitparser) would add a runtime dependency whose output changes with
whether lxml happens to be installed. It follows the Jenkins/Ant junit-10.xsd schema,
which the tests validate it against.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worktree_agents.domain import FeatureId, FeatureState
from worktree_agents.store import Store

LOG_TAIL_LINES = 50
_TAIL_BYTES = 64 * 1024  # enough for 50 lines of any sane log; a log can be large
_PASSED = {FeatureState.MERGED.value, FeatureState.DONE.value}
# CSI colour codes are noise in a report; other characters XML 1.0 cannot hold are replaced
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """`text` as XML 1.0 can hold it: colour codes dropped, control characters as U+FFFD."""
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", text))


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str | None:
    """The last `lines` lines of a log, or None when there is no log."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - _TAIL_BYTES))
            data = log.read()
    except OSError:
        return None
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


def log_tails(store: Store, ids: list[str]) -> dict[str, tuple[str, str]]:
    """For each feature that has an attempt log: (its path, its tail); the latest attempt's."""
    tails: dict[str, tuple[str, str]] = {}
    for fid in ids:
        logs = [a.log_path for a in store.attempts(FeatureId(fid)) if a.log_path]
        tail = log_tail(Path(logs[-1])) if logs else None
        if logs and tail is not None:
            tails[fid] = (logs[-1], tail)
    return tails


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"  # junit-10.xsd allows at most three decimals


def _not_run(feature: dict[str, Any], data: Mapping[str, Any]) -> str:
    """Why a feature the run left pending, ready or unfinished has no result."""
    fid = feature["id"]
    if fid in data.get("interrupted", ()):
        return "not run: interrupted; the next `wta run` starts it again"
    if fid in data.get("not_started", ()) and data.get("stopped_by"):
        return f"not run: the {data['stopped_by']} guardrail stopped new attempts"
    return f"not run (state: {feature['state']})"


def _failure_text(feature: dict[str, Any], tail: tuple[str, str] | None) -> str:
    parts = [feature["detail"] or feature["reason"] or "failed"]
    if feature["conflict_paths"]:
        parts.append("conflicting paths: " + ", ".join(feature["conflict_paths"]))
    if tail is not None:
        parts.append(f"the end of its log, {tail[0]}:\n{tail[1]}")
    return "\n\n".join(parts) + "\n"


def _testcase(
    suite: ET.Element,
    classname: str,
    feature: dict[str, Any],
    data: Mapping[str, Any],
    tail: tuple[str, str] | None,
) -> str:
    """Add the feature's testcase; returns its outcome: passed, failure or skipped."""
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": classname, "name": feature["id"], "time": _seconds(feature["duration_s"])},
    )
    state = feature["state"]
    if state in _PASSED:
        return "passed"
    if state == FeatureState.FAILED.value:
        reason = feature["reason"] or "failed"
        detail = (feature["detail"] or "").splitlines()
        message = f"{reason}: {detail[0]}" if detail else reason
        failure = ET.SubElement(case, "failure", {"type": reason, "message": xml_text(message)})
        failure.text = xml_text(_failure_text(feature, tail))
        return "failure"
    if state == FeatureState.SKIPPED.value:
        because = feature["skipped_because"]
        message = feature["detail"] or f"dependency '{because}' failed or was skipped"
    else:
        message = _not_run(feature, data)
    ET.SubElement(case, "skipped", {"message": xml_text(message)})
    return "skipped"


def junit_xml(data: Mapping[str, Any], name: str, tails: Mapping[str, tuple[str, str]]) -> bytes:
    """The report of `data` (a `wta status --json` data object, with a run's extras), as
    one <testsuite> named `name` in <testsuites>; `tails` are the failed features' logs."""
    root = ET.Element("testsuites", {"name": name})
    suite = ET.SubElement(root, "testsuite", {"name": name})
    properties = ET.SubElement(suite, "properties")
    integration = data["integration"]
    for key, value in (
        ("run_id", data.get("run_id")),
        ("integration_branch", integration["branch"]),
        ("integration_head", integration["head"]),
        ("cost_usd", f"{data['totals']['cost_usd']:.4f}"),
    ):
        if value is not None:
            ET.SubElement(properties, "property", {"name": key, "value": xml_text(str(value))})
    outcomes = [_testcase(suite, name, f, data, tails.get(f["id"])) for f in data["features"]]
    counts = {
        "tests": str(len(outcomes)),
        "failures": str(outcomes.count("failure")),
        "errors": "0",
        "skipped": str(outcomes.count("skipped")),
        "time": _seconds(data["totals"]["duration_s"]),
    }
    suite.attrib.update(counts)
    root.attrib.update({k: v for k, v in counts.items() if k != "skipped"})
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
