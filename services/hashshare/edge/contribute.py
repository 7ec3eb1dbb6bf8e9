"""`hashshare edge contribute BANK --label L`: submit a local bank upstream, explicitly.

Local banks never leave the edge by themselves. This command reads one bank from the edge's
data folder (the edge may keep running: SQLite lets both use the file), and submits the
signals of its enabled contents to the central service through POST /v1/hashes with the
member's token (scope `hashes:submit`), with the labels given, each with the external
reference `edge-bank:<BANK>:<content id>` so the member can trace it back. The central
service audits it as any other submission. What became of each signal (hash id, created /
existing / updated) is written back into the bank file, where `GET
/c/bank/<BANK>/content/<id>` shows it, and printed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hashshare.client import AsyncClient
from hashshare.config import Settings
from hashshare.edge.hma.banks import (
    FILE_NAME,
    BankNotFound,
    Pending,
    bank_signals,
    connect,
    record_contributions,
)
from hashshare.labels.taxonomy import LabelError, validate_labels
from hashshare.signals import REGISTRY, DegenerateHash

BATCH = 1000
DEFAULT_MIN_PDQ_QUALITY: int = Settings.model_fields["min_pdq_quality"].default


class ContributeError(ValueError):
    """The contribution cannot start (no such bank, bad labels): nothing was sent."""


@dataclass
class Outcome:
    bank: str
    labels: list[str]
    sent: int = 0
    created: int = 0
    existing: int = 0
    updated: int = 0
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # content, type, why
    done: list[tuple[int, str, int, str]] = field(default_factory=list)  # + hash id, status


def external_ref(bank: str, content_id: int) -> str:
    return f"edge-bank:{bank}:{content_id}"


def _plan(
    pending: Sequence[Pending], min_pdq_quality: int
) -> tuple[list[Pending], list[tuple[int, str, str]]]:
    """What to send, and what not to (with why): values the service would refuse."""
    send: list[Pending] = []
    skipped: list[tuple[int, str, str]] = []
    for item in pending:
        quality = item.signal.quality
        if quality is not None and quality < min_pdq_quality:
            skipped.append(
                (
                    item.content_id,
                    item.signal.signal_type,
                    f"PDQ quality {quality} is below {min_pdq_quality} (a featureless image)",
                )
            )
            continue
        signal_type = REGISTRY.get(item.signal.signal_type)
        if signal_type is None:
            skipped.append((item.content_id, item.signal.signal_type, "unknown signal type"))
            continue
        try:
            signal_type.check_informative(item.signal.value)
        except DegenerateHash as exc:
            skipped.append((item.content_id, item.signal.signal_type, str(exc)))
            continue
        send.append(item)
    return send, skipped


async def contribute(
    data: Path,
    bank: str,
    labels: list[str],
    upstream: str,
    token: str,
    transport: httpx.AsyncBaseTransport | None = None,
    batch_size: int = BATCH,
    min_pdq_quality: int = DEFAULT_MIN_PDQ_QUALITY,
) -> Outcome:
    """Submit the bank's signals upstream and record what became of them."""
    try:
        labels = validate_labels(labels)
    except LabelError as exc:
        raise ContributeError(str(exc)) from None
    if not (data / FILE_NAME).exists():
        raise ContributeError(f"no local banks under {data} (no {FILE_NAME})")
    db = connect(data)
    try:
        try:
            pending = bank_signals(db, bank)
        except BankNotFound as exc:
            raise ContributeError(exc.message) from None
        except sqlite3.Error as exc:
            raise ContributeError(f"cannot read {data / FILE_NAME}: {exc}") from None
        outcome = Outcome(bank=bank, labels=labels)
        send, outcome.skipped = _plan(pending, min_pdq_quality)
        async with AsyncClient(upstream, token, transport=transport) as client:
            for start in range(0, len(send), batch_size):
                chunk = send[start : start + batch_size]
                response = await client.submit(
                    [
                        {
                            "signal_type": item.signal.signal_type,
                            "value": REGISTRY[item.signal.signal_type].format(item.signal.value),
                            "labels": labels,
                            "external_ref": external_ref(bank, item.content_id),
                            **(
                                {"quality": item.signal.quality}
                                if item.signal.quality is not None
                                else {}
                            ),
                        }
                        for item in chunk
                    ]
                )
                done = [
                    (item.content_id, item.signal.signal_type, result.hash_id, result.status)
                    for item, result in zip(chunk, response.results, strict=True)
                ]
                # Recorded batch by batch: a later refusal leaves the earlier ones known.
                record_contributions(db, [d[:3] for d in done], labels, upstream)
                outcome.done.extend(done)
                outcome.sent += len(chunk)
                outcome.created += response.created
                outcome.existing += response.existing
                outcome.updated += response.updated
        return outcome
    finally:
        db.close()
