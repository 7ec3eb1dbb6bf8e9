"""Local banks: a platform's own hashes, kept on its edge and matched beside the shared set.

They live in one SQLite file, `local-banks.sqlite3` under the edge's data folder. SQLite
rather than a JSON file written whole: every curation call (create a bank, add or delete a
content) is one small transaction that is durable when the call answers, without rewriting
everything the platform has banked; and `hashshare edge contribute`, a separate process,
reads the same file and records what it submitted while the edge keeps serving (WAL mode
lets one write while the other reads).

In memory, each signal type has an index built by the same code as the shared set's
(`matching.index.build_index`), keyed by content id. Content ids start above
`LOCAL_ID_BASE`, far beyond any hash id of the shared set, so the `bank_content_id` of a
lookup names one item whether it is local or shared.

Nothing here leaves the edge: contributing a bank upstream is `hashshare edge contribute`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from hashshare.matching.index import MatchIndex, build_index
from hashshare.signals import REGISTRY

FILE_NAME = "local-banks.sqlite3"
LOCAL_ID_BASE = 1_000_000_000_000
# HMA's bank names: upper case, digits and underscores, not starting with a digit.
BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
MAX_BANK_NAME = 200
ENABLED = 1  # HMA's `disable_until_ts` magic values: 1 enabled, 0 disabled, else a time
DISABLED = 0

SCHEMA = """
CREATE TABLE IF NOT EXISTS banks (
    name TEXT PRIMARY KEY,
    enabled_ratio REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bank TEXT NOT NULL REFERENCES banks(name) ON UPDATE CASCADE ON DELETE CASCADE,
    disable_until_ts INTEGER NOT NULL,
    note TEXT,
    metadata TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contents_bank ON contents(bank);
CREATE TABLE IF NOT EXISTS signals (
    content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
    signal_type TEXT NOT NULL,
    value BLOB NOT NULL,
    quality INTEGER,
    PRIMARY KEY (content_id, signal_type)
);
CREATE TABLE IF NOT EXISTS contributions (
    content_id INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
    signal_type TEXT NOT NULL,
    hash_id INTEGER NOT NULL,
    labels TEXT NOT NULL,
    upstream TEXT NOT NULL,
    contributed_at TEXT NOT NULL,
    PRIMARY KEY (content_id, signal_type)
);
"""
FIRST_ID = (
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'contents', ? "
    "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'contents')"
)


class BankError(ValueError):
    """A curation call that cannot be done; `code` is the stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BankNotFound(BankError):
    pass


class BankExists(BankError):
    pass


@dataclass(frozen=True, slots=True)
class Bank:
    name: str
    enabled_ratio: float


@dataclass(frozen=True, slots=True)
class Signal:
    signal_type: str
    value: bytes
    quality: int | None = None


@dataclass(frozen=True, slots=True)
class Contribution:
    signal_type: str
    hash_id: int
    labels: tuple[str, ...]
    contributed_at: str


@dataclass(frozen=True, slots=True)
class Content:
    id: int
    bank: Bank
    disable_until_ts: int
    note: str | None
    metadata: dict[str, Any] | None
    signals: tuple[Signal, ...]
    contributions: tuple[Contribution, ...]
    created_at: str

    @property
    def enabled(self) -> bool:
        return is_enabled(self.disable_until_ts)


def is_enabled(disable_until_ts: int) -> bool:
    """HMA's rule: 0 disabled, 1 enabled, a later time disabled until then."""
    if disable_until_ts == DISABLED:
        return False
    return disable_until_ts == ENABLED or disable_until_ts <= time.time()


def check_bank_name(name: str) -> None:
    if len(name) > MAX_BANK_NAME or not BANK_NAME.fullmatch(name):
        raise BankError(
            "invalid_bank_name",
            f"bank names are upper case letters, digits and underscores, not starting with a "
            f"digit, at most {MAX_BANK_NAME} characters: {name[:100]!r}",
        )


def check_ratio(ratio: float) -> None:
    if not 0.0 <= ratio <= 1.0:
        raise BankError("invalid_enabled_ratio", f"enabled_ratio must be 0.0-1.0, not {ratio}")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def connect(folder: Path) -> sqlite3.Connection:
    """Open (and create) the local banks file under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(
        folder / FILE_NAME, check_same_thread=False, isolation_level=None, timeout=30.0
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.executescript(f"BEGIN; {SCHEMA} COMMIT;")
    connection.execute(FIRST_ID, (LOCAL_ID_BASE,))
    return connection


T = TypeVar("T")


class LocalBanks:
    """The local banks of one edge: the file, and an index per signal type over it."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._lock = threading.Lock()  # one statement sequence at a time on the connection
        self._indexes: dict[str, MatchIndex] = {
            name: build_index(signal_type) for name, signal_type in REGISTRY.items()
        }
        # What a hit needs without a read: its bank and its `disable_until_ts`.
        self._owner: dict[int, tuple[str, int]] = {}
        self._banks: dict[str, Bank] = {}

    @classmethod
    def open(cls, folder: Path) -> LocalBanks:
        banks = cls(connect(folder))
        banks._load()
        return banks

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _load(self) -> None:
        db = self._db
        self._banks = {
            name: Bank(name, ratio)
            for name, ratio in db.execute("SELECT name, enabled_ratio FROM banks")
        }
        self._owner = {
            content_id: (bank, until)
            for content_id, bank, until in db.execute(
                "SELECT id, bank, disable_until_ts FROM contents"
            )
        }
        found: dict[str, tuple[list[int], bytearray]] = {
            name: ([], bytearray()) for name in REGISTRY
        }
        for content_id, signal_type, value in db.execute(
            "SELECT content_id, signal_type, value FROM signals ORDER BY content_id"
        ):
            if signal_type in found:
                ids, values = found[signal_type]
                ids.append(content_id)
                values.extend(value)
        self._indexes = {
            name: build_index(REGISTRY[name], ids, values) for name, (ids, values) in found.items()
        }

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in one transaction on a worker thread (a durable commit waits on the disk)."""

        def run() -> T:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result

        return await asyncio.to_thread(run)

    # Banks

    def banks(self) -> list[Bank]:
        return sorted(self._banks.values(), key=lambda bank: bank.name)

    def bank(self, name: str) -> Bank | None:
        return self._banks.get(name)

    def _existing(self, name: str) -> Bank:
        bank = self._banks.get(name)
        if bank is None:
            raise BankNotFound("bank_not_found", f"bank '{name[:100]}' not found")
        return bank

    async def create_bank(self, name: str, enabled_ratio: float) -> Bank:
        check_bank_name(name)
        check_ratio(enabled_ratio)
        exists = BankExists("bank_exists", f"bank '{name}' already exists")
        if name in self._banks:
            raise exists

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO banks(name, enabled_ratio, created_at) VALUES (?, ?, ?)",
                (name, enabled_ratio, _now()),
            )

        try:
            await self._write(work)
        except sqlite3.IntegrityError:  # created meanwhile
            raise exists from None
        bank = self._banks[name] = Bank(name, enabled_ratio)
        return bank

    async def update_bank(
        self, name: str, new_name: str | None, enabled_ratio: float | None
    ) -> Bank:
        bank = self._existing(name)
        target = new_name if new_name is not None else name
        ratio = enabled_ratio if enabled_ratio is not None else bank.enabled_ratio
        check_bank_name(target)
        check_ratio(ratio)
        if target != name and target in self._banks:
            raise BankExists("bank_exists", f"bank '{target}' already exists")

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE banks SET name = ?, enabled_ratio = ? WHERE name = ?",
                (target, ratio, name),
            )

        try:
            await self._write(work)
        except sqlite3.IntegrityError:  # created meanwhile
            raise BankExists("bank_exists", f"bank '{target}' already exists") from None
        del self._banks[name]
        updated = self._banks[target] = Bank(target, ratio)
        if target != name:
            for content_id, (owner, until) in list(self._owner.items()):
                if owner == name:
                    self._owner[content_id] = (target, until)
        return updated

    async def delete_bank(self, name: str) -> bool:
        """Delete a bank and its contents; False when there was none."""
        if name not in self._banks:
            return False

        def work(db: sqlite3.Connection) -> list[tuple[int, str]]:
            rows = db.execute(
                "SELECT s.content_id, s.signal_type FROM signals s "
                "JOIN contents c ON c.id = s.content_id WHERE c.bank = ?",
                (name,),
            ).fetchall()
            db.execute("DELETE FROM banks WHERE name = ?", (name,))
            return [(int(content_id), str(signal_type)) for content_id, signal_type in rows]

        removed = await self._write(work)
        self._unindex(removed)
        del self._banks[name]
        for content_id in [cid for cid, (owner, _) in self._owner.items() if owner == name]:
            del self._owner[content_id]
        return True

    # Contents

    async def add_content(
        self,
        bank_name: str,
        signals: list[Signal],
        metadata: Mapping[str, Any] | None,
        note: str | None,
    ) -> int:
        self._existing(bank_name)

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO contents(bank, disable_until_ts, note, metadata, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    bank_name,
                    ENABLED,
                    note,
                    json.dumps(metadata) if metadata else None,
                    _now(),
                ),
            )
            content_id = cursor.lastrowid
            assert content_id is not None
            db.executemany(
                "INSERT INTO signals(content_id, signal_type, value, quality) VALUES (?, ?, ?, ?)",
                [(content_id, s.signal_type, s.value, s.quality) for s in signals],
            )
            return content_id

        try:
            content_id = await self._write(work)
        except sqlite3.IntegrityError:  # the bank was deleted meanwhile
            raise BankNotFound("bank_not_found", f"bank '{bank_name}' not found") from None
        self._owner[content_id] = (bank_name, ENABLED)
        for signal in signals:
            self._indexes[signal.signal_type].add(content_id, signal.value)
        return content_id

    def _read_content(self, content_id: int) -> Content | None:
        with self._lock:
            row = self._db.execute(
                "SELECT c.id, c.bank, b.enabled_ratio, c.disable_until_ts, c.note, c.metadata, "
                "c.created_at FROM contents c JOIN banks b ON b.name = c.bank WHERE c.id = ?",
                (content_id,),
            ).fetchone()
            if row is None:
                return None
            signals = self._db.execute(
                "SELECT signal_type, value, quality FROM signals WHERE content_id = ? "
                "ORDER BY signal_type",
                (content_id,),
            ).fetchall()
            contributions = self._db.execute(
                "SELECT signal_type, hash_id, labels, contributed_at FROM contributions "
                "WHERE content_id = ? ORDER BY signal_type",
                (content_id,),
            ).fetchall()
        return Content(
            id=row[0],
            bank=Bank(row[1], row[2]),
            disable_until_ts=row[3],
            note=row[4],
            metadata=json.loads(row[5]) if row[5] else None,
            signals=tuple(Signal(name, bytes(value), quality) for name, value, quality in signals),
            contributions=tuple(
                Contribution(name, hash_id, tuple(json.loads(labels)), at)
                for name, hash_id, labels, at in contributions
            ),
            created_at=row[6],
        )

    async def content(self, bank_name: str, content_id: int) -> Content:
        self._existing(bank_name)
        found = await asyncio.to_thread(self._read_content, content_id)
        if found is None or found.bank.name != bank_name:
            raise BankNotFound("content_not_found", f"content '{content_id}' not found")
        return found

    async def update_content(
        self,
        bank_name: str,
        content_id: int,
        disable_until_ts: int | None,
        note: str | None,
        set_note: bool,
    ) -> Content:
        """Change what is given: `disable_until_ts` unless None, the note when `set_note`
        (None clears it)."""
        content = await self.content(bank_name, content_id)
        until = content.disable_until_ts if disable_until_ts is None else disable_until_ts
        new_note = note if set_note else content.note

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE contents SET disable_until_ts = ?, note = ? WHERE id = ?",
                (until, new_note, content_id),
            )

        await self._write(work)
        self._owner[content_id] = (bank_name, until)
        return await self.content(bank_name, content_id)

    async def delete_content(self, bank_name: str, content_id: int) -> int:
        """Remove one content of the bank; the number removed (0 or 1)."""
        self._existing(bank_name)
        owner = self._owner.get(content_id)
        if owner is None or owner[0] != bank_name:
            return 0

        def work(db: sqlite3.Connection) -> list[tuple[int, str]]:
            rows = db.execute(
                "SELECT content_id, signal_type FROM signals WHERE content_id = ?", (content_id,)
            ).fetchall()
            db.execute("DELETE FROM contents WHERE id = ?", (content_id,))
            return [(int(cid), str(name)) for cid, name in rows]

        self._unindex(await self._write(work))
        del self._owner[content_id]
        return 1

    def _unindex(self, signals: list[tuple[int, str]]) -> None:
        for content_id, signal_type in signals:
            index = self._indexes.get(signal_type)
            if index is not None:
                index.remove(content_id)

    # Matching

    def search(self, signal_type: str, value: bytes, max_distance: int) -> list[tuple[int, int]]:
        """`(content_id, distance)` of the local signals within `max_distance`, nearest first."""
        return self._indexes[signal_type].search(value, max_distance)

    def owner(self, content_id: int) -> tuple[Bank, bool] | None:
        """The bank of a content, and whether the content is enabled."""
        found = self._owner.get(content_id)
        if found is None:
            return None
        bank_name, until = found
        return self._banks[bank_name], is_enabled(until)

    def sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self._indexes.items()}


# What `hashshare edge contribute` reads and writes, from its own process.


@dataclass(frozen=True, slots=True)
class Pending:
    content_id: int
    signal: Signal
    note: str | None


def bank_signals(db: sqlite3.Connection, bank_name: str) -> list[Pending]:
    """Every signal of the bank's enabled contents, oldest content first."""
    if db.execute("SELECT 1 FROM banks WHERE name = ?", (bank_name,)).fetchone() is None:
        raise BankNotFound("bank_not_found", f"bank '{bank_name}' not found")
    rows = db.execute(
        "SELECT c.id, c.disable_until_ts, c.note, s.signal_type, s.value, s.quality "
        "FROM contents c JOIN signals s ON s.content_id = c.id WHERE c.bank = ? "
        "ORDER BY c.id, s.signal_type",
        (bank_name,),
    ).fetchall()
    return [
        Pending(content_id, Signal(name, bytes(value), quality), note)
        for content_id, until, note, name, value, quality in rows
        if is_enabled(until)
    ]


def record_contributions(
    db: sqlite3.Connection,
    done: list[tuple[int, str, int]],
    labels: list[str],
    upstream: str,
) -> None:
    """Remember which local signals became which shared hashes (content, type, hash id)."""
    at = _now()
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO contributions(content_id, signal_type, hash_id, labels, upstream, "
        "contributed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(content_id, signal_type) DO "
        "UPDATE SET hash_id = excluded.hash_id, labels = excluded.labels, "
        "upstream = excluded.upstream, contributed_at = excluded.contributed_at",
        [(cid, name, hash_id, json.dumps(labels), upstream, at) for cid, name, hash_id in done],
    )
    db.execute("COMMIT")
