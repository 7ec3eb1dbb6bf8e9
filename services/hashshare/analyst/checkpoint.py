"""Which batches of a `hashshare submit` run the service has acknowledged, so that a run
that was interrupted (Ctrl-C, a lost connection, a reboot) resumes with the first batch not
acknowledged instead of starting again.

The file is keyed by what the run sends (the service URL, the batch size and every item),
so a changed input or label starts afresh. It lives in `$XDG_CACHE_HOME/hashshare/`
(`~/.cache/hashshare/`) and is removed when a run completes. A batch that the service
stored but whose acknowledgement was lost is sent again on resume and reported `existing`:
submissions are idempotent, so nothing is stored twice either way.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hashshare.client import SubmitBatch

VERSION = 1


def run_key(url: str, batch_size: int, items: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256(f"{VERSION}\n{url}\n{batch_size}\n".encode())
    for item in items:
        digest.update(json.dumps(item, sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def default_path(key: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hashshare" / f"submit-{key[:24]}.json"


class Checkpoint:
    """Acknowledged batches by number, each with its counts and the rejections it reported."""

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.batches: dict[int, dict[str, Any]] = {}
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("key") == key:
                self.batches = {int(n): batch for n, batch in saved["batches"].items()}

    def record(self, batch: SubmitBatch) -> None:
        self.batches[batch.number] = {
            "created": batch.count("created"),
            "existing": batch.count("existing"),
            "updated": batch.count("updated"),
            "rejected": [
                [batch.start + r.index, r.code, r.message, r.field] for r in batch.rejected
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps({"key": self.key, "batches": self.batches}))
        os.replace(partial, self.path)  # atomic: a kill leaves the old file or the new one

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
