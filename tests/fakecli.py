"""The fake `claude` executable (fakeclaude.py) installed where a profile's cli_path can
name it, as every claude test needs it."""

from __future__ import annotations

import sys
from pathlib import Path

FAKE = Path(__file__).with_name("fakeclaude.py")


def fake_cli(tmp_path: Path) -> Path:
    """`tmp_path/bin/claude`: a script that runs fakeclaude.py with this Python."""
    cli = tmp_path / "bin" / "claude"
    cli.parent.mkdir(exist_ok=True)
    cli.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
    )
    cli.chmod(0o755)
    return cli
