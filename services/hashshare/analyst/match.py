"""`hashshare match FILE|DIR...`: match hash files, or images hashed on this machine.

On a terminal the hits are a table; piped, every query is a line of JSON
(`{"source", "signal_type", "value", "max_distance", "matches": [...]}`), so the output can
feed `jq` or a pipeline as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from hashshare.analyst import connection
from hashshare.analyst.inputs import gather
from hashshare.client import Client, MatchResult


def _table(rows: list[tuple[str, MatchResult]], queries: int, refused: int) -> None:
    table = Table(title="matches")
    for column in ("source", "type", "distance", "hash id", "labels", "status", "members"):
        table.add_column(column, justify="right" if column in ("distance", "members") else "left")
    matched = 0
    for origin, result in rows:
        if result.matches:
            matched += 1
        for hit in result.matches:
            table.add_row(
                origin,
                result.signal_type,
                str(hit.distance),
                str(hit.hash_id),
                ", ".join(hit.labels),
                hit.status,
                str(hit.contributors),
            )
    console = Console()
    if matched:
        console.print(table)
    console.print(
        f"{matched} of {queries} queries matched" + (f", {refused} refused" if refused else "")
    )


def cmd_match(args: argparse.Namespace) -> int:
    target = connection.resolve(args.url, args.token_file)
    as_table = args.output == "table" or (args.output == "auto" and sys.stdout.isatty())
    inputs = gather(args.paths, args.format, args.types, args.jobs, quiet=not sys.stderr.isatty())
    queries: list[dict[str, Any]] = []
    for record in inputs.records:
        query: dict[str, Any] = {"signal_type": record.signal_type, "value": record.value}
        if args.max_distance is not None:
            query["max_distance"] = args.max_distance
        queries.append(query)
    rows: list[tuple[str, MatchResult]] = []
    refused = 0
    with Client(target.url, target.token) as client:
        for batch in client.match_many(queries, include_disputed=args.include_disputed):
            for rejection in batch.rejected:
                refused += 1
                origin = inputs.origins[batch.start + rejection.index]
                error = {"code": rejection.code, "message": rejection.message}
                if as_table:
                    print(
                        f"refused {origin}: {rejection.code}: {rejection.message}", file=sys.stderr
                    )
                else:
                    print(json.dumps({"source": origin, "error": error}))
            for result in batch.results:
                origin = inputs.origins[batch.start + result.index]
                if as_table:
                    rows.append((origin, result))
                else:
                    line = {
                        "source": origin,
                        "signal_type": result.signal_type,
                        "value": queries[batch.start + result.index]["value"],
                        "max_distance": result.max_distance,
                        "matches": [asdict(hit) for hit in result.matches],
                    }
                    print(json.dumps(line))
    if as_table:
        _table(rows, len(queries), refused)
    for origin, reason in inputs.skipped:
        print(f"unread {origin}: {reason}", file=sys.stderr)
    return 1 if refused or inputs.skipped else 0
