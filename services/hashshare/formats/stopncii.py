"""StopNCII's `FetchHashes` page shape (export only).

One page holding every record, as python-threatexchange's StopNCII client reads it:
`{"count", "nextPageToken": null, "nextSetTimestamp", "hasMoreRecords": false,
"hashRecords": [...]}`, each record `{"lastModtimestamp", "signalType", "hashValue",
"hashStatus", "caseNumbers": {}, "CSPFeedbacks": []}`.

Signal types: `pdq` → `ImagePDQ`, `md5` → `VideoMD5`; others have no StopNCII type and are
reported and skipped. Status: `active` → `Active`; `disputed` → `Received` (listed, not
confirmed); `retracted` → `Withdrawn`, which pytx's StopNCII exchange turns into a deletion
(so does `Deleted`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from hashshare.formats.records import ExportRecord, Skipped

SIGNAL_TYPES = {"pdq": "ImagePDQ", "md5": "VideoMD5"}
STATUSES = {"active": "Active", "disputed": "Received", "retracted": "Withdrawn"}


def write(stream: IO[str], records: Iterable[ExportRecord]) -> list[Skipped]:
    skipped: list[Skipped] = []
    out: list[dict[str, Any]] = []
    for number, record in enumerate(records, start=1):
        signal_type = SIGNAL_TYPES.get(record.signal_type)
        if signal_type is None:
            skipped.append(Skipped(number, f"StopNCII has no signal type for {record.signal_type}"))
            continue
        out.append(
            {
                "lastModtimestamp": int(record.changed_at.timestamp()),
                "signalType": signal_type,
                "hashValue": record.value,
                "hashStatus": STATUSES[record.status],
                "caseNumbers": {},
                "CSPFeedbacks": [],
            }
        )
    page = {
        "count": len(out),
        "nextPageToken": None,
        "nextSetTimestamp": max((r["lastModtimestamp"] for r in out), default=0),
        "hasMoreRecords": False,
        "hashRecords": out,
    }
    json.dump(page, stream, indent=1)
    stream.write("\n")
    return skipped
