"""scripts/import_graph.py: the package has no import cycle, and the script finds one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import_graph.py"
PACKAGE = ROOT / "worktree_agents"


def import_graph(package: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(package)], capture_output=True, text=True, check=False
    )


def test_the_package_has_no_import_cycle() -> None:
    result = import_graph(PACKAGE)
    cycles, table = result.stdout.split("\n\n")
    assert (result.returncode, cycles, result.stderr) == (0, "no import cycles", "")
    # one row per module, so no module escaped the scan
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
    }
    rows = table.splitlines()
    assert rows[0].split() == ["module", "lines", "longest", "function"]
    assert {row.split()[0] for row in rows[1:]} == modules
    assert len(rows) == len(modules) + 1


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_a_lazy_or_type_only_import_still_makes_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    write(package / "__init__.py", "")
    write(package / "a.py", "from pkg import b, sub\n")
    write(
        package / "b.py",
        """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from pkg.c import C


        def load() -> None:
            from . import a

            a.run()
        """,
    )
    write(package / "c.py", "from .b import load\n\n\nclass C:\n    pass\n")
    write(package / "sub" / "__init__.py", "from ..a import *\n")
    result = import_graph(package)
    assert result.returncode == 1
    assert result.stdout == textwrap.dedent(
        """\
        3 import cycle(s):
          pkg.a -> pkg.b -> pkg.a
            pkg.a -> pkg.b: pkg/a.py:1 (module)
            pkg.b -> pkg.a: pkg/b.py:8 (function)
          pkg.a -> pkg.sub -> pkg.a
            pkg.a -> pkg.sub: pkg/a.py:1 (module)
            pkg.sub -> pkg.a: pkg/sub/__init__.py:1 (module)
          pkg.b -> pkg.c -> pkg.b
            pkg.b -> pkg.c: pkg/b.py:4 (type-only)
            pkg.c -> pkg.b: pkg/c.py:1 (module)

        module   lines  longest function
        pkg          0  -
        pkg.a        1  -
        pkg.b       10  load (4 lines)
        pkg.c        5  -
        pkg.sub      1  -
        """
    )


def test_not_a_package(tmp_path: Path) -> None:
    result = import_graph(tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"import_graph: {tmp_path.resolve()} is not a package (no __init__.py)\n",
    )
