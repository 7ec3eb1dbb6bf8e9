"""`hashshare export --format ...`: the matchable set, or your own contributions (`--mine`).

The set is rebuilt from the change feed (the last change of each hash wins), so it needs a
`hashes:read` token and nothing else; `--mine` reads `GET /v1/contributions`, with your
external references. Hashes a format cannot name (pytx has no phash, StopNCII no sha256)
are counted on stderr, not silently dropped.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from hashshare.analyst import connection
from hashshare.client import ChangeOut, Client
from hashshare.formats import WRITERS, ExportRecord


def _shared_set(client: Client, include_retracted: bool) -> list[ExportRecord]:
    latest: dict[int, ChangeOut] = {}
    for change in client.changes(page_size=10_000):
        latest[change.hash_id] = change
    return [
        ExportRecord(c.signal_type, c.value, tuple(c.labels), c.status, c.changed_at)
        for _, c in sorted(latest.items())
        if include_retracted or c.status != "retracted"
    ]


def _mine(client: Client, include_retracted: bool) -> list[ExportRecord]:
    return [
        ExportRecord(
            c.signal_type,
            c.value,
            tuple(c.labels),
            "retracted" if c.retracted_at is not None else c.hash_status,
            c.retracted_at or c.contributed_at,
            c.external_ref,
        )
        for c in client.contributions(page_size=10_000, include_retracted=include_retracted)
    ]


def cmd_export(args: argparse.Namespace) -> int:
    target = connection.resolve(args.url, args.token_file)
    with Client(target.url, target.token) as client:
        records = (_mine if args.mine else _shared_set)(client, args.include_retracted)
    if args.out:
        with Path(args.out).open("w", encoding="utf-8", newline="") as out:
            skipped = WRITERS[args.format](out, records)
    else:
        skipped = WRITERS[args.format](sys.stdout, records)
    what = "your contributions" if args.mine else "hashes of the shared set"
    print(
        f"exported {len(records) - len(skipped):,} {what} as {args.format}"
        + (f" to {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    for reason, count in sorted(Counter(s.reason for s in skipped).items()):
        print(f"  left out {count:,}: {reason}", file=sys.stderr)
    return 0
