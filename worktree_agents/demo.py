"""`wta demo`: a generated sample repository and plan, run with the scripted `patch` agent.

The plan has a chain, a diamond, two independent features that change the same line
(one loses the race and fails with a conflict) and a dependent of the loser (skipped).
The loser's acceptance check waits until the winner has merged, so the outcome is the
same on any machine, however fast or loaded.
"""

from __future__ import annotations

import difflib
import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from worktree_agents.errors import UsageError
from worktree_agents.git import fallback_identity, run_git

BASE_FILES = {
    "README.md": "# greeter\n\nA tiny app that wta's demo builds feature by feature.\n",
    "app/__init__.py": "",
    "app/banner.py": 'BANNER = "Welcome"\n\n\ndef banner() -> str:\n    return BANNER\n',
}


def wait_until(condition: str, what: str, *, polls: int = 600) -> str:
    """A shell check that runs `condition` every 0.1 s until it succeeds; after `polls`
    tries (a minute by default) it fails, naming `what` it waited for.

    It holds only the checking feature back: merges and the other features go on meanwhile.
    """
    return (
        f"i=0; until {condition}; do"
        f' [ $i -lt {polls} ] || {{ echo "gave up waiting for {what}"; exit 1; }};'
        " i=$((i+1)); sleep 0.1; done"
    )


def after_merge_of(feature: str, integration: str = "wta/integration") -> str:
    """An acceptance check that passes once `feature` is on `integration` (by its
    Wta-Feature trailer): the feature that carries it is integrated after `feature`,
    however fast either one is, which decides a race between two conflicting features."""
    trailers = f'git log --format="%(trailers:key=Wta-Feature,valueonly)" {integration} --'
    return wait_until(f"{trailers} | grep -qxF {feature}", f"{feature} on {integration}")


@dataclass(frozen=True)
class DemoFeature:
    id: str
    title: str
    files: Mapping[str, str]
    depends_on: tuple[str, ...] = ()
    acceptance: tuple[str, ...] = ()
    comment: str = ""


FEATURES = (
    DemoFeature(
        "greeting",
        "A greet() function",
        {"app/greeting.py": 'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'},
        acceptance=(
            "python3 -c \"from app.greeting import greet; assert greet('Ada') == 'Hello, Ada!'\"",
        ),
        comment="a chain: greeting -> greeting-cli",
    ),
    DemoFeature(
        "greeting-cli",
        "A command line for greet()",
        {
            "app/cli.py": (
                "import sys\n\nfrom app.greeting import greet\n\n\n"
                "def main() -> None:\n"
                "    print(greet(sys.argv[1] if len(sys.argv) > 1 else 'world'))\n"
            )
        },
        depends_on=("greeting",),
    ),
    DemoFeature(
        "storage",
        "An in-memory store",
        {
            "app/storage.py": (
                "class Store:\n    def __init__(self) -> None:\n"
                "        self.items: dict[str, str] = {}\n\n"
                "    def put(self, key: str, value: str) -> None:\n"
                "        self.items[key] = value\n"
            )
        },
        comment="a diamond: storage -> storage-json, storage-csv -> storage-export",
    ),
    DemoFeature(
        "storage-json",
        "Save the store as JSON",
        {
            "app/storage_json.py": (
                "import json\n\nfrom app.storage import Store\n\n\n"
                "def to_json(store: Store) -> str:\n"
                "    return json.dumps(store.items, sort_keys=True)\n"
            )
        },
        depends_on=("storage",),
    ),
    DemoFeature(
        "storage-csv",
        "Save the store as CSV",
        {
            "app/storage_csv.py": (
                "from app.storage import Store\n\n\n"
                "def to_csv(store: Store) -> str:\n"
                "    return ''.join(f'{k},{v}\\n' for k, v in sorted(store.items.items()))\n"
            )
        },
        depends_on=("storage",),
    ),
    DemoFeature(
        "storage-export",
        "Export in every format",
        {
            "app/export.py": (
                "from app.storage import Store\nfrom app.storage_csv import to_csv\n"
                "from app.storage_json import to_json\n\n\n"
                "def export(store: Store) -> dict[str, str]:\n"
                "    return {'csv': to_csv(store), 'json': to_json(store)}\n"
            )
        },
        depends_on=("storage-json", "storage-csv"),
        acceptance=(
            'python3 -c "from app.export import export; from app.storage import Store; '
            "s = Store(); s.put('a', '1'); assert export(s)['csv'] == 'a,1\\n'\"",
        ),
    ),
    DemoFeature(
        "banner-en",
        "A friendlier English banner",
        {"app/banner.py": BASE_FILES["app/banner.py"].replace("Welcome", "Welcome, friend")},
        comment="banner-en and banner-fr change the same line: one must lose",
    ),
    DemoFeature(
        "banner-fr",
        "A French banner",
        {"app/banner.py": BASE_FILES["app/banner.py"].replace("Welcome", "Bienvenue")},
        acceptance=(after_merge_of("banner-en"),),
        comment="its acceptance check waits until banner-en has merged, so banner-en wins",
    ),
    DemoFeature(
        "banner-fr-docs",
        "Document the French banner",
        {"docs/banner.md": "# Banner\n\nThe banner greets visitors in French.\n"},
        depends_on=("banner-fr",),
        comment="depends on the loser, so it is skipped",
    ),
)
EXPECTED_FAILED = {"banner-fr": "conflict"}
EXPECTED_SKIPPED = {"banner-fr-docs": "banner-fr"}


