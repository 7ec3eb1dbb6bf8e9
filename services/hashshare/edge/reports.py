"""`--report-counts`: the edge's local matches, counted per hour and label, sent upstream
once each hour is over.

Nothing else goes upstream: no hash value, no query, no digest of one; an hour without a
match is not reported at all. Counts are kept in memory per hour (the labels are those of
the matched hashes in the edge's copy) and saved under `--data` as `reports.json`, with the
edge's identifier, every `--persist-seconds` and at shutdown, so a restart keeps the hours
not yet sent (a crash loses at most the matches since the last save). A completed hour is
sent with `POST /v1/edge-reports`; until the service has acknowledged it, it stays in the
file and is sent again, with a growing pause while the service cannot be reached or
refuses the token. The service records each (member, edge, hour) once, so sending an hour
again after a lost answer does not count it twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

FILE_NAME = "reports.json"
FORMAT = 1
EDGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # as POST /v1/edge-reports wants it
MAX_HOURS_PER_REPORT = 744
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 600.0
KEEP_RETRYING = frozenset({401, 403, 408, 429})  # a token or a load that may change


def _now() -> datetime:
    return datetime.now(UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Hour:
    matches: int = 0
    by_label: Counter[str] = field(default_factory=Counter)

    def body(self, hour: datetime) -> dict[str, Any]:
        return {
            "hour": hour.isoformat(),
            "matches": self.matches,
            "matches_by_label": dict(sorted(self.by_label.items())),
        }


class HourlyCounts:
    """The edge's matches per hour and label, and the file that keeps them."""

    def __init__(
        self,
        folder: Path,
        edge_id: str,
        hours: dict[datetime, Hour] | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.folder = folder
        self.edge_id = edge_id
        self.hours: dict[datetime, Hour] = hours or {}
        self.clock = clock
        self.changed = False

    @classmethod
    def load(cls, folder: Path, edge_id: str | None) -> HourlyCounts:
        """The saved counts and identifier; a new random identifier on a first start."""
        path = folder / FILE_NAME
        hours: dict[datetime, Hour] = {}
        saved_id: str | None = None
        if path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                if saved.get("format") != FORMAT:
                    raise ValueError(f"format {saved.get('format')!r}, not {FORMAT}")
                saved_id = str(saved["edge"])
                for item in saved["hours"]:
                    hours[datetime.fromisoformat(item["hour"])] = Hour(
                        int(item["matches"]), Counter(item["matches_by_label"])
                    )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                # Matching matters more than the counts: keep the file for a person to read.
                aside = path.with_name(f"{FILE_NAME}.unreadable")
                os.replace(path, aside)
                log.error("%s is unreadable (%s): moved to %s, counting anew", path, exc, aside)
                hours, saved_id = {}, None
        chosen = edge_id or saved_id or f"edge-{secrets.token_hex(6)}"
        if saved_id is not None and chosen != saved_id and hours:
            log.warning(
                "%s holds %d unsent hours of edge %s: they are sent as edge %s",
                path,
                len(hours),
                saved_id,
                chosen,
            )
        counts = cls(folder, chosen, hours)
        counts.changed = chosen != saved_id
        return counts

    def add(self, matches: int, labels: Iterable[tuple[str, ...]]) -> None:
        """Count one match request: its matches, and the labels of the hashes it matched."""
        if matches <= 0:
            return
        hour = self.hours.setdefault(hour_of(self.clock()), Hour())
        hour.matches += matches
        for hash_labels in labels:
            hour.by_label.update(hash_labels)
        self.changed = True

    def completed(self) -> list[datetime]:
        """The hours that are over, oldest first."""
        current = hour_of(self.clock())
        return sorted(hour for hour in self.hours if hour < current)

    def drop(self, hours: Iterable[datetime]) -> None:
        for hour in hours:
            if self.hours.pop(hour, None) is not None:
                self.changed = True

    def state(self) -> dict[str, Any]:
        """What `write` saves, taken now (and marked saved)."""
        self.changed = False
        return {
            "format": FORMAT,
            "edge": self.edge_id,
            "hours": [self.hours[hour].body(hour) for hour in sorted(self.hours)],
        }

    def write(self, state: dict[str, Any]) -> None:
        """Write `state` (to a temporary name, then renamed over the old file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".{FILE_NAME}.{os.getpid()}.tmp"
        with temporary.open("w", encoding="utf-8") as file:
            json.dump(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.folder / FILE_NAME)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of a refusal, or {} when the answer has none."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else {}


class CountReporter:
    """Sends the completed hours of `HourlyCounts` to the central service."""

    def __init__(
        self,
        counts: HourlyCounts,
        upstream: str,
        token: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.counts = counts
        self.sent_hours = 0
        self.last_sent_at: datetime | None = None
        self.last_error: str | None = None
        self._retry_seconds = FIRST_RETRY_SECONDS
        self._next_attempt = 0.0  # monotonic
        self._writing: asyncio.Future[None] | None = None
        self._client = httpx.AsyncClient(
            base_url=upstream.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(30.0, connect=5.0),
            transport=transport,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def tick(self) -> None:
        """Send what is due (unless waiting after a failure), and save what changed."""
        if self.counts.completed() and time.monotonic() >= self._next_attempt:
            if await self.send():
                self._retry_seconds = FIRST_RETRY_SECONDS
                self._next_attempt = 0.0
            else:
                self._next_attempt = time.monotonic() + self._retry_seconds
                self._retry_seconds = min(self._retry_seconds * 2, MAX_RETRY_SECONDS)
        await self.save()

    async def save(self) -> None:
        """Write what changed. One write at a time, in order: a write still under way (its
        tick cancelled at shutdown) is waited for before the next one starts."""
        if self._writing is not None:
            await asyncio.wait({self._writing})
            self._wrote(self._writing)
        if not self.counts.changed:
            return
        self._writing = asyncio.ensure_future(
            asyncio.to_thread(self.counts.write, self.counts.state())
        )
        # `wait` leaves the write running if this task is cancelled meanwhile.
        await asyncio.wait({self._writing})
        self._wrote(self._writing)

    def _wrote(self, writing: asyncio.Future[None]) -> None:
        self._writing = None
        error = writing.exception()
        if error is not None:
            self.counts.changed = True
            log.error("could not save the match counts under %s: %s", self.counts.folder, error)

    async def send(self) -> bool:
        """One report of the oldest completed hours; False if they must be sent again."""
        counts = self.counts
        hours = counts.completed()[:MAX_HOURS_PER_REPORT]
        body = {"edge": counts.edge_id, "hours": [counts.hours[h].body(h) for h in hours]}
        try:
            response = await self._client.post("/v1/edge-reports", json=body)
        except httpx.HTTPError as exc:
            return self._failed(f"cannot reach the service: {exc!r}")
        error = _error_of(response)
        code = str(error.get("code", ""))
        if response.status_code == 200:
            counts.drop(hours)
            self.sent_hours += len(hours)
            self.last_sent_at = _now()
            self.last_error = None
            log.info("reported %d hours of match counts as edge %s", len(hours), counts.edge_id)
            return True
        if response.status_code == 409 and code == "edge_report_conflict":
            # Recorded before with other counts: the service keeps the first; send the rest.
            details = error.get("details")
            listed = details.get("hours", []) if isinstance(details, dict) else []
            refused = {datetime.fromisoformat(hour) for hour in listed}
            log.error("the service holds other counts for hours %s: dropped", sorted(refused))
            counts.drop(refused)
            return self._failed(f"409 {code}") if not refused else True
        problem = f"{response.status_code} {code or response.text[:200]}"
        if response.status_code >= 500 or response.status_code in KEEP_RETRYING:
            return self._failed(problem)
        if code == "hour_not_over":  # this machine's clock runs ahead of the service's
            return self._failed(problem)
        # Refused as it stands (a bad report): sending it again would be refused again.
        log.error("the service refused %d hours of match counts (%s): dropped", len(hours), problem)
        counts.drop(hours)
        self.last_error = problem
        return True

    def _failed(self, problem: str) -> bool:
        self.last_error = problem
        log.warning("match counts not reported, will retry: %s", problem)
        return False

    def status(self) -> dict[str, Any]:
        return {
            "edge": self.counts.edge_id,
            "pending_hours": len(self.counts.hours),
            "completed_unsent_hours": len(self.counts.completed()),
            "sent_hours": self.sent_hours,
            "last_sent_at": self.last_sent_at.isoformat() if self.last_sent_at else None,
            "last_error": self.last_error,
        }
