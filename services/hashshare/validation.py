"""Per-item validation of batches: every bad item is reported, and nothing is stored."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, StrictStr

from hashshare.errors import ValidationFailed
from hashshare.signals import (
    DegenerateHash,
    InvalidHash,
    SignalType,
    UnknownSignalType,
    get_signal_type,
)


def storable(text: str) -> str:
    """Refuse text a database cannot store: NUL characters and lone surrogates."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return text


T = TypeVar("T")
PACE = 500

# Free text that is stored or queried: PostgreSQL cannot hold NUL, and UTF-8 no surrogates.
StoredText = Annotated[StrictStr, AfterValidator(storable)]


@dataclass
class ItemErrors:
    """Collects `{index, field, code, message}` for every invalid item of a batch."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, index: int, field_name: str, code: str, message: str) -> None:
        self.errors.append({"index": index, "field": field_name, "code": code, "message": message})

    def parse_hash(
        self, index: int, signal_type: str, value: str, *, refuse_degenerate: bool = False
    ) -> tuple[SignalType, bytes] | None:
        """Parse one (signal_type, value) pair, recording the error if it is invalid.

        Submissions also refuse degenerate values (`degenerate_hash`); queries need not, as
        the shared set holds none."""
        try:
            st = get_signal_type(signal_type)
        except UnknownSignalType as exc:
            self.add(index, "signal_type", "unknown_signal_type", str(exc)[:200])
            return None
        try:
            parsed = st.parse(value)
        except InvalidHash as exc:
            self.add(index, "value", "invalid_hash", str(exc))
            return None
        if refuse_degenerate:
            try:
                st.check_informative(parsed)
            except DegenerateHash as exc:
                self.add(index, "value", "degenerate_hash", str(exc))
                return None
        return st, parsed

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            raise ValidationFailed(
                f"{len(self.errors)} invalid {what}; the request was not applied",
                code="invalid_items",
                details={"errors": self.errors},
            )


async def paced(items: Iterable[T], every: int = PACE) -> AsyncIterator[T]:
    """Iterate a batch, letting the event loop run other requests every `every` items.

    A 10,000-item submission is tens of milliseconds of Python per pass; matches served by
    the same process would otherwise wait for each pass to finish.
    """
    for count, item in enumerate(items, 1):
        yield item
        if count % every == 0:
            await asyncio.sleep(0)


def check_batch_size(count: int, limit: int, what: str) -> None:
    if count == 0:
        raise ValidationFailed(f"no {what} given", code="empty_batch")
    if count > limit:
        raise ValidationFailed(
            f"{count} {what} given; at most {limit} per request",
            code="too_many_items",
            details={"count": count, "limit": limit},
        )


MAX_CURSOR = 2**63 - 1


def parse_cursor(text: str) -> int:
    """A cursor this service issued (a sequence number), or `invalid_cursor`."""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_CURSOR:
        raise ValidationFailed("cursor is not one this service issued", code="invalid_cursor")
    return int(text)


def require_time_zone(name: str, moment: datetime | None) -> datetime | None:
    """Refuse a time without a zone (`naive_datetime`): it would be read as a guess."""
    if moment is not None and moment.tzinfo is None:
        raise ValidationFailed(f"{name} needs a time zone, e.g. Z", code="naive_datetime")
    return moment


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_8601_text(value: Any) -> Any:
    """Accept a time only as ISO 8601 text: pydantic would also read `0.5` or `1700000000`
    as seconds since 1970, which a client almost never means."""
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-10-01T00:00:00Z")
    return value
