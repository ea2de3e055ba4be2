"""The entry point: every command registered, every error turned into one line on stderr and an exit code.

The inspect commands live in ``planner.cli.app``; the solve commands register from ``planner.cli.solve_commands``,
whose module imports nothing heavy (the solver loads inside the commands)."""

from __future__ import annotations

import sys

import typer

import planner.cli.solve_commands  # noqa: F401  (registers candidates, plan, report, compare, sweep)
from planner.cli.app import app
from planner.errors import PlannerError

MAX_LINE_CHARS = 1000  # a safety net: messages cut echoed values to 60 characters (planner.errors.shown)


def one_line(text: str) -> str:
    """An error message as exactly one printable line: control characters from user input are escaped, and a line
    longer than ``MAX_LINE_CHARS`` is cut."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text)[: 4 * MAX_LINE_CHARS])
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "..."


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turn every error into one line on stderr, return the exit code."""
    cmd = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cmd.main(args=args, prog_name="planner", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except PlannerError as exc:
        sys.stderr.write(f"Error: {one_line(exc.message)}\n")
        if getattr(exc, "explanation", None):
            from planner.solve.explain import explanation_lines

            for line in getattr(exc, "explanation_lines", None) or explanation_lines(exc.explanation):  # type: ignore[attr-defined]
                sys.stderr.write(f"  {one_line(line)}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # click/typer usage errors and Exit/Abort, whichever click the installed typer uses
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            msg = one_line(" ".join(str(exc.format_message()).split()))
            sys.stderr.write(f"Error: {msg} (see `planner --help`)\n")
            return int(getattr(exc, "exit_code", 2) or 2)
        name = type(exc).__name__
        if name == "Exit":
            return int(getattr(exc, "exit_code", 0) or 0)
        if name == "Abort":
            sys.stderr.write("Aborted\n")
            return 130
        raise
