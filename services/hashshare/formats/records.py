"""What every format reads into and writes from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class HashRecord:
    """One hash read from a file: to submit, or (`retract`) to withdraw."""

    signal_type: str
    value: str
    labels: tuple[str, ...] = ()
    external_ref: str | None = None
    quality: int | None = None
    retract: bool = False
    line: int = 0  # line (or entry) of the file it came from, for reports

    def submission(self, extra_labels: tuple[str, ...] = ()) -> dict[str, Any]:
        """The item of `POST /v1/hashes`, with `extra_labels` added to the record's own."""
        item: dict[str, Any] = {
            "signal_type": self.signal_type,
            "value": self.value,
            "labels": sorted(set(self.labels) | set(extra_labels)),
        }
        if self.external_ref is not None:
            item["external_ref"] = self.external_ref
        if self.quality is not None:
            item["quality"] = self.quality
        return item


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in a file that is not a hash hashshare can hold, and why."""

    line: int
    reason: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One hash of the shared set (or of a member's own contributions), to write out."""

    signal_type: str
    value: str
    labels: tuple[str, ...]
    status: str
    changed_at: datetime
    external_ref: str | None = None


class FormatError(ValueError):
    """The file is not in the format it was read as; the message says where."""
