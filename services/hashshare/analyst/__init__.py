"""Commands for analysts and pipelines that call a running service: login, submit, match,
export. Each finds the service and its token through `connection.py`.

The parsers are defined here and each command's module is imported only when it runs, so
that `hashshare serve` and the other commands do not load the client to start.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from hashshare.analyst import connection

# The names of hashshare.formats.READERS and WRITERS (a test keeps them in step).
IMPORT_FORMATS = ("csv", "hash-csv", "jsonl", "pytx", "tcap")
EXPORT_FORMATS = ("csv", "jsonl", "pytx", "stopncii")
DEFAULT_SUBMIT_BATCH = 2000
DEFAULT_CONCURRENCY = 2


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(f"hashshare.analyst.{module}"), function
        )
        try:
            return command(args)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other filters do.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (replaces stdout for good)
            return 141

    return run


def _inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="FILE|DIR")
    parser.add_argument(
        "--format",
        choices=IMPORT_FORMATS,
        help="format of the hash files (default: detected from the first line)",
    )
    parser.add_argument("--types", help="signal types to compute for images (as `hash`)")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="image hashing processes"
    )


def register(commands: Any) -> None:
    """Add `login`, `submit`, `match` and `export` to the `hashshare` subcommands."""
    login = commands.add_parser(
        "login",
        allow_abbrev=False,
        help="save the service URL and your token for the commands that call it",
        description="Writes the login file (mode 0600) that submit, match, export and sync "
        "read when no --url/--token-file or environment variable is given. The token is read "
        "from a file, never from the command line, and never printed.",
    )
    login.add_argument("--url", required=True, help="the service, e.g. https://hashshare.example")
    login.add_argument("--token-file", required=True, help="file holding your bearer token")
    login.set_defaults(func=connection.cmd_login)

    submit = commands.add_parser(
        "submit",
        allow_abbrev=False,
        help="contribute hashes from hash files, or from images hashed on this machine",
        description="Submit hashes in batches with a progress bar. Reads hash files "
        f"({', '.join(IMPORT_FORMATS)}) or image files and folders, which are hashed here: "
        "only the hashes are sent. Run again, an interrupted run resumes where it stopped.",
    )
    _inputs(submit)
    submit.add_argument(
        "--label",
        action="append",
        help="label for every hash (repeat for several); added to labels the file gives",
    )
    submit.add_argument("--batch-size", type=int, default=DEFAULT_SUBMIT_BATCH)
    submit.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    submit.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    submit.add_argument("--checkpoint", help="checkpoint file (default: in ~/.cache/hashshare)")
    submit.add_argument("--no-progress", action="store_true", help="no progress output")
    connection.add_arguments(submit)
    submit.set_defaults(func=_lazy("submit", "cmd_submit"))

    match = commands.add_parser(
        "match",
        allow_abbrev=False,
        help="match hash files, or images hashed on this machine, against the shared set",
        description="Match hashes from files, or from images hashed here (only hashes are "
        "sent). A table on a terminal; JSON Lines, one per query, when piped.",
    )
    _inputs(match)
    match.add_argument("--max-distance", type=int, help="largest distance to report")
    match.add_argument("--include-disputed", action="store_true")
    match.add_argument(
        "--output",
        choices=("auto", "table", "jsonl"),
        default="auto",
        help="auto: a table on a terminal, JSON Lines otherwise",
    )
    connection.add_arguments(match)
    match.set_defaults(func=_lazy("match", "cmd_match"))

    export = commands.add_parser(
        "export",
        allow_abbrev=False,
        help="write the shared set (or your own contributions) in an exchange format",
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    export.add_argument("--mine", action="store_true", help="only your own contributions")
    export.add_argument(
        "--include-retracted",
        action="store_true",
        help="also write retracted hashes (StopNCII: Withdrawn, which pytx deletes)",
    )
    export.add_argument("--out", help="file to write (default: stdout)")
    connection.add_arguments(export)
    export.set_defaults(func=_lazy("export", "cmd_export"))
