"""python-threatexchange's file exchange: one `<signal_type> <signal>` per line.

This is what pytx's `LocalFileSignalExchangeAPI` reads and its `report_opinion` appends, with
pytx's signal type names (`SignalType.get_name()`: the class name in lower_snake_case
without `Signal`). Names map to hashshare's as below; every other name (`url`, `raw_text`,
`url_md5`, `trend_query`, ...) is reported and skipped. pytx names `md5` and `sha256` of
video files; hashshare's are of any file's bytes, so an image md5 exported as `video_md5`
keeps its meaning (a byte-identical file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

from hashshare.formats.records import ExportRecord, HashRecord, Skipped

FROM_PYTX = {"pdq": "pdq", "video_md5": "md5", "video_sha256": "sha256"}
TO_PYTX = {ours: theirs for theirs, ours in FROM_PYTX.items()}


def read(stream: IO[str]) -> Iterator[HashRecord | Skipped]:
    for line_number, line in enumerate(stream, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, _, signal = text.partition(" ")
        signal = signal.strip()
        if not signal:
            yield Skipped(line_number, "expected `<signal_type> <signal>`", text[:120])
            continue
        ours = FROM_PYTX.get(name)
        if ours is None:
            yield Skipped(
                line_number,
                f"pytx signal type {name!r} is not one hashshare holds "
                f"({', '.join(sorted(FROM_PYTX))})",
                text[:120],
            )
            continue
        yield HashRecord(ours, signal, line=line_number)


def write(stream: IO[str], records: Iterable[ExportRecord]) -> list[Skipped]:
    """Write what pytx can name; report the rest (phash, dhash, ... have no pytx type)."""
    skipped: list[Skipped] = []
    for number, record in enumerate(records, start=1):
        name = TO_PYTX.get(record.signal_type)
        if name is None:
            skipped.append(
                Skipped(number, f"pytx has no signal type for {record.signal_type}", record.value)
            )
            continue
        stream.write(f"{name} {record.value}\n")
    return skipped
