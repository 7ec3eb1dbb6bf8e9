"""`hashshare sync`: keep a local copy of the shared set from the change feed.

The copy is a SQLite file (`hashshare-copy.sqlite3` in the output folder) with one row per
matchable hash (active or disputed, with labels) and the feed cursor. Each page of changes is
applied in one transaction together with its cursor, so an interrupted sync resumes where it
stopped and never applies a change twice or skips one. Standard library only: a member can
run it anywhere Python runs.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COPY_FILE = "hashshare-copy.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (
    hash_id INTEGER PRIMARY KEY,
    signal_type TEXT NOT NULL,
    value TEXT NOT NULL,
    status TEXT NOT NULL,
    labels TEXT NOT NULL,
    contributors INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS hashes_signal_type_value ON hashes (signal_type, value);
"""


class SyncError(Exception):
    """The service refused or could not be reached; the message says why."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    applied: int
    cursor: str
    held: int


def _fetch(url: str, token: str, cursor: str, limit: int) -> dict[str, Any]:
    query = urllib.parse.urlencode({"after": cursor, "limit": limit})
    request = urllib.request.Request(  # noqa: S310  (the URL is the operator's own service)
        f"{url.rstrip('/')}/v1/changes?{query}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            page: dict[str, Any] = json.load(response)
            return page
    except urllib.error.HTTPError as exc:
        try:
            error = json.load(exc)["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = exc.reason
        raise SyncError(f"the service answered {exc.code} ({detail})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SyncError(f"cannot reach {url}: {exc}") from None


def sync(url: str, token: str, out_dir: Path, page_size: int = 1000) -> SyncResult:
    """Apply every change after the saved cursor to the local copy in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(out_dir / COPY_FILE)
    try:
        connection.executescript(SCHEMA)
        row = connection.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
        cursor = row[0] if row else "0"
        applied = 0
        while True:
            page = _fetch(url, token, cursor, page_size)
            with connection:
                for change in page["changes"]:
                    if change["kind"] == "tombstone":
                        connection.execute(
                            "DELETE FROM hashes WHERE hash_id = ?", (change["hash_id"],)
                        )
                    else:
                        connection.execute(
                            "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (
                                change["hash_id"],
                                change["signal_type"],
                                change["value"],
                                change["status"],
                                json.dumps(change["labels"]),
                                change["contributors"],
                                change["seq"],
                            ),
                        )
                cursor = page["next_cursor"]
                connection.execute("INSERT OR REPLACE INTO meta VALUES ('cursor', ?)", (cursor,))
            applied += len(page["changes"])
            if not page["has_more"]:
                break
        held = connection.execute("SELECT count(*) FROM hashes").fetchone()[0]
        return SyncResult(applied=applied, cursor=cursor, held=int(held))
    finally:
        connection.close()
