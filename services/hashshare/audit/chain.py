"""The audit chain: how an event is encoded and how the digests link events together.

    digest(n) = SHA-256( bytes(digest(n-1)) || canonical(event n) )        digest(0) = GENESIS

`canonical(event)` is the UTF-8 encoding of a JSON object with exactly these keys, sorted,
no whitespace (`separators=(",", ":")`), non-ASCII characters written as themselves:

    seq          integer, the event's sequence number (1, 2, 3, ... without gaps)
    occurred_at  string, UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always six fraction digits)
    actor        string or null
    member_id    string or null
    action       string
    outcome      string
    request_id   string or null
    target_ids   array of integers, ascending
    details      object (strings, integers, booleans, null, arrays, objects; no floats)

Digests are written and compared as 64 lowercase hex digits. This module has no database
and no web code, so `hashshare audit verify FILE` and anyone else can use it offline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "member_id",
    "action",
    "outcome",
    "request_id",
    "target_ids",
    "details",
)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed for one event (see the module docstring)."""
    document = {field: event[field] for field in FIELDS}
    if isinstance(document["occurred_at"], datetime):
        document["occurred_at"] = format_time(document["occurred_at"])
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def link(previous_digest: str, event: Mapping[str, Any]) -> str:
    """The digest of `event`, chained to the digest of the event before it."""
    return hashlib.sha256(bytes.fromhex(previous_digest) + canonical(event)).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """Result of verifying a chain: the head reached, or the first broken link and why."""

    ok: bool
    events: int
    head_seq: int
    head_digest: str
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_digest": self.head_digest,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
        }


class ChainVerifier:
    """Feed events in sequence order; stops at the first broken link."""

    def __init__(self) -> None:
        self.digest = GENESIS
        self.seq = 0
        self.events = 0
        self.broken: tuple[int, str] | None = None

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Check one event (a mapping of FIELDS plus `digest`); False once broken."""
        if self.broken is not None:
            return False
        seq = event.get("seq")
        if seq != self.seq + 1:
            self.broken = (
                self.seq + 1,
                f"sequence gap: expected event {self.seq + 1}, found {seq}",
            )
            return False
        try:
            expected = link(self.digest, event)
        except (KeyError, TypeError, ValueError) as exc:
            self.broken = (seq, f"event cannot be encoded: {exc}")
            return False
        if event.get("digest") != expected:
            self.broken = (seq, "digest does not match the event's contents and its predecessor")
            return False
        self.digest, self.seq = expected, seq
        self.events += 1
        return True

    def verdict(self) -> Verdict:
        if self.broken is not None:
            return Verdict(
                False, self.events, self.seq, self.digest, self.broken[0], self.broken[1]
            )
        return Verdict(True, self.events, self.seq, self.digest)


def verify(events: Iterable[Mapping[str, Any]]) -> Verdict:
    verifier = ChainVerifier()
    for event in events:
        if not verifier.feed(event):
            break
    return verifier.verdict()
