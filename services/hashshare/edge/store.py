"""The edge's copy on disk: one file, `copy.npz` under the data folder, replaced atomically.

Per signal type, arrays of ids (int64), values (the raw bytes, concatenated), status,
label set and contributors; and a small JSON header: the feed cursor the file is complete
up to, the upstream it came from, the distinct label sets and statuses the arrays point
into. A million PDQ hashes take about 50 MB. The file is written to a temporary name in the
same folder, flushed to disk, and renamed over the old one, so a process killed at any
moment leaves either the previous copy or the new one, each with its own cursor: a restart
resumes from that cursor, and applying a feed entry twice is harmless.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from hashshare.edge.copy import Held
from hashshare.signals import REGISTRY

log = logging.getLogger(__name__)

FILE_NAME = "copy.npz"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Saved:
    held: dict[int, Held]
    cursor: int
    last_contact_at: datetime | None


def save(
    folder: Path,
    held: dict[int, Held],
    cursor: int,
    upstream: str,
    last_contact_at: datetime | None,
) -> Path:
    """Write the copy; `held` must not change meanwhile (hand over a copy of the dict)."""
    label_sets: dict[tuple[str, ...], int] = {}
    statuses: dict[str, int] = {}
    columns: dict[str, tuple[list[int], list[bytes], list[int], list[int], list[int]]] = {}
    for hash_id, entry in held.items():
        column = columns.get(entry.signal_type)
        if column is None:
            column = columns[entry.signal_type] = ([], [], [], [], [])
        column[0].append(hash_id)
        column[1].append(entry.value)
        column[2].append(statuses.setdefault(entry.status, len(statuses)))
        column[3].append(label_sets.setdefault(entry.labels, len(label_sets)))
        column[4].append(entry.contributors)
    header = {
        "format": FORMAT,
        "cursor": cursor,
        "upstream": upstream,
        "saved_at": datetime.now(UTC).isoformat(),
        "last_contact_at": last_contact_at.isoformat() if last_contact_at else None,
        "statuses": list(statuses),
        "label_sets": [list(labels) for labels in label_sets],
    }
    arrays: dict[str, Any] = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    for name, (ids, values, status, labels, contributors) in columns.items():
        arrays[f"{name}.ids"] = np.array(ids, dtype=np.int64)
        arrays[f"{name}.values"] = np.frombuffer(b"".join(values), dtype=np.uint8)
        arrays[f"{name}.status"] = np.array(status, dtype=np.uint8)
        arrays[f"{name}.labels"] = np.array(labels, dtype=np.uint32)
        arrays[f"{name}.contributors"] = np.array(contributors, dtype=np.uint32)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    temporary = folder / f".{FILE_NAME}.{os.getpid()}.tmp"
    with temporary.open("wb") as file:
        np.savez(file, **arrays)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def load(folder: Path, upstream: str) -> Saved | None:
    """The saved copy, or None when there is none (or it came from another upstream)."""
    path = folder / FILE_NAME
    if not path.exists():
        return None
    with np.load(path) as arrays:
        header = json.loads(arrays["header"].tobytes())
        if header.get("format") != FORMAT:
            log.warning("%s has another format: syncing anew", path)
            return None
        if header["upstream"] != upstream:
            log.warning(
                "%s was synced from %s, not %s: syncing anew", path, header["upstream"], upstream
            )
            return None
        statuses = [str(status) for status in header["statuses"]]
        label_sets = [tuple(labels) for labels in header["label_sets"]]
        held: dict[int, Held] = {}
        for name, signal_type in REGISTRY.items():
            if f"{name}.ids" not in arrays:
                continue
            width = signal_type.bits // 8
            ids = arrays[f"{name}.ids"].tolist()
            values = arrays[f"{name}.values"].tobytes()
            status = arrays[f"{name}.status"].tolist()
            labels = arrays[f"{name}.labels"].tolist()
            contributors = arrays[f"{name}.contributors"].tolist()
            for row, hash_id in enumerate(ids):
                held[hash_id] = Held(
                    signal_type=name,
                    value=values[row * width : (row + 1) * width],
                    status=statuses[status[row]],
                    labels=label_sets[labels[row]],
                    contributors=contributors[row],
                )
    contact = header.get("last_contact_at")
    return Saved(
        held=held,
        cursor=int(header["cursor"]),
        last_contact_at=datetime.fromisoformat(contact) if contact else None,
    )
