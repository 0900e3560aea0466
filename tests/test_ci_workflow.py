"""The GitHub Actions workflow in docs/howto/ci.md: the doc's one ```yaml block is checked
against GitHub's workflow schema by check-jsonschema, whose schema is vendored in the package
(no network), and it is the workflow the how-to promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs/howto/ci.md"
FENCE = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def workflow() -> str:
    blocks = FENCE.findall(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 1, "the how-to holds exactly one workflow"
    return str(blocks[0])


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "wta.yml"
    path.write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "check_jsonschema"]
    command += ["--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_the_workflow_is_valid(tmp_path: Path) -> None:
    result = check(tmp_path, workflow())
    assert (result.returncode, result.stdout) == (0, "ok -- validation done\n"), result.stderr


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ("    runs-on: ubuntu-latest\n", "'runs-on' is a required property"),
        ("  contents: write\n", None),
    ],
)
def test_a_broken_workflow_fails_the_check(tmp_path: Path, broken: str, why: str | None) -> None:
    text = workflow()
    assert broken in text
    if why is None:  # a permission GitHub does not know
        text = text.replace(broken, "  contents: everything\n")
    else:
        text = text.replace(broken, "")
    result = check(tmp_path, text)
    assert result.returncode == 1
    assert result.stdout.startswith("Schema validation errors were encountered.\n")
    if why is not None:
        assert f"$.jobs.wta: {why}" in result.stdout


def test_the_workflow_does_what_the_how_to_says() -> None:
    text = workflow()
    runs = [line.strip() for line in text.splitlines() if line.strip().startswith("run: ")]
    assert runs == [
        "run: |",
        'run: python -m pip install "$WTA_PACKAGE"',
        "run: wta run --push origin --junit wta-junit.xml",
        "run: wta review --open-prs",
    ]
    assert "fetch-depth: 0\n" in text
    assert "permissions:\n  contents: write\n  pull-requests: write\n\n" in text
    assert sorted(set(re.findall(r"secrets\.(\w+)", text))) == ["ANTHROPIC_API_KEY", "GITHUB_TOKEN"]
    assert "path: wta-junit.xml\n" in text
