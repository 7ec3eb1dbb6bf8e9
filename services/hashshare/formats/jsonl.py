"""JSON Lines, hashshare's own: what `hashshare hash` prints, and items of `POST /v1/hashes`.

Each line is either an item of a submission (`{"signal_type", "value", "labels",
"external_ref", "quality"}`; `POST /v1/hash`'s `hashes` entries are of this shape too), or a
line of `hashshare hash` (`{"path", "pdq", "phash", ..., "pdq_quality", "regions"}`), which
becomes one record per signal type, then one per signal type of each region, all with the
image's path as their external reference (so that the member sees them as one image).
`hashshare hash --format csv` (a `path` column, one per signal type, and `regions` as JSON
text) is read by `read_hash_csv`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from hashshare.formats.records import ExportRecord, HashRecord, Skipped
from hashshare.hashing.hashers import SIGNAL_TYPES

MAX_REF = 256


def _hashes_of(line: int, row: Mapping[str, Any], path: str | None) -> Iterator[HashRecord]:
    quality_text = str(row.get("pdq_quality") or "").strip()
    quality = int(quality_text) if quality_text.isdigit() else None
    for signal_type in SIGNAL_TYPES:
        value = str(row.get(signal_type) or "").strip()
        if value:
            yield HashRecord(
                signal_type,
                value,
                external_ref=path[:MAX_REF] if path else None,
                quality=quality if signal_type == "pdq" else None,
                line=line,
            )


def records_from_hash_line(line: int, row: Mapping[str, Any]) -> Iterator[HashRecord | Skipped]:
    path = str(row.get("path") or "") or None
    regions: Any = row.get("regions") or []
    if isinstance(regions, str):  # the CSV form: JSON text in one cell
        try:
            regions = json.loads(regions)
        except json.JSONDecodeError as exc:
            yield Skipped(line, f"regions is not JSON: {exc.msg}", str(path or ""))
            return
    if not isinstance(regions, list) or not all(isinstance(r, dict) for r in regions):
        yield Skipped(line, "regions must be a list of objects", str(path or ""))
        return
    found = False
    for part in (row, *regions):
        for record in _hashes_of(line, part, path):
            found = True
            yield record
    if not found:
        yield Skipped(line, "no hash of a known signal type on this line", str(path or ""))


def _from_item(line: int, item: Mapping[str, Any]) -> HashRecord | Skipped:
    labels = item.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return Skipped(line, "labels must be a list of names", str(item.get("value", "")))
    quality = item.get("quality")
    if quality is not None and not isinstance(quality, int):
        return Skipped(line, "quality must be a whole number", str(item.get("value", "")))
    external_ref = item.get("external_ref")
    return HashRecord(
        str(item["signal_type"]).lower(),
        str(item.get("value", "")),
        tuple(labels),
        str(external_ref) if external_ref is not None else None,
        quality,
        line=line,
    )


def read(stream: IO[str]) -> Iterator[HashRecord | Skipped]:
    for number, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Skipped(number, f"not JSON: {exc.msg}", text.strip()[:120])
            continue
        if not isinstance(row, dict):
            yield Skipped(number, "a line must be a JSON object", text.strip()[:120])
        elif "signal_type" in row:
            yield _from_item(number, row)
        else:
            yield from records_from_hash_line(number, row)


def read_hash_csv(stream: IO[str]) -> Iterator[HashRecord | Skipped]:
    """`hashshare hash --format csv`: a `path` column and one column per signal type."""
    reader = csv.DictReader(stream)
    for row in reader:
        yield from records_from_hash_line(reader.line_num, row)


def write(stream: IO[str], records: Iterable[ExportRecord]) -> list[Skipped]:
    for record in records:
        row: dict[str, Any] = {
            "signal_type": record.signal_type,
            "value": record.value,
            "labels": list(record.labels),
            "status": record.status,
            "changed_at": record.changed_at.isoformat(),
        }
        if record.external_ref is not None:
            row["external_ref"] = record.external_ref
        stream.write(json.dumps(row) + "\n")
    return []
