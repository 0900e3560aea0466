"""The versioned `--json` envelope, and plain messages on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from worktree_agents.errors import ExitCode, PlanError, WtaError

ENVELOPE_SCHEMA = 1


class JsonMode:
    """Which command, if any, promised a JSON envelope on stdout (errors go there too): set
    by the parser (cli_app.py), read by the error handler (cli.py)."""

    command: str | None = None


def status_for(exit_code: int) -> str:
    if exit_code == ExitCode.OK:
        return "success"
    if exit_code == ExitCode.PARTIAL:
        return "partial"
    return "error"


def error_entry(
    kind: str,
    message: str,
    *,
    where: str | None = None,
    field: str | None = None,
    fix: str | None = None,
) -> dict[str, Any]:
    """One entry of an envelope's `errors`: every key present, null where it does not apply."""
    return {"type": kind, "message": message, "where": where, "field": field, "fix": fix}


def error_entries(exc: WtaError) -> list[dict[str, Any]]:
    """An error as envelope entries: one per plan problem, else one for the error."""
    kind = type(exc).__name__
    if isinstance(exc, PlanError):
        return [
            error_entry(kind, p.render(), where=p.where, field=p.field, fix=p.fix)
            for p in exc.problems
        ]
    return [error_entry(kind, exc.message)]


def envelope(
    command: str, exit_code: int, data: Any, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "schema": ENVELOPE_SCHEMA,
        "command": command,
        "status": status_for(exit_code),
        "exit_code": int(exit_code),
        "data": data,
        "errors": errors or [],
    }


def json_text(document: Any) -> str:
    """A JSON document as wta prints it (without the final newline)."""
    return json.dumps(document, indent=2, ensure_ascii=False)


def print_json(document: Any) -> None:
    sys.stdout.write(json_text(document) + "\n")
    sys.stdout.flush()


def print_error(exc: WtaError) -> None:
    lines = exc.lines()
    sys.stderr.write(f"wta: error: {lines[0]}\n")
    for line in lines[1:]:
        sys.stderr.write(f"{line}\n")
    sys.stderr.flush()
