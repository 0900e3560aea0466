"""The `wta` command line: the entry point and the one error handler. The commands are
declared in cli_app.py, loaded only once the arguments are more than `--version` (which
answers before typer loads)."""

from __future__ import annotations

import sys
from itertools import pairwise
from typing import TYPE_CHECKING

from worktree_agents import __version__
from worktree_agents.errors import ExitCode, WtaError
from worktree_agents.output import (
    JsonMode,
    envelope,
    error_entries,
    error_entry,
    print_error,
    print_json,
)

if TYPE_CHECKING:
    from typer.exceptions import TyperException


JSON_COMMANDS = ("plan", "run", "status", "demo", "sync", "merge", "review", "run-feature")


def _json_command(args: list[str]) -> str | None:
    """The command, when the arguments ask for a JSON envelope (`--json`, `--format json`)."""
    command = next((a for a in args if a in JSON_COMMANDS), None)
    wants = "--json" in args or any(
        a == "--format=json" or (a == "--format" and b.lower() == "json")
        for a, b in pairwise([*args, ""])
    )
    return command if wants else None


def _parser_error(exc: TyperException, args: list[str]) -> int:
    """The parser's message as wta's own error (an envelope, when JSON was asked for), never
    click's usage box: every command's parser errors pass through here."""
    from typer._click.exceptions import NoArgsIsHelpError

    from worktree_agents.cli_app import app

    if isinstance(exc, NoArgsIsHelpError):  # `wta` alone: the help is the answer
        exc.show()
        return ExitCode.USAGE
    message = exc.format_message()
    if JsonMode.command is not None:
        error = error_entry("UsageError", message)
        print_json(envelope(JsonMode.command, ExitCode.USAGE, None, [error]))
        return ExitCode.USAGE
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        command = ctx.command_path
    else:  # some parser errors carry no context: the command is the first known name
        names = {c.name or getattr(c.callback, "__name__", "") for c in app.registered_commands}
        command = " ".join(["wta", *[a for a in args if a in names][:1]])
    message = message.rstrip(".")
    joint = " See" if message.endswith("?") else "; see"  # after "Did you mean 'logs'?"
    sys.stderr.write(f"wta: error: {message}{joint} `{command} --help`\n")
    return ExitCode.USAGE


def main(argv: list[str] | None = None) -> int:
    """Entry point: run one command and map every outcome to an exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # the root's eager option, answered before typer loads
        print(f"wta {__version__}")
        return 0
    JsonMode.command = _json_command(args)
    return _dispatch(args)


def _dispatch(args: list[str]) -> int:
    import typer
    from typer.exceptions import TyperException

    from worktree_agents.cli_app import app

    try:
        result = app(args=args, prog_name="wta", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("wta: interrupted\n")
        return ExitCode.INTERRUPTED
    except TyperException as exc:  # the parser's error: an unknown option, a bad value
        return _parser_error(exc, args)
    except WtaError as exc:
        if JsonMode.command is not None:
            print_json(envelope(JsonMode.command, exc.exit_code, None, error_entries(exc)))
        else:
            print_error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("wta: interrupted\n")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        from worktree_agents.crashlog import write_crash_log

        path = write_crash_log(exc, args)
        if JsonMode.command is not None:
            message = f"internal error: {type(exc).__name__}: {exc}; crash log: {path}"
            error = error_entry("InternalError", message)
            print_json(envelope(JsonMode.command, ExitCode.INTERNAL, None, [error]))
        sys.stderr.write(
            f"wta: internal error: {type(exc).__name__}: {exc}\n"
            f"A crash log with the details is at {path}; please attach it to a bug report.\n"
        )
        return ExitCode.INTERNAL
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    # `python -m worktree_agents.cli`: this file runs as __main__, but cli_app shares
    # JsonMode with the package's module, so dispatch through that one
    from worktree_agents.cli import main as package_main

    sys.exit(package_main())