def _patch(path: str, old: str | None, new: str) -> str:
    """A git-style unified diff that turns `old` (None: absent) into `new`."""
    before = (old or "").splitlines(keepends=True)
    after = new.splitlines(keepends=True)
    lines = [f"diff --git a/{path} b/{path}\n"]
    if old is None:
        lines.append("new file mode 100644\n")
    body = list(
        difflib.unified_diff(
            before,
            after,
            fromfile="/dev/null" if old is None else f"a/{path}",
            tofile=f"b/{path}",
        )
    )
    return "".join(lines + body)


def _state_before(feature: DemoFeature) -> dict[str, str]:
    """The files a feature's agent starts from: the base plus all its dependencies' work."""
    by_id = {f.id: f for f in FEATURES}
    seen: list[str] = []

    def visit(fid: str) -> None:
        for dep in by_id[fid].depends_on:
            visit(dep)
        if fid not in seen:
            seen.append(fid)

    for dep in feature.depends_on:
        visit(dep)
    files = dict(BASE_FILES)
    for fid in seen:
        files.update(by_id[fid].files)
    return files


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def plan_text() -> str:
    lines = [
        "# The wta demo plan: every feature is applied by the scripted `patch` agent",
        "# from patches/<id>.patch, so the run needs no model and no API key.",
        "version = 1",
        "",
        "[run]",
        'base = "main"',
        "max_parallel = 4",
        "",
        "[agent]",
        'backend = "patch"',
        'dir = "patches"',
        'timeout = "2m"',
        "",
        "[verify]",
        'commands = ["python3 -m compileall -q app"]',
        "after_merge = true",
        "",
        "[guardrails]",
        "max_attempts = 1",
        'protected_paths = ["wta.toml", "patches/**"]',
    ]
    for feature in FEATURES:
        lines += ["", "[[feature]]"]
        if feature.comment:
            lines.append(f"# {feature.comment}")
        lines += [f'id = "{feature.id}"', f'title = "{feature.title}"']
        if feature.depends_on:
            deps = ", ".join(f'"{d}"' for d in feature.depends_on)
            lines.append(f"depends_on = [{deps}]")
        if feature.acceptance:
            checks = ", ".join(_toml_string(a) for a in feature.acceptance)
            lines.append(f"acceptance = [{checks}]")
    return "\n".join(lines) + "\n"


def create_demo_repo(directory: Path | None) -> Path:
    """Write the sample repository, its plan and its patches; returns the repository path."""
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="wta-demo-"))
    elif directory.exists() and not directory.is_dir():
        raise UsageError(
            f"{directory} is not a directory; pass --dir with a new or empty directory"
        )
    elif directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty; pass --dir with a new or empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    files = dict(BASE_FILES)
    files["wta.toml"] = plan_text()
    for feature in FEATURES:
        before = _state_before(feature)
        files[f"patches/{feature.id}.patch"] = "".join(
            _patch(path, before.get(path), text) for path, text in sorted(feature.files.items())
        )
    for name, text in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    run_git(["init", "--quiet", "-b", "main"], cwd=directory)
    run_git(["add", "--all"], cwd=directory)
    commit = ["commit", "--quiet", "--no-verify", "-m", "Initial commit"]
    run_git(commit, cwd=directory, env=fallback_identity(directory))
    return directory.resolve()


def wta_command() -> str:
    """How to call this wta: `wta` when that is what PATH finds, else its full path."""
    this = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("wta")
    if this is None or this.name != "wta" or (found and Path(found).resolve() == this):
        return "wta"
    return str(this)


def how_to_look(directory: Path) -> str:
    wta = wta_command()
    return "\n".join(
        [
            "Look at the result:",
            f"  cd {directory}",
            "  git log --oneline --graph wta/integration",
            "  git log --format='%s%n  %(trailers:key=Wta-Feature)' main..wta/integration",
            "  git branch --list 'wta/*'",
            "  git diff main wta/storage-export",
            f"  {wta} status",
            f"  {wta} show banner-fr        # the conflict: paths, hunks, who won",
            f"  {wta} diff greeting-cli",
        ]
    )
