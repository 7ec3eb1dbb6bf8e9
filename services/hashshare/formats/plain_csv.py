"""Plain CSV: a header `signal_type,value,labels,external_ref`, labels separated by `;`.

`quality` may follow as a fifth column (PDQ quality, 0-100). Any column order is accepted
as long as the header names them; `labels`, `external_ref` and `quality` may be empty.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import IO

from hashshare.formats.records import ExportRecord, FormatError, HashRecord, Skipped

COLUMNS = ("signal_type", "value", "labels", "external_ref")


def read(stream: IO[str]) -> Iterator[HashRecord | Skipped]:
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    missing = [name for name in ("signal_type", "value") if name not in header]
    if missing:
        raise FormatError(f"CSV header lacks {', '.join(missing)} (expected {','.join(COLUMNS)})")
    for row in reader:
        line = reader.line_num
        signal_type = (row.get("signal_type") or "").strip().lower()
        value = (row.get("value") or "").strip()
        if not signal_type and not value:
            continue
        if not signal_type or not value:
            yield Skipped(line, "a row needs both signal_type and value", ",".join(row.values()))
            continue
        labels = tuple(
            label.strip() for label in (row.get("labels") or "").split(";") if label.strip()
        )
        quality_text = (row.get("quality") or "").strip()
        if quality_text and not quality_text.isdigit():
            yield Skipped(line, f"quality {quality_text!r} is not a whole number", value)
            continue
        yield HashRecord(
            signal_type,
            value,
            labels,
            (row.get("external_ref") or "").strip() or None,
            int(quality_text) if quality_text else None,
            line=line,
        )


def write(stream: IO[str], records: Iterable[ExportRecord]) -> list[Skipped]:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow(
            [record.signal_type, record.value, ";".join(record.labels), record.external_ref or ""]
        )
    return []
