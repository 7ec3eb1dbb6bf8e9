"""`hashshare submit FILE|DIR...`: contribute hashes from files, or from images hashed here.

Batches go to the service `--concurrency` at a time with a progress bar (rate, ETA) on
stderr; each acknowledged batch is written to a checkpoint, so an interrupted run resumes
where it stopped (checkpoint.py). Items the service refuses are set aside and reported with
their line; the rest of their batch is stored. Entries marking a deletion (TCAP's
`deleted`) retract your contribution of that hash. The summary goes to stdout; the exit
status is 1 when anything was refused or unreadable.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hashshare.analyst import connection
from hashshare.analyst.checkpoint import Checkpoint, default_path, run_key
from hashshare.analyst.inputs import gather
from hashshare.analyst.progress import Bar
from hashshare.client import ApiError, Client
from hashshare.formats import HashRecord


def _retract(
    client: Client, records: list[HashRecord], origins: list[str]
) -> tuple[Counter[str], list[str]]:
    """Retract your contributions of these hashes; (counts, notes per entry)."""
    counts: Counter[str] = Counter()
    notes: list[str] = []
    queries = [{"signal_type": r.signal_type, "value": r.value, "max_distance": 0} for r in records]
    found: dict[int, int] = {}
    for batch in client.match_many(queries, include_disputed=True):
        for rejection in batch.rejected:
            position = batch.start + rejection.index
            counts["not retracted"] += 1
            notes.append(f"{origins[position]}: {rejection.code}: {rejection.message}")
        for result in batch.results:
            position = batch.start + result.index
            exact = [hit for hit in result.matches if hit.value == records[position].value.lower()]
            if exact:
                found[position] = exact[0].hash_id
            else:
                counts["not held"] += 1
    for position, hash_id in found.items():
        try:
            client.retract(hash_id)
        except ApiError as error:
            if error.code != "not_contributor":
                raise
            counts["not yours"] += 1
            notes.append(f"{origins[position]}: not retracted: {error.message}")
            continue
        counts["retracted"] += 1
    return counts, notes


def cmd_submit(args: argparse.Namespace) -> int:
    target = connection.resolve(args.url, args.token_file)
    labels = tuple(args.label or ())
    inputs = gather(args.paths, args.format, args.types, args.jobs, central=True)
    to_submit = [i for i, record in enumerate(inputs.records) if not record.retract]
    to_retract = [i for i, record in enumerate(inputs.records) if record.retract]
    items = [inputs.records[i].submission(labels) for i in to_submit]
    origins = [inputs.origins[i] for i in to_submit]

    key = run_key(target.url, args.batch_size, items)
    checkpoint = Checkpoint(Path(args.checkpoint) if args.checkpoint else default_path(key), key)
    earlier = dict(checkpoint.batches)
    already = sum(min(args.batch_size, len(items) - number * args.batch_size) for number in earlier)
    if earlier:
        print(
            f"resuming: {len(earlier)} batches ({already:,} hashes) were acknowledged "
            f"by an earlier run ({checkpoint.path})",
            file=sys.stderr,
        )
    totals: Counter[str] = Counter()
    rejected: list[tuple[int, str, str, str | None]] = []
    for saved in earlier.values():
        for status in ("created", "existing", "updated"):
            totals[status] += saved[status]
        rejected.extend((int(p), str(c), str(m), f) for p, c, m, f in saved["rejected"])

    started = time.monotonic()
    sent = 0
    with (
        Client(target.url, target.token, timeout=args.timeout) as client,
        Bar("submitting", len(items) - already, "hashes", not args.no_progress) as bar,
    ):
        try:
            for batch in client.submit_many(
                items,
                batch_size=args.batch_size,
                concurrency=args.concurrency,
                skip=earlier.keys(),
            ):
                checkpoint.record(batch)
                for status in ("created", "existing", "updated"):
                    totals[status] += batch.count(status)
                rejected.extend(
                    (batch.start + r.index, r.code, r.message, r.field) for r in batch.rejected
                )
                sent += len(batch.items)
                bar.advance(len(batch.items))
        except KeyboardInterrupt:
            print(
                f"\ninterrupted: {len(checkpoint.batches)} batches acknowledged; run the same "
                "command again to resume",
                file=sys.stderr,
            )
            return 130
        retracted, notes = (
            _retract(
                client,
                [inputs.records[i] for i in to_retract],
                [inputs.origins[i] for i in to_retract],
            )
            if to_retract
            else (Counter[str](), [])
        )
    elapsed = time.monotonic() - started
    checkpoint.remove()
    _summary(args, inputs, items, totals, rejected, origins, retracted, notes, sent, elapsed)
    return 1 if rejected or inputs.skipped else 0


def _summary(
    args: argparse.Namespace,
    inputs: Any,
    items: list[dict[str, Any]],
    totals: Counter[str],
    rejected: list[tuple[int, str, str, str | None]],
    origins: list[str],
    retracted: Counter[str],
    notes: list[str],
    sent: int,
    elapsed: float,
) -> None:
    rate = sent / elapsed if elapsed > 0 else 0.0
    sources = ", ".join(sorted(inputs.formats)) or "nothing"
    print(
        f"submitted {len(items):,} hashes ({sources}) in {elapsed:.1f} s "
        f"({sent:,} sent in this run, {rate:,.0f} hashes/s)"
    )
    for status in ("created", "existing", "updated"):
        print(f"  {status:<9} {totals[status]:>9,}")
    print(f"  {'rejected':<9} {len(rejected):>9,}")
    if inputs.skipped:
        print(f"  {'unread':<9} {len(inputs.skipped):>9,}  (not hashes hashshare can hold)")
    for name, count in sorted(retracted.items()):
        print(f"  {name:<9} {count:>9,}  (deletions in the input)")
    for position, code, message, field_name in sorted(rejected):
        where = f" ({field_name})" if field_name else ""
        print(f"rejected {origins[position]}: {code}{where}: {message}")
    for origin, reason in inputs.skipped:
        print(f"unread {origin}: {reason}")
    for note in notes:
        print(f"retraction {note}")
